package engine

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// DefaultBootPriority is the boot priority of a container that was given
// none: lower priorities start first.
const DefaultBootPriority = 50

// BootOrder is a container's place in the boot sequence (--boot-priority,
// --depends-on). It is embedded in Container, so its fields are part of
// the record.
type BootOrder struct {
	// Priority orders the containers that their dependencies let start
	// at the same stage: lower first. Nil means DefaultBootPriority.
	Priority *int `json:"bootPriority,omitempty"`
	// DependsOn are the containers that must be running before this one
	// starts, and that stop only after it. In a record they are container
	// IDs; in CreateOptions and UpdateOptions they are what the user
	// typed (names, IDs or ID prefixes), resolved when declared.
	DependsOn []string `json:"dependsOn,omitempty"`
}

// BootPriority returns the priority, DefaultBootPriority when none was set.
func (b BootOrder) BootPriority() int {
	if b.Priority == nil {
		return DefaultBootPriority
	}
	return *b.Priority
}

// ErrDependencyCycle is returned when declared dependencies would form a
// cycle; the error's text names the cycle.
var ErrDependencyCycle = errors.New("dependency cycle")

// BootNode is one container as the boot planner sees it.
type BootNode struct {
	ID       string
	Name     string
	Priority int
	Created  time.Time
	// DependsOn are IDs; those that name no node are ignored (a
	// dependency removed since it was declared).
	DependsOn []string
}

// BootPlan is the order in which Boot starts a set of containers.
type BootPlan struct {
	// Levels group node indexes by dependency depth: level 0 depends on
	// nothing, level k on something at level k-1 and nothing deeper.
	// Within a level, lower priority first, then older first, then by name.
	Levels [][]int
	// Rank is each node's position when the levels are read in order:
	// the order of a boot one at a time.
	Rank []int
	// After lists, for each node, the indexes of the nodes it depends on.
	After [][]int
}

// PlanBoot orders nodes by dependency then priority in O(n + e) plus the
// sort of each level. A cycle is an error naming its members.
func PlanBoot(nodes []BootNode) (BootPlan, error) {
	index := make(map[string]int, len(nodes))
	for i, n := range nodes {
		index[n.ID] = i
	}
	after := make([][]int, len(nodes))
	dependents := make([][]int, len(nodes))
	waiting := make([]int, len(nodes))
	for i, n := range nodes {
		for _, d := range n.DependsOn {
			j, ok := index[d]
			if !ok {
				continue
			}
			after[i] = append(after[i], j)
			dependents[j] = append(dependents[j], i)
			waiting[i]++
		}
	}
	level := make([]int, len(nodes))
	queue := make([]int, 0, len(nodes))
	for i := range nodes {
		if waiting[i] == 0 {
			queue = append(queue, i)
		}
	}
	// Kahn's algorithm: each node and edge is visited once; a node's level
	// is one more than its deepest dependency's.
	maxLevel := 0
	for k := 0; k < len(queue); k++ {
		i := queue[k]
		maxLevel = max(maxLevel, level[i])
		for _, j := range dependents[i] {
			level[j] = max(level[j], level[i]+1)
			if waiting[j]--; waiting[j] == 0 {
				queue = append(queue, j)
			}
		}
	}
	if len(queue) < len(nodes) {
		return BootPlan{}, findCycle(nodes, after, waiting)
	}
	plan := BootPlan{After: after, Rank: make([]int, len(nodes))}
	if len(nodes) > 0 {
		plan.Levels = make([][]int, maxLevel+1)
	}
	for i := range nodes {
		plan.Levels[level[i]] = append(plan.Levels[level[i]], i)
	}
	rank := 0
	for _, l := range plan.Levels {
		sort.Slice(l, func(a, b int) bool {
			x, y := nodes[l[a]], nodes[l[b]]
			if x.Priority != y.Priority {
				return x.Priority < y.Priority
			}
			if !x.Created.Equal(y.Created) {
				return x.Created.Before(y.Created)
			}
			return x.Name < y.Name
		})
		for _, i := range l {
			plan.Rank[i] = rank
			rank++
		}
	}
	return plan, nil
}

// findCycle names one cycle among the nodes Kahn's algorithm could not
// order (those still waiting): each of them waits for another of them, so
// following such dependencies from any of them must come back round.
func findCycle(nodes []BootNode, after [][]int, waiting []int) error {
	start := -1
	for i := range nodes {
		if waiting[i] > 0 {
			start = i
			break
		}
	}
	seen := map[int]int{} // node -> position in path
	var path []int
	for i := start; ; {
		if at, ok := seen[i]; ok {
			path = append(path[at:], i)
			break
		}
		seen[i] = len(path)
		path = append(path, i)
		for _, j := range after[i] {
			if waiting[j] > 0 {
				i = j
				break
			}
		}
	}
	names := make([]string, len(path))
	for k, i := range path {
		names[k] = nodes[i].Name
	}
	return fmt.Errorf("%w: %s", ErrDependencyCycle, strings.Join(names, " -> "))
}

