package image

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/crypt"
)

// cryptKeys are an RSA key pair for JWE and another private key, as PEM
// files, made once.
var cryptKeys struct {
	once             sync.Once
	dir              string // removed by TestMain
	priv, pub, other string
	err              error
	dec, wrong       *crypt.Decrypter
	rcpt             *crypt.Recipients
}

func testKeys(t testing.TB) (dec, wrong *crypt.Decrypter, rcpt *crypt.Recipients) {
	t.Helper()
	k := &cryptKeys
	k.once.Do(func() {
		dir, err := os.MkdirTemp("", "stockade-image-keys-")
		if err != nil {
			k.err = err
			return
		}
		k.dir = dir
		write := func(name, typ string, der []byte) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil && k.err == nil {
				k.err = err
			}
			return p
		}
		for i, name := range []string{"priv.pem", "other.pem"} {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				k.err = err
				return
			}
			der, _ := x509.MarshalPKCS8PrivateKey(key)
			p := write(name, "PRIVATE KEY", der)
			if i == 0 {
				k.priv = p
				pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
				k.pub = write("pub.pem", "PUBLIC KEY", pub)
			} else {
				k.other = p
			}
		}
		if k.err != nil {
			return
		}
		if k.dec, k.err = crypt.ParseKeys([]string{k.priv}, nil, "", false); k.err != nil {
			return
		}
		if k.wrong, k.err = crypt.ParseKeys([]string{k.other}, nil, "", false); k.err != nil {
			return
		}
		k.rcpt, k.err = crypt.ParseRecipients([]string{"jwe:" + k.pub})
	})
	if k.err != nil {
		t.Fatal(k.err)
	}
	return k.dec, k.wrong, k.rcpt
}

// encryptTestLayer encrypts l, whose descriptor gets media type mt first,
// and gives the encrypted layer media type encMT ("" keeps the one
// crypt gives).
func encryptTestLayer(t testing.TB, l testLayer, mt, encMT string) testLayer {
	t.Helper()
	_, _, rcpt := testKeys(t)
	desc := l.desc
	if mt != "" {
		desc.MediaType = mt
	}
	r, done, err := crypt.EncryptLayer(context.Background(), rcpt, desc, bytes.NewReader(l.blob))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	nd, err := done()
	if err != nil {
		t.Fatal(err)
	}
	if encMT != "" {
		nd.MediaType = encMT
	}
	return testLayer{blob: ct, desc: nd, diffID: l.diffID}
}

