package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go/features"
)

func runRT(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"stockade-runtime"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestRuntimeErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown command", []string{"frobnicate"}, `stockade-runtime: unknown command "frobnicate" (see 'stockade-runtime --help')`},
		{"bad flag", []string{"--bogus", "features"}, "stockade-runtime: flag provided but not defined: -bogus"},
		{"bad log format", []string{"--log-format", "xml", "features"}, `stockade-runtime: log format "xml" is not one of text, json`},
		{"bad subcommand flag", []string{"features", "--bogus"}, "stockade-runtime: features: flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runRT(t, tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1 (as runc)", code)
			}
			if stderr != tt.wantErr+"\n" {
				t.Errorf("stderr\n got %q\nwant %q", stderr, tt.wantErr+"\n")
			}
		})
	}
}

// containerd reads the runtime's last error back from the --log file as a
// JSON object with "level":"error" and "msg".
func TestRuntimeErrorInLogFile(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "log.json")
	code, _, _ := runRT(t, "--log", logFile, "--log-format", "json", "frobnicate")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct{ Level, Msg, Time string }
	if err := json.Unmarshal(bytes.TrimSpace(data), &obj); err != nil {
		t.Fatalf("log file is not one JSON object: %q", data)
	}
	if obj.Level != "error" || !strings.Contains(obj.Msg, "frobnicate") || obj.Time == "" {
		t.Errorf("got %+v", obj)
	}
}

func TestFeatures(t *testing.T) {
	code, out, stderr := runRT(t, "--root", t.TempDir(), "features")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var f features.Features
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatal(err)
	}
	if f.OCIVersionMax != "1.3.0" || len(f.Hooks) != 6 {
		t.Errorf("features = %+v", f)
	}
}

func TestRuntimeVersion(t *testing.T) {
	code, out, _ := runRT(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "stockade-runtime version ") || !strings.Contains(out, "\nspec: 1.3.0\n") {
		t.Errorf("%d %q", code, out)
	}
}
