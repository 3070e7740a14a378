package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the stockade command line in-process with a private config
// file path so the host's configuration never leaks into tests.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"stockade"}, args...)
	code = run(context.Background(), full, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	badConf := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(badConf, []byte("[zfs]\ndatset = \"z\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "none.toml")
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string // the whole stderr, one line
	}{
		{"unknown command", []string{"frobnicate"}, 125, `stockade: unknown command "frobnicate" (see 'stockade --help')`},
		{"bad global flag", []string{"--bogus", "system", "info"}, 125, "stockade: unknown flag --bogus"},
		{"bad subcommand flag", []string{"system", "info", "--bogus"}, 125, "stockade: system info: unknown flag --bogus"},
		{"flag typo suggested", []string{"run", "--memroy", "5m", "img"}, 125, "stockade: run: unknown flag --memroy (did you mean --memory?)"},
		{"short flag typo", []string{"run", "-Z", "img"}, 125, "stockade: run: unknown flag -Z"},
		{"global flag typo suggested", []string{"--snapshoter", "copy", "ps"}, 125, "stockade: unknown flag --snapshoter (did you mean --snapshotter?)"},
		{"unknown config key", []string{"--config", badConf, "system", "info"}, 125, `stockade: config ` + badConf + `: unknown key "zfs.datset"`},
		{"missing config", []string{"--config", cfg, "system", "info"}, 125, "stockade: config " + cfg + ": no such file or directory"},
		{"bad snapshotter flag", []string{"--snapshotter", "btrfs", "system", "info"}, 125, `stockade: snapshotter: "btrfs" is not one of overlay, zfs, unionfs, copy`},
		{"bad log level", []string{"--log-level", "loud", "system", "info"}, 125, `stockade: log_level: "loud" is not one of debug, info, warn, error`},
		{"bad format", []string{"system", "info", "--format", "xml"}, 125, `stockade: --format "xml" is not one of table, json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if stderr != tt.wantErr+"\n" {
				t.Errorf("stderr\n got %q\nwant %q", stderr, tt.wantErr+"\n")
			}
		})
	}
}

func TestCLIJSONErrors(t *testing.T) {
	cases := [][]string{
		{"--log-format", "json", "frobnicate"},
		{"--log-format=json", "--bogus"},
		{"--log-format", "json", "system", "info", "--format", "xml"},
		{"--log-format", "json", "--config", "/nonexistent/stockade.toml", "system", "info"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, args...)
			if code != 125 {
				t.Errorf("exit code %d", code)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("want one line, got %q", stderr)
			}
			var obj map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &obj); err != nil {
				t.Fatalf("not JSON: %q", lines[0])
			}
			if obj["level"] != "error" || obj["msg"] == "" || obj["time"] == nil {
				t.Errorf("got %v", obj)
			}
		})
	}
}

func TestSystemInfo(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "stockade.toml")
	if err := os.WriteFile(conf, []byte("root = \"/from/file\"\nstate = \"/state/file\"\n[zfs]\ndataset = \"zroot/st\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STOCKADE_STATE", "/state/env")
	code, out, stderr := runCLI(t, "--config", conf, "--snapshotter", "copy", "system", "info", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var info struct {
		Version string `json:"version"`
		Config  struct {
			Root        string `json:"root"`
			State       string `json:"state"`
			Snapshotter string `json:"snapshotter"`
			ZFS         struct {
				Dataset string `json:"dataset"`
			} `json:"zfs"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c := info.Config
	if c.Root != "/from/file" || c.State != "/state/env" || c.Snapshotter != "copy" || c.ZFS.Dataset != "zroot/st" || info.Version == "" {
		t.Errorf("precedence wrong (file < env < flag): %+v", info)
	}
	code, out, _ = runCLI(t, "--config", conf, "--root", "/from/flag", "system", "info")
	if code != 0 || !strings.Contains(out, "root:                /from/flag\n") {
		t.Errorf("table output: %d %q", code, out)
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runCLI(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "stockade version ") || !strings.Contains(out, "\nspec: 1.3.0\n") {
		t.Errorf("--version: %d %q", code, out)
	}
	code, out, _ = runCLI(t, "--help")
	if code != 0 || !strings.Contains(out, "--log-format") || !strings.Contains(out, "--snapshotter") {
		t.Errorf("--help: %d %q", code, out)
	}
}
