package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	volImgOnce   sync.Once
	volImgLayout string
	volImgErr    error
)

// volumeImage pushes a busybox image whose config declares VOLUME
// /var/lib/app, where the image holds conf (0640, owned 1234:2345) and a
// subdirectory, to reg.
func volumeImage(t *testing.T, reg *registry) string {
	t.Helper()
	need(t, "umoci", "skopeo", "runc")
	volImgOnce.Do(func() {
		bb, err := os.ReadFile("/bin/busybox")
		if err != nil {
			volImgErr = err
			return
		}
		volImgLayout, volImgErr = sharedLayout("vol-", func(rootfs string) error {
			for _, d := range []string{"bin", "etc", "tmp", "var/lib/app/sub"} {
				os.MkdirAll(filepath.Join(rootfs, d), 0o755)
			}
			if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
				return err
			}
			for _, name := range []string{"sh", "sleep", "cat", "true"} {
				os.Symlink("busybox", filepath.Join(rootfs, "bin", name))
			}
			os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/:/bin/sh\n"), 0o644)
			conf := filepath.Join(rootfs, "var/lib/app/conf")
			if err := os.WriteFile(conf, []byte("from the image\n"), 0o640); err != nil {
				return err
			}
			os.Chmod(filepath.Join(rootfs, "var/lib/app"), 0o750)
			return os.Chown(conf, 1234, 2345)
		}, "--config.cmd", "sh", "--config.env", "PATH=/bin", "--config.volume", "/var/lib/app")
	})
	if volImgErr != nil {
		t.Fatal(volImgErr)
	}
	ref := reg.addr + "/e2e/volimg:1"
	pushLayout(t, volImgLayout, ref, "")
	return ref
}

type volumeJSON struct {
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Mountpoint string            `json:"mountpoint"`
	Labels     map[string]string `json:"labels"`
	Anonymous  bool              `json:"anonymous"`
	Containers []string          `json:"containers"`
}

func (e *env) volumes() []volumeJSON {
	e.t.Helper()
	var out []volumeJSON
	r := e.must("volume", "ls", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		e.t.Fatalf("volume ls json: %v: %s", err, r.stdout)
	}
	return out
}

func TestNamedVolumes(t *testing.T) {
	reg := startRegistry(t)
	ref := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", ref)

	if r := e.must("volume", "create", "--label", "team=db", "data"); strings.TrimSpace(r.stdout) != "data" {
		t.Errorf("volume create printed %q", r.stdout)
	}
	e.must("run", "--rm", "--network", "none", "-v", "data:/data", ref, "sh", "-c", "echo kept > /data/f")
	// A second container sees what the first wrote.
	if r := e.must("run", "--rm", "--network", "none", "-v", "data:/mnt:ro", ref, "cat", "/mnt/f"); r.stdout != "kept\n" {
		t.Errorf("second container read %q", r.stdout)
	}
	if r := e.run("run", "--rm", "--network", "none", "-v", "data:/mnt:ro", ref, "sh", "-c", "echo x > /mnt/g"); r.code == 0 {
		t.Errorf("a write through :ro worked: %s", r)
	}
	// -v NAME:/path makes the volume on first use.
	e.must("run", "--rm", "--network", "none", "-v", "auto:/x", ref, "true")

	vols := e.volumes()
	if len(vols) != 2 || vols[0].Name != "auto" || vols[1].Name != "data" || vols[1].Labels["team"] != "db" || vols[1].Driver != "local" {
		t.Fatalf("volumes = %+v", vols)
	}
	if got := readFile(t, filepath.Join(vols[1].Mountpoint, "f")); got != "kept\n" {
		t.Errorf("the volume's file on the host: %q", got)
	}

	// In use: refused, naming the container; the files stay.
	e.must("run", "-d", "--name", "holder", "--network", "none", "-v", "data:/data", "-v", "auto:/ro:ro", ref, "sleep", "300")
	// cp reaches the volume under its mount point, both ways.
	in := filepath.Join(t.TempDir(), "in")
	os.WriteFile(in, []byte("copied in"), 0o644)
	e.must("cp", in, "holder:/data/")
	if got := readFile(t, filepath.Join(vols[1].Mountpoint, "in")); got != "copied in" {
		t.Errorf("cp into a volume: the volume holds %q", got)
	}
	e.must("cp", "holder:/data/f", in)
	if got := readFile(t, in); got != "kept\n" {
		t.Errorf("cp out of a volume: %q", got)
	}
	if r := e.run("cp", in, "holder:/ro/x"); r.code == 0 || !strings.Contains(r.stderr, "holder:/ro/x: on a volume mounted read-only") {
		t.Errorf("cp into a read-only volume: %s", r)
	}
	// system df counts the volumes: data holds f and "in", used by holder.
	var df struct {
		Summary []struct {
			Type              string
			Total, Active     int
			Size, Reclaimable int64
		} `json:"summary"`
		Volumes []struct {
			Name       string
			Size       int64
			Containers int
		} `json:"volumes"`
	}
	if err := json.Unmarshal([]byte(e.must("system", "df", "--format", "json").stdout), &df); err != nil {
		t.Fatal(err)
	}
	var dataRow bool
	for _, v := range df.Volumes {
		if v.Name == "data" {
			dataRow = v.Size >= int64(len("kept\n")+len("copied in")) && v.Containers == 1
		}
	}
	if len(df.Summary) != 3 || df.Summary[2].Type != "Local Volumes" || df.Summary[2].Total != 2 || df.Summary[2].Active != 2 || !dataRow {
		t.Errorf("system df of the volumes: %+v", df)
	}
	r := e.run("volume", "rm", "data")
	if r.code == 0 || !strings.Contains(r.stderr, "volume data: volume is in use by holder") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("volume rm of a volume in use: %s", r)
	}
	if got := e.volumes(); len(got) != 2 || len(got[1].Containers) != 1 || got[1].Containers[0] != "holder" {
		t.Errorf("after a refused rm: %+v", got)
	}
	// A stopped container still uses it.
	e.must("stop", "-t", "0", "holder")
	if r := e.run("volume", "rm", "data"); r.code == 0 {
		t.Errorf("volume rm of a volume a stopped container uses: %s", r)
	}
	e.must("volume", "create", "unused")
	if r := e.must("volume", "prune", "-f"); r.stdout != "removed volume unused\n" {
		t.Errorf("prune: %s", r)
	}
	e.must("rm", "holder")
	e.must("volume", "rm", "data", "auto")
	if _, err := os.Stat(vols[1].Mountpoint); !os.IsNotExist(err) {
		t.Errorf("the volume's directory after rm: %v", err)
	}
	if r := e.must("volume", "ls", "-q"); r.stdout != "" {
		t.Errorf("volumes left: %q", r.stdout)
	}

	// Bad input: one line naming it, nothing made.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"volume", "create", "--opt", "colour=red", "v1"}, "--opt colour=red: unknown option"},
		{[]string{"volume", "create", "--opt", "size=1G", "v2"}, "--opt size=1G: needs the zfs volume driver"},
		{[]string{"volume", "create", "bad/name"}, `volume name "bad/name"`},
		{[]string{"run", "--rm", "-v", "bad!:/x", ref, "true"}, `-v "bad!:/x"`},
		{[]string{"volume", "rm", "nosuch"}, "volume nosuch: no such volume"},
		{[]string{"volume", "inspect", "nosuch"}, "volume nosuch: no such volume"},
	} {
		r := e.run(bad.args...)
		if r.code == 0 || !strings.Contains(r.stderr, bad.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("stockade %v: want one error line with %q: %s", bad.args, bad.want, r)
		}
	}
	if r := e.must("volume", "ls", "-q"); r.stdout != "" {
		t.Errorf("bad input made volumes: %q", r.stdout)
	}
	if r := e.must("ps", "-a", "-q"); r.stdout != "" {
		t.Errorf("bad input made containers: %q", r.stdout)
	}
	if r := e.run("volume", "prune"); r.code == 0 || !strings.Contains(r.stderr, "use -f") {
		t.Errorf("prune without -f and without a terminal: %s", r)
	}
}

