package unionfs

import (
	"errors"
	"strings"
	"testing"

	"github.com/stockade/stockade/mount"
)

// call renders one nmount(2) call as "flags | name=value name=value ...".
type call struct {
	flags string
	opts  string
}

func TestMountPlan(t *testing.T) {
	const target = "/var/run/stockade/c1/rootfs"
	tests := []struct {
		name   string
		upper  string
		lowers []string
		want   []call
	}{
		{"nothing", "", nil, nil},
		{"active base layer", "/s/1/fs", nil, []call{
			{"rw", "fstype=nullfs fspath=" + target + " target=/s/1/fs"},
		}},
		{"active on one layer", "/s/2/fs", []string{"/s/1/fs"}, []call{
			{"ro", "fstype=nullfs fspath=" + target + " target=/s/1/fs"},
			{"rw", "fstype=unionfs fspath=" + target + " from=/s/2/fs copymode=transparent whiteout=whenneeded"},
		}},
		{"active on three layers: bottom first, only the top writable", "/s/9/fs", []string{"/s/3/fs", "/s/2/fs", "/s/1/fs"}, []call{
			{"ro", "fstype=nullfs fspath=" + target + " target=/s/1/fs"},
			{"ro", "fstype=unionfs fspath=" + target + " from=/s/2/fs"},
			{"ro", "fstype=unionfs fspath=" + target + " from=/s/3/fs"},
			{"rw", "fstype=unionfs fspath=" + target + " from=/s/9/fs copymode=transparent whiteout=whenneeded"},
		}},
		{"view of one layer", "", []string{"/s/1/fs"}, []call{
			{"ro", "fstype=nullfs fspath=" + target + " target=/s/1/fs"},
		}},
		{"view of two layers", "", []string{"/s/2/fs", "/s/1/fs"}, []call{
			{"ro", "fstype=nullfs fspath=" + target + " target=/s/1/fs"},
			{"ro", "fstype=unionfs fspath=" + target + " from=/s/2/fs"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := MountPlan(tc.upper, tc.lowers)
			if len(plan) != len(tc.want) {
				t.Fatalf("plan has %d mounts, want %d: %v", len(plan), len(tc.want), plan)
			}
			for i, m := range plan {
				c, err := mount.NmountArgs(m, target)
				if err != nil {
					t.Fatalf("mount %d (%v): %v", i, m, err)
				}
				var opts []string
				for _, o := range c.Options {
					opts = append(opts, o.String())
				}
				flags := "rw"
				if c.Flags&0x1 != 0 { // MNT_RDONLY
					flags = "ro"
				}
				if c.Flags&^0x1 != 0 {
					t.Errorf("mount %d: unexpected flags %#x", i, c.Flags)
				}
				got := call{flags, strings.Join(opts, " ")}
				if got != tc.want[i] {
					t.Errorf("nmount %d:\n got %s | %s\nwant %s | %s", i, got.flags, got.opts, tc.want[i].flags, tc.want[i].opts)
				}
				iov, errmsg := c.Encode()
				if len(iov) != 2*len(c.Options)+2 || len(errmsg) != mount.ErrmsgLen {
					t.Errorf("mount %d: %d iovecs for %d options", i, len(iov), len(c.Options))
				}
			}
		})
	}
	// The plan does not alias the caller's or the package's slices.
	p := MountPlan("/u", []string{"/l"})
	p[1].Options[1] = "changed"
	if UpperOptions[0] != "copymode=transparent" {
		t.Error("MountPlan shares UpperOptions with its result")
	}
}

func TestFSTypeAllowed(t *testing.T) {
	for _, tc := range []struct {
		fstype string
		ok     bool
	}{
		{"ufs", true},
		{"tmpfs", true},
		{"zfs", false},
		{"nfs", false},
		{"msdosfs", false},
		{"", false},
	} {
		err := fsTypeAllowed(tc.fstype)
		if (err == nil) != tc.ok {
			t.Errorf("fsTypeAllowed(%q) = %v, want ok=%v", tc.fstype, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrNoWhiteouts) {
			t.Errorf("fsTypeAllowed(%q) = %v, want ErrNoWhiteouts", tc.fstype, err)
		}
	}
}
