package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment, then a blank line

bob:x:1000:1000:Bob,,,:/home/bob:/bin/sh
nginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin
nohome:x:1001:1001
dup:x:1002:1002::/first:/bin/sh
dup:x:1003:1003::/second:/bin/sh
+nisuser
broken:x:notanumber:1::/broken:/bin/sh
huge:x:4294967296:1::/huge:/bin/sh
`

const testGroup = `root:x:0:root
bin:x:1:root,daemon
daemon:x:2:root,bin,daemon
wheel:x:10:root,bob
staff:x:50:bob
bob:x:1000:
nginx:x:101:
docker:x:999: alice , bob
broken:x:nan:bob
short:x
`

// writeFile creates root/name with its parent directories.
func writeFile(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testRootfs returns a root file system with testPasswd and testGroup.
func testRootfs(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	writeFile(t, root, "etc/passwd", testPasswd)
	writeFile(t, root, "etc/group", testGroup)
	return root
}

func resolve(t *testing.T, rootfs, spec string) (resolvedUser, error) {
	t.Helper()
	r, err := openRootFS(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return resolveUser(r, spec)
}

func TestResolveUser(t *testing.T) {
	rootfs := testRootfs(t)
	tests := []struct {
		spec    string
		uid     uint32
		gid     uint32
		gids    []uint32
		home    string
		wantErr string
	}{
		{spec: "", uid: 0, gid: 0, gids: []uint32{0, 1, 2, 10}, home: "/root"},
		{spec: "root", uid: 0, gid: 0, gids: []uint32{0, 1, 2, 10}, home: "/root"},
		{spec: "0", uid: 0, gid: 0, gids: []uint32{0, 1, 2, 10}, home: "/root"},
		{spec: "bob", uid: 1000, gid: 1000, gids: []uint32{1000, 10, 50, 999}, home: "/home/bob"},
		{spec: "1000", uid: 1000, gid: 1000, gids: []uint32{1000, 10, 50, 999}, home: "/home/bob"},
		{spec: "daemon", uid: 1, gid: 1, gids: []uint32{1, 2}, home: "/usr/sbin"},
		{spec: "nginx", uid: 101, gid: 101, gids: []uint32{101}, home: "/var/cache/nginx"},
		{spec: "nohome", uid: 1001, gid: 1001, gids: []uint32{1001}, home: "/"},
		{spec: "dup", uid: 1002, gid: 1002, gids: []uint32{1002}, home: "/first"},
		// An explicit group: that gid only, no supplementary groups.
		{spec: "bob:staff", uid: 1000, gid: 50, gids: []uint32{50}, home: "/home/bob"},
		{spec: "bob:50", uid: 1000, gid: 50, gids: []uint32{50}, home: "/home/bob"},
		{spec: "bob:4242", uid: 1000, gid: 4242, gids: []uint32{4242}, home: "/home/bob"},
		{spec: "1000:1000", uid: 1000, gid: 1000, gids: []uint32{1000}, home: "/home/bob"},
		{spec: "0:wheel", uid: 0, gid: 10, gids: []uint32{10}, home: "/root"},
		// Numeric ids not in the files are used as they are, as docker does.
		{spec: "4242", uid: 4242, gid: 0, gids: []uint32{0}, home: "/"},
		{spec: "4242:4343", uid: 4242, gid: 4343, gids: []uint32{4343}, home: "/"},
		{spec: "4242:staff", uid: 4242, gid: 50, gids: []uint32{50}, home: "/"},
		{spec: "2147483647", uid: 2147483647, gid: 0, gids: []uint32{0}, home: "/"},
		{spec: "alice", wantErr: `user "alice": no such user in the image's /etc/passwd`},
		{spec: "bob:nogroup", wantErr: `user "bob:nogroup": no such group in the image's /etc/group`},
		{spec: "alice:staff", wantErr: `user "alice:staff": no such user in the image's /etc/passwd`},
		{spec: "+nisuser", wantErr: `no such user`},
		{spec: "broken", wantErr: `no such user`},
		{spec: "huge", wantErr: `no such user`},
		{spec: "Bob", wantErr: `no such user`},
		{spec: "a:b:c", wantErr: `user "a:b:c": want USER[:GROUP]`},
		{spec: ":staff", wantErr: `user ":staff": empty user name`},
		{spec: "bob:", wantErr: `user "bob:": empty group name`},
		{spec: "-1", wantErr: `user "-1": id -1 out of range (0 to 2147483647)`},
		{spec: "2147483648", wantErr: `out of range`},
		{spec: "99999999999999999999999", wantErr: `out of range`},
		{spec: "bob:-5", wantErr: `user "bob:-5": id -5 out of range`},
		{spec: "bo\x00b", wantErr: `contains a NUL byte`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := resolve(t, rootfs, tt.spec)
			if tt.wantErr != "" {
				checkErr(t, err, tt.wantErr)
				var oe *OptionError
				if !errors.As(err, &oe) || oe.Option != "user" {
					t.Errorf("error %v is not an *OptionError for user", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := got.user
			if u.UID != tt.uid || u.GID != tt.gid || !slices.Equal(u.AdditionalGids, tt.gids) || got.home != tt.home {
				t.Errorf("got uid %d gid %d gids %v home %q, want %d %d %v %q",
					u.UID, u.GID, u.AdditionalGids, got.home, tt.uid, tt.gid, tt.gids, tt.home)
			}
		})
	}
}

