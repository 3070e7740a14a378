package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// node makes a BootNode whose ID is its name, created at minute created.
func node(name string, prio, created int, deps ...string) BootNode {
	return BootNode{ID: name, Name: name, Priority: prio, Created: time.Unix(int64(created)*60, 0), DependsOn: deps}
}

// order names the plan's nodes in rank order.
func order(nodes []BootNode, p BootPlan) []string {
	out := make([]string, len(nodes))
	for i, r := range p.Rank {
		out[r] = nodes[i].Name
	}
	return out
}

func TestPlanBoot(t *testing.T) {
	tests := []struct {
		name      string
		nodes     []BootNode
		want      []string
		levels    int
		wantCycle string
	}{
		{name: "empty"},
		{
			name:  "priority then age",
			nodes: []BootNode{node("c", 50, 1), node("a", 10, 3), node("b", 50, 0)},
			want:  []string{"a", "b", "c"}, levels: 1,
		},
		{
			name: "dependency beats priority",
			// web (priority 1) needs db (priority 90): db still starts first.
			nodes: []BootNode{node("web", 1, 0, "db"), node("db", 90, 1)},
			want:  []string{"db", "web"}, levels: 2,
		},
		{
			name: "levels, priority within a level",
			nodes: []BootNode{
				node("app", 10, 0, "db", "cache"), node("cache", 20, 1), node("db", 30, 2),
				node("proxy", 5, 3, "app"), node("metrics", 1, 4), node("worker", 50, 5, "db"),
			},
			want:   []string{"metrics", "cache", "db", "app", "worker", "proxy"},
			levels: 3,
		},
		{
			name:  "a removed dependency is ignored",
			nodes: []BootNode{node("a", 50, 0, "gone")},
			want:  []string{"a"}, levels: 1,
		},
		{
			name:      "cycle",
			nodes:     []BootNode{node("a", 50, 0, "b"), node("b", 50, 1, "c"), node("c", 50, 2, "a"), node("d", 50, 3)},
			wantCycle: "a -> b -> c -> a",
		},
		{
			name:      "cycle behind a chain",
			nodes:     []BootNode{node("x", 50, 0, "y"), node("y", 50, 1, "z"), node("z", 50, 2, "y")},
			wantCycle: "y -> z -> y",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PlanBoot(tt.nodes)
			if tt.wantCycle != "" {
				if !errors.Is(err, ErrDependencyCycle) || !strings.Contains(err.Error(), tt.wantCycle) {
					t.Fatalf("err %v, want the cycle %s", err, tt.wantCycle)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := order(tt.nodes, p); !slices.Equal(got, tt.want) && len(tt.want) > 0 {
				t.Errorf("order %v, want %v", got, tt.want)
			}
			if len(p.Levels) != tt.levels {
				t.Errorf("%d levels, want %d: %v", len(p.Levels), tt.levels, p.Levels)
			}
		})
	}
}

// run records a runOrdered run: the order fn was called in, how many ran
// at once at most, and that nothing ran before what it waits for ended.
type run struct {
	mu      sync.Mutex
	started []int
	ended   map[int]bool
	now     int
	most    int
	badWait []string
}

func (r *run) fn(after [][]int, fail map[int]bool) func(context.Context, int) error {
	return func(_ context.Context, i int) error {
		r.mu.Lock()
		for _, d := range after[i] {
			if !r.ended[d] {
				r.badWait = append(r.badWait, fmt.Sprintf("%d before %d ended", i, d))
			}
		}
		r.started = append(r.started, i)
		r.now++
		r.most = max(r.most, r.now)
		r.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		r.mu.Lock()
		r.now--
		r.ended[i] = true
		r.mu.Unlock()
		if fail[i] {
			return errors.New("failed")
		}
		return nil
	}
}

func TestRunOrdered(t *testing.T) {
	// 0 and 1 stand alone; 2 needs 0; 3 needs 2 and 1; 4 needs 3.
	after := [][]int{nil, nil, {0}, {2, 1}, {3}}
	rank := []int{1, 0, 2, 3, 4}
	tests := []struct {
		name     string
		parallel int
		block    bool
		fail     map[int]bool
		want     []int // the order, when parallel is 1
		wantErrs []string
	}{
		{name: "one at a time", parallel: 1, want: []int{1, 0, 2, 3, 4}, wantErrs: []string{"", "", "", "", ""}},
		{name: "three at a time", parallel: 3, wantErrs: []string{"", "", "", "", ""}},
		{
			name: "a failure blocks what depends on it", parallel: 2, block: true, fail: map[int]bool{2: true},
			wantErrs: []string{"", "", "failed", "dependency 2", "dependency 3"},
		},
		{
			name: "a failure does not block shutdown", parallel: 1, fail: map[int]bool{2: true},
			want: []int{1, 0, 2, 3, 4}, wantErrs: []string{"", "", "failed", "", ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &run{ended: map[int]bool{}}
			errs := runOrdered(context.Background(), rank, after, tt.parallel, tt.block, r.fn(after, tt.fail))
			if len(r.badWait) > 0 {
				t.Errorf("started early: %v", r.badWait)
			}
			if r.most > tt.parallel {
				t.Errorf("%d at once, limit %d", r.most, tt.parallel)
			}
			if tt.want != nil && !slices.Equal(r.started, tt.want) {
				t.Errorf("order %v, want %v", r.started, tt.want)
			}
			for i, want := range tt.wantErrs {
				got := ""
				if errs[i] != nil {
					got = errs[i].Error()
				}
				if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
					t.Errorf("node %d: error %q, want %q", i, got, want)
				}
			}
		})
	}
}

