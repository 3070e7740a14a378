//go:build linux || freebsd

package archive

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/snapshot"
)

// FuzzApply applies arbitrary streams, in both whiteout formats, to a root
// with sentinel files beside it, and fails if anything outside root
// changes. The seeds (testdata/fuzz/FuzzApply) are the hostile layers of
// hostile_test.go written with relative paths, plus ordinary ones; they are
// rewritten by STOCKADE_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds.
func FuzzApply(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	limitMinimize()
	formats := []Options{{Whiteouts: snapshot.WhiteoutDelete}}
	if runtime.GOOS == "linux" && isRoot() {
		formats = append(formats, Options{Whiteouts: snapshot.WhiteoutOverlay})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range formats {
			j, before := fuzzJail(t)
			opts.MaxFileSize = 4 << 20 // sparse entries expand
			Apply(context.Background(), j.root, bytes.NewReader(fixChecksums(data)), asUser(opts))
			if d := diffTrees(before, j.outside(t)); len(d) > 0 {
				fuzzJailState.ok = false // the next run needs a new one
				t.Fatalf("outside of root changed (whiteouts %d):\n%s", opts.Whiteouts, strings.Join(d, "\n"))
			}
		}
	})
}

// fixChecksums returns data with the checksum of every tar header
// recomputed, following the headers by their size fields as a reader
// would. Without it nearly every mutation of a header is rejected for its
// checksum, and the fuzzer never gets past the tar reader. (The seeds for
// corrupt and truncated streams still reach the reader's error paths.)
func fixChecksums(data []byte) []byte {
	out := bytes.Clone(data)
	for off := 0; off+512 <= len(out); {
		h := out[off : off+512]
		if bytes.Equal(h, make([]byte, 512)) {
			off += 512
			continue
		}
		copy(h[148:156], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum&0o777777))
		size, ok := octal(h[124:136])
		if !ok {
			break
		}
		switch h[156] {
		case '1', '2', '3', '4', '5', '6':
			size = 0 // header-only types have no data, whatever size says
		}
		off += 512 + int((size+511)/512)*512
	}
	return out
}

func octal(b []byte) (int64, bool) {
	b = bytes.Trim(b, " \x00")
	var n int64
	for _, c := range b {
		if c < '0' || c > '7' || n > 1<<40 {
			return 0, false
		}
		n = n*8 + int64(c-'0')
	}
	return n, true
}

// limitMinimize bounds how long the fuzzer minimizes an input, unless
// -fuzzminimizetime says otherwise. Tar pads everything to 512-byte
// blocks, so inputs are kilobytes long, and the minimizer's quadratic
// pass over byte ranges would otherwise hold a worker for the whole
// default 60 s on each new interesting input: a 60 s run would then do
// little else than minimize its first finds. The coordinator reads the
// flag when f.Fuzz starts, after this.
func limitMinimize() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		flag.Set("test.fuzzminimizetime", "500x")
	}
}

// fuzzJailState is the jail a fuzz worker process reuses from one input to
// the next (on a tmpfs when there is one): making a new one each time
// costs more than applying most inputs.
var fuzzJailState struct {
	ok     bool
	j      jail
	before map[string]node
	mtime  time.Time
}

// fuzzJail returns the worker's jail with an empty root, and the snapshot
// of what is outside root.
func fuzzJail(t *testing.T) (jail, map[string]node) {
	s := &fuzzJailState
	if s.ok {
		jailDir := filepath.Dir(s.j.root)
		if err := os.RemoveAll(s.j.root); err == nil {
			if err := os.Mkdir(s.j.root, 0o755); err == nil {
				if err := os.Chtimes(jailDir, s.mtime, s.mtime); err == nil {
					return s.j, s.before
				}
			}
		}
	}
	if s.j.top != "" {
		os.RemoveAll(s.j.top)
	}
	top, err := os.MkdirTemp(fastTempBase(), "stockade-fuzz-")
	must(t, err)
	fuzzCleanup = append(fuzzCleanup, top)
	s.j = newJailIn(t, top)
	s.mtime = time.Date(2002, 2, 2, 2, 2, 2, 0, time.UTC)
	must(t, os.Chtimes(filepath.Dir(s.j.root), s.mtime, s.mtime))
	s.before = s.j.outside(t)
	s.ok = true
	return s.j, s.before
}

// fuzzSeeds returns the seed streams: every hostile case without absolute
// host paths (they change from run to run) and a few ordinary layers.
func fuzzSeeds(t testing.TB) [][]byte {
	const rel = "../../sentinel"
	var seeds [][]byte
	for _, c := range hostileCases() {
		if c.lower != nil {
			continue
		}
		// An absolute sentinel path that stays valid for the fuzzer's own
		// runs cannot be known here: use one that is the same every time.
		seeds = append(seeds, c.data(t, "/tmp/stockade-fuzz-sentinel", rel))
	}
	seeds = append(seeds,
		mkTar(t, dir("etc"), file("etc/passwd", "root:x:0:0\n"), symlink("bin", "usr/bin"), dir("usr/bin"),
			file("usr/bin/sh", "#!"), hardlink("usr/bin/bash", "usr/bin/sh"),
			ent{name: "dev/null", typ: '3', mode: 0o666, major: 1, minor: 3}, ent{name: "fifo", typ: '6', mode: 0o600}),
		mkTar(t, dir("a/b"), whiteout("a/.wh.b"), whiteout("a/.wh..wh..opq"), file("a/c", "c"), whiteout(".wh.a"),
			ent{name: "x", typ: '0', body: "x", mode: 0o4755, uid: 1, gid: 2, xattrs: map[string]string{"user.a": "b", "trusted.overlay.opaque": "y"}}),
	)
	return seeds
}

// TestWriteFuzzSeeds writes the seed corpus files. It only runs when asked.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("STOCKADE_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set STOCKADE_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzApply")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzApply")
	must(t, os.MkdirAll(dir, 0o755))
	names := []string{}
	for _, c := range hostileCases() {
		if c.lower == nil {
			names = append(names, c.name)
		}
	}
	names = append(names, "normal-layer", "normal-whiteouts")
	for i, s := range fuzzSeeds(t) {
		var b strings.Builder
		fmt.Fprintf(&b, "go test fuzz v1\n[]byte(%q)\n", s)
		must(t, os.WriteFile(filepath.Join(dir, "seed-"+names[i]), []byte(b.String()), 0o644))
	}
}
