package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

func blobSet(t *testing.T, s *Service) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.ContentRoot(), "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		out["sha256:"+e.Name()] = true
	}
	return out
}

func TestListTagRemoveGC(t *testing.T) {
	ctx := context.Background()
	host := startGGCRRegistry(t)
	base := newLayer(t, Gzip, dir("base/"), file("base/f", "shared"))
	a := newImage(t, linuxAmd64, base, newLayer(t, Zstd, file("a", "only in a")))
	b := newImage(t, linuxAmd64, base, newLayer(t, Gzip, file("b", "only in b")))
	a.push(t, host, "img/a", "1")
	b.push(t, host, "img/b", "1")
	s, sn := newTestService(t)
	s.DefaultRegistry = host
	ra, err := s.Pull(ctx, "img/a:1", PullOptions{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := s.Pull(ctx, "img/b", PullOptions{Platform: "linux/amd64"})
	if err == nil {
		t.Fatal("pull of img/b:latest succeeded; there is no such tag")
	}
	if rb, err = s.Pull(ctx, "img/b:1", PullOptions{Platform: "linux/amd64"}); err != nil {
		t.Fatal(err)
	}
	if ra.ChainIDs[0] != rb.ChainIDs[0] {
		t.Fatal("shared base layer has two chain ids")
	}

	if err := s.Tag(ctx, "img/a:1", "mine:v1"); err != nil {
		t.Fatal(err)
	}
	recs, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, r := range recs {
		names = append(names, r.Name)
	}
	want := []string{host + "/img/a:1", host + "/img/b:1", host + "/mine:v1"}
	if len(names) != 3 || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Fatalf("List = %v, want %v", names, want)
	}
	store, _ := s.Content(ctx)
	if d, err := store.Resolve(ctx, host+"/mine:v1"); err != nil || d.Digest != ra.Target.Digest {
		t.Errorf("index.json entry of the tag: %v %v", d, err)
	}
	if err := s.Tag(ctx, "nope:1", "x:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tag of an unknown image: %v", err)
	}

	// Removing one of two names keeps everything.
	before := blobSet(t, s)
	if err := s.Remove(ctx, "img/a:1"); err != nil {
		t.Fatal(err)
	}
	if after := blobSet(t, s); len(after) != len(before) {
		t.Errorf("blobs went from %d to %d while a name still uses them", len(before), len(after))
	}
	if _, err := sn.Stat(ctx, ra.TopChainID()); err != nil {
		t.Errorf("layer of a still-named image removed: %v", err)
	}

	// A container on top of b keeps b's layers even after rmi.
	if _, err := sn.Prepare(ctx, "container-1", rb.TopChainID()); err != nil {
		t.Fatal(err)
	}

	// Removing the last name of a: its own blobs and layer go, the shared
	// base stays for b.
	if err := s.Remove(ctx, "mine:v1"); err != nil {
		t.Fatal(err)
	}
	blobs := blobSet(t, s)
	for _, d := range []digest.Digest{a.manifestDesc.Digest, a.configDesc.Digest, a.layers[1].desc.Digest} {
		if blobs[d.String()] {
			t.Errorf("blob %s of a removed image stays", d)
		}
	}
	for _, d := range []digest.Digest{b.manifestDesc.Digest, b.configDesc.Digest, base.desc.Digest, b.layers[1].desc.Digest} {
		if !blobs[d.String()] {
			t.Errorf("blob %s of b was collected", d)
		}
	}
	if _, err := sn.Stat(ctx, ra.TopChainID()); err == nil {
		t.Error("a's top layer snapshot stays")
	}
	if _, err := sn.Stat(ctx, ra.ChainIDs[0].String()); err != nil {
		t.Error("the shared base layer snapshot was removed")
	}

	// Remove b by id prefix while a pull holds a lease: the record goes,
	// collection waits for the next GC.
	release, err := store.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, rb.ShortID()); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.List(ctx); len(recs) != 0 {
		t.Errorf("records left: %v", recs)
	}
	if len(blobSet(t, s)) == 0 {
		t.Error("blobs collected while a lease was held")
	}
	release()
	if err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(blobSet(t, s)); n != 0 {
		t.Errorf("%d blobs left after GC", n)
	}
	// b's layers stay while the container uses them; without it they go.
	if _, err := sn.Stat(ctx, rb.TopChainID()); err != nil {
		t.Errorf("layer under a container removed: %v", err)
	}
	if err := sn.Remove(ctx, "container-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if snaps := sn.snapshots(); len(snaps) != 0 {
		t.Errorf("snapshots left: %v", snaps)
	}
	if err := s.Remove(ctx, "img/b:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove of a removed image: %v", err)
	}
}
