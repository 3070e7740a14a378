package bundle

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden compares whole specs of representative containers with
// testdata/<name>.json. Run `go test ./bundle -run TestGolden -update` to
// rewrite them, then review the diff.
func TestGolden(t *testing.T) {
	rootfs := testRootfs(t)
	alpine := ocispec.ImageConfig{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd: []string{"/bin/sh"},
	}
	nginx := ocispec.ImageConfig{
		User:         "",
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.27.0"},
		Entrypoint:   []string{"/docker-entrypoint.sh"},
		Cmd:          []string{"nginx", "-g", "daemon off;"},
		WorkingDir:   "/usr/share/nginx",
		Labels:       map[string]string{"maintainer": "NGINX Docker Maintainers"},
		StopSignal:   "SIGQUIT",
		Volumes:      map[string]struct{}{"/var/cache/nginx": {}},
	}
	freebsd := ocispec.ImageConfig{
		Env: []string{"PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"},
		Cmd: []string{"/bin/sh"},
	}
	full := Options{
		Args:        []string{"nginx", "-T"},
		Env:         []string{"FOO=bar", "NGINX_VERSION=custom"},
		Volumes:     []string{"/srv/data:/data:ro", "/srv/logs:/var/log/nginx"},
		Tmpfs:       []string{"/run:size=16m,exec"},
		Workdir:     "/app",
		User:        "bob",
		Hostname:    "web",
		ReadOnly:    true,
		Memory:      "512m",
		CPUs:        "1.5",
		PidsLimit:   100,
		Network:     "host",
		Annotations: map[string]string{"io.stockade.container.name": "web", "com.example.team": "ops"},
		Terminal:    true,
		Rootfs:      "rootfs",
	}
	with := func(o Options, goos, imageOS string) Options {
		o.GOOS, o.ImageOS = goos, imageOS
		return o
	}
	tests := []struct {
		name string
		img  ocispec.ImageConfig
		opts Options
	}{
		{"linux-default", alpine, Options{GOOS: "linux", Hostname: "c0ffee123456", Rootfs: "rootfs"}},
		{"linux-full", nginx, with(full, "linux", "linux")},
		{"linux-nonroot-entrypoint", nginx, Options{
			GOOS: "linux", Rootfs: "rootfs", User: "nginx:staff",
			Entrypoint: []string{"/usr/sbin/nginx"}, EntrypointSet: true, Args: []string{"-t"},
			Tmpfs: []string{"/dev/shm:size=256m"}, Volumes: []string{"/etc/ssl/certs:/etc/ssl/certs:ro"},
		}},
		{"freebsd-default", freebsd, Options{GOOS: "freebsd", Hostname: "c0ffee123456", Rootfs: "rootfs"}},
		{"freebsd-full", nginx, with(full, "freebsd", "freebsd")},
		{"freebsd-linux-image", alpine, Options{
			GOOS: "freebsd", ImageOS: "linux", Rootfs: "rootfs", Hostname: "linuxulator",
			User: "daemon", Volumes: []string{"/usr/local/www:/var/www:ro"}, Memory: "1g", Network: "none",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := Generate(tt.img, rootfs, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			summarizeSeccomp(spec) // its rules depend on the host's arch and kernel
			got, err := Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (run with -update to accept):\n%s", file, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff shows the lines that differ, with their numbers.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}
