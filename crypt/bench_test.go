package crypt

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// benchLayer is a zstd layer of about 64 MB (64 MiB of random bytes and
// 32 MiB of text, compressed), plain and encrypted for an RSA key.
var benchLayer struct {
	plain, enc []byte
	desc       ocispec.Descriptor
}

func setupBench(b *testing.B) {
	b.Helper()
	if benchLayer.plain != nil {
		return
	}
	rng := rand.NewChaCha8([32]byte{1})
	raw := make([]byte, 96<<20)
	rng.Read(raw[:64<<20])
	text := []byte("stockade decrypts OCI-crypt layers while they stream; ")
	for i := 64 << 20; i < len(raw); i += len(text) {
		copy(raw[i:], text)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(2))
	if err != nil {
		b.Fatal(err)
	}
	plain := enc.EncodeAll(raw, nil)
	enc.Close()
	l := testLayer{blob: plain, desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerZstd,
		Digest: digest.FromBytes(plain), Size: int64(len(plain))}}
	benchLayer.enc, benchLayer.desc = encryptHere(b, l, "jwe:"+fx.rsaPub)
	benchLayer.plain = plain
}

// BenchmarkDecrypt measures decrypting a 64 MB zstd layer against reading
// it plain, with and without decompressing it (MB/s of the layer blob).
func BenchmarkDecrypt(b *testing.B) {
	setupBench(b)
	d := mustKeys(b, []string{fx.rsaPKCS8}, nil, "", false)
	d.StrictDigest = true
	ctx := context.Background()
	open := map[string]func() (io.Reader, error){
		"plain": func() (io.Reader, error) { return struct{ io.Reader }{bytes.NewReader(benchLayer.plain)}, nil },
		"decrypt": func() (io.Reader, error) {
			return d.Decrypt(ctx, benchLayer.desc, bytes.NewReader(benchLayer.enc))
		},
	}
	for _, unzstd := range []bool{false, true} {
		for _, name := range []string{"plain", "decrypt"} {
			label := "read/" + name
			if unzstd {
				label = "unzstd/" + name
			}
			b.Run(label, func(b *testing.B) {
				b.SetBytes(int64(len(benchLayer.plain)))
				buf := make([]byte, 256<<10)
				for b.Loop() {
					r, err := open[name]()
					if err != nil {
						b.Fatal(err)
					}
					if unzstd {
						zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
						if err != nil {
							b.Fatal(err)
						}
						_, err = io.CopyBuffer(io.Discard, zr, buf)
						zr.Close()
						if err != nil {
							b.Fatal(err)
						}
						continue
					}
					if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
