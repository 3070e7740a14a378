package mount

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

// iovStrings renders encoded iovecs for comparison: each entry as a Go
// string, NULs included, "<NULL>" for a NULL pointer and "<errmsg N>" for
// a zeroed buffer of N bytes.
func iovStrings(iov [][]byte) []string {
	out := make([]string, len(iov))
	for i, b := range iov {
		switch {
		case b == nil:
			out[i] = "<NULL>"
		case len(b) == ErrmsgLen && strings.Trim(string(b), "\x00") == "":
			out[i] = "<errmsg 255>"
		default:
			out[i] = string(b)
		}
	}
	return out
}

func TestMakeNmount(t *testing.T) {
	const tgt = "/var/run/stockade/c1/rootfs"
	head := func(fstype string) []string {
		return []string{"fstype\x00", fstype + "\x00", "fspath\x00", tgt + "\x00"}
	}
	tail := []string{"errmsg\x00", "<errmsg 255>"}
	join := func(parts ...[]string) []string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	tests := []struct {
		name      string
		m         snapshot.Mount
		wantIov   []string
		wantFlags uint64
		wantErr   string
	}{
		{"nullfs rw", snapshot.Mount{Type: "nullfs", Source: "/data/layer", Options: []string{"rw"}},
			join(head("nullfs"), []string{"target\x00", "/data/layer\x00"}, tail), 0, ""},
		{"bind is nullfs, ro is a flag", snapshot.Mount{Type: "bind", Source: "/src", Options: []string{"ro"}},
			join(head("nullfs"), []string{"target\x00", "/src\x00"}, tail), mntRdonly, ""},
		{"rbind with linux-only options dropped", snapshot.Mount{Type: "rbind", Source: "/src", Options: []string{"rprivate", "nodev", "nosuid", "relatime"}},
			join(head("nullfs"), []string{"target\x00", "/src\x00"}, tail), mntNosuid, ""},
		{"type none with bind option", snapshot.Mount{Type: "none", Source: "/etc/resolv.conf", Options: []string{"rbind", "ro"}},
			join(head("nullfs"), []string{"target\x00", "/etc/resolv.conf\x00"}, tail), mntRdonly, ""},
		{"unionfs upper above", snapshot.Mount{Type: "unionfs", Source: "/s/3/fs", Options: []string{"copymode=transparent", "whiteout=whenneeded"}},
			join(head("unionfs"), []string{"from\x00", "/s/3/fs\x00", "copymode\x00", "transparent\x00", "whiteout\x00", "whenneeded\x00"}, tail), 0, ""},
		{"unionfs below is a NULL-valued option", snapshot.Mount{Type: "unionfs", Source: "/s/1/fs", Options: []string{"below", "ro"}},
			join(head("unionfs"), []string{"from\x00", "/s/1/fs\x00", "below\x00", "<NULL>"}, tail), mntRdonly, ""},
		{"tmpfs defaults its from", snapshot.Mount{Type: "tmpfs", Options: []string{"size=64m", "mode=1777", "nosuid", "noexec"}},
			join(head("tmpfs"), []string{"from\x00", "tmpfs\x00", "size\x00", "64m\x00", "mode\x00", "1777\x00"}, tail), mntNosuid | mntNoexec, ""},
		{"devfs with ruleset", snapshot.Mount{Type: "devfs", Source: "devfs", Options: []string{"ruleset=4"}},
			join(head("devfs"), []string{"from\x00", "devfs\x00", "ruleset\x00", "4\x00"}, tail), 0, ""},
		{"fdescfs", snapshot.Mount{Type: "fdescfs", Options: []string{"linrdlnk"}},
			join(head("fdescfs"), []string{"from\x00", "fdescfs\x00", "linrdlnk\x00", "<NULL>"}, tail), 0, ""},
		{"procfs", snapshot.Mount{Type: "procfs", Source: "proc", Options: []string{"rw", "noexec", "nosuid"}},
			join(head("procfs"), []string{"from\x00", "proc\x00"}, tail), mntNoexec | mntNosuid, ""},
		{"zfs dataset", snapshot.Mount{Type: "zfs", Source: "zroot/stockade/active/c1", Options: []string{"noatime"}},
			join(head("zfs"), []string{"from\x00", "zroot/stockade/active/c1\x00"}, tail), mntNoatime, ""},
		{"flags apply in order", snapshot.Mount{Type: "nullfs", Source: "/s", Options: []string{"ro", "noexec", "rw", "exec", "nosuid", "suid", "nosuid"}},
			join(head("nullfs"), []string{"target\x00", "/s\x00"}, tail), mntNosuid, ""},
		{"update force sync", snapshot.Mount{Type: "nullfs", Source: "/s", Options: []string{"remount", "force", "sync", "nosymfollow", "defaults"}},
			join(head("nullfs"), []string{"target\x00", "/s\x00"}, tail), mntUpdate | mntForce | mntSynchronous | mntNosymfollow, ""},
		// nmount's flags argument is a C int that the kernel widens with
		// its sign: MNT_NOCLUSTERW (bit 31) would set every high flag too.
		// Passed by name, vfs_donmount turns them into the flags itself.
		{"cluster options by name", snapshot.Mount{Type: "nullfs", Source: "/s", Options: []string{"noclusterr", "noclusterw"}},
			join(head("nullfs"), []string{"target\x00", "/s\x00", "noclusterr\x00", "<NULL>", "noclusterw\x00", "<NULL>"}, tail), 0, ""},
		{"empty value kept", snapshot.Mount{Type: "tmpfs", Options: []string{"size="}},
			join(head("tmpfs"), []string{"from\x00", "tmpfs\x00", "size\x00", "\x00"}, tail), 0, ""},
		{"other type passes through", snapshot.Mount{Type: "linprocfs", Source: "linproc"},
			join(head("linprocfs"), []string{"from\x00", "linproc\x00"}, tail), 0, ""},
		{"overlay refused", snapshot.Mount{Type: "overlay", Source: "overlay"}, nil, 0, "Linux-only"},
		{"nullfs without source", snapshot.Mount{Type: "nullfs"}, nil, 0, "needs a source"},
		{"no type", snapshot.Mount{Source: "/x"}, nil, 0, "empty file system type"},
		{"reserved option", snapshot.Mount{Type: "nullfs", Source: "/x", Options: []string{"fspath=/y"}}, nil, 0, "set by the mount itself"},
		{"nameless option", snapshot.Mount{Type: "tmpfs", Options: []string{"=x"}}, nil, 0, "has no name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := makeNmount(tc.m, tgt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("makeNmount(%v) error %v, want one containing %q", tc.m, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			iov, errmsg := c.Encode()
			got := iovStrings(iov)
			if strings.Join(got, "|") != strings.Join(tc.wantIov, "|") {
				t.Errorf("iovecs\n got %q\nwant %q", got, tc.wantIov)
			}
			if len(iov)%2 != 0 {
				t.Errorf("%d iovecs: names and values must pair up", len(iov))
			}
			if &iov[len(iov)-1][0] != &errmsg[0] {
				t.Error("the errmsg buffer returned is not the one in the iovecs")
			}
			if c.Flags != tc.wantFlags {
				t.Errorf("flags %#x, want %#x", c.Flags, tc.wantFlags)
			}
		})
	}
}

