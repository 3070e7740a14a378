package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestStatsParsers(t *testing.T) {
	if p, err := parseCgroupPath("12:pids:/x\n0::/system.slice/abc\n"); err != nil || p != "/system.slice/abc" {
		t.Errorf("parseCgroupPath = %q, %v", p, err)
	}
	if _, err := parseCgroupPath("4:memory:/x\n"); err == nil {
		t.Error("parseCgroupPath of a v1-only file: no error")
	}
	v1 := parseCgroupV1("9:name=systemd:/\n4:memory:/a/b\n2:cpu,cpuacct:/a/c\n0::/\n")
	if want := map[string]string{"name=systemd": "/", "memory": "/a/b", "cpu": "/a/c", "cpuacct": "/a/c"}; !reflect.DeepEqual(v1, want) {
		t.Errorf("parseCgroupV1 = %v", v1)
	}
	if r, w := parseIOStat("8:0 rbytes=100 wbytes=20 rios=1 wios=2\n253:1 rbytes=5 wbytes=7 dbytes=0\n"); r != 105 || w != 27 {
		t.Errorf("parseIOStat = %d %d", r, w)
	}
	if r, w := parseBlkio("8:0 Read 4096\n8:0 Write 512\n8:0 Sync 1\n8:0 Total 4608\nTotal 4608\n"); r != 4096 || w != 512 {
		t.Errorf("parseBlkio = %d %d", r, w)
	}
	netdev := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0
  eth0:    1500      12    0    0    0     0          0         0      700       9    0    0    0     0       0          0
`
	if rx, tx := parseNetDev(netdev); rx != 1500 || tx != 700 {
		t.Errorf("parseNetDev = %d %d", rx, tx)
	}
	if kv := parseKeyValues("usage_usec 1234\nuser_usec 1000\nbad line\n", ' '); kv["usage_usec"] != 1234 || len(kv) != 2 {
		t.Errorf("parseKeyValues = %v", kv)
	}
}

// rctl -u's output on FreeBSD 14 (racct on), and its refusal with racct off.
func TestRctlUsage(t *testing.T) {
	out := "cputime=3\ndatasize=1146880\nstacksize=0\ncoredumpsize=0\nmemoryuse=7340032\nmemorylocked=0\nmaxproc=2\nopenfiles=12\nvmemoryuse=22020096\npseudoterminals=0\nswapuse=0\nnthr=2\nmsgqqueued=0\nmsgqsize=0\nnmsgq=0\nnsem=0\nnsemop=0\nnshm=0\nshmsize=0\nwallclock=42\npcpu=12\nreadbps=0\nwritebps=4096\nreadiops=0\nwriteiops=1\n"
	s, err := parseRctlUsage(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU != 3*time.Second || s.MemoryUsage != 7340032 || s.Pids != 2 || s.PCPU != 12 {
		t.Errorf("parseRctlUsage = %+v", s)
	}
	if _, err := parseRctlUsage(""); err == nil {
		t.Error("empty rctl output: no error")
	}
	err = rctlError("rctl: RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable\n", errors.New("exit status 1"))
	if !errors.Is(err, ErrRacctDisabled) || !strings.Contains(err.Error(), "kern.racct.enable=1 to /boot/loader.conf") {
		t.Errorf("racct off: %v", err)
	}
	if err := rctlError("rctl: jail:x: No such process\n", errors.New("exit status 1")); errors.Is(err, ErrRacctDisabled) || err.Error() != "rctl: rctl: jail:x: No such process" {
		t.Errorf("other rctl error: %v", err)
	}
}

func TestCPUPercent(t *testing.T) {
	t0 := time.Unix(100, 0)
	for _, tc := range []struct {
		name      string
		prev, cur *Stats
		want      float64
	}{
		{"no earlier sample", nil, &Stats{Read: t0, CPU: time.Second, PCPU: -1}, 0},
		{"half a CPU", &Stats{Read: t0, CPU: time.Second, PCPU: -1}, &Stats{Read: t0.Add(2 * time.Second), CPU: 2 * time.Second, PCPU: -1}, 50},
		{"two CPUs", &Stats{Read: t0, PCPU: -1}, &Stats{Read: t0.Add(time.Second), CPU: 2 * time.Second, PCPU: -1}, 200},
		{"racct between whole seconds", &Stats{Read: t0, CPU: time.Second, PCPU: 30}, &Stats{Read: t0.Add(time.Second), CPU: time.Second, PCPU: 30}, 30},
		{"racct first sample", nil, &Stats{Read: t0, PCPU: 7}, 7},
	} {
		if got := CPUPercent(tc.prev, tc.cur); got != tc.want {
			t.Errorf("%s: CPUPercent = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNetstatLink(t *testing.T) {
	// netstat -b -n -I e0a_1f9bbfb10ba5 on FreeBSD 14: the link row, then
	// an address row.
	out := `Name    Mtu Network       Address              Ipkts Ierrs Idrop     Ibytes    Opkts Oerrs     Obytes  Coll
e0a_1f9 1500 <Link#7>      02:1f:9b:fb:10:0a       42     0     0       3528       17     0       1398     0
e0a_1f9    - 10.88.0.0/16  10.88.0.1                0     -     -          0        0     -          0     -
`
	if in, o, ok := parseNetstatLink(out); !ok || in != 3528 || o != 1398 {
		t.Errorf("parseNetstatLink = %d %d %v", in, o, ok)
	}
	if _, _, ok := parseNetstatLink("netstat: interface e0a_x does not exist\n"); ok {
		t.Error("an error message parsed as counters")
	}
	c := &Container{Name: "web"}
	c.SetExtension("network", map[string]any{"network": "stockade", "endpoints": []map[string]string{{"hostIf": "e0a_1f9"}, {"hostIf": ""}}})
	if got := hostInterfaces(c); len(got) != 1 || got[0] != "e0a_1f9" {
		t.Errorf("hostInterfaces = %q", got)
	}
}

// TestJailNameOf: racct knows a child jail as parent.id, the name the
// jail runtime gives it; asking rctl for jail:id would find nothing.
func TestJailNameOf(t *testing.T) {
	tests := []struct {
		name string
		spec specs.Spec
		want string
	}{
		{"plain", specs.Spec{}, "c1"},
		{"spec parent", specs.Spec{FreeBSD: &specs.FreeBSD{Jail: &specs.FreeBSDJail{Parent: "web"}}}, "web.c1"},
		{"annotation parent", specs.Spec{Annotations: map[string]string{"org.freebsd.parentJail": "db"}}, "db.c1"},
	}
	for _, tt := range tests {
		if got := jailNameOf(&tt.spec, "c1"); got != tt.want {
			t.Errorf("%s: jailNameOf = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := jailNameOf(nil, "c1"); got != "c1" {
		t.Errorf("no spec: jailNameOf = %q, want c1", got)
	}
}

// TestSpecMemoryLimit: --memory from the rctl annotation (FreeBSD) or the
// Linux limit; 0 without either, or without a spec.
func TestSpecMemoryLimit(t *testing.T) {
	limit := int64(64 << 20)
	for _, tt := range []struct {
		name string
		spec *specs.Spec
		want uint64
	}{
		{"no spec", nil, 0},
		{"none", &specs.Spec{}, 0},
		{"rctl", &specs.Spec{Annotations: map[string]string{"org.freebsd.rctl.memoryuse": "deny=536870912"}}, 536870912},
		{"linux", &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}}}, 64 << 20},
	} {
		if got := specMemoryLimit(tt.spec); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}
