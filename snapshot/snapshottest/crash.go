package snapshottest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stockade/stockade/internal/flock"
	"github.com/stockade/stockade/snapshot/storage"
)

// Crashed leaves under the snapshot directories of b what crashes of
// other processes leave there: the staged directory of a Prepare whose
// process died, a directory half deleted, and one moved to an id that has
// no record. b's Cleanup must remove them.
func Crashed(t testing.TB, b *storage.Base) {
	t.Helper()
	for _, name := range []string{"new-crashed", "rm-0123456789abcdef", "4242"} {
		p := filepath.Join(b.Dirs().Root(), name, "fs", "etc")
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "f"), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Preparing makes under the snapshot directories of b the staged directory
// of a Prepare still running in another process, whose lock it holds until
// t ends, and returns its name. b's Cleanup must leave it alone.
func Preparing(t testing.TB, b *storage.Base) string {
	t.Helper()
	const name = "new-live"
	p := filepath.Join(b.Dirs().Root(), name)
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if ok, err := flock.TryLock(f, flock.Exclusive); !ok || err != nil {
		t.Fatalf("lock %s: %v, %v", p, ok, err)
	}
	return name
}

// DirNames returns the names in the snapshot directories of b, sorted.
func DirNames(t testing.TB, b *storage.Base) []string {
	t.Helper()
	ents, err := os.ReadDir(b.Dirs().Root())
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names
}
