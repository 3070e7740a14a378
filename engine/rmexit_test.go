package engine

import (
	"context"
	"errors"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/internal/monitorio"
	"github.com/stockade/stockade/snapshot"
)

// failingRemove is a snapshotter whose Remove fails (the rest is not
// called by these tests).
type failingRemove struct{ snapshot.Snapshotter }

func (failingRemove) Remove(context.Context, string) error { return errors.New("disk on fire") }

// TestRemovedExitNotWritten: the exit of a --rm container that will not
// restart is not written before its removal (a write transaction and its
// two syncs between the exit and the CLI's return); a restart, a kept
// container, or a removal that fails still records it.
func TestRemovedExitNotWritten(t *testing.T) {
	ctx := context.Background()
	txid := func(e *Engine) (id int) {
		e.DB.View(ctx, func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	running := func(t *testing.T, policy string, autoRemove bool) (*Engine, *Container) {
		t.Helper()
		e, c := newLoopEngine(t, policy)
		if _, err := e.update(ctx, c.ID, func(rec *Container) error {
			rec.AutoRemove = autoRemove
			rec.State.Status, rec.State.Pid = StatusRunning, 42
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return e, e.mustFind(t, c.ID)
	}
	for _, tc := range []struct {
		name       string
		policy     string
		autoRemove bool
		restart    bool // what the loop decides
		want       Status
	}{
		{"--rm", "no", true, false, StatusRunning},
		{"--rm with a policy that gives up", "on-failure", true, false, StatusRunning},
		{"--rm restarted", "always", true, true, StatusRestarting},
		{"kept", "no", false, false, StatusExited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, c := running(t, tc.policy, tc.autoRemove)
			run := &monitorRun{willRestart: func(int, *Container) bool { return tc.restart }}
			before := txid(e)
			e.recordExit(ctx, c, run, 3)
			got := e.mustFind(t, c.ID).State
			if got.Status != tc.want {
				t.Fatalf("status after the exit = %s, want %s", got.Status, tc.want)
			}
			pending := tc.want == StatusRunning
			if (run.exitPending != nil) != pending {
				t.Fatalf("exit pending = %v, want %v", run.exitPending, pending)
			}
			if written := txid(e) != before; written == pending {
				t.Fatalf("exit written = %v (tx %d -> %d)", written, before, txid(e))
			}
			if pending {
				run.recordPendingExit(ctx, e, c)
				if s := e.mustFind(t, c.ID).State; s.Status != StatusExited || s.ExitCode != 3 || s.Pid != 0 || s.FinishedAt.IsZero() {
					t.Fatalf("recorded later: %+v", s)
				}
			}
		})
	}

	// The removal fails: the exit is recorded, as it would be without --rm.
	t.Run("removal fails", func(t *testing.T) {
		e, c := running(t, "no", true)
		e.Snapshotter = failingRemove{}
		run := &monitorRun{hub: monitorio.NewHub(), runtimeDeleted: true}
		e.recordExit(ctx, c, run, 7)
		e.monitorEnd(ctx, c, run, func() {}, 7, nil)
		if s := e.mustFind(t, c.ID).State; s.Status != StatusExited || s.ExitCode != 7 {
			t.Fatalf("after a failed removal: %+v", s)
		}
	})
}

// TestEndsAtExitReadsNoRecord: at the exit of a --rm container without a
// policy, whose policy no update can change, the monitor decides that it
// will not restart without reading the record (a transaction on the way
// from the exit to the CLI's return); with a policy, or without --rm,
// it reads it, and a record it cannot read says it may restart.
func TestEndsAtExitReadsNoRecord(t *testing.T) {
	for _, tc := range []struct {
		name       string
		policy     string
		autoRemove bool
		may        bool // with the store unreadable
	}{
		{"--rm", "no", true, false},
		{"--rm with a policy", "on-failure", true, true},
		{"kept", "no", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, c := newLoopEngine(t, tc.policy)
			c.AutoRemove = tc.autoRemove
			// The store cannot be read any more.
			path := e.DB.Path()
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			run := &monitorRun{willRestart: func(int, *Container) bool { return false }}
			if got := e.mayRestart(context.Background(), c, run, 0); got != tc.may {
				t.Errorf("mayRestart = %v, want %v", got, tc.may)
			}
		})
	}
}
