package dns

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ResolvConfig
	}{
		{"empty", "", ResolvConfig{}},
		{
			"systemd-resolved stub",
			"# This is /run/systemd/resolve/stub-resolv.conf\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n",
			ResolvConfig{Nameservers: addrs("127.0.0.53"), Search: []string{"corp.example"}, Options: []string{"edns0", "trust-ad"}},
		},
		{
			"several, comments, junk",
			"nameserver 192.0.2.53 # primary\n; a comment\nnameserver fe80::1%em0\nnameserver not-an-ip\nnameserver\nsortlist 10.0.0.0\n\tnameserver\t2001:db8::53\noptions ndots:2\noptions timeout:1 attempts:3\n",
			ResolvConfig{Nameservers: addrs("192.0.2.53", "fe80::1%em0", "2001:db8::53"), Options: []string{"ndots:2", "timeout:1", "attempts:3"}},
		},
		{
			"last of search and domain wins",
			"search a.example b.example\ndomain c.example\n",
			ResolvConfig{Search: []string{"c.example"}},
		},
		{
			"search after domain",
			"domain c.example\nsearch a.example b.example\n",
			ResolvConfig{Search: []string{"a.example", "b.example"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResolvConf(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReadResolvConf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(p, []byte("nameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := ReadResolvConf(p)
	if err != nil || !reflect.DeepEqual(rc.Nameservers, addrs("192.0.2.53")) {
		t.Errorf("ReadResolvConf = %+v, %v", rc, err)
	}
	rc, err = ReadResolvConf(filepath.Join(dir, "missing"))
	if err != nil || !reflect.DeepEqual(rc, ResolvConfig{}) {
		t.Errorf("missing file: %+v, %v; want empty, no error", rc, err)
	}
	if _, err := ReadResolvConf(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a directory: error %v, want one naming it", err)
	}
}

func TestUpstreams(t *testing.T) {
	host := ResolvConfig{Nameservers: addrs("127.0.0.53", "0.0.0.0", "10.88.0.1", "192.0.2.53", "::ffff:192.0.2.54", "fe80::1%em0", "ff02::1", "192.0.2.53", "2001:db8::53")}
	got := Upstreams(host, addrs("10.88.0.1", "fd00:88::1"))
	want := []string{"127.0.0.53:53", "192.0.2.53:53", "192.0.2.54:53", "[fe80::1%em0]:53", "[2001:db8::53]:53"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestContainerResolvConf(t *testing.T) {
	host := ResolvConfig{
		Nameservers: addrs("127.0.0.53", "fe80::1%em0", "192.0.2.53"),
		Search:      []string{"corp.example"},
		Options:     []string{"edns0"},
	}
	gw := addrs("10.88.0.1", "fd00:88::1")
	tests := []struct {
		name string
		c    ContainerDNS
		want ResolvConfig
	}{
		{
			"network",
			ContainerDNS{NetworkServers: gw},
			ResolvConfig{Nameservers: gw, Search: []string{DefaultDomain, "corp.example"}, Options: []string{"edns0"}},
		},
		{
			"network with --dns, --dns-search, --dns-option",
			ContainerDNS{NetworkServers: gw[:1], DNS: []string{"192.0.2.99", "10.88.0.1"}, Search: []string{"a.example", "b.example."}, Options: []string{"ndots:3"}},
			ResolvConfig{Nameservers: addrs("10.88.0.1", "192.0.2.99"), Search: []string{DefaultDomain, "a.example", "b.example"}, Options: []string{"ndots:3"}},
		},
		{
			"network with its own domain",
			ContainerDNS{NetworkServers: gw[:1], Domain: "net1.test."},
			ResolvConfig{Nameservers: gw[:1], Search: []string{"net1.test", "corp.example"}, Options: []string{"edns0"}},
		},
		{
			"--dns-search . drops the host's",
			ContainerDNS{NetworkServers: gw[:1], Search: []string{"."}},
			ResolvConfig{Nameservers: gw[:1], Search: []string{DefaultDomain}, Options: []string{"edns0"}},
		},
		{
			"network none: the host's reachable resolvers",
			ContainerDNS{},
			ResolvConfig{Nameservers: addrs("192.0.2.53"), Search: []string{"corp.example"}, Options: []string{"edns0"}},
		},
		{
			"network host: the host's resolvers, loopback too",
			ContainerDNS{HostNetwork: true},
			ResolvConfig{Nameservers: host.Nameservers, Search: []string{"corp.example"}, Options: []string{"edns0"}},
		},
		{
			"network host with --dns",
			ContainerDNS{HostNetwork: true, DNS: []string{"2001:db8::53"}},
			ResolvConfig{Nameservers: addrs("2001:db8::53"), Search: []string{"corp.example"}, Options: []string{"edns0"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ContainerResolvConf(host, tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestContainerResolvConfBadInput(t *testing.T) {
	tests := []struct {
		name string
		c    ContainerDNS
		want string
	}{
		{"--dns name", ContainerDNS{DNS: []string{"dns.example"}}, `--dns "dns.example": not an IP address`},
		{"--dns cidr", ContainerDNS{DNS: []string{"10.0.0.1/8"}}, `--dns "10.0.0.1/8"`},
		{"--dns-search space", ContainerDNS{Search: []string{"a b"}}, `--dns-search "a b": not a domain name`},
		{"--dns-search empty label", ContainerDNS{Search: []string{"a..b"}}, `--dns-search "a..b"`},
		{"--dns-search empty", ContainerDNS{Search: []string{""}}, `--dns-search ""`},
		{"--dns-search punctuation", ContainerDNS{Search: []string{"a!b.example"}}, `--dns-search "a!b.example": not a domain name`},
		{"--dns-search long label", ContainerDNS{Search: []string{strings.Repeat("a", 64) + ".example"}}, `not a domain name`},
		{"--dns-option space", ContainerDNS{Options: []string{"ndots: 2"}}, `--dns-option "ndots: 2"`},
		{"--dns-option empty", ContainerDNS{Options: []string{""}}, `--dns-option ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ContainerResolvConf(ResolvConfig{}, tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line with %q", err, tt.want)
			}
		})
	}
}

func TestResolvConfBytes(t *testing.T) {
	tests := []struct {
		name string
		rc   ResolvConfig
		want string
	}{
		{"empty", ResolvConfig{}, "# Generated by stockade.\n"},
		{
			"full",
			ResolvConfig{Nameservers: addrs("10.88.0.1", "fd00:88::1"), Search: []string{"dns.stockade", "corp.example"}, Options: []string{"ndots:1", "edns0"}},
			"# Generated by stockade.\nsearch dns.stockade corp.example\nnameserver 10.88.0.1\nnameserver fd00:88::1\noptions ndots:1 edns0\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.rc.Bytes()); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			// What we write reads back the same.
			back, err := ParseResolvConf(strings.NewReader(string(tt.rc.Bytes())))
			if err != nil || !reflect.DeepEqual(back, tt.rc) {
				t.Errorf("read back %+v, %v", back, err)
			}
		})
	}
}

func TestParseAddHost(t *testing.T) {
	gw := netip.MustParseAddr("10.88.0.1")
	tests := []struct {
		in   string
		gw   netip.Addr
		want HostEntry
	}{
		{"db:10.0.0.7", gw, HostEntry{netip.MustParseAddr("10.0.0.7"), []string{"db"}}},
		{"db=10.0.0.7", gw, HostEntry{netip.MustParseAddr("10.0.0.7"), []string{"db"}}},
		{"db.corp.example:10.0.0.7", gw, HostEntry{netip.MustParseAddr("10.0.0.7"), []string{"db.corp.example"}}},
		{"v6:::1", gw, HostEntry{netip.MustParseAddr("::1"), []string{"v6"}}},
		{"v6:2001:db8::7", gw, HostEntry{netip.MustParseAddr("2001:db8::7"), []string{"v6"}}},
		{"v6=[2001:db8::7]", gw, HostEntry{netip.MustParseAddr("2001:db8::7"), []string{"v6"}}},
		{"v6:[2001:db8::7]", gw, HostEntry{netip.MustParseAddr("2001:db8::7"), []string{"v6"}}},
		{"mapped:::ffff:10.0.0.7", gw, HostEntry{netip.MustParseAddr("10.0.0.7"), []string{"mapped"}}},
		{"host.docker.internal:host-gateway", gw, HostEntry{gw, []string{"host.docker.internal"}}},
	}
	for _, tt := range tests {
		got, err := ParseAddHost(tt.in, tt.gw)
		if err != nil {
			t.Errorf("ParseAddHost(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAddHost(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseAddHostBadInput(t *testing.T) {
	tests := []struct {
		in   string
		gw   netip.Addr
		want string
	}{
		{"db", netip.Addr{}, `--add-host "db": want NAME:IP`},
		{"", netip.Addr{}, `--add-host "": want NAME:IP`},
		{":10.0.0.7", netip.Addr{}, `--add-host ":10.0.0.7": "" is not a host name`},
		{"my db:10.0.0.7", netip.Addr{}, `"my db" is not a host name`},
		{"db#1:10.0.0.7", netip.Addr{}, `"db#1" is not a host name`},
		{"db:", netip.Addr{}, `--add-host "db:": "" is not an IP address`},
		{"db:10.0.0.300", netip.Addr{}, `"10.0.0.300" is not an IP address`},
		{"db:somehost", netip.Addr{}, `"somehost" is not an IP address`},
		{"db:10.0.0.0/8", netip.Addr{}, `"10.0.0.0/8" is not an IP address`},
		{"db:fe80::1%eth0", netip.Addr{}, `"fe80::1%eth0" is not an IP address`},
		{"gw:host-gateway", netip.Addr{}, `--add-host "gw:host-gateway": host-gateway needs a network with a gateway`},
	}
	for _, tt := range tests {
		_, err := ParseAddHost(tt.in, tt.gw)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseAddHost(%q): error %v, want one line with %q", tt.in, err, tt.want)
		}
	}
}

func TestHosts(t *testing.T) {
	const head = "# Generated by stockade.\n" +
		"127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::\tip6-localnet\n" +
		"ff00::\tip6-mcastprefix\n" +
		"ff02::1\tip6-allnodes\n" +
		"ff02::2\tip6-allrouters\n"
	tests := []struct {
		name    string
		entries []HostEntry
		want    string
	}{
		{"none", nil, head},
		{
			"own addresses, aliases and --add-host",
			append(SelfEntries(addrs("10.88.0.5", "fd00:88::5"), "3f2a9c1b7d4e", "web", "www", "web"),
				HostEntry{netip.MustParseAddr("10.88.0.1"), []string{"host.docker.internal"}}),
			head +
				"10.88.0.5\t3f2a9c1b7d4e web www\n" +
				"fd00:88::5\t3f2a9c1b7d4e web www\n" +
				"10.88.0.1\thost.docker.internal\n",
		},
		{
			"invalid address and no names skipped",
			[]HostEntry{{netip.Addr{}, []string{"x"}}, {netip.MustParseAddr("10.0.0.1"), nil}, {netip.MustParseAddr("10.0.0.2"), []string{""}}},
			head,
		},
		{
			"host network: no own address",
			SelfEntries(nil, "myhost"),
			head,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Hosts(tt.entries)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestHostname(t *testing.T) {
	if got := string(Hostname("web")); got != "web\n" {
		t.Errorf("Hostname = %q", got)
	}
	for _, ok := range []string{"web", "3f2a9c1b7d4e", "a-b_c.example", strings.Repeat("a", 63)} {
		if err := ValidHostname(ok); err != nil {
			t.Errorf("ValidHostname(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a..b", "web.", strings.Repeat("a", 64), "a/b", "a\nb"} {
		err := ValidHostname(bad)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("ValidHostname(%q) = %v, want a one-line error", bad, err)
		}
	}
}
