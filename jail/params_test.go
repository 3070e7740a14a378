package jail

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const defaultsTail = " enforce_statfs=2 allow.noset_hostname allow.noraw_sockets allow.nochflags allow.noquotas allow.nosocket_af allow.nomlock allow.nomount"

func intp(n int) *int { return &n }

func TestJailParams(t *testing.T) {
	head := "name=c1 path=/r persist"
	tests := []struct {
		name string
		edit func(*specs.Spec)
		want string // the parameters joined by spaces, or the error's text
	}{
		{"empty", func(s *specs.Spec) {}, head + defaultsTail},
		{"hostname implies host new", func(s *specs.Spec) { s.Hostname = "h"; s.Domainname = "d" }, head + " host=1 host.hostname=h host.domainname=d" + defaultsTail},
		{"host inherit", func(s *specs.Spec) { s.FreeBSD.Jail.Host = "inherit" }, head + " host=2" + defaultsTail},
		{"host inherit with hostname", func(s *specs.Spec) { s.FreeBSD.Jail.Host = "inherit"; s.Hostname = "h" }, "need freebsd.jail.host \"new\""},
		{"host disable", func(s *specs.Spec) { s.FreeBSD.Jail.Host = "disable" }, "freebsd.jail.host: \"disable\" is not allowed"},
		{"host bogus", func(s *specs.Spec) { s.FreeBSD.Jail.Host = "shared" }, "unknown value \"shared\""},
		{"parent", func(s *specs.Spec) { s.FreeBSD.Jail.Parent = "pod" }, "name=pod.c1 path=/r persist" + defaultsTail},
		{"parent annotation", func(s *specs.Spec) { s.Annotations = map[string]string{AnnotationParentJail: "pod"} }, "name=pod.c1 path=/r persist" + defaultsTail},
		{"parent disagree", func(s *specs.Spec) {
			s.FreeBSD.Jail.Parent = "a"
			s.Annotations = map[string]string{AnnotationParentJail: "b"}
		}, "disagree"},
		{"parent bad", func(s *specs.Spec) { s.FreeBSD.Jail.Parent = "a b" }, "not a jail name"},
		{"ip4 addrs", func(s *specs.Spec) { s.FreeBSD.Jail.Ip4Addr = []string{"10.0.0.1", "10.0.0.2/24"} }, head + " ip4=1 ip4.addr=10.0.0.1,10.0.0.2" + defaultsTail},
		{"ip4 new addrs", func(s *specs.Spec) { s.FreeBSD.Jail.Ip4 = "new"; s.FreeBSD.Jail.Ip4Addr = []string{"10.0.0.1"} }, head + " ip4=1 ip4.addr=10.0.0.1" + defaultsTail},
		{"ip4 inherit", func(s *specs.Spec) { s.FreeBSD.Jail.Ip4 = "inherit" }, head + " ip4=2" + defaultsTail},
		{"ip4 disable", func(s *specs.Spec) { s.FreeBSD.Jail.Ip4 = "disable" }, head + " ip4=0" + defaultsTail},
		{"ip4 disable with addrs", func(s *specs.Spec) { s.FreeBSD.Jail.Ip4 = "disable"; s.FreeBSD.Jail.Ip4Addr = []string{"10.0.0.1"} }, "needs freebsd.jail.ip4 \"new\""},
		{"ip4 v6 addr", func(s *specs.Spec) { s.FreeBSD.Jail.Ip4Addr = []string{"fd00::1"} }, "not an IPv4 address"},
		{"ip4 name", func(s *specs.Spec) { s.FreeBSD.Jail.Ip4Addr = []string{"example.com"} }, "not a numeric address"},
		{"ip4 unspecified", func(s *specs.Spec) { s.FreeBSD.Jail.Ip4Addr = []string{"0.0.0.0"} }, "cannot be a jail's address"},
		{"ip4 broadcast", func(s *specs.Spec) { s.FreeBSD.Jail.Ip4Addr = []string{"255.255.255.255"} }, "cannot be a jail's address"},
		{"ip6 unspecified", func(s *specs.Spec) { s.FreeBSD.Jail.Ip6Addr = []string{"::"} }, "cannot be a jail's address"},
		{"ip4 dup", func(s *specs.Spec) { s.FreeBSD.Jail.Ip4Addr = []string{"10.0.0.1", "10.0.0.1"} }, "listed twice"},
		{"ip6 addrs", func(s *specs.Spec) { s.FreeBSD.Jail.Ip6Addr = []string{"fd00::1"} }, head + " ip6=1 ip6.addr=fd00::1" + defaultsTail},
		{"ip6 v4 addr", func(s *specs.Spec) { s.FreeBSD.Jail.Ip6Addr = []string{"10.0.0.1"} }, "not an IPv6 address"},
		{"ip6 inherit", func(s *specs.Spec) { s.FreeBSD.Jail.Ip6 = "inherit" }, head + " ip6=2" + defaultsTail},
		{"interface", func(s *specs.Spec) { s.FreeBSD.Jail.Interface = "lo1"; s.FreeBSD.Jail.Ip4Addr = []string{"10.0.0.1"} }, head + " ip4=1 ip4.addr=10.0.0.1" + defaultsTail},
		{"interface without addrs", func(s *specs.Spec) { s.FreeBSD.Jail.Interface = "lo1" }, "no ip4Addr or ip6Addr"},
		{"interface bad", func(s *specs.Spec) { s.FreeBSD.Jail.Interface = "lo 1"; s.FreeBSD.Jail.Ip4Addr = []string{"10.0.0.1"} }, "bad character"},
		{"vnet new", func(s *specs.Spec) { s.FreeBSD.Jail.Vnet = "new"; s.FreeBSD.Jail.VnetInterfaces = []string{"epair0b"} }, head + " vnet=1" + defaultsTail},
		// inherit is the default; passed, it would make the kernel refuse
		// the ip4/ip6 parameters beside it.
		{"vnet inherit", func(s *specs.Spec) { s.FreeBSD.Jail.Vnet = "inherit" }, head + defaultsTail},
		{"vnet inherit with addrs", func(s *specs.Spec) {
			s.FreeBSD.Jail.Vnet = "inherit"
			s.FreeBSD.Jail.Ip4Addr = []string{"10.0.0.1"}
		}, head + " ip4=1 ip4.addr=10.0.0.1" + defaultsTail},
		{"vnet annotation inherit", func(s *specs.Spec) { s.Annotations = map[string]string{AnnotationVnet: "inherit"} }, head + defaultsTail},
		{"vnet annotation", func(s *specs.Spec) { s.Annotations = map[string]string{AnnotationVnet: "new"} }, head + " vnet=1" + defaultsTail},
		{"vnet annotation bad", func(s *specs.Spec) { s.Annotations = map[string]string{AnnotationVnet: "disable"} }, "want new or inherit"},
		{"vnet annotation disagree", func(s *specs.Spec) {
			s.FreeBSD.Jail.Vnet = "inherit"
			s.Annotations = map[string]string{AnnotationVnet: "new"}
		}, "disagree"},
		{"vnet disable", func(s *specs.Spec) { s.FreeBSD.Jail.Vnet = "disable" }, "not allowed"},
		{"vnetInterfaces without vnet", func(s *specs.Spec) { s.FreeBSD.Jail.VnetInterfaces = []string{"epair0b"} }, "need freebsd.jail.vnet \"new\""},
		{"vnetInterfaces dup", func(s *specs.Spec) {
			s.FreeBSD.Jail.Vnet = "new"
			s.FreeBSD.Jail.VnetInterfaces = []string{"e0", "e0"}
		}, "listed twice"},
		{"vnet with addrs", func(s *specs.Spec) { s.FreeBSD.Jail.Vnet = "new"; s.FreeBSD.Jail.Ip4Addr = []string{"10.0.0.1"} }, "cannot be used with vnet"},
		{"vnet with ip4 inherit", func(s *specs.Spec) { s.FreeBSD.Jail.Vnet = "new"; s.FreeBSD.Jail.Ip4 = "inherit" }, "cannot be used with vnet"},
		{"vnet with ip4 new", func(s *specs.Spec) { s.FreeBSD.Jail.Vnet = "new"; s.FreeBSD.Jail.Ip4 = "new" }, "cannot be used with vnet"},
		{"vnet with ip6 disable", func(s *specs.Spec) { s.FreeBSD.Jail.Vnet = "new"; s.FreeBSD.Jail.Ip6 = "disable" }, "cannot be used with vnet"},
		{"vnet with interface", func(s *specs.Spec) {
			s.FreeBSD.Jail.Vnet = "new"
			s.FreeBSD.Jail.Interface = "lo1"
		}, "cannot be used with vnet"},
		{"sysv", func(s *specs.Spec) {
			s.FreeBSD.Jail.SysVMsg, s.FreeBSD.Jail.SysVSem, s.FreeBSD.Jail.SysVShm = "new", "inherit", "disable"
		}, head + " sysvmsg=1 sysvsem=2 sysvshm=0" + defaultsTail},
		{"sysv bad", func(s *specs.Spec) { s.FreeBSD.Jail.SysVSem = "yes" }, "freebsd.jail.sysvsem: unknown value"},
		{"enforce_statfs", func(s *specs.Spec) { s.FreeBSD.Jail.EnforceStatfs = intp(0) }, head + strings.Replace(defaultsTail, "statfs=2", "statfs=0", 1)},
		{"enforce_statfs bad", func(s *specs.Spec) { s.FreeBSD.Jail.EnforceStatfs = intp(3) }, "want 0, 1 or 2"},
		{"allow all", func(s *specs.Spec) {
			s.FreeBSD.Jail.EnforceStatfs = intp(1)
			s.FreeBSD.Jail.Allow = &specs.FreeBSDJailAllow{SetHostname: true, RawSockets: true, Chflags: true, Quotas: true,
				SocketAf: true, Mlock: true, ReservedPorts: true, Suser: true, Mount: []string{"tmpfs", "nullfs"}}
		}, head + " enforce_statfs=1 allow.set_hostname allow.raw_sockets allow.chflags allow.quotas allow.socket_af allow.mlock allow.reserved_ports allow.suser allow.mount allow.mount.tmpfs allow.mount.nullfs"},
		{"allow mount devfs", func(s *specs.Spec) {
			s.FreeBSD.Jail.EnforceStatfs = intp(1)
			s.FreeBSD.Jail.Allow = &specs.FreeBSDJailAllow{Mount: []string{"devfs"}}
			s.Mounts = []specs.Mount{{Destination: "/dev", Type: "devfs", Options: []string{"ruleset=5"}}}
		}, head + " enforce_statfs=1 allow.noset_hostname allow.noraw_sockets allow.nochflags allow.noquotas allow.nosocket_af allow.nomlock allow.mount allow.mount.devfs devfs_ruleset=5"},
		{"allow mount with statfs 2", func(s *specs.Spec) { s.FreeBSD.Jail.Allow = &specs.FreeBSDJailAllow{Mount: []string{"tmpfs"}} }, "needs enforceStatfs 0 or 1"},
		{"allow mount unknown", func(s *specs.Spec) {
			s.FreeBSD.Jail.EnforceStatfs = intp(1)
			s.FreeBSD.Jail.Allow = &specs.FreeBSDJailAllow{Mount: []string{"ext4"}}
		}, "unknown file system type \"ext4\""},
		{"allow mount dup", func(s *specs.Spec) {
			s.FreeBSD.Jail.EnforceStatfs = intp(1)
			s.FreeBSD.Jail.Allow = &specs.FreeBSDJailAllow{Mount: []string{"tmpfs", "tmpfs"}}
		}, "listed twice"},
		{"allow annotations", func(s *specs.Spec) {
			s.Annotations = map[string]string{AnnotationAllowPrefix + "mlock": "true", AnnotationAllowPrefix + "suser": "false"}
		}, head + " enforce_statfs=2 allow.noset_hostname allow.noraw_sockets allow.nochflags allow.noquotas allow.nosocket_af allow.mlock allow.nosuser allow.nomount"},
		{"allow annotation unknown", func(s *specs.Spec) { s.Annotations = map[string]string{AnnotationAllowPrefix + "nosuch": "true"} }, "unknown allow parameter"},
		{"allow annotation bad", func(s *specs.Spec) { s.Annotations = map[string]string{AnnotationAllowPrefix + "mlock": "yes please"} }, "not true or false"},
		{"allow annotation disagree", func(s *specs.Spec) {
			s.FreeBSD.Jail.Allow = &specs.FreeBSDJailAllow{Mlock: true}
			s.Annotations = map[string]string{AnnotationAllowPrefix + "mlock": "false"}
		}, "disagree"},
		{"jid annotation", func(s *specs.Spec) { s.Annotations = map[string]string{AnnotationJID: "3"} }, "set by the runtime"},
		{"unknown jail annotation", func(s *specs.Spec) { s.Annotations = map[string]string{"org.freebsd.jail.foo": "1"} }, "unknown annotation"},
		{"other annotations ignored", func(s *specs.Spec) { s.Annotations = map[string]string{"io.kubernetes.x": "1"} }, head + defaultsTail},
	}
	for _, tt := range tests {
		spec := &specs.Spec{FreeBSD: &specs.FreeBSD{Jail: &specs.FreeBSDJail{}}}
		tt.edit(spec)
		cfg, err := JailParams(spec, "c1", "/r")
		if err != nil {
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
			}
			continue
		}
		var s []string
		for _, p := range cfg.Params {
			s = append(s, p.String())
		}
		if got := strings.Join(s, " "); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestJailConfigNetwork(t *testing.T) {
	spec := &specs.Spec{FreeBSD: &specs.FreeBSD{Jail: &specs.FreeBSDJail{Interface: "lo1",
		Ip4Addr: []string{"10.0.0.1", "10.1.0.1/16"}, Ip6Addr: []string{"fd00::1"}}}}
	cfg, err := JailParams(spec, "c1", "/r")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interface != "lo1" || len(cfg.IP4) != 2 || cfg.IP4[1].String() != "10.1.0.1/16" || cfg.IP6[0].String() != "fd00::1/128" || cfg.Vnet {
		t.Errorf("%+v", cfg)
	}
}

func TestValidateID(t *testing.T) {
	for id, ok := range map[string]bool{"c1": true, "abc-DEF_0": true, "": false, "a.b": false, "123": false, "a/b": false, "a b": false, strings.Repeat("x", 201): false} {
		if err := ValidateID(id); (err == nil) != ok {
			t.Errorf("%q: %v", id, err)
		}
	}
	if _, err := JailParams(&specs.Spec{}, "c1", "rel"); err == nil {
		t.Error("relative root accepted")
	}
}

func TestEncodeParams(t *testing.T) {
	ne := func(n uint32) []byte { b := make([]byte, 4); binary.NativeEndian.PutUint32(b, n); return b }
	params := []Param{
		StrParam("name", "c1"), IntParam("enforce_statfs", 2), BoolParam("persist", true),
		BoolParam("allow.set_hostname", false), BoolParam("allow.mount.tmpfs", false),
		{Name: "ip4.addr", Type: ParamIP4, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.168.1.2")}},
		{Name: "ip6.addr", Type: ParamIP6, Addrs: []netip.Addr{netip.MustParseAddr("fd00::1")}},
	}
	iov, err := EncodeParams(params)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{
		[]byte("name\x00"), []byte("c1\x00"),
		[]byte("enforce_statfs\x00"), ne(2),
		[]byte("persist\x00"), nil,
		[]byte("allow.noset_hostname\x00"), nil,
		[]byte("allow.mount.notmpfs\x00"), nil,
		[]byte("ip4.addr\x00"), {10, 0, 0, 1, 192, 168, 1, 2},
		[]byte("ip6.addr\x00"), {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
	}
	if len(iov) != len(want) {
		t.Fatalf("%d buffers, want %d", len(iov), len(want))
	}
	for i := range want {
		if string(iov[i]) != string(want[i]) || (want[i] == nil) != (iov[i] == nil) {
			t.Errorf("buffer %d: %q, want %q", i, iov[i], want[i])
		}
	}
	for _, bad := range []Param{
		{Name: "ip4.addr", Type: ParamIP4, Addrs: []netip.Addr{netip.MustParseAddr("fd00::1")}},
		{Name: "ip6.addr", Type: ParamIP6, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}},
		{Name: "", Type: ParamString},
		{Name: "x", Type: ParamType(99)},
	} {
		if _, err := EncodeParams([]Param{bad}); err == nil {
			t.Errorf("%+v encoded", bad)
		}
	}
}

func TestRctlRules(t *testing.T) {
	got, err := RctlRules("c1", map[string]string{
		"org.freebsd.rctl.memoryuse": "deny=536870912", "org.freebsd.rctl.pcpu": "deny=150",
		"org.freebsd.rctl.maxproc": "deny=10", "org.freebsd.rctl.openfiles": "log=1k/process",
		"org.freebsd.rctl.readbps": "throttle=1m", "org.freebsd.rctl.cputime": "sigterm=100",
		"org.freebsd.rctl.vmemoryuse": "devctl=1g", "unrelated": "x",
	})
	// The kernel takes amounts in plain digits: suffixes are expanded as
	// rctl(8) does (powers of 1024).
	want := "jail:c1:cputime:sigterm=100 jail:c1:maxproc:deny=10 jail:c1:memoryuse:deny=536870912 jail:c1:openfiles:log=1024/process jail:c1:pcpu:deny=150 jail:c1:readbps:throttle=1048576 jail:c1:vmemoryuse:devctl=1073741824"
	if err != nil || strings.Join(got, " ") != want {
		t.Errorf("%q %v", got, err)
	}
	for v, wantErr := range map[string]string{
		"nope.memoryuse=deny=1":              "unknown resource",
		"memoryuse=deny":                     "want ACTION=AMOUNT",
		"memoryuse=deny=lots":                "amount \"lots\"",
		"memoryuse=deny=1x":                  "amount",
		"memoryuse=deny=1/galaxy":            "per \"galaxy\"",
		"memoryuse=explode=1":                "unknown action",
		"cputime=deny=1":                     "cannot be denied",
		"wallclock=deny=1":                   "cannot be denied",
		"memoryuse=throttle=1":               "can be throttled",
		"pcpu=deny=":                         "amount",
		"memoryuse=deny=8e":                  "too large",
		"memoryuse=deny=9223372036854775808": "too large",
	} {
		res, val, _ := strings.Cut(v, "=")
		_, err := RctlRules("c1", map[string]string{AnnotationRctlPrefix + res: val})
		if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: %v, want %q", v, err, wantErr)
		}
	}
}

func TestRctlAmount(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0"}, {"512", "512"}, {"512m", "536870912"}, {"512M", "536870912"},
		{"1k", "1024"}, {"2g", "2147483648"}, {"1t", "1099511627776"}, {"1p", "1125899906842624"},
		{"7e", "8070450532247928832"}, {"9223372036854775807", "9223372036854775807"},
		{"8e", ""}, {"1.5g", ""}, {"-1", ""}, {"m", ""}, {"", ""}, {"1z", ""},
	} {
		got, err := rctlAmount(tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("rctlAmount(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNewInitPlan(t *testing.T) {
	umask := uint32(0o22)
	p, err := NewInitPlan(&specs.Process{
		Args: []string{"sh"}, Env: []string{"A=1"}, Cwd: "/w/../x",
		User:     specs.User{UID: 5, GID: 6, AdditionalGids: []uint32{6, 7, 7, 8}, Umask: &umask},
		Rlimits:  []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}, {Type: "RLIMIT_AS", Soft: 1, Hard: 1}},
		Terminal: true, ConsoleSize: &specs.Box{Height: 24, Width: 80},
	}, 9, "/tmp/console.sock")
	if err != nil {
		t.Fatal(err)
	}
	if p.JID != 9 || p.Cwd != "/x" || p.UID != 5 || p.GID != 6 || len(p.Groups) != 3 || p.Groups[0] != 6 || p.Groups[2] != 8 ||
		*p.Umask != 0o22 || p.Rlimits[0] != (Rlimit{"RLIMIT_NOFILE", 8, 10, 20}) || p.Rlimits[1].Resource != 10 || p.ConsoleSocket != "/tmp/console.sock" {
		t.Errorf("%+v", p)
	}
	for name, proc := range map[string]*specs.Process{
		"nil":          nil,
		"no args":      {Cwd: "/"},
		"relative cwd": {Args: []string{"a"}, Cwd: "x"},
		"linux rlimit": {Args: []string{"a"}, Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_RTPRIO"}}},
		"dup rlimit":   {Args: []string{"a"}, Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_AS"}, {Type: "RLIMIT_VMEM"}}},
		"soft > hard":  {Args: []string{"a"}, Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 2, Hard: 1}}},
		"terminal":     {Args: []string{"a"}, Terminal: true},
		"umask":        {Args: []string{"a"}, User: specs.User{Umask: func() *uint32 { u := uint32(0o1000); return &u }()}},
		"selinux":      {Args: []string{"a"}, SelinuxLabel: "x"},
	} {
		if _, err := NewInitPlan(proc, 1, ""); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCheckTransition(t *testing.T) {
	type c = struct {
		st    string
		op    string
		force bool
		ok    bool
	}
	for _, tt := range []c{
		{"created", OpStart, false, true}, {"running", OpStart, false, false}, {"stopped", OpStart, false, false}, {"creating", OpStart, false, false},
		{"created", OpKill, false, true}, {"running", OpKill, false, true}, {"stopped", OpKill, false, false},
		{"running", OpExec, false, true}, {"created", OpExec, false, false}, {"stopped", OpExec, false, false},
		{"stopped", OpDelete, false, true}, {"created", OpDelete, false, true}, {"creating", OpDelete, false, true},
		{"running", OpDelete, false, false}, {"running", OpDelete, true, true},
		{"running", "pause", false, false},
	} {
		if err := CheckTransition(statusOf(tt.st), tt.op, tt.force); (err == nil) != tt.ok {
			t.Errorf("%s %s force=%t: %v", tt.st, tt.op, tt.force, err)
		}
	}
}

func TestHooksTimeoutAndFailure(t *testing.T) {
	st := specs.State{ID: "c1"}
	one := 1
	if err := RunHooks(t.Context(), "poststart", []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 5"}, Timeout: &one}}, st); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("timeout: %v", err)
	}
	if err := RunHooks(t.Context(), "createRuntime", []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo bad >&2; exit 3"}}}, st); err == nil || !strings.Contains(err.Error(), "createRuntime hook 0 (/bin/sh): exit status 3: bad") {
		t.Errorf("failure: %v", err)
	}
	zero := 0
	if err := RunHooks(t.Context(), "x", []specs.Hook{{Path: "/bin/true", Timeout: &zero}}, st); err == nil {
		t.Error("zero timeout accepted")
	}
	if err := RunHooks(t.Context(), "x", []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "test \"$X\" = 1 && grep -q '\"id\":\"c1\"'"}, Env: []string{"X=1"}}}, st); err != nil {
		t.Errorf("env/stdin: %v", err)
	}
	_ = os.Getpid
}
