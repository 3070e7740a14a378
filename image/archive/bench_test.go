//go:build linux || freebsd

package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/testenv"
)

// The benchmarks extract the same generated layer: about 3,000 files of
// mixed sizes (~100 MB) in a few hundred directories, with symlinks and
// hard links. They extract into b.TempDir(), or into
// $STOCKADE_BENCH_DIR when set (e.g. /dev/shm to leave the disk out).

var benchTar struct {
	once sync.Once
	path string
	size int64
	err  error
}

func benchLayer(b *testing.B) (string, int64) {
	benchTar.once.Do(func() {
		dir, err := os.MkdirTemp("", "stockade-archive-bench-")
		if err != nil {
			benchTar.err = err
			return
		}
		fuzzCleanup = append(fuzzCleanup, dir)
		benchTar.path = filepath.Join(dir, "layer.tar")
		benchTar.size, benchTar.err = writeBenchLayer(benchTar.path)
	})
	if benchTar.err != nil {
		b.Fatal(benchTar.err)
	}
	return benchTar.path, benchTar.size
}

func writeBenchLayer(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	rng := rand.New(rand.NewChaCha8([32]byte{'s', 't', 'o', 'c', 'k', 'a', 'd', 'e'}))
	mt := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	content := make([]byte, 4<<20)
	for i := range content {
		content[i] = byte(rng.Uint32())
	}

	var dirs []string
	for i := 0; i < 300; i++ {
		name := fmt.Sprintf("d%03d", i)
		if i >= 20 {
			name = dirs[rng.IntN(len(dirs))] + "/" + name
		}
		dirs = append(dirs, name)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: mt}); err != nil {
			return 0, err
		}
	}
	var files []string
	// Files go directory by directory, as a tar of a real tree lists them.
	for n := 0; n < 3000; n++ {
		d := dirs[n*len(dirs)/3000]
		var size int
		switch r := rng.IntN(100); {
		case r < 80:
			size = 512 + rng.IntN(16<<10) // small: config, scripts, headers
		case r < 99:
			size = 16<<10 + rng.IntN(112<<10) // libraries, binaries
		default:
			size = 1<<20 + rng.IntN(1<<20) // a few large ones
		}
		name := fmt.Sprintf("%s/f%04d", d, n)
		files = append(files, name)
		mode := int64(0o644)
		if n%5 == 0 {
			mode = 0o755
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(size), Mode: mode, ModTime: mt, Uid: 0, Gid: 0}
		if n%7 == 0 {
			h.Uid, h.Gid = 1000, 1000
		}
		if err := tw.WriteHeader(h); err != nil {
			return 0, err
		}
		off := rng.IntN(len(content) - size + 1)
		if _, err := tw.Write(content[off : off+size]); err != nil {
			return 0, err
		}
		if n%30 == 29 {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name + ".link", Linkname: fmt.Sprintf("f%04d", n), ModTime: mt}); err != nil {
				return 0, err
			}
		}
		if n%60 == 59 {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeLink, Name: name + ".hard", Linkname: files[rng.IntN(len(files))], ModTime: mt}); err != nil {
				return 0, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), f.Close()
}

func benchDir(b *testing.B) string {
	if d := os.Getenv("STOCKADE_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "stockade-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// runExtract times extract over b.N fresh directories. Removing the
// previous tree and flushing it to disk happen outside the timer.
func runExtract(b *testing.B, extract func(dest, layer string) error) {
	layer, size := benchLayer(b)
	base := benchDir(b)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dest := filepath.Join(base, fmt.Sprint(i))
		if err := os.Mkdir(dest, 0o755); err != nil {
			b.Fatal(err)
		}
		syncDir(base)
		c0 := cpuTime()
		b.StartTimer()
		if err := extract(dest, layer); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - c0
		if err := os.RemoveAll(dest); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	// CPU time (user+system, of this process and of tar) tells the two
	// apart better than wall time on a busy machine.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// cpuTime returns the user and system time used so far by this process
// and its waited-for children.
func cpuTime() time.Duration {
	var t time.Duration
	for _, who := range []int{unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN} {
		var ru unix.Rusage
		if unix.Getrusage(who, &ru) == nil {
			t += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return t
}

func syncDir(dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	syncfs(fd)
}

func BenchmarkApply(b *testing.B) {
	opts := Options{NoLchown: !isRoot()}
	runExtract(b, func(dest, layer string) error {
		f, err := os.Open(layer)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = Apply(context.Background(), dest, f, opts)
		return err
	})
}

// BenchmarkTarX extracts the same layer with tar -x, for comparison. As
// root, tar restores owners and modes as Apply does.
func BenchmarkTarX(b *testing.B) {
	testenv.RequireCommand(b, "tar")
	runExtract(b, func(dest, layer string) error {
		out, err := exec.Command("tar", "-x", "-f", layer, "-C", dest).CombinedOutput()
		if err != nil {
			return fmt.Errorf("tar: %v: %s", err, out)
		}
		return nil
	})
}
