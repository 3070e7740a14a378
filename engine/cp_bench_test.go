//go:build linux || freebsd

package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkCopyTree is cp's (and copy-up's) path for a tree of 1000
// small files and one of 16 MiB: WriteArchive from one root piped into
// ApplyArchive in another.
func BenchmarkCopyTree(b *testing.B) {
	src := b.TempDir()
	var total int64
	for i := range 1000 {
		d := filepath.Join(src, "tree", fmt.Sprintf("d%02d", i%50))
		os.MkdirAll(d, 0o755)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", i)), make([]byte, 4096), 0o644); err != nil {
			b.Fatal(err)
		}
		total += 4096
	}
	big := make([]byte, 16<<20)
	os.WriteFile(filepath.Join(src, "tree", "big"), big, 0o644)
	total += int64(len(big))
	b.SetBytes(total)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst := filepath.Join(b.TempDir(), "root")
		os.Mkdir(dst, 0o755)
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(WriteArchive(ctx, pw, src, "/tree", ArchiveOptions{})) }()
		if err := ApplyArchive(ctx, dst, "", pr, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteArchive is the reading half of BenchmarkCopyTree alone.
func BenchmarkWriteArchive(b *testing.B) {
	src := b.TempDir()
	os.MkdirAll(filepath.Join(src, "tree"), 0o755)
	for i := range 1000 {
		os.WriteFile(filepath.Join(src, "tree", fmt.Sprintf("f%d", i)), make([]byte, 4096), 0o644)
	}
	os.WriteFile(filepath.Join(src, "tree", "big"), make([]byte, 16<<20), 0o644)
	b.SetBytes(1000*4096 + 16<<20)
	for i := 0; i < b.N; i++ {
		if err := WriteArchive(context.Background(), io.Discard, src, "/tree", ArchiveOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
