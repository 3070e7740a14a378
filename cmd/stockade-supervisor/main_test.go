package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestParse: the command lines the engine builds (assemble.Parts), and
// one-line errors for anything else.
func TestParse(t *testing.T) {
	for _, tt := range []struct {
		args    string
		want    invocation
		wantErr string
	}{
		{args: "--root /r --state /s --log-level info --log-format json monitor ID",
			want: invocation{command: "monitor", id: "ID", globals: map[string]string{"root": "/r", "state": "/s", "log-level": "info", "log-format": "json"}}},
		{args: "--config /c.toml monitor --wait-attach -",
			want: invocation{command: "monitor", waitAttach: true, id: "-", configFile: "/c.toml", globals: map[string]string{"config": "/c.toml"}}},
		{args: "--snapshotter copy healthcheck monitor ID",
			want: invocation{command: "healthcheck monitor", id: "ID", globals: map[string]string{"snapshotter": "copy"}}},
		{args: "healthcheck monitor --after-sleep --run-started 2026-12-05T15:00:00.123456789Z ID",
			want: invocation{command: "healthcheck monitor", id: "ID", afterSleep: true,
				runStarted: "2026-12-05T15:00:00.123456789Z", globals: map[string]string{}}},
		{args: "healthcheck monitor --after-sleep", wantErr: "healthcheck: usage"},
		{args: "--version", want: invocation{command: "version", globals: map[string]string{}}},
		{args: "", wantErr: "no command"},
		{args: "run alpine", wantErr: `unknown command "run"`},
		{args: "monitor", wantErr: "monitor: wrong number of arguments"},
		{args: "monitor a b", wantErr: "monitor: wrong number of arguments"},
		{args: "monitor --bogus ID", wantErr: "monitor: flag provided but not defined"},
		{args: "healthcheck run ID", wantErr: "healthcheck: usage"},
		{args: "--bogus monitor ID", wantErr: "flag provided but not defined: -bogus"},
	} {
		t.Run(tt.args, func(t *testing.T) {
			t.Setenv("STOCKADE_CONFIG", "")
			got, err := parse(strings.Fields(tt.args))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.command != tt.want.command || got.id != tt.want.id || got.waitAttach != tt.want.waitAttach || got.configFile != tt.want.configFile ||
				got.afterSleep != tt.want.afterSleep || got.runStarted != tt.want.runStarted {
				t.Errorf("parse = %+v, want %+v", got, tt.want)
			}
			if len(got.globals) != len(tt.want.globals) {
				t.Errorf("globals %v, want %v", got.globals, tt.want.globals)
			}
			for k, v := range tt.want.globals {
				if got.globals[k] != v {
					t.Errorf("globals %v, want %v", got.globals, tt.want.globals)
				}
			}
		})
	}
}

// TestConfigAsStockade: the configuration file named by --config or
// $STOCKADE_CONFIG, overridden by the global flags, as stockade reads it;
// a named file that is missing or a bad value is an error.
func TestConfigAsStockade(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.toml")
	if err := os.WriteFile(file, []byte("root = \"/from/file\"\nstate = \"/state/file\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STOCKADE_CONFIG", file)
	inv, err := parse([]string{"--state", "/from/flag", "monitor", "ID"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(inv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root != "/from/file" || cfg.State != "/from/flag" {
		t.Errorf("root %q state %q, want /from/file and /from/flag", cfg.Root, cfg.State)
	}
	for _, args := range [][]string{
		{"--config", filepath.Join(dir, "missing.toml"), "monitor", "ID"},
		{"--log-level", "loud", "monitor", "ID"},
	} {
		inv, err := parse(args)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(inv); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestRunErrors: a bad command line is one line on stderr and exit 125.
func TestRunErrors(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"stockade-supervisor", "frobnicate"}, &stderr)
	if code != exitInternal || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 || !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestLinksNoRegistryClient: the lean monitor does not link what it never
// runs (package image and its registry client, compressors and progress
// bars; NRI; OCI-crypt; the networks' name server, its DNS message
// library and crypto/tls), each of which costs every start of it.
func TestLinksNoRegistryClient(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to list the imports with")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case pkg == "github.com/stockade/stockade/image",
			strings.HasPrefix(pkg, "github.com/google/go-containerregistry/"),
			strings.HasPrefix(pkg, "github.com/stockade/stockade/nri"),
			strings.HasPrefix(pkg, "github.com/stockade/stockade/crypt"),
			pkg == "github.com/stockade/stockade/network/nameserver",
			pkg == "github.com/miekg/dns",
			pkg == "crypto/tls",
			pkg == "net/http":
			t.Errorf("stockade-supervisor links %s", pkg)
		}
	}
}

// TestLinksOnlyItsSystemsBackends: a program links the runtime and the
// network driver of the system it is built for only (backend's openers
// are per system): no jail runtime on Linux, no netlink or nftables on
// FreeBSD. Every package of them would be initialised at every start.
func TestLinksOnlyItsSystemsBackends(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to list the imports with")
	}
	for _, tc := range []struct {
		goos      string
		forbidden []string
	}{
		{"linux", []string{"github.com/stockade/stockade/jail", "github.com/stockade/stockade/network/freebsd"}},
		{"freebsd", []string{"github.com/stockade/stockade/network/linux", "github.com/vishvananda/netlink", "github.com/google/nftables"}},
	} {
		cmd := exec.Command(goTool, "list", "-deps", ".")
		cmd.Env = append(os.Environ(), "GOOS="+tc.goos, "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", tc.goos, err)
		}
		deps := strings.Fields(string(out))
		for _, f := range tc.forbidden {
			if slices.Contains(deps, f) {
				t.Errorf("stockade-supervisor for %s links %s", tc.goos, f)
			}
		}
	}
}
