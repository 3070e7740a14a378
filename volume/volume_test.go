package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/metadata"
)

func TestRequest(t *testing.T) {
	binds, ext, err := Request(
		[]string{"/host:/data", "cache:/cache:ro", "/anon", "./rel:/rel"},
		[]string{"/tmp"},
		[]string{"/data", "/tmp", "/var/lib/db", "/cache"},
	)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(binds, []string{"/host:/data", "./rel:/rel"}) {
		t.Errorf("binds = %q", binds)
	}
	var got []string
	for _, m := range ext.Mounts {
		name := m.Name
		if m.Anonymous {
			if len(name) != 64 {
				t.Errorf("anonymous name %q", name)
			}
			name = "ANON"
		}
		got = append(got, name+":"+m.Destination+map[bool]string{true: ":ro"}[m.ReadOnly])
	}
	want := []string{"cache:/cache:ro", "ANON:/anon", "ANON:/var/lib/db"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts = %q, want %q", got, want)
	}
	if _, ext, _ := Request([]string{"/a:/b"}, nil, nil); ext != nil {
		t.Errorf("binds only: ext = %+v, want nil", ext)
	}
	for _, bad := range []struct{ v, want string }{
		{"-bad:/x", `-v "-bad:/x": volume name "-bad"`},
		{"v:rel", `-v "v:rel": destination: "rel" is not an absolute path`},
		{"v:/x:rx", `-v "v:/x:rx": unknown mode "rx"`},
		{"v:/", `-v "v:/": destination: cannot mount over /`},
		{"a:/x:ro:z", `too many fields`},
		{"rel", `want NAME:DST`},
	} {
		_, _, err := Request([]string{bad.v}, nil, nil)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Request(%q) = %v, want an error with %q", bad.v, err, bad.want)
		}
	}
	if _, _, err := Request([]string{"/h:/x", "v:/x"}, nil, nil); err == nil || !strings.Contains(err.Error(), "duplicate mount point /x") {
		t.Errorf("named volume over a bind: %v", err)
	}
}

func newStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	db, err := metadata.Open(context.Background(), filepath.Join(dir, metadata.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return &Store{DB: db, Driver: &Dir{Root: filepath.Join(dir, "volumes")}}
}

// putContainer stores a container record mounting the named volumes.
func putContainer(t *testing.T, s *Store, id, name string, vols ...string) *engine.Container {
	t.Helper()
	c := &engine.Container{ID: id, Name: name}
	ext := Extension{}
	for _, v := range vols {
		ext.Mounts = append(ext.Mounts, Mount{Name: v, Destination: "/" + v})
	}
	if err := c.SetExtension(HookName, ext); err != nil {
		t.Fatal(err)
	}
	err := s.DB.Update(context.Background(), func(tx *bolt.Tx) error {
		return metadata.PutJSON(tx, metadata.BucketContainers, id, c)
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	v, err := s.Create(ctx, "data", CreateOptions{Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Mountpoint != filepath.Join(s.Driver.(*Dir).Root, "data", "_data") || v.Driver != "local" {
		t.Errorf("volume = %+v", v)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
		t.Fatalf("mountpoint: %v", err)
	}
	if _, err := s.Create(ctx, "data", CreateOptions{}); !errors.Is(err, ErrExists) {
		t.Errorf("second create: %v", err)
	}
	if _, err := s.Create(ctx, "sized", CreateOptions{Options: map[string]string{"size": "1G"}}); err == nil || !strings.Contains(err.Error(), "--opt size=1G: needs the zfs volume driver") {
		t.Errorf("size on the local driver: %v", err)
	}
	if _, err := s.Create(ctx, "x", CreateOptions{Options: map[string]string{"colour": "red"}}); err == nil || !strings.Contains(err.Error(), "--opt colour=red: unknown option") {
		t.Errorf("unknown option: %v", err)
	}
	if _, err := s.Get(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused create left a record: %v", err)
	}
	if _, made, err := s.Ensure(ctx, "data", CreateOptions{}); made || err != nil {
		t.Errorf("Ensure of an existing volume: made %v, %v", made, err)
	}
	if v2, made, err := s.Ensure(ctx, "new", CreateOptions{}); !made || err != nil || v2.Name != "new" {
		t.Errorf("Ensure of a new volume: %+v, made %v, %v", v2, made, err)
	}
	os.WriteFile(filepath.Join(v.Mountpoint, "kept"), []byte("x"), 0o644)
	putContainer(t, s, "c1", "web", "data")
	putContainer(t, s, "c2", "db", "data")
	err = s.Remove(ctx, "data", "")
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "volume data: volume is in use by db, web") {
		t.Errorf("remove in use: %v", err)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "kept")); err != nil {
		t.Errorf("a refused remove touched the files: %v", err)
	}
	removed, err := s.Prune(ctx)
	if err != nil || !reflect.DeepEqual(removed, []string{"new"}) {
		t.Errorf("prune = %q, %v; want [new]", removed, err)
	}
	if err := s.Remove(ctx, "data", "c1"); !errors.Is(err, ErrInUse) {
		t.Errorf("remove except c1, still used by c2: %v", err)
	}
	s.DB.Update(ctx, func(tx *bolt.Tx) error {
		metadata.Delete(tx, metadata.BucketContainers, "c1")
		return metadata.Delete(tx, metadata.BucketContainers, "c2")
	})
	if err := s.Remove(ctx, "data", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(v.Mountpoint)); !os.IsNotExist(err) {
		t.Errorf("volume directory left: %v", err)
	}
	if err := s.Remove(ctx, "data", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove twice: %v", err)
	}
}

func TestManagerLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	m := &Manager{Store: s, GOOS: "linux"}
	rootfs := t.TempDir()
	// The image's content at /var/lib/db: a file, a link, an owned subdirectory.
	os.MkdirAll(filepath.Join(rootfs, "var/lib/db/sub"), 0o750)
	os.WriteFile(filepath.Join(rootfs, "var/lib/db/conf"), []byte("image content"), 0o640)
	os.Symlink("/etc/passwd", filepath.Join(rootfs, "var/lib/db/link"))
	os.Chown(filepath.Join(rootfs, "var/lib/db/sub"), 1234, 2345)
	os.Chmod(filepath.Join(rootfs, "var/lib/db"), 0o711)

	_, ext, err := Request([]string{"shared:/shared"}, nil, []string{"/var/lib/db"})
	if err != nil {
		t.Fatal(err)
	}
	c := putContainer(t, s, "c1", "app")
	c.SetExtension(HookName, ext)
	spec := &specs.Spec{Root: &specs.Root{Path: rootfs}, Mounts: []specs.Mount{{Destination: "/proc", Type: "proc"}}}
	if err := m.Create(ctx, c, spec); err != nil {
		t.Fatal(err)
	}
	var got Extension
	c.Extension(HookName, &got)
	if len(got.Mounts) != 2 || got.Mounts[0].Source == "" || got.Rootfs != rootfs || len(got.Made) != 2 {
		t.Fatalf("extension after Create = %+v", got)
	}
	dests := []string{}
	for _, sm := range spec.Mounts {
		dests = append(dests, sm.Destination+" "+sm.Type+" "+sm.Source)
	}
	want := []string{"/proc proc ", "/shared bind " + got.Mounts[0].Source, "/var/lib/db bind " + got.Mounts[1].Source}
	if !reflect.DeepEqual(dests, want) {
		t.Errorf("spec mounts = %q, want %q", dests, want)
	}
	// The engine stores the record after every hook's Create.
	s.DB.Update(ctx, func(tx *bolt.Tx) error { return metadata.PutJSON(tx, metadata.BucketContainers, c.ID, c) })

	if err := m.Prestart(ctx, c); err != nil {
		t.Fatal(err)
	}
	db := got.Mounts[1].Source
	if b, err := os.ReadFile(filepath.Join(db, "conf")); string(b) != "image content" {
		t.Errorf("copy-up: conf = %q, %v", b, err)
	}
	if l, _ := os.Readlink(filepath.Join(db, "link")); l != "/etc/passwd" {
		t.Errorf("copy-up: link -> %q", l)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(db, "sub"), &st); err != nil || st.Uid != 1234 || st.Gid != 2345 || st.Mode&0o7777 != 0o750 {
		t.Errorf("copy-up: sub uid %d gid %d mode %o, %v", st.Uid, st.Gid, st.Mode&0o7777, err)
	}
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o711 {
		t.Errorf("copy-up: the volume's own mode %v, %v; want 0711", fi.Mode(), err)
	}
	// A second container's first start does not fill a volume with files.
	os.WriteFile(filepath.Join(db, "conf"), []byte("changed"), 0o640)
	if err := m.Prestart(ctx, c); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(db, "conf")); string(b) != "changed" {
		t.Errorf("a volume with files was filled again: %q", b)
	}

	// rm without -v keeps both; --rm (AutoRemove) removes the anonymous one only.
	if err := m.Remove(ctx, c); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.List(ctx); len(all) != 2 {
		t.Errorf("rm without -v removed volumes: %d left", len(all))
	}
	c.AutoRemove = true
	if err := m.Remove(ctx, c); err != nil {
		t.Fatal(err)
	}
	all, _ := s.List(ctx)
	if len(all) != 1 || all[0].Name != "shared" {
		t.Errorf("after --rm's remove: %+v", all)
	}
}

// A create that fails leaves none of the volumes it made.
func TestManagerCreateFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	m := &Manager{Store: s, GOOS: "linux"}
	if _, err := s.Create(ctx, "busy", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// "busy" is being removed: the create fails after making "fresh".
	s.DB.Update(ctx, func(tx *bolt.Tx) error {
		return metadata.PutJSON(tx, metadata.BucketVolumes, "busy", &Volume{Name: "busy", Removing: true})
	})
	_, ext, _ := Request([]string{"fresh:/a", "busy:/b"}, nil, nil)
	c := putContainer(t, s, "c1", "app")
	c.SetExtension(HookName, ext)
	err := m.Create(ctx, c, &specs.Spec{Root: &specs.Root{Path: "/r"}})
	if err == nil || !strings.Contains(err.Error(), "volume busy: being removed") {
		t.Fatalf("Create = %v", err)
	}
	if _, err := s.Get(ctx, "fresh"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the failed create left volume fresh: %v", err)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	m := &Manager{Store: s}
	v, err := s.Create(ctx, "ok", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	half, err := s.Create(ctx, "half", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of rm of "half" (an hour old), and a create
	// of "new" in progress.
	half.Removing, half.CreatedAt = true, half.CreatedAt.Add(-time.Hour)
	s.DB.Update(ctx, func(tx *bolt.Tx) error {
		metadata.PutJSON(tx, metadata.BucketVolumes, "half", half)
		return metadata.PutJSON(tx, metadata.BucketVolumes, "new", &Volume{Name: "new", Removing: true, CreatedAt: time.Now()})
	})
	probs, err := m.Check(ctx, nil, false)
	if err != nil || len(probs) != 1 || probs[0].What != "volume half" || probs[0].Repaired {
		t.Fatalf("Check = %+v, %v", probs, err)
	}
	if _, err := os.Stat(half.Mountpoint); err != nil {
		t.Errorf("Check without repair removed files: %v", err)
	}
	probs, err = m.Check(ctx, nil, true)
	if err != nil || len(probs) != 1 || !probs[0].Repaired {
		t.Fatalf("Check(repair) = %+v, %v", probs, err)
	}
	if _, err := os.Stat(filepath.Dir(half.Mountpoint)); !os.IsNotExist(err) {
		t.Errorf("repair left the directory: %v", err)
	}
	all, _ := s.List(ctx)
	if len(all) != 2 || all[0].Name != "new" || all[1].Name != v.Name {
		t.Errorf("after repair: %+v", all)
	}
}

func TestSpecMount(t *testing.T) {
	for _, tc := range []struct {
		goos string
		ro   bool
		want specs.Mount
	}{
		{"linux", false, specs.Mount{Destination: "/d", Type: "bind", Source: "/v", Options: []string{"rbind", "rprivate"}}},
		{"linux", true, specs.Mount{Destination: "/d", Type: "bind", Source: "/v", Options: []string{"rbind", "rprivate", "ro"}}},
		{"freebsd", false, specs.Mount{Destination: "/d", Type: "nullfs", Source: "/v"}},
		{"freebsd", true, specs.Mount{Destination: "/d", Type: "nullfs", Source: "/v", Options: []string{"ro"}}},
	} {
		m := &Manager{GOOS: tc.goos}
		if got := m.specMount(&Mount{Destination: "/d", Source: "/v", ReadOnly: tc.ro}); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s ro=%v: %+v, want %+v", tc.goos, tc.ro, got, tc.want)
		}
	}
}
