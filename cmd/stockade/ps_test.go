//go:build linux || freebsd

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/network"
)

// psStore is a store of container records for ps, without images or
// monitors: a container "runs" while the test holds its monitor's lock.
type psStore struct {
	tb          testing.TB
	root, state string
	globals     []string // the global flags that name it
	db          *metadata.DB
}

func newPsStore(tb testing.TB) *psStore {
	tb.Helper()
	dir := tb.TempDir()
	s := &psStore{tb: tb, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state")}
	conf := filepath.Join(dir, "stockade.toml")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	s.globals = []string{"--config", conf, "--root", s.root, "--state", s.state}
	db, err := metadata.Open(context.Background(), filepath.Join(s.root, metadata.FileName))
	if err != nil {
		tb.Fatal(err)
	}
	s.db = db
	return s
}

// put stores cs, in one transaction; those that live gets true for have a
// monitor: their lock, where the engine looks for it, held by the test
// until it ends.
func (s *psStore) put(cs []*engine.Container, live func(*engine.Container) bool) {
	s.tb.Helper()
	err := s.db.Update(context.Background(), func(tx *bolt.Tx) error {
		for _, c := range cs {
			if live(c) {
				// The engine's layout: STATE/c/SHORTID/monitor.lock.
				run := filepath.Join(s.state, "c", c.ShortID())
				if err := os.MkdirAll(run, 0o700); err != nil {
					return err
				}
				f, err := os.Create(filepath.Join(run, "monitor.lock"))
				if err != nil {
					return err
				}
				s.tb.Cleanup(func() { f.Close() })
				if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
					return err
				}
			}
			if err := metadata.PutJSON(tx, metadata.BucketContainers, c.ID, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.tb.Fatal(err)
	}
}

// ps runs `stockade GLOBALS ps ARGS...` in-process and returns its
// output.
func (s *psStore) ps(args ...string) string {
	s.tb.Helper()
	var out, errb strings.Builder
	full := append(append(append([]string{"stockade"}, s.globals...), "ps"), args...)
	if code := run(context.Background(), full, strings.NewReader(""), &out, &errb); code != 0 {
		s.tb.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// psContainer is a container record as run makes them, id i.
func psContainer(i int, name string, created time.Time, st engine.State, ports ...network.PortMapping) *engine.Container {
	id := fmt.Sprintf("%02x%062x", i, i)
	c := &engine.Container{
		ID: id, Name: name, Image: "registry.example/app:1.0", ImageID: "sha256:" + id,
		Created: created, Command: []string{"/bin/sleep", "infinity"},
		Restart: engine.RestartPolicy{Name: "always"}, Labels: map[string]string{"app": name},
		State: st,
	}
	ext := &network.Extension{Options: network.Options{Network: "none"}}
	if len(ports) > 0 {
		ext = &network.Extension{
			Options: network.Options{Network: "bridge"},
			Endpoints: []network.Endpoint{{
				ContainerID: id, ContainerName: name, Network: "bridge", IfName: "eth0",
				Addr: netip.MustParsePrefix("10.88.0.2/16"), Ports: ports,
			}},
			Networks: []*network.Network{{Name: "bridge", Subnet: netip.MustParsePrefix("10.88.0.0/16"), Created: created}},
		}
	}
	if err := c.SetExtension(network.HookName, ext); err != nil {
		panic(err)
	}
	return c
}

// TestPsStates lists a store of containers in each state through the
// command line: the table, -q, a template and the JSON agree on who runs,
// a record that says running but whose monitor is gone is reported as
// exited (-1), and the published ports come out of the network
// extension.
func TestPsStates(t *testing.T) {
	testenv.RequireCommand(t, "runc") // asked about the container whose monitor is gone
	s := newPsStore(t)
	now := time.Now().UTC()
	created := now.Add(-2 * time.Hour)
	up := engine.State{Status: engine.StatusRunning, Pid: 10, MonitorPid: 11, StartedAt: now.Add(-time.Hour)}
	cs := []*engine.Container{
		psContainer(1, "web", created, up,
			network.PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			network.PortMapping{HostPort: 5353, ContainerPort: 53, Protocol: "udp"}),
		psContainer(2, "orphan", created, up), // its monitor was killed
		psContainer(3, "fresh", created, engine.State{Status: engine.StatusCreated}),
		psContainer(4, "done", created, engine.State{Status: engine.StatusExited, ExitCode: 3, StartedAt: created, FinishedAt: now.Add(-90 * time.Minute)}),
		psContainer(5, "db", created, up),
	}
	s.put(cs, func(c *engine.Container) bool { return c.Name == "web" || c.Name == "db" || c.Name == "fresh" })
	web, db := cs[0], cs[4]

	if got, want := s.ps("-q"), web.ShortID()+"\n"+db.ShortID()+"\n"; got != want {
		t.Errorf("ps -q:\n%s\nwant:\n%s", got, want)
	}
	if got, want := s.ps("-aq", "--no-trunc"), strings.Join([]string{cs[0].ID, cs[1].ID, cs[2].ID, cs[3].ID, cs[4].ID, ""}, "\n"); got != want {
		t.Errorf("ps -aq --no-trunc:\n%s\nwant:\n%s", got, want)
	}

	table := strings.Split(strings.TrimSuffix(s.ps("-a"), "\n"), "\n")
	cols := regexp.MustCompile(`  +`)
	wantRows := [][]string{
		{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAME"},
		{web.ShortID(), web.Image, `"/bin/sleep infinity"`, "2 hours ago", "Up About an hour", "127.0.0.1:8080->80/tcp, 0.0.0.0:5353->53/udp", "web"},
		{cs[1].ShortID(), web.Image, `"/bin/sleep infinity"`, "2 hours ago", "Exited (-1) Less than a second ago", "orphan"},
		{cs[2].ShortID(), web.Image, `"/bin/sleep infinity"`, "2 hours ago", "Created", "fresh"},
		{cs[3].ShortID(), web.Image, `"/bin/sleep infinity"`, "2 hours ago", "Exited (3) 2 hours ago", "done"},
		{db.ShortID(), web.Image, `"/bin/sleep infinity"`, "2 hours ago", "Up About an hour", "db"},
	}
	if len(table) != len(wantRows) {
		t.Fatalf("ps -a: %d lines, want %d:\n%s", len(table), len(wantRows), strings.Join(table, "\n"))
	}
	for i, line := range table {
		if got := cols.Split(strings.TrimSpace(line), -1); !slices.Equal(got, wantRows[i]) {
			t.Errorf("ps -a line %d: %q, want %q", i, got, wantRows[i])
		}
	}

	tmpl := s.ps("-a", "--format", "{{.Names}} {{.State}} {{.Ports}}")
	if want := "web running 127.0.0.1:8080->80/tcp, 0.0.0.0:5353->53/udp\norphan exited \nfresh created \ndone exited \ndb running \n"; tmpl != want {
		t.Errorf("ps -a --format:\n%q\nwant:\n%q", tmpl, want)
	}

	var entries []psEntry
	if err := json.Unmarshal([]byte(s.ps("-a", "--format", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	type brief struct {
		name   string
		status engine.Status
		exit   int
		ports  []string
	}
	var got []brief
	for _, e := range entries {
		got = append(got, brief{e.Name, e.State.Status, e.ExitCode, e.Ports})
	}
	want := []brief{
		{"web", engine.StatusRunning, 0, []string{"127.0.0.1:8080->80/tcp", "0.0.0.0:5353->53/udp"}},
		{"orphan", engine.StatusExited, -1, nil},
		{"fresh", engine.StatusCreated, 0, nil},
		{"done", engine.StatusExited, 3, nil},
		{"db", engine.StatusRunning, 0, nil},
	}
	if !slices.EqualFunc(got, want, func(a, b brief) bool {
		return a.name == b.name && a.status == b.status && a.exit == b.exit && slices.Equal(a.ports, b.ports)
	}) {
		t.Errorf("ps -a --format json:\n%+v\nwant:\n%+v", got, want)
	}
}

// TestFormatPorts checks that ps's narrow reading of the network
// extension (psPorts) finds every port that the whole extension holds.
func TestFormatPorts(t *testing.T) {
	p := func(ip string, host, ctr uint16, proto string) network.PortMapping {
		m := network.PortMapping{HostPort: host, ContainerPort: ctr, Protocol: proto}
		if ip != "" {
			m.HostIP = netip.MustParseAddr(ip)
		}
		return m
	}
	tests := []struct {
		name string
		ext  *network.Extension // nil: no network extension
		want []string
	}{
		{"no extension", nil, nil},
		{"network none", &network.Extension{Options: network.Options{Network: "none"}}, nil},
		{"endpoint without ports", &network.Extension{Endpoints: []network.Endpoint{{Network: "bridge"}}}, nil},
		{"two networks", &network.Extension{
			Options: network.Options{Publish: []string{"8080:80"}},
			Endpoints: []network.Endpoint{
				{Network: "a", Ports: []network.PortMapping{p("", 8080, 80, "tcp"), p("::1", 53, 53, "udp")}},
				{Network: "b", Ports: []network.PortMapping{p("127.0.0.1", 9000, 9000, "tcp")}},
			},
			Networks: []*network.Network{{Name: "a"}, {Name: "b"}},
		}, []string{"0.0.0.0:8080->80/tcp", "[::1]:53->53/udp", "127.0.0.1:9000->9000/tcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &engine.Container{ID: strings.Repeat("a", 64), Name: "c"}
			if tt.ext != nil {
				if err := c.SetExtension(network.HookName, tt.ext); err != nil {
					t.Fatal(err)
				}
			}
			got := formatPorts(c)
			if !slices.Equal(got, tt.want) {
				t.Errorf("formatPorts = %q, want %q", got, tt.want)
			}
			// The whole extension, as `port` reads it, agrees.
			all, err := containerPorts(c)
			if err != nil {
				t.Fatal(err)
			}
			var whole []string
			for _, m := range all {
				whole = append(whole, network.FormatPort(m))
			}
			if !slices.Equal(got, whole) {
				t.Errorf("formatPorts = %q, the whole extension's = %q", got, whole)
			}
		})
	}
}
