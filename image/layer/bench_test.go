//go:build linux

package layer

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// benchTrees makes a lower tree of 4000 files in 200 directories and an
// upper copy of it in which every tenth file is rewritten and every
// fiftieth removed.
func benchTrees(b *testing.B) (lower, upper string, files int) {
	b.Helper()
	lower, upper = b.TempDir(), b.TempDir()
	body := make([]byte, 2048)
	for d := 0; d < 200; d++ {
		for f := 0; f < 20; f++ {
			write(b, fmt.Sprintf("%s/d%03d/f%02d", lower, d, f), string(body), 0o644)
		}
	}
	touchAll(b, lower)
	copyTree(b, lower, upper)
	for d := 0; d < 200; d++ {
		for f := 0; f < 20; f++ {
			p := fmt.Sprintf("%s/d%03d/f%02d", upper, d, f)
			switch i := d*20 + f; {
			case i%50 == 0:
				must(b, os.Remove(p))
			case i%10 == 0:
				write(b, p, "changed", 0o644)
			}
		}
	}
	return lower, upper, 4000
}

func BenchmarkCompare(b *testing.B) {
	lower, upper, files := benchTrees(b)
	b.ResetTimer()
	for b.Loop() {
		ch, err := Compare(context.Background(), lower, upper)
		if err != nil {
			b.Fatal(err)
		}
		if len(ch) == 0 {
			b.Fatal("no changes")
		}
	}
	b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

func BenchmarkWrite(b *testing.B) {
	lower, upper, _ := benchTrees(b)
	// The whole upper tree as added: a layer of 4000 files.
	ch, err := Compare(context.Background(), "", upper)
	if err != nil {
		b.Fatal(err)
	}
	_ = lower
	b.ResetTimer()
	var n int64
	for b.Loop() {
		cw := &countWriter{}
		if err := Write(context.Background(), cw, upper, ch); err != nil {
			b.Fatal(err)
		}
		n = cw.n
	}
	b.SetBytes(n)
	b.ReportMetric(float64(len(ch))*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkTarC is GNU tar writing the same tree, the yardstick of
// BenchmarkWrite on the same machine in the same run.
func BenchmarkTarC(b *testing.B) {
	_, upper, _ := benchTrees(b)
	b.ResetTimer()
	var n int64
	for b.Loop() {
		cw := &countWriter{}
		cmd := exec.Command("tar", "-cf", "-", "-C", upper, ".")
		cmd.Stdout = cw
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		n = cw.n
	}
	b.SetBytes(n)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// BenchmarkOverlayChanges reads an upper directory that rewrote every
// tenth of the 4000 files of its lower and whited out every fiftieth.
func BenchmarkOverlayChanges(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("whiteouts are character devices: needs root")
	}
	lower, upper := b.TempDir(), b.TempDir()
	body := make([]byte, 2048)
	for d := 0; d < 200; d++ {
		for f := 0; f < 20; f++ {
			write(b, fmt.Sprintf("%s/d%03d/f%02d", lower, d, f), string(body), 0o644)
			p := fmt.Sprintf("%s/d%03d/f%02d", upper, d, f)
			switch i := d*20 + f; {
			case i%50 == 0:
				must(b, os.MkdirAll(filepath.Dir(p), 0o755))
				must(b, unix.Mknod(p, unix.S_IFCHR, 0))
			case i%10 == 0:
				write(b, p, "changed", 0o644)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		ch, err := OverlayChanges(context.Background(), upper, []string{lower})
		if err != nil {
			b.Fatal(err)
		}
		if len(ch) < 400 {
			b.Fatalf("%d changes", len(ch))
		}
	}
}
