// Command demo shows stockade's whole pipeline on an embedded default, with
// no network beyond loopback: it starts an in-process OCI registry on
// 127.0.0.1, compiles a static program into a two-layer image, pushes it
// there, and drives the stockade binary through pull, push (recompressed to
// zstd), rmi and pull again, then runs the image as a container (runc on
// Linux), printing each command and its output.
//
// Usage: go run ./test/demo [-stockade bin/stockade] [-keep]
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	bin := flag.String("stockade", "bin/stockade", "the stockade binary to drive")
	keep := flag.Bool("keep", false, "keep the demo's data root")
	flag.Parse()
	log.SetFlags(0)
	if err := demo(context.Background(), *bin, *keep); err != nil {
		log.Fatalf("demo: %v", err)
	}
}

func demo(ctx context.Context, bin string, keep bool) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "stockade-demo-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Printf("# data kept in %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}

	// 1. A registry on loopback, in this process.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	reg := ln.Addr().String()
	fmt.Printf("# registry listening on %s\n", reg)

	// 2. An image from a static binary compiled now.
	helloBin := filepath.Join(work, "hello")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", helloBin, "./test/demo/hello")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("compile hello: %v: %s", err, out)
	}
	img, err := buildImage(helloBin)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(reg + "/demo/hello:1")
	if err != nil {
		return err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push the demo image: %w", err)
	}
	fmt.Printf("# built %s (2 layers, gzip) and pushed it to the loopback registry\n", ref)

	root := filepath.Join(work, "root")
	st := func(args ...string) (string, error) {
		full := append([]string{"--root", root, "--state", filepath.Join(work, "state"), "--config", filepath.Join(work, "none.toml")}, args...)
		fmt.Printf("\n$ stockade %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, bin, full...)
		cmd.Env = append(os.Environ(), "STOCKADE_CONFIG=")
		var out bytes.Buffer
		cmd.Stdout = io.MultiWriter(os.Stdout, &out)
		cmd.Stderr = os.Stderr
		err := cmd.Run()
		if err != nil {
			return out.String(), fmt.Errorf("stockade %s: %w", args[0], err)
		}
		return out.String(), nil
	}
	if err := os.WriteFile(filepath.Join(work, "none.toml"), nil, 0o644); err != nil {
		return err
	}
	steps := [][]string{
		{"pull", reg + "/demo/hello:1"},
		{"images"},
		{"push", "--compression", "zstd", reg + "/demo/hello:1", reg + "/demo/hello:zstd"},
		{"rmi", reg + "/demo/hello:1"},
		{"pull", reg + "/demo/hello:zstd"},
		{"images"},
		{"run", "--rm", "--hostname", "demo", reg + "/demo/hello:zstd"},
		{"run", "-d", "--name", "hello-bg", reg + "/demo/hello:zstd"},
		{"wait", "hello-bg"},
		{"ps", "-a"},
		{"logs", "hello-bg"},
		{"rm", "hello-bg"},
	}
	for _, s := range steps {
		if _, err := st(s...); err != nil {
			return err
		}
	}
	fmt.Println("\n# demo finished: every step above ran against real files and a real registry on loopback")
	return nil
}

// buildImage makes a two-layer image: a base with /etc files and a layer
// with the static program, whose config runs it.
func buildImage(helloBin string) (v1.Image, error) {
	prog, err := os.ReadFile(helloBin)
	if err != nil {
		return nil, err
	}
	base, err := layer(map[string]string{
		"etc/passwd": "root:*:0:0:root:/root:/bin/sh\nnobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":  "wheel:*:0:root\nnogroup:*:65534:\n",
		"etc/motd":   "Stockade demo: this file came from the base layer.\n",
	}, nil)
	if err != nil {
		return nil, err
	}
	app, err := layer(map[string]string{"usr/local/bin/hello": string(prog)}, map[string]int64{"usr/local/bin/hello": 0o755})
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, base, app)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = runtime.GOOS, runtime.GOARCH
	cf.Config.Entrypoint = []string{"/usr/local/bin/hello"}
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	cf.Config.WorkingDir = "/"
	return mutate.ConfigFile(img, cf)
}

func layer(files map[string]string, modes map[string]int64) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	var dirs, paths []string
	for path := range files {
		paths = append(paths, path)
		for d := filepath.Dir(path); d != "." && !seen[d]; d = filepath.Dir(d) {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs) // parents before children
	sort.Strings(paths)
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
	}
	for _, path := range paths {
		content := files[path]
		mode := int64(0o644)
		if m, ok := modes[path]; ok {
			mode = m
		}
		if err := tw.WriteHeader(&tar.Header{Name: path, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(content)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
