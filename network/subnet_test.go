package network

import (
	"net/netip"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestChooseSubnet(t *testing.T) {
	for _, tc := range []struct {
		name          string
		routes, taken []netip.Prefix
		want          string
	}{
		{"empty host", nil, nil, "10.88.0.0/16"},
		{"default route ignored", prefixes("0.0.0.0/0", "::/0"), nil, "10.88.0.0/16"},
		{"host on 10/8", prefixes("0.0.0.0/0", "10.0.0.0/8"), nil, "172.30.0.0/16"},
		{"a /24 inside the first", prefixes("10.88.4.0/24"), nil, "10.89.0.0/16"},
		{"a host route", prefixes("10.88.0.7/32", "10.89.0.0/16"), nil, "10.90.0.0/16"},
		{"taken by a network", nil, prefixes("10.88.0.0/16", "fd00::/64"), "10.89.0.0/16"},
		{"ipv6 routes do not matter", prefixes("fe80::/64", "::1/128"), nil, "10.88.0.0/16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChooseSubnet(DefaultSubnetCandidates(), tc.routes, tc.taken)
			if err != nil || got.String() != tc.want {
				t.Fatalf("ChooseSubnet = %v, %v; want %s", got, err, tc.want)
			}
		})
	}
	if _, err := ChooseSubnet(DefaultSubnetCandidates(), prefixes("10.0.0.0/8", "172.16.0.0/12"), nil); err == nil || !strings.Contains(err.Error(), "--subnet") {
		t.Fatalf("every candidate routed: err = %v", err)
	}
	got, err := ChooseSubnet(UserSubnetCandidates(), nil, prefixes("10.88.0.0/16", "10.89.0.0/24"))
	if err != nil || got.String() != "10.89.1.0/24" {
		t.Fatalf("user network subnet = %v, %v", got, err)
	}
}

func TestParseSubnet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		v6   bool
		want string // error fragment, or "" for success
	}{
		{"10.89.0.0/24", false, ""},
		{"fd00:1::/64", true, ""},
		{"10.89.0.1/24", false, "host bits set (want 10.89.0.0/24)"},
		{"10.89.0.0", false, "not a CIDR"},
		{"banana", false, "not a CIDR"},
		{"10.89.0.0/31", false, "between 8 and 30"},
		{"0.0.0.0/4", false, "between 8 and 30"},
		{"fd00::/64", false, "not an IPv4 subnet"},
		{"10.0.0.0/24", true, "not an IPv6 subnet"},
		{"127.0.0.0/8", false, "not a unicast range"},
		{"fe80::/64", true, "not a unicast range"},
		{"fd00::/127", true, "between 48 and 124"},
	} {
		_, err := ParseSubnet(tc.in, tc.v6)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ParseSubnet(%q): %v", tc.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), strings.Split(tc.in, "/")[0]) {
			t.Errorf("ParseSubnet(%q) = %v; want an error naming it with %q", tc.in, err, tc.want)
		}
	}
}

func TestCheckGateway(t *testing.T) {
	p := netip.MustParsePrefix("10.89.0.0/24")
	if gw, err := checkGateway(p, netip.Addr{}); err != nil || gw.String() != "10.89.0.1" {
		t.Fatalf("default gateway = %v, %v", gw, err)
	}
	for _, bad := range []string{"10.89.0.0", "10.89.0.255", "10.90.0.1"} {
		if _, err := checkGateway(p, netip.MustParseAddr(bad)); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("gateway %s: err = %v", bad, err)
		}
	}
}

func TestParseProcRoutes(t *testing.T) {
	v4 := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
	got, err := ParseProcRoute(strings.NewReader(v4))
	if err != nil {
		t.Fatal(err)
	}
	want := prefixes("0.0.0.0/0", "192.168.2.0/24", "172.17.0.0/16")
	if len(got) != len(want) {
		t.Fatalf("routes = %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("routes = %v; want %v", got, want)
		}
	}
	v6 := "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n" +
		"00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001 lo\n"
	got, err = ParseProcIPv6Route(strings.NewReader(v6))
	if err != nil || len(got) != 2 || got[0].String() != "fd00::/64" || got[1].String() != "::1/128" {
		t.Fatalf("ipv6 routes = %v, %v", got, err)
	}
	if _, err := ParseProcRoute(strings.NewReader("h\neth0\tZZ\t0\t0\t0\t0\t0\t00FFFFFF\n")); err == nil {
		t.Fatal("a bad line was accepted")
	}
	// The kernel's real table parses.
	if _, err := (HostRoutes{}).Routes(t.Context()); err != nil {
		t.Fatalf("host routes: %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, bad := range []string{"", "-x", "host", "none", "bridge", "a b", strings.Repeat("a", 65)} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) accepted", bad)
		}
	}
	n := &Network{ID: "0123456789abcdef"}
	if b := BridgeName(n); b != "stk-01234567" || len(b) > 15 {
		t.Errorf("bridge = %q", b)
	}
	if h := HostIfName("abcdef0123456789"); h != "stvabcdef012345" || len(h) > 15 {
		t.Errorf("host if = %q", h)
	}
	seen := map[string]bool{}
	for range 100 {
		mac, err := NewMAC()
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseMAC(mac)
		if err != nil || m[1] != '2' && m[1] != '6' && m[1] != 'a' && m[1] != 'e' || seen[m] {
			t.Fatalf("NewMAC = %q (%v): not a fresh locally administered unicast address", mac, err)
		}
		seen[m] = true
	}
	for _, bad := range []string{"01:00:5e:00:00:01", "zz:00:00:00:00:00", "02:00:00:00:00"} {
		if _, err := ParseMAC(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseMAC(%q) = %v", bad, err)
		}
	}
}
