package engine

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/ociruntime"
)

// stateOnly is a runtime that only answers State, as a container whose
// process is gone.
type stateOnly struct{ ociruntime.Runtime }

func (stateOnly) State(context.Context, string) (specs.State, error) {
	return specs.State{}, ociruntime.ErrNotFound
}

func (stateOnly) Kill(context.Context, string, syscall.Signal, bool) error { return nil }

// BenchmarkList200 is `stockade ps -a` over 200 containers: 150 running
// with a live monitor (a held lock) and 50 exited.
func BenchmarkList200(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	db, err := metadata.Open(ctx, filepath.Join(dir, metadata.FileName))
	if err != nil {
		b.Fatal(err)
	}
	e := &Engine{Root: dir, StateDir: filepath.Join(dir, "state"), DB: db, Runtime: stateOnly{}}
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	err = db.Update(ctx, func(tx *bolt.Tx) error {
		for i := 0; i < 200; i++ {
			id, _ := NewID()
			c := &Container{ID: id, Name: GenerateName(id), Image: "x", Created: time.Now(), State: State{Status: StatusExited}}
			if i < 150 {
				c.State = State{Status: StatusRunning, Pid: 1000 + i, StartedAt: time.Now()}
				os.MkdirAll(e.runDir(id), 0o700)
				f, err := os.Create(e.lockPath(id))
				if err != nil {
					return err
				}
				if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
					return err
				}
				held = append(held, f)
			}
			if err := metadata.PutJSON(tx, metadata.BucketContainers, id, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		all, err := e.List(ctx)
		if err != nil || len(all) != 200 {
			b.Fatalf("%d containers, %v", len(all), err)
		}
		running := 0
		for _, c := range all {
			if c.State.Status == StatusRunning {
				running++
			}
		}
		if running != 150 {
			b.Fatalf("%d running, want 150", running)
		}
	}
}
