package image

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/internal/testenv"
)

// skopeoInspect runs `skopeo inspect` on a plain-HTTP registry image.
func skopeoInspect(t *testing.T, args ...string) []byte {
	t.Helper()
	skopeo := testenv.RequireCommand(t, "skopeo")
	out, err := exec.Command(skopeo, append([]string{"inspect"}, args...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("skopeo inspect %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return out
}

func TestPush(t *testing.T) {
	for _, reg := range registries() {
		t.Run(reg.name, func(t *testing.T) {
			ctx := context.Background()
			host := reg.start(t)
			src := newImage(t, linuxAmd64,
				newLayer(t, Gzip, dir("etc/"), file("etc/os", "stockade")),
				newLayer(t, Zstd, file("two", "2")),
				newLayer(t, Uncompressed, file("three", "3")),
			)
			src.push(t, host, "src/img", "1")
			s, _ := newTestService(t)
			rec, err := s.Pull(ctx, host+"/src/img:1", PullOptions{Platform: "linux/amd64"})
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				compression string
				want        string // media type of every layer; "" = unchanged
			}{
				{"", ""},
				{"zstd", ocispec.MediaTypeImageLayerZstd},
				{"gzip", ocispec.MediaTypeImageLayerGzip},
			} {
				t.Run("compression="+tc.compression, func(t *testing.T) {
					dest := host + "/pushed/" + map[string]string{"": "same", "zstd": "zstd", "gzip": "gzip"}[tc.compression] + ":v1"
					if err := s.Push(ctx, rec.Name, dest, PushOptions{Compression: tc.compression}); err != nil {
						t.Fatal(err)
					}
					var m ocispec.Manifest
					if err := json.Unmarshal(skopeoInspect(t, "--raw", "--tls-verify=false", "docker://"+dest), &m); err != nil {
						t.Fatal(err)
					}
					if m.Config.Digest != rec.ID {
						t.Errorf("config %s, want %s (diff_ids unchanged)", m.Config.Digest, rec.ID)
					}
					for i, l := range m.Layers {
						switch {
						case tc.want == "" && l.Digest != rec.Layers[i].Digest:
							t.Errorf("layer %d digest changed without recompression", i)
						case tc.want != "" && l.MediaType != tc.want:
							t.Errorf("layer %d media type %s, want %s", i, l.MediaType, tc.want)
						case tc.want != "" && rec.Layers[i].MediaType != tc.want && l.Digest == rec.Layers[i].Digest:
							t.Errorf("layer %d was not recompressed", i)
						}
					}
					var info struct{ Os, Architecture string }
					if err := json.Unmarshal(skopeoInspect(t, "--tls-verify=false", "docker://"+dest), &info); err != nil {
						t.Fatal(err)
					}
					if info.Os != "linux" || info.Architecture != "amd64" {
						t.Errorf("skopeo sees %+v", info)
					}
					// Pull it back into a fresh store: same diff_ids and files.
					s2, sn2 := newTestService(t)
					back, err := s2.Pull(ctx, dest, PullOptions{Platform: "linux/amd64"})
					if err != nil {
						t.Fatal(err)
					}
					if back.ID != rec.ID || back.TopChainID() != rec.TopChainID() {
						t.Errorf("pulled back id %s chain %s, want %s %s", back.ID, back.TopChainID(), rec.ID, rec.TopChainID())
					}
					if got, _ := readSnapshotFile(t, sn2, back.TopChainID(), "etc/os"); got != "stockade" {
						t.Errorf("etc/os = %q", got)
					}
					assertNoTemp(t, s)
				})
			}
		})
	}
}

func TestPushErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t)
	if err := s.Push(ctx, "nothing:here", "", PushOptions{}); err == nil {
		t.Error("push of an unknown image succeeded")
	}
	host := startGGCRRegistry(t)
	newImage(t, linuxAmd64, newLayer(t, Gzip, file("a", "1"))).push(t, host, "x", "1")
	if _, err := s.Pull(ctx, host+"/x:1", PullOptions{Platform: "linux/amd64"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(ctx, host+"/x:1", "", PushOptions{Compression: "lz4"}); err == nil {
		t.Error("push with compression lz4 succeeded")
	}
}
