//go:build linux

package jail

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/mount"
)

// The same as TestReadOnlyRootMountPointsMadeFirst, with the root made
// read-only for real when the fake kernel mounts it (a read-only bind
// mount, which refuses mkdir and opening a file for writing with EROFS as
// FreeBSD's nullfs does): Create must not write through it.
func TestReadOnlyRootForReal(t *testing.T) {
	testenv.RequireRoot(t, "a read-only bind mount")
	bundle, rootfs, _ := roRootBundle(t)
	k := newFake()
	var mountErr error
	mounted := false
	k.onNmount = func(c mount.NmountCall) {
		if nmountOpt(c, "fspath") != rootfs || mounted {
			return
		}
		if mountErr = unix.Mount(rootfs, rootfs, "", unix.MS_BIND, ""); mountErr != nil {
			return
		}
		mounted = true
		mountErr = unix.Mount("", rootfs, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
	}
	t.Cleanup(func() {
		if mounted {
			unix.Unmount(rootfs, unix.MNT_DETACH)
		}
	})
	err := create(t, New(t.TempDir(), k, nil), bundle)
	if mountErr != nil {
		t.Fatalf("read-only bind mount: %v", mountErr)
	}
	if !mounted {
		t.Fatal("the root was never mounted read-only")
	}
	if err != nil {
		t.Fatalf("create over a read-only root: %v", err)
	}
	// The layer is read-only indeed.
	if err := os.Mkdir(rootfs+"/probe", 0o755); err == nil {
		t.Fatal("the bind mount is not read-only")
	}
}
