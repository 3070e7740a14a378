//go:build lean

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLeanHandsOver runs the lean build's test binary as stockade, with a
// stand-in stockade-full next to it that prints its command line: what the
// lean build leaves out runs again, whole, as stockade-full; the rest runs
// here.
func TestLeanHandsOver(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FullName), []byte("#!/bin/sh\necho \"full: $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	lean := filepath.Join(dir, "stockade")
	if err := os.Link(self, lean); err != nil {
		data, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(lean, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "stockade.toml")
	nriConf := filepath.Join(dir, "nri.toml")
	os.WriteFile(conf, nil, 0o644)
	os.WriteFile(nriConf, []byte("[nri.v010]\nenable = true\n"), 0o644)
	globals := []string{"--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state")}
	for _, tt := range []struct {
		name string
		args []string
		full bool
	}{
		{"build", []string{"--config", conf, "build", "-t", "x", "."}, true},
		{"system service", []string{"--config", conf, "system", "service"}, true},
		{"image layerinfo", []string{"--config", conf, "image", "layerinfo", "x"}, true},
		{"pull --key", []string{"--config", conf, "pull", "--key", "k.pem", "x"}, true},
		{"push --encrypt", []string{"--config", conf, "push", "--encrypt", "jwe:k.pem", "x"}, true},
		{"commit --change", []string{"--config", conf, "commit", "--change", "CMD [\"x\"]", "c", "i"}, true},
		{"NRI on: any command", []string{"--config", nriConf, "ps"}, true},
		// A registry: the lean build has no client (image.ErrNotInBuild).
		// The references name a closed port on loopback, so that a build
		// that did try would reach nothing outside.
		{"pull", []string{"--config", conf, "pull", "127.0.0.1:1/x"}, true},
		{"push", []string{"--config", conf, "push", "x", "127.0.0.1:1/x"}, true},
		{"login", []string{"--config", conf, "login", "-u", "u", "--password-stdin", "127.0.0.1:1"}, true},
		{"logout", []string{"--config", conf, "logout", "127.0.0.1:1"}, true},
		{"run of an image not pulled", []string{"--config", conf, "run", "--rm", "127.0.0.1:1/x"}, true},
		{"create of an image not pulled", []string{"--config", conf, "create", "127.0.0.1:1/x"}, true},
		{"network dns", []string{"--config", conf, "network", "dns", "n"}, true},
		// The layer pipeline (gzip, zstd, unpacking, progress bars).
		{"commit", []string{"--config", conf, "commit", "c", "i"}, true},
		{"image export", []string{"--config", conf, "image", "export", "i", "x.tar"}, true},
		{"image import", []string{"--config", conf, "image", "import", "x.tar"}, true},
		{"image encrypt", []string{"--config", conf, "image", "encrypt", "--recipient", "jwe:k.pem", "i", "j"}, true},
		{"image decrypt", []string{"--config", conf, "image", "decrypt", "i", "j"}, true},
		{"ps", []string{"--config", conf, "ps", "-q"}, false},
		{"images", []string{"--config", conf, "images", "-q"}, false},
		{"version", []string{"--config", conf, "version"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{}, globals...), tt.args...)
			cmd := exec.Command(lean, args...)
			cmd.Env = append(os.Environ(), leanChildEnv+"=1")
			out, err := cmd.CombinedOutput()
			got := strings.TrimSpace(string(out))
			if tt.full {
				if want := "full: " + strings.Join(args, " "); err != nil || got != want {
					t.Errorf("%v: %q (%v), want stockade-full run with the same arguments", tt.args, got, err)
				}
				return
			}
			if strings.HasPrefix(got, "full:") {
				t.Errorf("%v ran stockade-full: %q", tt.args, got)
			}
		})
	}
}

// TestLeanNoFull: without stockade-full next to it, the lean build says
// what it needs, in one line.
func TestLeanNoFull(t *testing.T) {
	a := &app{args: []string{"stockade", "build", "."}}
	err := a.execFull()
	if err == nil || !strings.Contains(err.Error(), FullName) || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("execFull without %s: %v", FullName, err)
	}
	if err := a.build(nil); !errors.Is(err, errNeedsFull) {
		t.Errorf("build: %v, want errNeedsFull", err)
	}
}

// TestLeanLinksNoRegistryClient: the lean build links neither the
// registry client nor HTTP, TLS, X.509, gzip, zstd, progress bars or a
// DNS library; their package
// initialisation would be in every command's start-up (run's above all),
// and what needs them runs as stockade-full (TestLeanHandsOver).
func TestLeanLinksNoRegistryClient(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to list the imports with")
	}
	out, err := exec.Command(goTool, "list", "-tags", "lean", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(pkg, "github.com/google/go-containerregistry/pkg/v1/remote"),
			strings.HasPrefix(pkg, "github.com/klauspost/compress"),
			strings.HasPrefix(pkg, "github.com/vbauerster/mpb"),
			pkg == "compress/gzip",
			pkg == "github.com/stockade/stockade/network/nameserver",
			pkg == "github.com/miekg/dns",
			pkg == "crypto/tls",
			pkg == "crypto/x509",
			pkg == "net/http":
			t.Errorf("the lean build links %s", pkg)
		}
	}
}

// leanChildEnv makes the test binary run as stockade (main's run).
const leanChildEnv = "STOCKADE_TEST_LEAN_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(leanChildEnv) != "" {
		os.Exit(run(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
