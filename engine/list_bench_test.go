package engine

import (
	"context"
	"encoding/json"
	"fmt"
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

// benchExtensions are the hook data of a container on the default bridge
// network with one published port and one volume, the size a real record
// carries.
func benchExtensions(id string) map[string]json.RawMessage {
	return map[string]json.RawMessage{
		"network": json.RawMessage(fmt.Sprintf(`{"network":"bridge","publish":["8080:80"],`+
			`"endpoints":[{"containerID":%[1]q,"containerName":"c","network":"bridge","driver":"bridge",`+
			`"ifName":"eth0","hostIf":"veth%.8[1]s","mac":"02:42:0a:58:00:02","addr":"10.88.0.2/16",`+
			`"ports":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}],`+
			`"networks":[{"name":"bridge","id":"%064d","driver":"bridge","interface":"stockade0",`+
			`"subnet":"10.88.0.0/16","gateway":"10.88.0.1","default":true,"created":"2026-01-02T03:04:05Z"}]}`, id, 7)),
		"volume": json.RawMessage(`{"rootfs":"/var/run/stockade/rootfs","made":["data"]}`),
	}
}

// benchStore is an engine over a store of n container records: three in
// four running with a live monitor (a held lock), the rest half created,
// half exited. The locks are released when the benchmark ends.
func benchStore(b *testing.B, n int) *Engine {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	db, err := metadata.Open(ctx, filepath.Join(dir, metadata.FileName))
	if err != nil {
		b.Fatal(err)
	}
	e := &Engine{Root: dir, StateDir: filepath.Join(dir, "state"), DB: db, Runtime: stateOnly{}}
	err = db.Update(ctx, func(tx *bolt.Tx) error {
		for i := 0; i < n; i++ {
			id, err := NewID()
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			c := &Container{
				ID: id, Name: GenerateName(id), Image: "registry.example/app:1.0", ImageID: "sha256:" + id,
				Snapshotter: "overlay", SnapshotKey: id, Created: now, Command: []string{"/bin/sleep", "infinity"},
				Restart: RestartPolicy{Name: "always"}, Labels: map[string]string{"app": "bench"},
				Extensions: benchExtensions(id),
			}
			switch {
			case i%4 != 3:
				c.State = State{Status: StatusRunning, Pid: 1000 + i, MonitorPid: 2000 + i, StartedAt: now}
				if err := os.MkdirAll(e.runDir(id), 0o700); err != nil {
					return err
				}
				f, err := os.Create(e.lockPath(id))
				if err != nil {
					return err
				}
				b.Cleanup(func() { f.Close() })
				if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
					return err
				}
			case i%8 == 3:
				c.State = State{Status: StatusCreated}
			default:
				c.State = State{Status: StatusExited, ExitCode: 137, StartedAt: now, FinishedAt: now}
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
	return e
}

// BenchmarkList is the engine's part of `stockade ps -a` over 10, 100
// and 1,000 containers: every record read and each live one's monitor
// checked. cmd/stockade's BenchmarkPs adds the formatting. cpu-µs is the
// CPU time over all goroutines, less disturbed than the wall time by the
// other processes of a busy machine.
func BenchmarkList(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			e := benchStore(b, n)
			ctx := context.Background()
			want := n - n/4 // i%4 == 3 is not running
			b.ReportAllocs()
			var before, after syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			for b.Loop() {
				all, err := e.List(ctx)
				if err != nil || len(all) != n {
					b.Fatalf("%d containers, %v", len(all), err)
				}
				running := 0
				for _, c := range all {
					if c.State.Status == StatusRunning {
						running++
					}
				}
				if running != want {
					b.Fatalf("%d running, want %d", running, want)
				}
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
			b.ReportMetric(float64(cpu)/1e3/float64(b.N)/float64(n), "cpu-µs/container")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/container")
		})
	}
}
