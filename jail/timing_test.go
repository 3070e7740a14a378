package jail

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/internal/phase"
	"github.com/stockade/stockade/ociruntime"
)

// lifecycle creates, starts, kills (SIGKILL) and deletes c1 from bundle,
// as the engine does with a container that is stopped: what the phase
// benchmarks time.
func lifecycle(ctx context.Context, r *Runtime, bundle string) error {
	if err := r.Create(ctx, "c1", ociruntime.CreateOpts{Bundle: bundle}); err != nil {
		return err
	}
	if err := r.Start(ctx, "c1"); err != nil {
		return err
	}
	if err := r.Kill(ctx, "c1", syscall.SIGKILL, false); err != nil {
		return err
	}
	return r.Delete(ctx, "c1", true)
}

// lifecyclePhases are the phases of lifecycle over testBundle, in order:
// the mounts (devfs with its rules, fdescfs, nullfs) each followed by its
// journal entry, the jail and its removal's entry, the lo1 alias, the
// rctl rule, the helper; at delete the journal replayed backwards.
var lifecyclePhases = []string{
	"create spec", "create jail-params", "create mount-plan", "create rctl-plan", "create init-plan",
	"create state-dir", "create kldload", "create mount-points",
	"create nmount", "create state-write", "create devfs-rules",
	"create nmount", "create state-write",
	"create nmount", "create state-write",
	"create jail_set", "create state-write",
	"create ip-alias", "create state-write",
	"create rctl", "create state-write",
	"create exec-fifo", "create init-helper", "create state-write",
	"start lock+read", "start status", "start exec-fifo", "start state-write",
	"kill lock+read", "kill status", "kill signal",
	"delete lock+read", "delete status",
	"undo kill", "undo rctl", "undo ifconfig", "undo jail_remove",
	"undo dying-wait", "undo unmount", "undo unmount", "undo unmount",
	"delete state-remove",
}

func names(recs []phase.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Name
	}
	return out
}