// DependencyError says that a container was not started because one it
// depends on did not start.
type DependencyError struct {
	// Node and Dep are indexes into the plan's nodes.
	Node, Dep int
}

func (e *DependencyError) Error() string {
	return fmt.Sprintf("node %d: dependency %d did not start", e.Node, e.Dep)
}

// runOrdered calls fn for every node, at most parallel at a time, a node
// only once fn has returned for every node in after[node], and among the
// nodes that may run, lowest rank first. With block set, a node whose
// dependency failed is not run: its error is a *DependencyError, and so
// in turn for what depends on it. It returns each node's error. Each node
// and edge is handled once, plus a heap operation per node.
func runOrdered(ctx context.Context, rank []int, after [][]int, parallel int, block bool, fn func(ctx context.Context, i int) error) []error {
	n := len(rank)
	parallel = max(parallel, 1)
	errs := make([]error, n)
	waiting := make([]int, n)
	dependents := make([][]int, n)
	for i, deps := range after {
		waiting[i] = len(deps)
		for _, d := range deps {
			dependents[d] = append(dependents[d], i)
		}
	}
	ready := &rankHeap{rank: rank}
	for i := range n {
		if waiting[i] == 0 {
			ready.items = append(ready.items, i)
		}
	}
	heap.Init(ready)
	failed := make([]bool, n)
	var settle func(i int, err error)
	settle = func(i int, err error) {
		errs[i] = err
		for _, j := range dependents[i] {
			waiting[j]--
			if err != nil && block && !failed[j] {
				failed[j] = true
				settle(j, &DependencyError{Node: j, Dep: i})
				continue
			}
			if waiting[j] == 0 && !failed[j] {
				heap.Push(ready, j)
			}
		}
	}
	type result struct {
		i   int
		err error
	}
	results := make(chan result)
	running := 0
	for ready.Len() > 0 || running > 0 {
		for running < parallel && ready.Len() > 0 {
			i := heap.Pop(ready).(int)
			running++
			go func() { results <- result{i, fn(ctx, i)} }()
		}
		r := <-results
		running--
		if r.err != nil {
			failed[r.i] = true
		}
		settle(r.i, r.err)
	}
	return errs
}

// rankHeap is a min-heap of node indexes by rank.
type rankHeap struct {
	rank  []int
	items []int
}

func (h *rankHeap) Len() int           { return len(h.items) }
func (h *rankHeap) Less(a, b int) bool { return h.rank[h.items[a]] < h.rank[h.items[b]] }
func (h *rankHeap) Swap(a, b int)      { h.items[a], h.items[b] = h.items[b], h.items[a] }
func (h *rankHeap) Push(x any)         { h.items = append(h.items, x.(int)) }
func (h *rankHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// bootNodes turns records into planner nodes.
func bootNodes(all []*Container) []BootNode {
	nodes := make([]BootNode, len(all))
	for i, c := range all {
		nodes[i] = BootNode{ID: c.ID, Name: c.Name, Priority: c.BootPriority(), Created: c.Created, DependsOn: c.DependsOn}
	}
	return nodes
}

// resolveDependencies turns the references of deps into container IDs
// among all: an unknown or ambiguous reference, or self, is an error
// naming it. Duplicates are dropped.
func resolveDependencies(all []*Container, self string, deps []string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, ref := range deps {
		c, err := Resolve(all, ref)
		if err != nil {
			return nil, fmt.Errorf("--depends-on %q: %w", ref, err)
		}
		if c.ID == self {
			return nil, fmt.Errorf("--depends-on %q: %w: a container cannot depend on itself", ref, ErrDependencyCycle)
		}
		if !seen[c.ID] {
			seen[c.ID] = true
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

// dependencyReady tells whether c may be counted on by the containers that
// depend on it: it runs and, when it has a health check, that check has
// passed last (Healthy).
func dependencyReady(c *Container) bool {
	return c.Healthy()
}

// stopTimeout is how long shutdown gives c to stop before SIGKILL: its
// own --stop-timeout, else the default given.
func stopTimeout(c *Container, def time.Duration) time.Duration {
	return c.StopTimeoutOr(def)
}
