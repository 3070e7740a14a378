package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNetworkCommandErrors checks the network commands' refusals: one
// line naming what was typed, exit code 125, and nothing recorded.
func TestNetworkCommandErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "stockade.toml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	global := []string{"--config", cfg, "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "--snapshotter", "copy"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "--subnet", "10.123.45.1/24", "x"}, "stockade: --subnet: subnet 10.123.45.1/24: host bits set (want 10.123.45.0/24)"},
		{[]string{"network", "create", "--subnet", "10.300.0.0/16", "x"}, `stockade: --subnet: subnet "10.300.0.0/16": not a CIDR (want for example 10.89.0.0/24)`},
		{[]string{"network", "create", "--subnet6", "10.1.0.0/16", "x"}, "stockade: --subnet6: subnet 10.1.0.0/16: not an IPv6 subnet"},
		{[]string{"network", "create", "--gateway", "nope", "x"}, `stockade: --gateway "nope": not an IP address`},
		{[]string{"network", "create", "host"}, `stockade: network name "host": reserved`},
		{[]string{"network", "create", "a/b"}, `stockade: network name "a/b": want letters, digits, '_', '.' or '-', starting with a letter or digit, at most 64 characters`},
		{[]string{"network", "rm", "nope"}, "stockade: network nope: no such network"},
		{[]string{"network", "inspect", "nope"}, "stockade: network nope: no such network"},
		{[]string{"network", "ls", "--format", "xml"}, `stockade: --format "xml" is not one of table, json`},
		// run's network flags are refused before the image is looked for.
		{[]string{"run", "-p", "80:abc", "nosuch.invalid/image:1"}, `stockade: -p "80:abc": container port "abc": not a port number (1-65535)`},
		{[]string{"create", "--ip", "10.1.2", "nosuch.invalid/image:1"}, `stockade: --ip "10.1.2": not an IP address`},
		{[]string{"run", "--network", "host", "-p", "80", "nosuch.invalid/image:1"}, "stockade: -p: not with --network host"},
		{[]string{"run", "--network", "alias:em0", "nosuch.invalid/image:1"}, "stockade: --network alias:em0: give the container's address with --ip or --ip6"},
		{[]string{"run", "--mac-address", "01:00:5e:00:00:01", "nosuch.invalid/image:1"}, `stockade: --mac-address "01:00:5e:00:00:01": a multicast address`},
	} {
		code, _, stderr := runCLI(t, append(global, tc.args...)...)
		if code != 125 || stderr != tc.want+"\n" {
			t.Errorf("%v: exit %d, stderr %q; want 125, %q", tc.args, code, stderr, tc.want)
		}
	}
	code, stdout, stderr := runCLI(t, append(global, "network", "ls", "--format", "json")...)
	var nets []json.RawMessage
	if code != 0 || json.Unmarshal([]byte(stdout), &nets) != nil || len(nets) != 0 {
		t.Fatalf("network ls after refusals: %d %q %q", code, stdout, stderr)
	}
	if code, stdout, _ := runCLI(t, append(global, "network", "ls")...); code != 0 || !strings.HasPrefix(stdout, "NETWORK ID") || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("network ls: %d %q", code, stdout)
	}
}
