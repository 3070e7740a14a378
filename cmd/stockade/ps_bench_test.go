//go:build linux || freebsd

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/volume"
)

// psBenchStore makes a store of n container records for `ps`. Three in
// four run, with a live monitor (a held lock); the rest are half created,
// half exited. Each is on the default bridge network with a published
// port and has a volume, so a record is as large as a real one.
func psBenchStore(b testing.TB, n int) *psStore {
	b.Helper()
	s := newPsStore(b)
	bridge := &network.Network{
		Name: "bridge", ID: strings.Repeat("7", 64), Driver: "bridge", Interface: "stockade0",
		Subnet: netip.MustParsePrefix("10.88.0.0/16"), Gateway: netip.MustParseAddr("10.88.0.1"),
		Default: true, Created: time.Now().UTC(),
	}
	cs := make([]*engine.Container, n)
	running := map[string]bool{}
	for i := range n {
		id, err := engine.NewID()
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now().UTC().Add(-time.Duration(i) * time.Minute)
		c := &engine.Container{
			ID: id, Name: engine.GenerateName(id), Image: "registry.example/app:1.0", ImageID: "sha256:" + id,
			Snapshotter: "overlay", SnapshotKey: id, Created: now, Command: []string{"/bin/sleep", "infinity"},
			Restart: engine.RestartPolicy{Name: "always"}, Labels: map[string]string{"app": "bench"},
		}
		addr := netip.AddrFrom4([4]byte{10, 88, byte(i >> 8), byte(i)})
		err = c.SetExtension(network.HookName, &network.Extension{
			Options: network.Options{Network: "bridge", Publish: []string{fmt.Sprintf("%d:80", 10000+i)}},
			Endpoints: []network.Endpoint{{
				ContainerID: id, ContainerName: c.Name, Network: "bridge", Driver: "bridge",
				IfName: "eth0", HostIf: "veth" + id[:8], MAC: "02:42:0a:58:00:02",
				Addr:  netip.PrefixFrom(addr, 16),
				Ports: []network.PortMapping{{HostPort: uint16(10000 + i), ContainerPort: 80, Protocol: "tcp"}},
			}},
			Networks: []*network.Network{bridge},
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.SetExtension(volume.HookName, &volume.Extension{Rootfs: "/run/rootfs", Made: []string{"data"}}); err != nil {
			b.Fatal(err)
		}
		switch {
		case i%4 != 3:
			c.State = engine.State{Status: engine.StatusRunning, Pid: 1000 + i, MonitorPid: 2000 + i, StartedAt: now}
			running[id] = true
		case i%8 == 3:
			c.State = engine.State{Status: engine.StatusCreated}
		default:
			c.State = engine.State{Status: engine.StatusExited, ExitCode: 137, StartedAt: now, FinishedAt: now}
		}
		cs[i] = c
	}
	s.put(cs, func(c *engine.Container) bool { return running[c.ID] })
	return s
}

// cpuTime is the CPU time, user and system, this process has used: what
// a benchmark costs, which the other processes of a busy machine disturb
// far less than its wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPs is `stockade ps` in-process, from the command line to the
// bytes written, over 10, 100 and 1,000 containers: the table, with -a,
// the JSON and a template. It reports the time per container; with a CPU
// profile (-cpuprofile) it shows what each container costs. cpu-µs is
// the CPU time, over all goroutines. The process
// start of a real `stockade ps` (runtime and package init) is not in it.
func BenchmarkPs(b *testing.B) {
	formats := []struct {
		name string
		args []string
		rows func(n int) int // lines written for n containers
	}{
		{"table", []string{"ps"}, func(n int) int { return n - n/4 + 1 }},
		{"all", []string{"ps", "-a"}, func(n int) int { return n + 1 }},
		{"json", []string{"ps", "--format", "json"}, nil},
		{"template", []string{"ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}} {{.Ports}}"}, func(n int) int { return n }},
	}
	for _, n := range []int{10, 100, 1000} {
		s := psBenchStore(b, n)
		for _, f := range formats {
			b.Run(fmt.Sprintf("%s/n=%d", f.name, n), func(b *testing.B) {
				args := append(append([]string{"stockade"}, s.globals...), f.args...)
				var out, errb bytes.Buffer
				b.ReportAllocs()
				cpu := cpuTime()
				for b.Loop() {
					out.Reset()
					errb.Reset()
					if code := run(context.Background(), args, strings.NewReader(""), &out, &errb); code != 0 {
						b.Fatalf("exit %d: %s", code, errb.String())
					}
				}
				if f.rows != nil {
					if got := bytes.Count(out.Bytes(), []byte("\n")); got != f.rows(n) {
						b.Fatalf("%d lines, want %d:\n%s", got, f.rows(n), out.String())
					}
				} else if got := bytes.Count(out.Bytes(), []byte(`"status": "running"`)); got != n-n/4 {
					b.Fatalf("%d running in the JSON, want %d", got, n-n/4)
				}
				b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N)/float64(n), "cpu-µs/container")
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/container")
			})
		}
	}
}
