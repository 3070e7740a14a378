package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// commitEnv is an env with the busybox image pulled, and the registry.
func commitEnv(t *testing.T) (*env, *registry, string) {
	t.Helper()
	reg := startRegistry(t)
	ref := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", ref)
	return e, reg, ref
}

// changeScript adds, changes and deletes files of the busybox image.
const changeScript = `echo hi > /new.txt && busybox mkdir -p /newdir/sub && echo x > /newdir/sub/f &&
echo changed > /www/index.html && busybox rm /etc/group && busybox chmod 600 /etc/passwd && busybox ln -s new.txt /newlink &&
busybox rm -r /tmp && busybox mkdir /tmp && echo t > /tmp/fresh`

// wantDiff is what docker diff prints for changeScript on overlay: the
// parents of added and deleted paths are changed, a directory removed
// and made again is changed (opaque), and its old entries are deleted.
var wantDiff = []string{
	"C /etc",
	"D /etc/group",
	"C /etc/passwd",
	"A /new.txt",
	"A /newdir",
	"A /newdir/sub",
	"A /newdir/sub/f",
	"A /newlink",
	"C /tmp",
	"A /tmp/fresh",
	"C /www/index.html",
}

func TestDiffAndCommit(t *testing.T) {
	e, reg, ref := commitEnv(t)

	// A container that changed nothing has no changes: the mount points
	// the runtime made (/etc/hosts, /dev, /proc...) are not its own.
	e.must("run", "--name", "idle", "--network", "none", ref, "true")
	if out := e.must("diff", "idle").stdout; out != "" {
		t.Errorf("diff of a container that changed nothing:\n%s", out)
	}

	e.must("run", "--name", "changer", "--network", "none", ref, "sh", "-c", changeScript)
	got := strings.Split(strings.TrimSpace(e.must("diff", "changer").stdout), "\n")
	if !slices.Equal(got, wantDiff) {
		t.Errorf("diff changer:\n got %q\nwant %q", got, wantDiff)
	}
	var js []struct{ Kind, Path string }
	if err := json.Unmarshal([]byte(e.must("diff", "--format", "json", "changer").stdout), &js); err != nil || len(js) != len(wantDiff) || js[1].Kind != "D" || js[1].Path != "/etc/group" {
		t.Errorf("diff --format json: %v: %+v", err, js)
	}

	// commit with changes to the config; the image runs with the files.
	id := strings.TrimSpace(e.must("commit", "-m", "the message", "-a", "Ann <ann@example.com>",
		"--change", `CMD ["cat", "/new.txt"]`, "--change", "ENV GREETING=hello PATH=$PATH:/opt", "--change", "LABEL stage=committed",
		"--change", "EXPOSE 8080/udp", "--change", "WORKDIR /www", "changer", "localhost/committed:1").stdout)
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("commit printed %q, want the image id", id)
	}
	if out := e.must("run", "--rm", "--network", "none", "localhost/committed:1").stdout; out != "hi\n" {
		t.Errorf("run committed image (its CMD): %q", out)
	}
	check := `cat index.html; test -e /etc/group || echo no-group; busybox stat -c %a /etc/passwd; busybox readlink /newlink; cat /newdir/sub/f /tmp/fresh; echo $GREETING $PATH`
	want := "changed\nno-group\n600\nnew.txt\nx\nt\nhello /bin:/opt\n"
	if out := e.must("run", "--rm", "--network", "none", "localhost/committed:1", "sh", "-c", check).stdout; out != want {
		t.Errorf("committed image's files:\n got %q\nwant %q", out, want)
	}
	var cfg struct {
		Author string `json:"author"`
		Config struct {
			Cmd          []string            `json:"Cmd"`
			Labels       map[string]string   `json:"Labels"`
			ExposedPorts map[string]struct{} `json:"ExposedPorts"`
			WorkingDir   string              `json:"WorkingDir"`
		} `json:"config"`
		History []struct {
			CreatedBy  string `json:"created_by"`
			Comment    string `json:"comment"`
			EmptyLayer bool   `json:"empty_layer"`
		} `json:"history"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	configOf(t, e, "localhost/committed:1", &cfg)
	if cfg.Author != "Ann <ann@example.com>" || cfg.Config.Labels["stage"] != "committed" || cfg.Config.WorkingDir != "/www" ||
		!slices.Equal(cfg.Config.Cmd, []string{"cat", "/new.txt"}) || len(cfg.RootFS.DiffIDs) != 2 {
		t.Errorf("committed config: %+v", cfg)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/udp"]; !ok {
		t.Errorf("EXPOSE 8080/udp missing: %v", cfg.Config.ExposedPorts)
	}
	if h := cfg.History[len(cfg.History)-1]; h.Comment != "the message" || !strings.Contains(h.CreatedBy, "sh -c") || h.EmptyLayer {
		t.Errorf("last history entry: %+v", h)
	}
	if out := e.must("images").stdout; !strings.Contains(out, "localhost/committed:1") || !strings.Contains(out, id[7:19]) {
		t.Errorf("images does not list the committed image:\n%s", out)
	}

	// Pushed with gzip and zstd, the image unpacks with umoci to the
	// same files.
	for _, comp := range []string{"gzip", "zstd"} {
		dest := reg.addr + "/e2e/committed:" + comp
		e.must("push", "--compression", comp, "localhost/committed:1", dest)
		dir := t.TempDir()
		// Debian's umoci reads no zstd: skopeo decompresses the layers
		// (checking their digests) on the way.
		sh(t, "skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-decompress", "docker://"+dest, "dir:"+dir+"/plain")
		sh(t, "skopeo", "copy", "-q", "dir:"+dir+"/plain", "oci:"+dir+"/layout:t")
		sh(t, "umoci", "unpack", "--image", dir+"/layout:t", dir+"/bundle")
		rootfs := dir + "/bundle/rootfs"
		for p, body := range map[string]string{"new.txt": "hi\n", "www/index.html": "changed\n", "newdir/sub/f": "x\n", "tmp/fresh": "t\n", "bin/busybox": ""} {
			b, err := os.ReadFile(filepath.Join(rootfs, p))
			if err != nil || (body != "" && string(b) != body) {
				t.Errorf("%s: umoci unpack: %s: %q, %v", comp, p, b, err)
			}
		}
		if _, err := os.Lstat(rootfs + "/etc/group"); !os.IsNotExist(err) {
			t.Errorf("%s: umoci unpack: /etc/group is there (%v)", comp, err)
		}
		if fi, err := os.Stat(rootfs + "/etc/passwd"); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: umoci unpack: /etc/passwd %v %v", comp, fi, err)
		}
	}

	// commit --compression zstd stores a zstd layer.
	e.must("commit", "--compression", "zstd", "changer", "localhost/committed:zstd")
	if rec := e.inspectImage("localhost/committed:zstd"); !strings.HasSuffix(rec.Layers[len(rec.Layers)-1].MediaType, "+zstd") {
		t.Errorf("commit --compression zstd: layers %+v", rec.Layers)
	}

	// Without a name the image is untagged: <none> in images, reached by
	// its id.
	e.must("run", "--name", "second", "--network", "none", ref, "sh", "-c", "echo two > /two.txt")
	untagged := strings.TrimSpace(e.must("commit", "second").stdout)
	short := untagged[7:19]
	if out := e.must("images").stdout; !strings.Contains(out, "<none>") || !strings.Contains(out, short) {
		t.Errorf("images does not list the untagged image %s as <none>:\n%s", short, out)
	}
	if out := e.must("run", "--rm", "--network", "none", short, "cat", "/two.txt").stdout; out != "two\n" {
		t.Errorf("run of the untagged image: %q", out)
	}
	// Tagging it gives it a name: no <none> row stays.
	e.must("tag", short, "localhost/two:1")
	if out := e.must("images").stdout; strings.Contains(out, "<none>") {
		t.Errorf("images after tagging the untagged image:\n%s", out)
	}
}

// configOf reads an image's config through `image inspect`'s id and the
// content store of the env.
func configOf(t *testing.T, e *env, name string, v any) {
	t.Helper()
	id := e.inspectImage(name).ID
	b, err := os.ReadFile(filepath.Join(e.root, "content", "blobs", "sha256", strings.TrimPrefix(id, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestCommitRunning(t *testing.T) {
	e, _, ref := commitEnv(t)
	e.must("run", "-d", "--name", "live", "--network", "none", ref, "sh", "-c", "echo live > /live.txt; busybox rm /www/index.html; exec sleep 1000")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(e.must("diff", "live").stdout, "A /live.txt") {
		if time.Now().After(deadline) {
			t.Fatalf("diff of the running container never shows /live.txt:\n%s", e.must("diff", "live").stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := "C /www\nD /www/index.html\n"
	if out := e.must("diff", "live").stdout; !strings.HasSuffix(out, want) || !strings.Contains(out, "A /live.txt\n") {
		t.Errorf("diff live:\n%s", out)
	}
	e.must("commit", "live", "localhost/live:1")
	if out := e.must("ps", "-a", "--format", "json").stdout; !strings.Contains(out, `"running"`) || strings.Contains(out, `"paused": true`) {
		t.Errorf("the container is not running unpaused after commit: %s", out)
	}
	if out := e.must("run", "--rm", "--network", "none", "localhost/live:1", "sh", "-c", "cat /live.txt; test -e /www/index.html || echo gone").stdout; out != "live\ngone\n" {
		t.Errorf("committed image of the running container: %q", out)
	}
}

func TestCommitBadInput(t *testing.T) {
	e, _, ref := commitEnv(t)
	e.must("run", "--name", "box", "--network", "none", ref, "sh", "-c", "echo x > /x")
	before := e.must("images", "-q").stdout
	blobs := func() int {
		ents, _ := os.ReadDir(filepath.Join(e.root, "content", "blobs", "sha256"))
		return len(ents)
	}
	nblobs := blobs()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"commit", "nosuch"}, "nosuch: no such container"},
		{[]string{"diff", "nosuch"}, "nosuch: no such container"},
		{[]string{"commit", "--change", "RUN echo hi", "box"}, "RUN is not supported"},
		{[]string{"commit", "--change", "FROM busybox", "box"}, "FROM is not supported"},
		{[]string{"commit", "--change", "NOPE x", "box"}, `"NOPE x"`},
		{[]string{"commit", "--change", "EXPOSE eighty", "box"}, "EXPOSE eighty"},
		{[]string{"commit", "--change", "ENV", "box"}, `"ENV"`},
		{[]string{"commit", "--compression", "lz4", "box"}, `"lz4"`},
		{[]string{"commit", "box", "Bad Name"}, "Bad Name"},
	} {
		r := e.run(tc.args...)
		msg := strings.TrimSpace(r.stderr)
		if r.code == 0 || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("stockade %q: want one line naming %s, non-zero exit; got %s", tc.args, tc.want, r)
		}
	}
	if after := e.must("images", "-q").stdout; after != before {
		t.Errorf("bad commits stored images:\n%s", after)
	}
	if n := blobs(); n != nblobs {
		t.Errorf("bad commits stored %d blobs", n-nblobs)
	}
}

func TestCommitPrune(t *testing.T) {
	e, _, ref := commitEnv(t)
	e.must("run", "--name", "box", "--network", "none", ref, "sh", "-c", "echo x > /x")
	kept := strings.TrimSpace(e.must("commit", "box", "localhost/kept:1").stdout)
	dangling := strings.TrimSpace(e.must("commit", "box").stdout)
	// An untagged image a container uses stays.
	e.must("run", "--name", "user", "-d", "--network", "none", dangling[7:19], "sleep", "1000")
	e.must("rm", "-f", "box")
	out := e.must("system", "prune", "-f").stdout
	if strings.Contains(out, dangling) {
		t.Errorf("prune removed an untagged image a running container uses:\n%s", out)
	}
	e.must("rm", "-f", "user")
	out = e.must("system", "prune", "-f").stdout
	if !strings.Contains(out, "removed image "+dangling) {
		t.Errorf("prune did not remove the untagged image:\n%s", out)
	}
	if r := e.run("image", "inspect", dangling); r.code == 0 {
		t.Errorf("the pruned image is still there: %s", r)
	}
	if got := e.inspectImage("localhost/kept:1").ID; got != kept {
		t.Errorf("prune touched the tagged image: %s", got)
	}
	if out := e.must("run", "--rm", "--network", "none", "localhost/kept:1", "cat", "/x").stdout; out != "x\n" {
		t.Errorf("tagged image after prune: %q", out)
	}
}

// TestDiffCopySnapshotter finds the changes by comparing a view of the
// image with the container's root (what zfs and unionfs do too), not from
// an overlay upper directory, and commits them.
func TestDiffCopySnapshotter(t *testing.T) {
	reg := startRegistry(t)
	ref := busyboxImage(t, reg)
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.dir, "stockade.toml"), []byte("snapshotter = \"copy\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("pull", "-q", ref)
	e.must("run", "--name", "idle", "--network", "none", ref, "true")
	if out := e.must("diff", "idle").stdout; out != "" {
		t.Errorf("diff of a container that changed nothing:\n%s", out)
	}
	e.must("run", "--name", "changer", "--network", "none", ref, "sh", "-c", changeScript)
	got := strings.Split(strings.TrimSpace(e.must("diff", "changer").stdout), "\n")
	if !slices.Equal(got, wantDiff) {
		t.Errorf("diff changer:\n got %q\nwant %q", got, wantDiff)
	}
	e.must("commit", "changer", "localhost/copied:1")
	check := `cat /new.txt /www/index.html /tmp/fresh; test -e /etc/group || echo no-group`
	if out := e.must("run", "--rm", "--network", "none", "localhost/copied:1", "sh", "-c", check).stdout; out != "hi\nchanged\nt\nno-group\n" {
		t.Errorf("committed image's files: %q", out)
	}
	// Snapshots: the two layers and the two containers' roots; the views
	// diff and commit made are gone, and so is the --rm container's root
	// once its monitor has deleted the files (after the exit it sent).
	eventually(t, 5*time.Second, "4 snapshot directories (2 layers, 2 containers)", func() bool {
		dirs, _ := filepath.Glob(filepath.Join(e.root, "snapshots", "copy", "snapshots", "*"))
		return len(dirs) == 4
	})
}
