package image

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// bigLayer makes a layer of files*size bytes of half-compressible data
// (random symbols from a 16-letter alphabet), so that gzip and zstd have
// real work to do.
func bigLayer(t testing.TB, c Compression, seed uint64, files, size int) testLayer {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 42))
	entries := []tentry{dir(fmt.Sprintf("big%d/", seed))}
	buf := make([]byte, size)
	for i := 0; i < files; i++ {
		for j := 0; j < size; j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < size; k++ {
				buf[j+k] = 'a' + byte(v>>(4*k))&0x0f
			}
		}
		entries = append(entries, file(fmt.Sprintf("big%d/f%03d", seed, i), string(buf)))
	}
	return newLayer(t, c, entries...)
}

var benchImages sync.Map // Compression -> testImage

// benchImage is a 5-layer image of 50 MiB uncompressed.
func benchImage(b *testing.B, c Compression) testImage {
	if v, ok := benchImages.Load(c); ok {
		return v.(testImage)
	}
	var layers []testLayer
	for i := 0; i < 5; i++ {
		layers = append(layers, bigLayer(b, c, uint64(i+1), 10, 1<<20))
	}
	img := newImage(b, linuxAmd64, layers...)
	benchImages.Store(c, img)
	return img
}

// BenchmarkPull pulls and unpacks a 50 MiB (uncompressed) 5-layer image
// from the in-process registry into a fresh store each time.
func BenchmarkPull(b *testing.B) {
	for _, c := range []Compression{Gzip, Zstd} {
		b.Run(string(c), func(b *testing.B) {
			img := benchImage(b, c)
			host := startGGCRRegistry(b)
			img.push(b, host, "bench", "1")
			var compressed int64
			for _, l := range img.layers {
				compressed += l.desc.Size
			}
			b.SetBytes(50 << 20)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s, _ := newTestService(b)
				b.StartTimer()
				if _, err := s.Pull(context.Background(), host+"/bench:1", PullOptions{Platform: "linux/amd64"}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(compressed)/float64(1<<20), "MiB-compressed")
		})
	}
}

// BenchmarkPullEncrypted compares, on the same 50 MiB (uncompressed)
// 5-layer zstd image, a plain pull with one whose layers are encrypted
// (JWE, RSA 2048): the cost of decrypting (AES-256-CTR, HMAC-SHA256) while
// streaming. Run with -benchtime=Nx and compare the two ns/op.
func BenchmarkPullEncrypted(b *testing.B) {
	dec, _, _ := testKeys(b)
	plain := benchImage(b, Zstd)
	var encLayers []testLayer
	for _, l := range plain.layers {
		encLayers = append(encLayers, encryptTestLayer(b, l, "", ""))
	}
	encImg := assemble(b, plain.config, encLayers)
	host := startGGCRRegistry(b)
	plain.push(b, host, "bench", "plain")
	encImg.push(b, host, "bench", "encrypted")
	for _, tc := range []struct {
		name    string
		tag     string
		decrypt DecryptFunc
	}{
		{"plain", "plain", nil},
		{"encrypted", "encrypted", dec.Decrypt},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(50 << 20)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s, _ := newTestService(b)
				b.StartTimer()
				if _, err := s.Pull(context.Background(), host+"/bench:"+tc.tag, PullOptions{Platform: "linux/amd64", Decrypt: tc.decrypt}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPullPeakRSS pulls a 200 MiB image in a child process and checks
// that its peak RSS stays under 100 MiB.
func TestPullPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 200 MiB image")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	host := startGGCRRegistry(t)
	var layers []testLayer
	for i := 0; i < 4; i++ {
		c := Gzip
		if i%2 == 1 {
			c = Zstd
		}
		layers = append(layers, bigLayer(t, c, uint64(100+i), 25, 2<<20))
	}
	newImage(t, linuxAmd64, layers...).push(t, host, "big", "1")
	layers = nil
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=rss", "STOCKADE_TEST_ROOT="+root, "STOCKADE_TEST_REF="+host+"/big:1")
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("helper: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	kb, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("helper said %q", out)
	}
	t.Logf("peak RSS of a 200 MiB pull: %d MiB", kb>>10)
	if kb > 100<<10 {
		t.Errorf("peak RSS %d MiB, want under 100 MiB", kb>>10)
	}
}
