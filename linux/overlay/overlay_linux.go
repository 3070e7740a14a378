package overlay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// platformSupported is nil: Linux has overlayfs (checkOverlay tells
// whether this kernel and root can use it).
func platformSupported() error { return nil }

// checked holds the roots whose overlay check passed in this process.
var checked sync.Map

// checkedMarker is the file under root that remembers a test mount that
// worked, with the boot it worked in (/proc/sys/kernel/random/boot_id):
// the kernel and root's file system do not change until a reboot, and
// every stockade command opens the snapshotter, so the test mount (a
// dozen file system calls and a mount) is made once per boot, not once
// per command.
const checkedMarker = ".overlay-checked"

// checkOverlay fails unless the kernel has overlayfs and overlayfs accepts
// upper and work dirs on root's file system. It tries a tiny overlay mount
// under root, once per boot (checkedMarker); without the privilege to
// mount, it settles for overlay being listed in /proc/filesystems.
func checkOverlay(root string) error {
	if _, ok := checked.Load(root); ok {
		return nil
	}
	boot := bootID()
	marker := filepath.Join(root, checkedMarker)
	if boot != "" {
		if b, err := os.ReadFile(marker); err == nil && string(b) == boot {
			checked.Store(root, true)
			return nil
		}
	}
	listed, lerr := overlayListed()
	if err := tryOverlayMount(root); err != nil {
		switch {
		case errors.Is(err, unix.EPERM) && listed:
			// Cannot verify without privileges; mounting will tell.
		case !listed:
			if lerr != nil {
				return fmt.Errorf("overlayfs is not supported: %w; and a test mount failed: %w", lerr, err)
			}
			return fmt.Errorf("overlayfs is not supported by this kernel (not in /proc/filesystems, and a test mount failed: %w)", err)
		default:
			return fmt.Errorf("overlayfs cannot use %s for its upper and work dirs (it must be a local file system with d_type and trusted xattrs, such as ext4 or xfs, not overlayfs itself): %w", root, err)
		}
	}
	checked.Store(root, true)
	if boot != "" {
		// Best effort: without it the next command checks again.
		writeMarker(marker, boot)
	}
	return nil
}

// bootID is this boot's id, or "" when the kernel does not say.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// writeMarker writes boot to path through a temporary file and a rename,
// so a reader sees the old content or the new, never a part.
func writeMarker(path, boot string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(boot), 0o600); err != nil {
		return
	}
	if os.Rename(tmp, path) != nil {
		os.Remove(tmp)
	}
}

// overlayListed reports whether /proc/filesystems lists overlay.
func overlayListed() (bool, error) {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[len(f)-1] == "overlay" {
			return true, nil
		}
	}
	return false, nil
}

// tryOverlayMount mounts and unmounts a tiny overlay in a temporary
// directory under root.
func tryOverlayMount(root string) (err error) {
	dir, err := os.MkdirTemp(root, ".overlay-check-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	var p [4]string
	for i, n := range []string{"lower", "upper", "work", "merged"} {
		p[i] = filepath.Join(dir, n)
		if err := os.Mkdir(p[i], 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(p[0], "f"), []byte("x"), 0o600); err != nil {
		return err
	}
	data := "lowerdir=" + p[0] + ",upperdir=" + p[1] + ",workdir=" + p[2]
	if err := unix.Mount("overlay", p[3], "overlay", 0, data); err != nil {
		return fmt.Errorf("mount overlay %s: %w", data, err)
	}
	_, serr := os.Stat(filepath.Join(p[3], "f"))
	if err := unix.Unmount(p[3], 0); err != nil {
		return fmt.Errorf("unmount test overlay %s: %w", p[3], err)
	}
	if serr != nil {
		return fmt.Errorf("test overlay does not show its lower dir: %w", serr)
	}
	return nil
}

// overlayIndexOn reports whether overlayfs's "index" feature is on by
// default, in which case mounts pass index=off: a lower layer shared by
// several overlays must not be tied to one upper dir.
func overlayIndexOn() bool {
	b, err := os.ReadFile("/sys/module/overlay/parameters/index")
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}