func TestMakeNmountOverlayIsNotSupported(t *testing.T) {
	_, err := makeNmount(snapshot.Mount{Type: "overlay", Source: "overlay"}, "/t")
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("overlay: %v, want ErrNotSupported", err)
	}
	if _, err := makeNmount(snapshot.Mount{Type: "nullfs", Source: "/s"}, ""); err == nil {
		t.Error("empty target accepted")
	}
}

func TestErrmsgString(t *testing.T) {
	for _, tc := range []struct {
		buf  []byte
		want string
	}{
		{make([]byte, ErrmsgLen), ""},
		{append([]byte("Invalid target"), make([]byte, 10)...), "Invalid target"},
		{[]byte("no terminator"), "no terminator"},
		{nil, ""},
	} {
		if got := errmsgString(tc.buf); got != tc.want {
			t.Errorf("errmsgString(%q) = %q, want %q", tc.buf, got, tc.want)
		}
	}
}

func TestNmountArgs(t *testing.T) {
	c, err := NmountArgs(snapshot.Mount{Type: "unionfs", Source: "/u", Options: []string{"below", "copymode=transparent", "ro"}}, "/t")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range c.Options {
		got = append(got, o.String())
	}
	want := []string{"fstype=unionfs", "fspath=/t", "from=/u", "below", "copymode=transparent"}
	if strings.Join(got, " ") != strings.Join(want, " ") || c.Flags != mntRdonly {
		t.Errorf("NmountArgs = %q flags %#x, want %q flags %#x", got, c.Flags, want, mntRdonly)
	}
}

// Every flag word sets a flag that nmount's int argument carries as it is
// (below bit 31).
func TestNmountFlagsFitInt(t *testing.T) {
	for word, f := range nmountFlagOptions {
		if f.flag > math.MaxInt32 {
			t.Errorf("%s sets %#x, beyond a positive int", word, f.flag)
		}
	}
}