func TestResolveUserErrorKinds(t *testing.T) {
	rootfs := testRootfs(t)
	if _, err := resolve(t, rootfs, "alice"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("unknown user: %v, want ErrNoSuchUser", err)
	}
	if _, err := resolve(t, rootfs, "bob:nogroup"); !errors.Is(err, ErrNoSuchGroup) {
		t.Errorf("unknown group: %v, want ErrNoSuchGroup", err)
	}
}

func TestResolveUserWithoutFiles(t *testing.T) {
	for _, rootfs := range []string{"", t.TempDir()} {
		t.Run("rootfs="+rootfs, func(t *testing.T) {
			for _, spec := range []string{"", "0", "1000", "1000:1000"} {
				if _, err := resolve(t, rootfs, spec); err != nil {
					t.Errorf("%q: %v", spec, err)
				}
			}
			got, _ := resolve(t, rootfs, "1000:2000")
			if got.user.UID != 1000 || got.user.GID != 2000 || got.home != "/" {
				t.Errorf("1000:2000 = %+v", got)
			}
			_, err := resolve(t, rootfs, "bob")
			checkErr(t, err, `user "bob": no such user in the image's /etc/passwd (the image has no /etc/passwd)`)
			_, err = resolve(t, rootfs, "0:staff")
			checkErr(t, err, `user "0:staff": no such group in the image's /etc/group`)
		})
	}
}

// The files are read as in a chroot: no symbolic link may lead out of the
// root file system, however it is written.
func TestResolveUserHostileSymlinks(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside")
	writeFile(t, outside, "passwd", "evil:x:666:667:evil:/evil:/bin/sh\n")
	writeFile(t, outside, "group", "evilgroup:x:668:evil\n")
	outsidePasswd := filepath.Join(outside, "passwd")

	setups := map[string]func(t *testing.T, rootfs string){
		"absolute link to outside file": func(t *testing.T, rootfs string) {
			symlink(t, outsidePasswd, filepath.Join(rootfs, "etc/passwd"))
			symlink(t, filepath.Join(outside, "group"), filepath.Join(rootfs, "etc/group"))
		},
		"relative link climbing out": func(t *testing.T, rootfs string) {
			etc := filepath.Join(rootfs, "etc")
			relp, err := filepath.Rel(etc, outsidePasswd)
			if err != nil {
				t.Fatal(err)
			}
			symlink(t, relp, filepath.Join(etc, "passwd"))
			symlink(t, strings.Repeat("../", 20)+strings.TrimPrefix(filepath.Join(outside, "group"), "/"), filepath.Join(etc, "group"))
		},
		"etc directory linked outside": func(t *testing.T, rootfs string) {
			if err := os.RemoveAll(filepath.Join(rootfs, "etc")); err != nil {
				t.Fatal(err)
			}
			symlink(t, outside, filepath.Join(rootfs, "etc"))
		},
		"chain of links ending outside": func(t *testing.T, rootfs string) {
			symlink(t, "/hop1", filepath.Join(rootfs, "etc/passwd"))
			symlink(t, "../../../../hop2", filepath.Join(rootfs, "hop1"))
			symlink(t, outsidePasswd, filepath.Join(rootfs, "hop2"))
		},
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			rootfs := filepath.Join(t.TempDir(), "rootfs")
			if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			setup(t, rootfs)

			_, err := resolve(t, rootfs, "evil")
			if !errors.Is(err, ErrNoSuchUser) {
				t.Fatalf("user from the outside file: %v, want ErrNoSuchUser", err)
			}
			// A numeric uid runs, but nothing of the outside entry is used.
			got, err := resolve(t, rootfs, "666")
			if err != nil {
				t.Fatal(err)
			}
			if got.user.GID != 0 || got.home != "/" {
				t.Errorf("uid 666 got gid %d home %q: the outside file was read", got.user.GID, got.home)
			}
			if _, err := resolve(t, rootfs, "0:evilgroup"); !errors.Is(err, ErrNoSuchGroup) {
				t.Errorf("group from the outside file: %v, want ErrNoSuchGroup", err)
			}

			// Through Generate too.
			_, err = Generate(testImage("/bin/true"), rootfs, Options{GOOS: "linux", User: "evil"})
			checkErr(t, err, `user "evil": no such user in the image's /etc/passwd`)
		})
	}
}