// TestRunOrderedParallel: independent nodes do run together up to the
// limit.
func TestRunOrderedParallel(t *testing.T) {
	n := 8
	rank := make([]int, n)
	for i := range rank {
		rank[i] = i
	}
	after := make([][]int, n)
	r := &run{ended: map[int]bool{}}
	block := make(chan struct{})
	var once sync.Once
	fn := func(ctx context.Context, i int) error {
		r.mu.Lock()
		r.now++
		r.most = max(r.most, r.now)
		if r.now == 4 {
			once.Do(func() { close(block) })
		}
		r.mu.Unlock()
		select {
		case <-block:
		case <-time.After(5 * time.Second):
		}
		r.mu.Lock()
		r.now--
		r.mu.Unlock()
		return nil
	}
	runOrdered(context.Background(), rank, after, 4, true, fn)
	if r.most != 4 {
		t.Errorf("at most %d at once, want 4", r.most)
	}
}

// chainNodes is n containers in chains of ten with fan-in (each depends
// on the one before it in its chain and on the one ten before it), the
// shape of a large host's boot.
func chainNodes(n int) []BootNode {
	nodes := make([]BootNode, n)
	for i := range nodes {
		var deps []string
		if i%10 != 0 {
			deps = append(deps, fmt.Sprint(i-1))
		}
		if i >= 10 {
			deps = append(deps, fmt.Sprint(i-10))
		}
		nodes[i] = BootNode{ID: fmt.Sprint(i), Name: fmt.Sprint(i), Priority: i % 7, DependsOn: deps}
	}
	return nodes
}

// BenchmarkPlanBoot plans 1,000 containers in chains of ten with fan-in,
// the shape of a large host's boot.
func BenchmarkPlanBoot(b *testing.B) {
	nodes := chainNodes(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PlanBoot(nodes); err != nil {
			b.Fatal(err)
		}
	}
}

func TestResolveDependencies(t *testing.T) {
	all := []*Container{
		{ID: strings.Repeat("a", 64), Name: "db"},
		{ID: strings.Repeat("b", 64), Name: "web"},
	}
	tests := []struct {
		deps    []string
		want    []string
		wantErr string
	}{
		{deps: []string{"db", "db", "aaaa"}, want: []string{all[0].ID}},
		{deps: []string{"nope"}, wantErr: `--depends-on "nope": container "nope": no such container`},
		{deps: []string{"web"}, wantErr: "cannot depend on itself"},
	}
	for _, tt := range tests {
		got, err := resolveDependencies(all, all[1].ID, tt.deps)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err %v, want %q", tt.deps, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%v: %v %v, want %v", tt.deps, got, err, tt.want)
		}
	}
}

func TestBootPriorityDefault(t *testing.T) {
	var b BootOrder
	if b.BootPriority() != DefaultBootPriority {
		t.Errorf("unset priority is %d", b.BootPriority())
	}
	zero := 0
	b.Priority = &zero
	if b.BootPriority() != 0 {
		t.Errorf("priority 0 reads as %d", b.BootPriority())
	}
}

// BenchmarkRunOrdered schedules the plan of BenchmarkPlanBoot's 1,000
// containers, eight at a time, with starts that cost nothing: the
// scheduler's own overhead.
func BenchmarkRunOrdered(b *testing.B) {
	nodes := chainNodes(1000)
	p, err := PlanBoot(nodes)
	if err != nil {
		b.Fatal(err)
	}
	noop := func(context.Context, int) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		runOrdered(context.Background(), p.Rank, p.After, 8, true, noop)
	}
}