func TestImageVolumeCopyUp(t *testing.T) {
	reg := startRegistry(t)
	ref := volumeImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", ref)

	r := e.must("run", "--name", "app1", "--network", "none", ref, "sh", "-c", "cat /var/lib/app/conf; echo more > /var/lib/app/added")
	if r.stdout != "from the image\n" {
		t.Errorf("the anonymous volume at /var/lib/app holds %q, want the image's content", r.stdout)
	}
	vols := e.volumes()
	if len(vols) != 1 || !vols[0].Anonymous || len(vols[0].Name) != 64 || len(vols[0].Containers) != 1 || vols[0].Containers[0] != "app1" {
		t.Fatalf("volumes = %+v", vols)
	}
	mp := vols[0].Mountpoint
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(mp, "conf"), &st); err != nil || st.Uid != 1234 || st.Gid != 2345 || st.Mode&0o777 != 0o640 {
		t.Errorf("conf in the volume: uid %d gid %d mode %o (%v); want 1234 2345 640", st.Uid, st.Gid, st.Mode&0o777, err)
	}
	if fi, err := os.Stat(mp); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("the volume's own mode: %v %v; want the image directory's 0750", fi.Mode(), err)
	}
	if got := readFile(t, filepath.Join(mp, "added")); got != "more\n" {
		t.Errorf("written in the container: %q", got)
	}
	if _, err := os.Stat(filepath.Join(mp, "sub")); err != nil {
		t.Errorf("subdirectory not copied: %v", err)
	}
	// Kept by rm, removed by rm -v.
	e.must("start", "-a", "app1")
	if got := readFile(t, filepath.Join(mp, "added")); got != "more\n" {
		t.Errorf("after a restart: %q", got)
	}
	e.must("rm", "-v", "app1")
	if got := e.volumes(); len(got) != 0 {
		t.Errorf("rm -v left %+v", got)
	}
	if _, err := os.Stat(mp); !os.IsNotExist(err) {
		t.Errorf("rm -v left the directory: %v", err)
	}
	// A named volume at the VOLUME path replaces the anonymous one; it is
	// empty, so it is filled too (docker's rule), and --rm keeps it.
	r = e.must("run", "--rm", "--network", "none", "-v", "appdata:/var/lib/app", ref, "cat", "/var/lib/app/conf")
	if r.stdout != "from the image\n" {
		t.Errorf("a new named volume at a VOLUME path holds %q", r.stdout)
	}
	// --rm removes the anonymous volume.
	e.must("run", "--rm", "--network", "none", ref, "true")
	if got := e.volumes(); len(got) != 1 || got[0].Name != "appdata" {
		t.Errorf("after run --rm: %+v", got)
	}
}