// Absolute links are resolved inside the root file system.
func TestResolveUserLinksInsideRootfs(t *testing.T) {
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	writeFile(t, rootfs, "real/passwd", "app:x:500:500::/srv/app:/bin/sh\n")
	writeFile(t, rootfs, "real/group", "app:x:500:\nextra:x:501:app\n")
	// The host's /real does not exist; the rootfs's does.
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	symlink(t, "/real/passwd", filepath.Join(rootfs, "etc/passwd"))
	symlink(t, "../../../real/./group", filepath.Join(rootfs, "etc/group"))
	got, err := resolve(t, rootfs, "app")
	if err != nil {
		t.Fatal(err)
	}
	if got.user.UID != 500 || got.user.GID != 500 || !slices.Equal(got.user.AdditionalGids, []uint32{500, 501}) || got.home != "/srv/app" {
		t.Errorf("got %+v", got)
	}
}

func TestResolveUserBadFiles(t *testing.T) {
	tests := map[string]struct {
		setup   func(t *testing.T, rootfs string)
		wantErr string
	}{
		"passwd is a directory": {
			setup: func(t *testing.T, rootfs string) {
				if err := os.MkdirAll(filepath.Join(rootfs, "etc/passwd"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: `user "bob": reading the image's /etc/passwd: /etc/passwd: not a regular file`,
		},
		"passwd is a fifo": {
			setup: func(t *testing.T, rootfs string) {
				if err := syscall.Mkfifo(filepath.Join(rootfs, "etc/passwd"), 0o644); err != nil {
					t.Skip("mkfifo:", err)
				}
			},
			wantErr: `not a regular file`,
		},
		"group is a fifo": {
			setup: func(t *testing.T, rootfs string) {
				writeFile(t, rootfs, "etc/passwd", testPasswd)
				if err := syscall.Mkfifo(filepath.Join(rootfs, "etc/group"), 0o644); err != nil {
					t.Skip("mkfifo:", err)
				}
			},
			wantErr: `user "bob": reading the image's /etc/group: /etc/group: not a regular file`,
		},
		"symlink loop": {
			setup: func(t *testing.T, rootfs string) {
				symlink(t, "/etc/loop2", filepath.Join(rootfs, "etc/passwd"))
				symlink(t, "/etc/passwd", filepath.Join(rootfs, "etc/loop2"))
			},
			wantErr: `user "bob": reading the image's /etc/passwd: resolve /etc/passwd:`,
		},
		"passwd too large": {
			setup: func(t *testing.T, rootfs string) {
				f, err := os.Create(filepath.Join(rootfs, "etc/passwd"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := f.Truncate(MaxUserFileSize + 1); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: `/etc/passwd: larger than 16777216 bytes`,
		},
		"etc is a file": {
			setup: func(t *testing.T, rootfs string) {
				if err := os.Remove(filepath.Join(rootfs, "etc")); err != nil {
					t.Fatal(err)
				}
				writeFile(t, rootfs, "etc", "not a directory")
			},
			wantErr: `user "bob": no such user in the image's /etc/passwd (the image has no /etc/passwd)`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			rootfs := filepath.Join(t.TempDir(), "rootfs")
			if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, rootfs)
			done := make(chan error, 1)
			go func() {
				_, err := resolve(t, rootfs, "bob")
				done <- err
			}()
			select {
			case err := <-done:
				checkErr(t, err, tt.wantErr)
			case <-time.After(10 * time.Second):
				t.Fatal("resolving the user hangs")
			}
		})
	}
}

func TestGenerateRootfsMissing(t *testing.T) {
	_, err := Generate(testImage("/bin/true"), filepath.Join(t.TempDir(), "nope"), Options{GOOS: "linux"})
	checkErr(t, err, "rootfs: ")
}

func TestParsePasswdGroup(t *testing.T) {
	users := parsePasswd([]byte(testPasswd))
	var names []string
	for _, u := range users {
		names = append(names, u.name)
	}
	if want := []string{"root", "daemon", "bob", "nginx", "nohome", "dup", "dup"}; !slices.Equal(names, want) {
		t.Errorf("passwd names %v, want %v", names, want)
	}
	groups := parseGroup([]byte(testGroup))
	if len(groups) != 8 {
		t.Fatalf("%d groups, want 8: %+v", len(groups), groups)
	}
	if g := groups[7]; g.name != "docker" || !slices.Equal(g.members, []string{"alice", "bob"}) {
		t.Errorf("docker group = %+v", g)
	}
	// CRLF files, and lines without a trailing newline.
	users = parsePasswd([]byte("a:x:1:2:g:/h:/bin/sh\r\nb:x:3:4"))
	if len(users) != 2 || users[0].home != "/h" || users[1].uid != 3 {
		t.Errorf("got %+v", users)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
