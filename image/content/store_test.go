package content

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func desc(mt string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLayoutFiles(t *testing.T) {
	s := open(t)
	b, err := os.ReadFile(filepath.Join(s.Root(), "oci-layout"))
	if err != nil || !strings.Contains(string(b), `"imageLayoutVersion":"1.0.0"`) {
		t.Errorf("oci-layout: %s %v", b, err)
	}
	var idx ocispec.Index
	b, _ = os.ReadFile(filepath.Join(s.Root(), "index.json"))
	if err := json.Unmarshal(b, &idx); err != nil || idx.SchemaVersion != 2 || idx.Manifests == nil {
		t.Errorf("index.json: %s %v", b, err)
	}
}

func TestWriterVerifies(t *testing.T) {
	ctx := context.Background()
	data := []byte("hello, blob")
	cases := []struct {
		name  string
		write []byte
		desc  ocispec.Descriptor
		err   error
	}{
		{"ok", data, desc("", data), nil},
		{"digest mismatch", []byte("hello, blub"), desc("", data), ErrDigestMismatch},
		{"too long", append(data, '!'), desc("", data), ErrSizeMismatch},
		{"too short", data[:5], desc("", data), ErrSizeMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			w, err := s.Writer(ctx, tc.desc)
			if err != nil {
				t.Fatal(err)
			}
			_, werr := w.Write(tc.write)
			if werr != nil {
				w.Discard()
				err = werr
			} else {
				err = w.Commit(ctx)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			if has := s.Has(ctx, tc.desc); has != (tc.err == nil) {
				t.Errorf("Has = %v", has)
			}
			if entries, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(entries) != 0 {
				t.Errorf("ingest not empty: %v", entries)
			}
			if tc.err == nil {
				if _, err := s.Writer(ctx, tc.desc); !errors.Is(err, ErrExists) {
					t.Errorf("second writer: %v, want ErrExists", err)
				}
				got, err := s.ReadAll(ctx, tc.desc, 100)
				if err != nil || string(got) != string(data) {
					t.Errorf("ReadAll = %q %v", got, err)
				}
				if _, err := s.ReadAll(ctx, tc.desc, 3); !errors.Is(err, ErrTooLarge) {
					t.Errorf("ReadAll over the limit: %v", err)
				}
			}
		})
	}
}

func TestWriterResumes(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := []byte(strings.Repeat("0123456789", 1000))
	d := desc("", data)
	w, err := s.Writer(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:4321])
	w.Close() // interrupted: keeps the partial
	w, err = s.Writer(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 4321 {
		t.Fatalf("resumed at %d, want 4321", w.Offset())
	}
	w.Write(data[4321:])
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// A partial longer than the blob is started over.
	d2 := desc("", []byte("short"))
	os.WriteFile(filepath.Join(s.Root(), "ingest", d2.Digest.String()+".partial"), []byte("much too long"), 0o644)
	w, err = s.Writer(ctx, d2)
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 0 {
		t.Errorf("oversized partial resumed at %d", w.Offset())
	}
	w.Discard()
}

// TestConcurrentWriters: many writers of one blob; exactly one writes it,
// the others wait and then find it present.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := []byte(strings.Repeat("x", 1<<20))
	d := desc("", data)
	var wrote, existed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Writer(ctx, d)
			if errors.Is(err, ErrExists) {
				existed.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			for off := 0; off < len(data); off += 4096 {
				w.Write(data[off : off+4096])
			}
			if err := w.Commit(ctx); err != nil {
				t.Error(err)
				return
			}
			wrote.Add(1)
		}()
	}
	wg.Wait()
	if wrote.Load() != 1 || existed.Load() != 7 {
		t.Errorf("wrote %d, existed %d", wrote.Load(), existed.Load())
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(entries) != 0 {
		t.Errorf("ingest not empty: %v", entries)
	}
}

