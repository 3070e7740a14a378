package local

import (
	"context"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestStoreConfig: an image's config is read from the content store under
// the data root; a missing blob is an error naming the image; the lease
// is the content store's.
func TestStoreConfig(t *testing.T) {
	ctx := context.Background()
	s := Store{DataRoot: t.TempDir()}
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":[]}}`)
	id := digest.FromBytes(cfg)
	img := &Record{Name: "example.test/x:1", ID: id}
	if _, err := s.Config(ctx, img); err == nil || !strings.Contains(err.Error(), img.Name) {
		t.Fatalf("config of a missing blob: %v, want an error naming %s", err, img.Name)
	}
	store, err := s.Content(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: id, Size: int64(len(cfg))}, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := s.Config(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if got.OS != "linux" || len(got.Config.Cmd) != 1 || got.Config.Cmd[0] != "/bin/true" {
		t.Errorf("config = %+v", got)
	}
	release, err := s.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if _, err := (Store{}).Content(ctx); err == nil {
		t.Error("a store without a data root opened")
	}
}

func TestChainIDs(t *testing.T) {
	a, b := digest.FromString("a"), digest.FromString("b")
	got := ChainIDs([]digest.Digest{a, b})
	if len(got) != 2 || got[0] != a || got[1] == b || !strings.HasPrefix(got[1].String(), "sha256:") {
		t.Errorf("ChainIDs = %v", got)
	}
	r := &Record{ChainIDs: got, ID: a}
	if r.TopChainID() != got[1].String() || len(r.ShortID()) != 12 {
		t.Errorf("TopChainID %q ShortID %q", r.TopChainID(), r.ShortID())
	}
}
