// Command demo shows stockade's whole pipeline on an embedded default, with
// no network beyond loopback: it starts an in-process OCI registry on
// 127.0.0.1, compiles a static program into a two-layer image, pushes it
// there, and drives the stockade binary through pull, push (recompressed to
// zstd), rmi and pull again, then runs the image as a container (runc on
// Linux). Then OCI-crypt: it makes an RSA key pair, pushes the image
// encrypted for it (zstd, JWE), removes the plain image, shows that a pull
// without the key is refused and one with it works, shows the layers'
// encryption, removes the image again and runs it with `run --key`, which
// pulls and decrypts it. Networking: a container on a network of its own
// serves HTTP on a port published on 127.0.0.1, fetched from here, and a
// second container finds it by name. It prints each command and its
// output.
//
// Usage: go run ./test/demo [-stockade bin/stockade] [-keep]
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
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
		cmd.Dir = work // key files are named relative to it
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
	// The default network that runs make has a bridge and rules on the
	// host, which would outlive the demo's data root.
	defer func() {
		fmt.Println("\n# cleaning up the host side of the default network")
		st("network", "rm", "stockade")
	}()
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

	if err := demoNetwork(ctx, st, reg+"/demo/hello:zstd"); err != nil {
		return err
	}
	if err := demoBuild(st, work, reg+"/demo/hello:zstd"); err != nil {
		return err
	}

	// 3. Encrypted images: an RSA key pair, the image pushed encrypted for
	// it, and pulled back with the private key.
	if err := writeKeyPair(filepath.Join(work, "priv.pem"), filepath.Join(work, "pub.pem")); err != nil {
		return err
	}
	fmt.Printf("\n# made an RSA 2048 key pair: %s/priv.pem and pub.pem\n", work)
	encrypted := reg + "/demo/hello:encrypted"
	steps = [][]string{
		{"push", "--encrypt", "jwe:pub.pem", "--compression", "zstd", reg + "/demo/hello:zstd", encrypted},
		{"rmi", reg + "/demo/hello:zstd"},
	}
	for _, s := range steps {
		if _, err := st(s...); err != nil {
			return err
		}
	}
	if _, err := st("pull", encrypted); err == nil {
		return errors.New("the encrypted image was pulled without its key")
	}
	fmt.Println("# (refused, as it must be: no key)")
	steps = [][]string{
		{"pull", "--key", "priv.pem", encrypted},
		{"images"},
		{"image", "layerinfo", encrypted},
		{"rmi", encrypted},
		// run pulls what is missing, with the key it is given.
		{"run", "--rm", "--key", "priv.pem", "--hostname", "encrypted", encrypted},
	}
	for _, s := range steps {
		if _, err := st(s...); err != nil {
			return err
		}
	}
	fmt.Println("\n# demo finished: every step above ran against real files and a real registry on loopback")
	return nil
}

// demoNetwork runs the image as a web server on a network of its own with
// a port published on 127.0.0.1, fetches it from this process, has a
// second container fetch it by name, and removes what it made.
func demoNetwork(ctx context.Context, st func(...string) (string, error), image string) (err error) {
	fmt.Println("\n# networking: a network, a published port on 127.0.0.1, a name")
	port, err := freePort()
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range [][]string{{"rm", "-f", "web"}, {"network", "rm", "demo-net"}} {
			if _, rerr := st(s...); rerr != nil && err == nil {
				err = rerr
			}
		}
	}()
	steps := [][]string{
		{"network", "create", "demo-net"},
		{"run", "-d", "--name", "web", "--network", "demo-net", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), image, "serve", ":8080"},
		{"port", "web"},
		{"network", "ls"},
	}
	for _, s := range steps {
		if _, err := st(s...); err != nil {
			return err
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	fmt.Printf("\n$ curl %s   # from the host, through the published port\n", url)
	body, err := getWithRetry(ctx, url, 15*time.Second)
	if err != nil {
		return err
	}
	fmt.Print(body)
	if !strings.Contains(body, "hello over HTTP") {
		return fmt.Errorf("GET %s: unexpected answer %q", url, body)
	}
	out, err := st("run", "--rm", "--network", "demo-net", image, "get", "http://web:8080/")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "hello over HTTP") {
		return fmt.Errorf("a container could not reach web by name: %q", out)
	}
	return nil
}

// demoBuild builds an image on top of base from a Containerfile (a file
// copied in, a working directory, a label), runs it, and builds it again:
// every step comes from the cache and the image id is the same.
func demoBuild(st func(...string) (string, error), work, base string) error {
	fmt.Println("\n# building an image from a Containerfile")
	ctxDir := filepath.Join(work, "build")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		return err
	}
	files := map[string]string{
		"Containerfile": "FROM " + base + "\nCOPY motd /etc/motd\nWORKDIR /srv\nLABEL org.opencontainers.image.title=demo-built\n",
		"motd":          "Stockade demo: this file came from stockade build.\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(ctxDir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("\n$ cat %s/Containerfile\n%s", ctxDir, files["Containerfile"])
	first, err := st("build", "-t", "demo/built:1", ctxDir)
	if err != nil {
		return err
	}
	out, err := st("run", "--rm", "--network", "none", "demo/built:1")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "cwd /srv") || !strings.Contains(out, "came from stockade build") {
		return fmt.Errorf("the built image printed %q", out)
	}
	again, err := st("build", "-q", "-t", "demo/built:1", ctxDir)
	if err != nil {
		return err
	}
	id := strings.TrimSpace(again)
	if !strings.Contains(first, id) {
		return fmt.Errorf("the cached rebuild gave %s, not the first build's id", id)
	}
	fmt.Println("# (the same image id: every step came from the cache)")
	_, err = st("rmi", "demo/built:1")
	return err
}

// freePort is a TCP port free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// getWithRetry GETs url until it answers or d has passed (the server in
// the container takes a moment to listen).
func getWithRetry(ctx context.Context, url string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		resp, err := c.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(b), nil
			}
			err = fmt.Errorf("status %s", resp.Status)
			if rerr != nil {
				err = rerr
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("GET %s: %w", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// writeKeyPair makes an RSA 2048 key pair: the private key as PKCS#8 PEM
// (mode 0600) and the public key as PKIX PEM.
func writeKeyPair(privPath, pubPath string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
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