// TestPullEncrypted pulls images whose layers crypt encrypted, in every
// media type variant, and checks the files, the record, and that the
// content store holds the ciphertext and no plaintext blob.
func TestPullEncrypted(t *testing.T) {
	dec, _, _ := testKeys(t)
	gz := newLayer(t, Gzip, dir("etc/"), file("etc/secret", "gzip secret"))
	zs := randomLayer(t, Zstd, 3, 4, 64<<10)
	zs2 := newLayer(t, Zstd, file("zstd-secret", "zstd secret"))
	nd := newLayer(t, Gzip, file("nondist", "nondistributable"))
	dk := newLayer(t, Gzip, file("docker", "docker gzip"))
	raw := newLayer(t, Uncompressed, file("alias", "containerd alias"))
	plainTop := newLayer(t, Uncompressed, file("plain", "not encrypted"))
	layers := []testLayer{
		encryptTestLayer(t, gz, "", ""),
		encryptTestLayer(t, zs, "", ""),
		encryptTestLayer(t, zs2, ocispec.MediaTypeImageLayerNonDistributableZstd, ""), //nolint:staticcheck
		encryptTestLayer(t, nd, ocispec.MediaTypeImageLayerNonDistributableGzip, ""),  //nolint:staticcheck
		encryptTestLayer(t, dk, MediaTypeDockerLayerGzip, ""),
		encryptTestLayer(t, raw, "application/vnd.docker.image.rootfs.diff.tar", MediaTypeDockerLayerEncrypted),
		plainTop,
	}
	wantMT := []string{
		ocispec.MediaTypeImageLayerGzip + EncryptedSuffix,
		ocispec.MediaTypeImageLayerZstd + EncryptedSuffix,
		ocispec.MediaTypeImageLayerNonDistributableZstd + EncryptedSuffix, //nolint:staticcheck
		ocispec.MediaTypeImageLayerNonDistributableGzip + EncryptedSuffix, //nolint:staticcheck
		MediaTypeDockerLayerGzip + EncryptedSuffix,
		MediaTypeDockerLayerEncrypted,
		ocispec.MediaTypeImageLayer,
	}
	for i, l := range layers {
		if l.desc.MediaType != wantMT[i] {
			t.Fatalf("layer %d: media type %s, want %s", i, l.desc.MediaType, wantMT[i])
		}
	}
	host := startGGCRRegistry(t)
	newImage(t, linuxAmd64, layers...).push(t, host, "enc", "1")
	s, sn := newTestService(t)
	rec, err := s.Pull(context.Background(), host+"/enc:1", PullOptions{Platform: "linux/amd64", Decrypt: dec.Decrypt})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Encrypted || strings.Join(rec.EncryptionSchemes, ",") != "jwe" {
		t.Errorf("record: encrypted %v, schemes %v", rec.Encrypted, rec.EncryptionSchemes)
	}
	for path, want := range map[string]string{
		"etc/secret": "gzip secret", "zstd-secret": "zstd secret", "nondist": "nondistributable",
		"docker": "docker gzip", "alias": "containerd alias", "plain": "not encrypted",
	} {
		if got, _ := readSnapshotFile(t, sn, rec.TopChainID(), path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	store, err := s.Content(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		f, err := store.Open(context.Background(), l.desc.Digest)
		if err != nil {
			t.Fatalf("layer %d not stored: %v", i, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(b, l.blob) {
			t.Errorf("layer %d: stored blob is not the ciphertext", i)
		}
	}
	// No plaintext blob: not the compressed layers, not the tars.
	for _, l := range []testLayer{gz, zs, zs2, nd, dk, raw} {
		for _, d := range []digest.Digest{l.desc.Digest, l.diffID} {
			if _, err := store.Info(context.Background(), d); err == nil {
				t.Errorf("plaintext blob %s is in the content store", d)
			}
		}
	}
	assertNoTemp(t, s)
}

// TestPullEncryptedRefusals checks that a pull fails with one line naming
// the layer once, and leaves nothing, for each way decryption fails.
func TestPullEncryptedRefusals(t *testing.T) {
	dec, wrong, _ := testKeys(t)
	plain := newLayer(t, Gzip, file("base", "plain base"))
	secret := randomLayer(t, Gzip, 11, 3, 32<<10)
	enc := encryptTestLayer(t, secret, "", "")
	encRaw := encryptTestLayer(t, newLayer(t, Uncompressed, file("big", strings.Repeat("0123456789", 20000))), "", "")

	tamper := func(l testLayer) testLayer {
		b := bytes.Clone(l.blob)
		b[len(b)/2] ^= 0x40
		l.blob = b
		l.desc.Digest = digest.FromBytes(b)
		return l
	}
	corrupt := func(l testLayer) testLayer {
		l.desc.Annotations = map[string]string{}
		for k, v := range enc.desc.Annotations {
			l.desc.Annotations[k] = v
		}
		l.desc.Annotations[crypt.AnnotationKeysPrefix+"jwe"] = "bm90IGEgSldF" // "not a JWE"
		return l
	}
	cases := []struct {
		name    string
		top     testLayer
		decrypt DecryptFunc
		want    string
		is      error
	}{
		{"no keys", enc, nil, "no keys given", ErrEncrypted},
		{"wrong key", enc, wrong.Decrypt, "encrypted for jwe; the only key (from --key) does not open it", crypt.ErrWrongKey},
		{"corrupt wrapped key", corrupt(enc), dec.Decrypt, "wrapped key is corrupt", crypt.ErrCorrupt},
		{"tampered gzip", tamper(enc), dec.Decrypt, "ciphertext fails authentication", crypt.ErrAuthentication},
		{"tampered tar", tamper(encRaw), dec.Decrypt, "ciphertext fails authentication", crypt.ErrAuthentication},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host := startGGCRRegistry(t)
			newImage(t, linuxAmd64, plain, tc.top).push(t, host, "enc", "1")
			s, sn := newTestService(t)
			_, err := s.Pull(context.Background(), host+"/enc:1", PullOptions{Platform: "linux/amd64", Decrypt: tc.decrypt})
			if err == nil {
				t.Fatal("pull succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			d := tc.top.desc.Digest.String()
			if !strings.HasPrefix(msg, "pull "+host+"/enc:1: layer "+d) || strings.Count(msg, d) != 1 {
				t.Errorf("error must name the layer once, after the image: %s", msg)
			}
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error does not say %q on one line: %q", tc.want, msg)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error does not wrap %v", tc.is)
			}
			assertNoLeftovers(t, s, sn, host+"/enc:1", nil, false)
		})
	}
}

// TestPullDecryptedStreamEnd checks that the end of the decrypted stream
// is always read: a DecryptFunc whose stream fails only where it ends (as
// ocicrypt's does when the HMAC does not match) fails the pull, whatever
// the compression.
func TestPullDecryptedStreamEnd(t *testing.T) {
	hmacErr := errors.New("layer X: HMAC mismatch at the very end")
	for _, c := range []Compression{Gzip, Zstd, Uncompressed} {
		t.Run(string(c), func(t *testing.T) {
			l := newLayer(t, c, file("a", strings.Repeat("a", 5000)))
			l.desc.MediaType += EncryptedSuffix
			l.desc.Annotations = map[string]string{crypt.AnnotationKeysPrefix + "jwe": "x"}
			host := startGGCRRegistry(t)
			newImage(t, linuxAmd64, l).push(t, host, "enc", "1")
			s, sn := newTestService(t)
			_, err := s.Pull(context.Background(), host+"/enc:1", PullOptions{Platform: "linux/amd64",
				Decrypt: func(ctx context.Context, d ocispec.Descriptor, r io.Reader) (io.Reader, error) {
					return io.MultiReader(r, errReader{hmacErr}), nil
				}})
			if !errors.Is(err, hmacErr) {
				t.Fatalf("pull: %v, want the stream's error", err)
			}
			assertNoLeftovers(t, s, sn, host+"/enc:1", nil, false)
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestPushEncrypted pushes a plain image encrypted (all layers, then only
// the top one) and pulls it back with the key.
func TestPushEncrypted(t *testing.T) {
	ctx := context.Background()
	dec, _, rcpt := testKeys(t)
	host := startGGCRRegistry(t)
	newImage(t, linuxAmd64,
		newLayer(t, Gzip, dir("etc/"), file("etc/os", "stockade")),
		newLayer(t, Uncompressed, file("two", "2")),
		randomLayer(t, Zstd, 5, 2, 50<<10),
	).push(t, host, "src", "1")
	s, _ := newTestService(t)
	rec, err := s.Pull(ctx, host+"/src:1", PullOptions{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		compression string
		layers      []int
		want        []string
	}{
		{"all zstd", "zstd", nil, []string{"tar+zstd+encrypted", "tar+zstd+encrypted", "tar+zstd+encrypted"}},
		{"top only", "", []int{-1}, []string{"tar+gzip", "v1.tar", "tar+zstd+encrypted"}},
		{"base and top gzip", "gzip", []int{0, 2}, []string{"tar+gzip+encrypted", "tar+gzip", "tar+gzip+encrypted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := host + "/pushed:" + strings.ReplaceAll(tc.name, " ", "-")
			if err := s.Push(ctx, rec.Name, dest, PushOptions{Compression: tc.compression, Encrypt: rcpt.Encrypt, EncryptLayers: tc.layers}); err != nil {
				t.Fatal(err)
			}
			assertNoTemp(t, s)
			s2, sn2 := newTestService(t)
			if _, err := s2.Pull(ctx, dest, PullOptions{Platform: "linux/amd64"}); !errors.Is(err, ErrEncrypted) {
				t.Errorf("pull without keys: %v", err)
			}
			back, err := s2.Pull(ctx, dest, PullOptions{Platform: "linux/amd64", Decrypt: dec.Decrypt})
			if err != nil {
				t.Fatal(err)
			}
			if back.ID != rec.ID || back.TopChainID() != rec.TopChainID() {
				t.Errorf("pulled back id %s chain %s, want %s %s", back.ID, back.TopChainID(), rec.ID, rec.TopChainID())
			}
			if back.Target.MediaType != ocispec.MediaTypeImageManifest {
				t.Errorf("manifest media type %s", back.Target.MediaType)
			}
			for i, l := range back.Layers {
				if !strings.HasSuffix(l.MediaType, tc.want[i]) {
					t.Errorf("layer %d: media type %s, want ...%s", i, l.MediaType, tc.want[i])
				}
			}
			if got, _ := readSnapshotFile(t, sn2, back.TopChainID(), "etc/os"); got != "stockade" {
				t.Errorf("etc/os = %q", got)
			}
		})
	}
	// An encrypted layer is not encrypted again.
	s2, _ := newTestService(t)
	encRec, err := s2.Pull(ctx, host+"/pushed:top-only", PullOptions{Platform: "linux/amd64", Decrypt: dec.Decrypt})
	if err != nil {
		t.Fatal(err)
	}
	err = s2.Push(ctx, encRec.Name, host+"/again:1", PushOptions{Encrypt: rcpt.Encrypt})
	if err == nil || !strings.Contains(err.Error(), "layer "+encRec.Layers[2].Digest.String()+": encrypted already") {
		t.Errorf("re-encryption: %v", err)
	}
	err = s2.Push(ctx, encRec.Name, host+"/again:1", PushOptions{Encrypt: rcpt.Encrypt, EncryptLayers: []int{3}})
	if err == nil || !strings.Contains(err.Error(), "there is no layer 3: the image has 3 layers") {
		t.Errorf("--layer 3: %v", err)
	}
	// Without --encrypt it is pushed as it is, still encrypted.
	if err := s2.Push(ctx, encRec.Name, host+"/again:1", PushOptions{}); err != nil {
		t.Fatal(err)
	}
	assertNoTemp(t, s2)
}

// TestEncryptDecryptImage encrypts and decrypts images in the local store
// and checks that nothing is unpacked again.
func TestEncryptDecryptImage(t *testing.T) {
	ctx := context.Background()
	dec, wrong, rcpt := testKeys(t)
	host := startGGCRRegistry(t)
	newImage(t, linuxAmd64,
		newLayer(t, Gzip, dir("etc/"), file("etc/os", "stockade")),
		newLayer(t, Zstd, file("two", "2")),
	).push(t, host, "src", "1")
	s, sn := newTestService(t)
	src, err := s.Pull(ctx, host+"/src:1", PullOptions{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	before := sn.snapshots()

	enc, err := s.EncryptImage(ctx, src.Name, "local/enc:1", rcpt.Encrypt, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	if !enc.Encrypted || enc.Layers[0].Digest != src.Layers[0].Digest || !strings.HasSuffix(enc.Layers[1].MediaType, "tar+zstd+encrypted") {
		t.Errorf("encrypted record: %+v", enc.Layers)
	}
	if _, err := s.DecryptImage(ctx, "local/enc:1", "local/dec:1", wrong.Decrypt); err == nil ||
		!strings.Contains(err.Error(), "decrypt local/enc:1: layer "+enc.Layers[1].Digest.String()+": encrypted for jwe; the only key") {
		t.Errorf("decrypt with the wrong key: %v", err)
	}
	if _, err := s.Get(ctx, "local/dec:1"); err == nil {
		t.Error("a failed decrypt recorded its image")
	}
	decRec, err := s.DecryptImage(ctx, "local/enc:1", "local/dec:1", dec.Decrypt)
	if err != nil {
		t.Fatal(err)
	}
	if decRec.Encrypted {
		t.Error("decrypted image is still encrypted")
	}
	for i := range src.Layers {
		if decRec.Layers[i].Digest != src.Layers[i].Digest {
			t.Errorf("layer %d: decrypted blob %s, want the original %s", i, decRec.Layers[i].Digest, src.Layers[i].Digest)
		}
	}
	for _, r := range []*Record{enc, decRec} {
		if r.ID != src.ID || r.TopChainID() != src.TopChainID() {
			t.Errorf("%s: id %s chain %s, want %s %s", r.Name, r.ID, r.TopChainID(), src.ID, src.TopChainID())
		}
	}
	if after := sn.snapshots(); len(after) != len(before) {
		t.Errorf("snapshots %v, before %v: something was unpacked again", after, before)
	}
	if _, err := s.DecryptImage(ctx, "local/dec:1", "local/x:1", dec.Decrypt); err == nil || !strings.Contains(err.Error(), "no encrypted layer") {
		t.Errorf("decrypt of a plain image: %v", err)
	}
	if _, err := s.EncryptImage(ctx, "local/enc:1", "local/x:1", rcpt.Encrypt, nil); err == nil || !strings.Contains(err.Error(), "encrypted already") {
		t.Errorf("encrypt of an encrypted layer: %v", err)
	}
	assertNoTemp(t, s)

	// The store reads as an OCI layout: the manifests are what the
	// records say.
	store, _ := s.Content(ctx)
	data, err := store.ReadAll(ctx, enc.Target, maxManifestSize)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil || len(m.Layers) != 2 || m.Layers[1].Digest != enc.Layers[1].Digest {
		t.Errorf("manifest of local/enc:1: %v %s", err, data)
	}

	// Removing the source keeps what the copies use; the encrypted copy
	// pushes and pulls back.
	if err := s.Remove(ctx, src.Name); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(ctx, "local/enc:1", host+"/enc:1", PushOptions{}); err != nil {
		t.Fatal(err)
	}
	s2, sn2 := newTestService(t)
	back, err := s2.Pull(ctx, host+"/enc:1", PullOptions{Platform: "linux/amd64", Decrypt: dec.Decrypt})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := readSnapshotFile(t, sn2, back.TopChainID(), "two"); got != "2" {
		t.Errorf("two = %q", got)
	}
}

func TestSelectLayers(t *testing.T) {
	for _, tc := range []struct {
		n    int
		idx  []int
		want string
	}{
		{3, nil, "111"},
		{3, []int{0}, "100"},
		{3, []int{-1}, "001"},
		{3, []int{-3, 1}, "110"},
	} {
		sel, err := selectLayers(tc.n, tc.idx, true)
		got := ""
		for _, b := range sel {
			got += map[bool]string{true: "1", false: "0"}[b]
		}
		if err != nil || got != tc.want {
			t.Errorf("%d %v: %s %v, want %s", tc.n, tc.idx, got, err, tc.want)
		}
	}
	for _, idx := range []int{3, -4} {
		if _, err := selectLayers(3, []int{idx}, true); err == nil {
			t.Errorf("layer %d of 3 accepted", idx)
		}
	}
	if _, err := selectLayers(3, []int{0}, false); err == nil {
		t.Error("layers without encryption accepted")
	}
}

func TestOCIMediaType(t *testing.T) {
	for in, want := range map[string]string{
		MediaTypeDockerLayerGzip:                        ocispec.MediaTypeImageLayerGzip,
		MediaTypeDockerLayerGzip + EncryptedSuffix:      ocispec.MediaTypeImageLayerGzip + EncryptedSuffix,
		MediaTypeDockerLayerEncrypted:                   ocispec.MediaTypeImageLayer + EncryptedSuffix,
		"application/vnd.docker.image.rootfs.diff.tar":  ocispec.MediaTypeImageLayer,
		ocispec.MediaTypeImageLayerZstd:                 ocispec.MediaTypeImageLayerZstd,
		MediaTypeDockerForeignGzip:                      ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck
		ocispec.MediaTypeImageLayerZstd + "+encrypted":  ocispec.MediaTypeImageLayerZstd + "+encrypted",
		ocispec.MediaTypeImageLayerNonDistributableZstd: ocispec.MediaTypeImageLayerNonDistributableZstd, //nolint:staticcheck
	} {
		if got := ociMediaType(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		ocispec.MediaTypeImageLayerZstd + EncryptedSuffix: ocispec.MediaTypeImageLayerZstd,
		MediaTypeDockerLayerEncrypted:                     "application/vnd.docker.image.rootfs.diff.tar",
	} {
		if got, err := DecryptedMediaType(in); got != want || err != nil {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{ocispec.MediaTypeImageLayerZstd, "application/x-foo+encrypted"} {
		if _, err := DecryptedMediaType(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if c, enc, err := LayerMediaType(MediaTypeDockerLayerEncrypted); c != Uncompressed || !enc || err != nil {
		t.Errorf("alias: %s %v %v", c, enc, err)
	}
}
