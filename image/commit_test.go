package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// addLayer stores a tar of entries with AddLayer.
func addLayer(t *testing.T, s *Service, c Compression, entries ...tentry) (ocispec.Descriptor, digest.Digest) {
	t.Helper()
	desc, diffID, err := s.AddLayer(context.Background(), bytes.NewReader(makeTar(t, entries)), c)
	if err != nil {
		t.Fatal(err)
	}
	return desc, diffID
}

func TestAddLayer(t *testing.T) {
	s, _ := newTestService(t)
	ctx := context.Background()
	tarData := makeTar(t, []tentry{dir("etc/"), file("etc/motd", "hello")})
	for _, tc := range []struct {
		c    Compression
		mt   string
		same bool // the blob is the tar itself
	}{
		{Gzip, ocispec.MediaTypeImageLayerGzip, false},
		{Zstd, ocispec.MediaTypeImageLayerZstd, false},
		{Uncompressed, ocispec.MediaTypeImageLayer, true},
	} {
		t.Run(string(tc.c), func(t *testing.T) {
			desc, diffID, err := s.AddLayer(ctx, bytes.NewReader(tarData), tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if diffID != digest.FromBytes(tarData) {
				t.Errorf("diff id %s, want the tar's digest %s", diffID, digest.FromBytes(tarData))
			}
			if desc.MediaType != tc.mt {
				t.Errorf("media type %s, want %s", desc.MediaType, tc.mt)
			}
			if (desc.Digest == diffID) != tc.same {
				t.Errorf("blob digest %s, diff id %s", desc.Digest, diffID)
			}
			store, err := s.Content(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f, err := store.Open(ctx, desc.Digest)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			raw, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(raw)) != desc.Size || digest.FromBytes(raw) != desc.Digest {
				t.Errorf("stored blob: %d bytes %s, descriptor %d %s", len(raw), digest.FromBytes(raw), desc.Size, desc.Digest)
			}
			plain, found, err := Decompress(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			back, err := io.ReadAll(plain)
			if err != nil || !bytes.Equal(back, tarData) || found != tc.c {
				t.Errorf("decompressed blob (%s): %d bytes, err %v; want the %d bytes of the tar", found, len(back), err, len(tarData))
			}
		})
	}
	if _, _, err := s.AddLayer(ctx, bytes.NewReader(tarData), "lz4"); err == nil {
		t.Error("AddLayer with compression lz4 did not fail")
	}
}

func TestNewImage(t *testing.T) {
	s, sn := newTestService(t)
	ctx := context.Background()
	l1, d1 := addLayer(t, s, Gzip, dir("etc/"), file("etc/motd", "one"), file("etc/gone", "x"))
	base, err := s.NewImage(ctx, NewImageOptions{
		Layers: []ocispec.Descriptor{l1}, DiffIDs: []digest.Digest{d1},
		Config: ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sh"}}},
		Names:  []string{"localhost/base:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if base.Name != "localhost/base:1" || base.Untagged || !slices.Equal(base.ChainIDs, []digest.Digest{d1}) {
		t.Errorf("base record: %+v", base)
	}
	if got, ok := readSnapshotFile(t, sn, d1.String(), "etc/motd"); !ok || got != "one" {
		t.Errorf("base layer snapshot: etc/motd %q, %v", got, ok)
	}

	// A layer on top of it: a change and a deletion.
	l2, d2 := addLayer(t, s, Zstd, dir("etc/"), file("etc/motd", "two"), whiteout("etc/gone"))
	img, err := s.NewImage(ctx, NewImageOptions{
		Base: base, Layers: []ocispec.Descriptor{l2}, DiffIDs: []digest.Digest{d2},
		Config: ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"cat"}}},
		Names:  []string{"localhost/top:1", "localhost/top:latest"},
	})
	if err != nil {
		t.Fatal(err)
	}
	chains := ChainIDs([]digest.Digest{d1, d2})
	if !slices.Equal(img.ChainIDs, chains) || len(img.Layers) != 2 || img.Layers[1].Digest != l2.Digest {
		t.Errorf("record: chains %v layers %v", img.ChainIDs, img.Layers)
	}
	if got, ok := readSnapshotFile(t, sn, chains[1].String(), "etc/motd"); !ok || got != "two" {
		t.Errorf("top snapshot: etc/motd %q, %v", got, ok)
	}
	if _, ok := readSnapshotFile(t, sn, chains[1].String(), "etc/gone"); ok {
		t.Error("top snapshot: etc/gone is still there")
	}
	cfg, err := s.Config(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	host := HostPlatform()
	if !slices.Equal(cfg.RootFS.DiffIDs, []digest.Digest{d1, d2}) || cfg.RootFS.Type != "layers" ||
		cfg.OS != host.OS || cfg.Architecture != host.Architecture || cfg.Created == nil || cfg.Config.Cmd[0] != "cat" {
		t.Errorf("config: %+v", cfg)
	}
	for _, n := range []string{"localhost/top:1", "localhost/top:latest"} {
		if r, err := s.Get(ctx, n); err != nil || r.ID != img.ID {
			t.Errorf("Get(%s): %v, %v", n, r, err)
		}
	}
}

func TestNewImageUntaggedAndIntermediate(t *testing.T) {
	s, sn := newTestService(t)
	ctx := context.Background()
	l1, d1 := addLayer(t, s, Gzip, file("a", "a"))
	rec, err := s.NewImage(ctx, NewImageOptions{Layers: []ocispec.Descriptor{l1}, DiffIDs: []digest.Digest{d1}})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Untagged || rec.Intermediate || rec.Name != rec.ID.String() || rec.DisplayName() != "<none>" {
		t.Errorf("untagged record: %+v", rec)
	}
	if got, err := s.Get(ctx, rec.ShortID()); err != nil || got.ID != rec.ID {
		t.Errorf("Get by short id: %v, %v", got, err)
	}
	if l, _ := s.List(ctx); len(l) != 1 {
		t.Errorf("List: %v", l)
	}

	// Build cache: recorded, not listed, pruned.
	l2, d2 := addLayer(t, s, Gzip, file("b", "b"))
	cache, err := s.NewImage(ctx, NewImageOptions{Layers: []ocispec.Descriptor{l2}, DiffIDs: []digest.Digest{d2}, Intermediate: true})
	if err != nil {
		t.Fatal(err)
	}
	if !cache.Intermediate || !cache.Untagged {
		t.Errorf("intermediate record: %+v", cache)
	}
	if l, _ := s.List(ctx); len(l) != 1 || l[0].ID != rec.ID {
		t.Errorf("List shows build cache: %v", l)
	}
	if l, _ := s.ListAll(ctx); len(l) != 2 {
		t.Errorf("ListAll: %v", l)
	}
	// Naming the untagged image drops its <none> record.
	if err := s.Tag(ctx, rec.ShortID(), "localhost/named:1"); err != nil {
		t.Fatal(err)
	}
	l, _ := s.List(ctx)
	if len(l) != 1 || l[0].Name != "localhost/named:1" || l[0].Untagged {
		t.Errorf("List after Tag: %+v", l)
	}
	// Prune without dangling: the build cache goes, with its layer.
	removed, err := s.Prune(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].ID != cache.ID {
		t.Errorf("Prune removed %v", removed)
	}
	if _, ok := sn.snapshots()[d2.String()]; ok {
		t.Error("the build cache's layer snapshot stayed")
	}
	if _, ok := sn.snapshots()[d1.String()]; !ok {
		t.Error("the named image's layer snapshot is gone")
	}
	// A dangling image in use stays; unused, it goes.
	l3, d3 := addLayer(t, s, Gzip, file("c", "c"))
	dangling, err := s.NewImage(ctx, NewImageOptions{Layers: []ocispec.Descriptor{l3}, DiffIDs: []digest.Digest{d3}})
	if err != nil {
		t.Fatal(err)
	}
	if removed, _ := s.Prune(ctx, true, func(id digest.Digest) bool { return id == dangling.ID }); len(removed) != 0 {
		t.Errorf("Prune removed an image in use: %v", removed)
	}
	if removed, _ := s.Prune(ctx, true, nil); len(removed) != 1 || removed[0].ID != dangling.ID {
		t.Errorf("Prune(dangling) removed %v", removed)
	}
	if l, _ := s.ListAll(ctx); len(l) != 1 || l[0].Name != "localhost/named:1" {
		t.Errorf("after prune: %+v", l)
	}
}

// TestPruneKeepsNamedTwin: build cache with the id of a named image is
// removed alone.
func TestPruneKeepsNamedTwin(t *testing.T) {
	s, _ := newTestService(t)
	ctx := context.Background()
	l1, d1 := addLayer(t, s, Gzip, file("a", "a"))
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	opts := NewImageOptions{Layers: []ocispec.Descriptor{l1}, DiffIDs: []digest.Digest{d1}, Config: ocispec.Image{Created: &created}, Intermediate: true}
	cache, err := s.NewImage(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Intermediate, opts.Names = false, []string{"localhost/final:1"}
	named, err := s.NewImage(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if named.ID != cache.ID {
		t.Fatalf("same config, different ids: %s %s", named.ID, cache.ID)
	}
	if removed, err := s.Prune(ctx, false, nil); err != nil || len(removed) != 1 {
		t.Fatalf("Prune: %v, %v", removed, err)
	}
	if _, err := s.Get(ctx, "localhost/final:1"); err != nil {
		t.Errorf("the named image went with its build cache twin: %v", err)
	}
}

func TestNewImageBadInput(t *testing.T) {
	s, sn := newTestService(t)
	ctx := context.Background()
	l1, d1 := addLayer(t, s, Gzip, file("a", "a"))
	missing := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("nope"), Size: 4}
	for name, opts := range map[string]NewImageOptions{
		"bad name":        {Layers: []ocispec.Descriptor{l1}, DiffIDs: []digest.Digest{d1}, Names: []string{"Bad Name"}},
		"count mismatch":  {Layers: []ocispec.Descriptor{l1}},
		"missing blob":    {Layers: []ocispec.Descriptor{missing}, DiffIDs: []digest.Digest{d1}},
		"bad media type":  {Layers: []ocispec.Descriptor{{MediaType: "text/plain", Digest: l1.Digest, Size: l1.Size}}, DiffIDs: []digest.Digest{d1}},
		"wrong diff id":   {Layers: []ocispec.Descriptor{l1}, DiffIDs: []digest.Digest{digest.FromString("other")}},
		"invalid diff id": {Layers: []ocispec.Descriptor{l1}, DiffIDs: []digest.Digest{"sha256:zz"}},
	} {
		if _, err := s.NewImage(ctx, opts); err == nil {
			t.Errorf("%s: NewImage did not fail", name)
		}
	}
	if l, _ := s.ListAll(ctx); len(l) != 0 {
		t.Errorf("records after bad input: %v", l)
	}
	if snaps := sn.snapshots(); len(snaps) != 0 {
		t.Errorf("snapshots after bad input: %v", snaps)
	}
	if _, err := s.Get(ctx, "sha256:"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(sha256:): %v", err)
	}
}

// TestConfigExtraCarriedOver: Docker's members of a config (Healthcheck,
// Shell) that ocispec.ImageConfig lacks are read back by ConfigExtra, so
// that commit keeps them.
func TestConfigExtraCarriedOver(t *testing.T) {
	s, _ := newTestService(t)
	ctx := context.Background()
	extra := map[string]json.RawMessage{
		"Healthcheck": json.RawMessage(`{"Test":["CMD","true"]}`),
		"Shell":       json.RawMessage(`["/bin/ash","-c"]`),
	}
	rec, err := s.NewImage(ctx, NewImageOptions{
		Config:      ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sh"}}},
		ConfigExtra: extra,
		Names:       []string{"localhost/extra:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ConfigExtra(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["Healthcheck"]) != `{"Test":["CMD","true"]}` || string(got["Shell"]) != `["/bin/ash","-c"]` {
		t.Errorf("ConfigExtra: %s", got)
	}
	cfg, err := s.Config(ctx, rec)
	if err != nil || cfg.Config.Cmd[0] != "sh" {
		t.Errorf("Config: %+v, %v", cfg, err)
	}
}

// TestGCRemovesTempViews: a view of TempViewPrefix that a killed diff left
// is collected; other views stay.
func TestGCRemovesTempViews(t *testing.T) {
	s, sn := newTestService(t)
	ctx := context.Background()
	l1, d1 := addLayer(t, s, Gzip, file("a", "a"))
	if _, err := s.NewImage(ctx, NewImageOptions{Layers: []ocispec.Descriptor{l1}, DiffIDs: []digest.Digest{d1}, Names: []string{"localhost/v:1"}}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{TempViewPrefix + "left", "someone-elses-view"} {
		if _, err := sn.View(ctx, key, d1.String()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	snaps := sn.snapshots()
	if _, ok := snaps[TempViewPrefix+"left"]; ok {
		t.Error("GC left the temporary view")
	}
	if _, ok := snaps["someone-elses-view"]; !ok {
		t.Error("GC removed another view")
	}
	if _, ok := snaps[d1.String()]; !ok {
		t.Error("GC removed the image's layer")
	}
}