func TestIndexAndGC(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	put := func(mt string, data []byte) ocispec.Descriptor {
		d := desc(mt, data)
		if err := s.Put(ctx, d, data); err != nil {
			t.Fatal(err)
		}
		return d
	}
	layer := put(ocispec.MediaTypeImageLayerGzip, []byte("layer"))
	shared := put(ocispec.MediaTypeImageLayerGzip, []byte("shared layer"))
	config := put(ocispec.MediaTypeImageConfig, []byte(`{"config":1}`))
	mb, _ := json.Marshal(ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: []ocispec.Descriptor{layer, shared}})
	manifest := put(ocispec.MediaTypeImageManifest, mb)
	ib, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{manifest}})
	index := put(ocispec.MediaTypeImageIndex, ib)
	config2 := put(ocispec.MediaTypeImageConfig, []byte(`{"config":2}`))
	m2b, _ := json.Marshal(ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: config2, Layers: []ocispec.Descriptor{shared}})
	manifest2 := put(ocispec.MediaTypeImageManifest, m2b)
	orphan := put("application/octet-stream", []byte("nobody wants me"))

	if err := s.SetRef(ctx, "example.com/a:1", index); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRef(ctx, "example.com/b:1", manifest2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRef(ctx, "example.com/b:1", manifest2); err != nil { // replaces, no duplicate
		t.Fatal(err)
	}
	idx, _ := s.Index(ctx)
	if len(idx.Manifests) != 2 {
		t.Fatalf("index has %d entries", len(idx.Manifests))
	}
	if release, err := s.Lease(ctx); err != nil {
		t.Fatal(err)
	} else {
		if _, err := s.LockExclusive(ctx, false); !errors.Is(err, ErrBusy) {
			t.Errorf("exclusive lock under a lease: %v", err)
		}
		release()
	}
	st, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blobs != 1 || s.Has(ctx, orphan) {
		t.Errorf("GC removed %d blobs, orphan present %v", st.Blobs, s.Has(ctx, orphan))
	}
	for _, d := range []ocispec.Descriptor{layer, shared, config, manifest, index, config2, manifest2} {
		if !s.Has(ctx, d) {
			t.Errorf("GC removed reachable %s", d.Digest)
		}
	}
	if err := s.RemoveRefs(ctx, "example.com/a:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "example.com/a:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve of a removed ref: %v", err)
	}
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d    ocispec.Descriptor
		want bool
	}{{layer, false}, {config, false}, {manifest, false}, {index, false}, {shared, true}, {config2, true}, {manifest2, true}} {
		d, want := c.d, c.want
		if s.Has(ctx, d) != want {
			t.Errorf("after removing a: %s present %v, want %v", d.Digest, !want, want)
		}
	}
	root, _ := os.ReadDir(s.Root())
	for _, e := range root {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

func TestBadDigests(t *testing.T) {
	s := open(t)
	for _, d := range []digest.Digest{"", "sha256:xyz", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:../../etc/passwd"} {
		if _, err := s.BlobPath(d); err == nil {
			t.Errorf("BlobPath(%q) accepted", d)
		}
		if _, err := s.Writer(context.Background(), ocispec.Descriptor{Digest: d, Size: 1}); err == nil {
			t.Errorf("Writer(%q) accepted", d)
		}
	}
}

// TestIngest stores blobs whose digest is only known once written.
func TestIngest(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	data := []byte(strings.Repeat("ingested ", 1000))
	d, n, err := s.Ingest(ctx, strings.NewReader(string(data)))
	if err != nil || d != digest.FromBytes(data) || n != int64(len(data)) {
		t.Fatalf("Ingest: %s %d %v", d, n, err)
	}
	if !s.Has(ctx, desc("", data)) {
		t.Error("the ingested blob is not in the store")
	}
	// Again: the blob is kept, nothing is left behind.
	if d2, _, err := s.Ingest(ctx, strings.NewReader(string(data))); err != nil || d2 != d {
		t.Errorf("second Ingest: %s %v", d2, err)
	}
	// A failing stream stores nothing.
	boom := errors.New("boom")
	if _, _, err := s.Ingest(ctx, &failReader{err: boom}); !errors.Is(err, boom) {
		t.Errorf("failing stream: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.Ingest(cctx, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(entries) != 0 {
		t.Errorf("ingest files left: %v", entries)
	}
}

// failReader gives one byte, then its error.
type failReader struct {
	err  error
	done bool
}

func (f *failReader) Read(p []byte) (int, error) {
	if !f.done && len(p) > 0 {
		f.done = true
		p[0] = 'x'
		return 1, nil
	}
	return 0, f.err
}

// DiscardPartial drops an abandoned ingest file but never one a writer
// still holds.
func TestDiscardPartial(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := []byte(strings.Repeat("abc", 1000))
	d := desc("", data)
	partial := filepath.Join(s.Root(), "ingest", d.Digest.String()+".partial")
	w, err := s.Writer(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:100])
	if err := s.DiscardPartial(d.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partial); err != nil {
		t.Fatalf("a held partial was removed: %v", err)
	}
	w.Close()
	if err := s.DiscardPartial(d.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("an abandoned partial survived: %v", err)
	}
	if err := s.DiscardPartial(d.Digest); err != nil {
		t.Errorf("no partial at all: %v", err)
	}
}