// A caller that times itself gets every step of the lifecycle in its
// timer, in the order the runtime took them.
func TestLifecyclePhases(t *testing.T) {
	bundle, _, _ := testBundle(t, nil)
	r := New(t.TempDir(), newFake(), nil)
	r.KillWait = 0
	timer := phase.New("cli")
	if err := lifecycle(phase.With(context.Background(), timer), r, bundle); err != nil {
		t.Fatal(err)
	}
	recs := timer.Records()
	if got := names(recs); !slices.Equal(got, lifecyclePhases) {
		t.Errorf("phases:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(lifecyclePhases, "\n"))
	}
	for _, rec := range recs {
		if rec.Proc != "cli" || rec.Dur < 0 {
			t.Errorf("record %+v: want the caller's proc and a duration", rec)
		}
	}
}

// The hooks and the pid file are phases of their own when there are any.
func TestCreatePhasesHooksPidFile(t *testing.T) {
	bundle, _, _ := testBundle(t, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{
			CreateRuntime:   []specs.Hook{{Path: "/bin/true"}},
			CreateContainer: []specs.Hook{{Path: "/bin/true"}},
		}
	})
	r := New(t.TempDir(), newFake(), nil)
	timer := phase.New("cli")
	ctx := phase.With(context.Background(), timer)
	if err := r.Create(ctx, "c1", ociruntime.CreateOpts{Bundle: bundle, PidFile: filepath.Join(t.TempDir(), "pid")}); err != nil {
		t.Fatal(err)
	}
	got := names(timer.Records())
	want := []string{"create rctl", "create state-write", "create hooks", "create exec-fifo", "create init-helper",
		"create state-write", "create pid-file", "create hooks"}
	if len(got) < len(want) || !slices.Equal(got[len(got)-len(want):], want) {
		t.Errorf("phases end with\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// stockade-runtime started by a parent that asked for its phases
// (STOCKADE_PHASE_FILE, STOCKADE_PHASE_START) appends them to the file,
// each operation its own once: what the parent's Collect reads back.
func TestTimingFromEnv(t *testing.T) {
	file := filepath.Join(t.TempDir(), "phases")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	t.Setenv(phase.EnvFile, file)
	t.Setenv(phase.EnvStart, strconv.FormatInt(started.UnixNano(), 10))
	bundle, _, _ := testBundle(t, nil)
	r := New(t.TempDir(), newFake(), nil)
	r.KillWait = 0
	if err := lifecycle(context.Background(), r, bundle); err != nil {
		t.Fatal(err)
	}
	if v, ok := os.LookupEnv(phase.EnvFile); ok {
		t.Errorf("%s=%s still in the environment: the init helper and hooks would time themselves into the file", phase.EnvFile, v)
	}
	parent := phase.New("cli")
	parent.Share(file)
	if err := parent.Collect(); err != nil {
		t.Fatal(err)
	}
	recs := parent.Records()
	want := append([]string{"create startup"}, lifecyclePhases...)
	if got := names(recs); !slices.Equal(got, want) {
		t.Errorf("phases in the file:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(recs) > 0 && !recs[0].Start.Equal(started) {
		t.Errorf("startup began %v, want the parent's start %v", recs[0].Start, started)
	}
	for _, rec := range recs {
		if rec.Proc != ProcName {
			t.Errorf("record %+v: proc %q, want %q", rec, rec.Proc, ProcName)
		}
	}
}

// Without a timer in the context or the environment nothing is recorded
// and nothing written.
func TestTimingOff(t *testing.T) {
	bundle, _, _ := testBundle(t, nil)
	r := New(t.TempDir(), newFake(), nil)
	r.KillWait = 0
	if err := lifecycle(context.Background(), r, bundle); err != nil {
		t.Fatal(err)
	}
	if r.timer != nil {
		t.Errorf("the runtime took a timer: %v", r.timer.Records())
	}
}

// A killed process the kernel has not torn down yet: Delete looks again
// until it is gone, then releases the container.
func TestDeleteWaitsForKilledProcess(t *testing.T) {
	tests := []struct {
		name     string
		linger   int
		killWait time.Duration
		wantErr  string
	}{
		{name: "gone at once", linger: 0, killWait: time.Second},
		{name: "gone after three looks", linger: 3, killWait: 10 * time.Second},
		{name: "survives", linger: 1 << 20, killWait: 50 * time.Millisecond, wantErr: "process 1000 survived SIGKILL for 50ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bundle, _, _ := testBundle(t, nil)
			k := newFake()
			r := New(t.TempDir(), k, nil)
			r.KillWait = tc.killWait
			if err := create(t, r, bundle); err != nil {
				t.Fatal(err)
			}
			k.killLinger = tc.linger
			err := r.Delete(context.Background(), "c1", true)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("delete: %v, want %q", err, tc.wantErr)
				}
				// Nothing was released: the container is still there.
				if st, err := r.State(context.Background(), "c1"); err != nil || st.Status != specs.StateCreated {
					t.Errorf("state after the failed delete: %+v %v", st, err)
				}
				if slices.Contains(k.log(), "jail_remove 7") {
					t.Errorf("the jail was removed while its process lived: %q", k.log())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.State(context.Background(), "c1"); err == nil {
				t.Error("state still there after delete")
			}
			if _, left := k.lingering[1000]; left {
				t.Errorf("delete returned while the process was still in the table (%d looks left)", k.lingering[1000])
			}
		})
	}
}

// The pauses of the waits double from 1 ms up to their ceiling.
func TestPoller(t *testing.T) {
	tests := []struct {
		ceiling time.Duration
		want    []time.Duration
	}{
		{20 * time.Millisecond, ms(1, 2, 4, 8, 16, 20, 20)},
		{100 * time.Millisecond, ms(1, 2, 4, 8, 16, 32, 64, 100, 100)},
		{500 * time.Microsecond, []time.Duration{500 * time.Microsecond, 500 * time.Microsecond}},
	}
	for _, tc := range tests {
		p := newPoller(tc.ceiling)
		for i, w := range tc.want {
			if got := p.next(); got != w {
				t.Errorf("ceiling %s: pause %d is %s, want %s", tc.ceiling, i, got, w)
			}
		}
	}
}

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

// Create's record on disk is whole once it returns: the jail's id with
// its annotation, the pid, and the journal of everything made.
func TestCreateRecordOnDisk(t *testing.T) {
	bundle, rootfs, _ := testBundle(t, nil)
	root := t.TempDir()
	r := New(root, newFake(), nil)
	if err := r.Create(context.Background(), "c1", ociruntime.CreateOpts{Bundle: bundle}); err != nil {
		t.Fatal(err)
	}
	rec, err := r.store.read("c1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.JID != 7 || rec.Annotations[AnnotationJID] != "7" || rec.Pid != 1000 || rec.Status != specs.StateCreated {
		t.Errorf("record: jid %d (annotation %q), pid %d, status %s; want 7, 1000, created",
			rec.JID, rec.Annotations[AnnotationJID], rec.Pid, rec.Status)
	}
	var ops []string
	for _, u := range rec.Undo {
		ops = append(ops, describe(u))
	}
	want := []string{
		"unmount " + rootfs + "/dev", "unmount " + rootfs + "/dev/fd", "unmount " + rootfs + "/data",
		"jail_remove 7", "ifconfig [lo1 inet 10.0.0.5 -alias]", "rctl -r jail:c1:memoryuse:deny=1048576", "kill 1000",
	}
	if !slices.Equal(ops, want) {
		t.Errorf("journal:\n%s\nwant:\n%s", strings.Join(ops, "\n"), strings.Join(want, "\n"))
	}
}
