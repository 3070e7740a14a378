package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultSeccomp returns docker's default profile for spec, whose
// capabilities are set (some rules depend on them), for this host's
// architecture and kernel.
func defaultSeccomp(spec *specs.Spec) (*specs.LinuxSeccomp, error) {
	return seccomp.GetDefaultProfile(spec)
}

// convertSeccomp turns a profile in docker's format, checked by
// ParseSeccompProfile, into the spec's, for this host.
func convertSeccomp(profile []byte, spec *specs.Spec) (*specs.LinuxSeccomp, error) {
	return seccomp.LoadProfile(string(profile), spec)
}

// lookupDevice returns the device nodes of a --device request: the host
// path's device, or every device below it when it is a directory.
func lookupDevice(r DeviceRequest) ([]specs.LinuxDevice, error) {
	fail := func(format string, a ...any) error {
		return optErr("--device", r.Raw, format, a...)
	}
	var st unix.Stat_t
	if err := unix.Stat(r.Host, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fail("%s: no such device", r.Host)
		}
		return nil, fail("%s: %v", r.Host, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		d, ok := deviceOf(r.Container, &st)
		if !ok {
			return nil, fail("%s is not a device", r.Host)
		}
		return []specs.LinuxDevice{d}, nil
	}
	var out []specs.LinuxDevice
	err := filepath.WalkDir(r.Host, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || e.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, err := filepath.Rel(r.Host, p)
		if err != nil {
			return err
		}
		if d, ok := deviceOf(filepath.Join(r.Container, rel), &st); ok {
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fail("%v", err)
	}
	if len(out) == 0 {
		return nil, fail("no devices in %s", r.Host)
	}
	return out, nil
}

// deviceOf describes the device st at path p in the container.
func deviceOf(p string, st *unix.Stat_t) (specs.LinuxDevice, bool) {
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, false
	}
	mode := fs.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path: p, Type: typ,
		Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev))),
		FileMode: &mode, UID: &uid, GID: &gid,
	}, true
}

// hostDevices lists the host's devices under /dev, as runc's and
// docker's --privileged do: not the pseudo-terminals of /dev/pts, nor
// /dev/console, nor what /dev/shm, /dev/mqueue and /dev/fd hold.
func hostDevices() ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir("/dev", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p != "/dev" && errors.Is(err, fs.ErrPermission) {
				return nil
			}
			return err
		}
		if e.IsDir() {
			switch strings.TrimPrefix(p, "/dev/") {
			case "pts", "shm", "mqueue", "fd", ".lxc", ".lxd-mounts", ".udev":
				return filepath.SkipDir
			}
			return nil
		}
		if p == "/dev/console" || e.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil // gone meanwhile
			}
			return err
		}
		if d, ok := deviceOf(p, &st); ok {
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the host's devices: %w", err)
	}
	return out, nil
}

// boundingSet returns the capabilities of this process's bounding set
// (CapBnd of /proc/self/status), the most a container it starts can have.
func boundingSet() ([]string, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("capability bounding set: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		v, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("capability bounding set %q: %w", strings.TrimSpace(v), err)
		}
		var out []string
		for i, c := range AllCapabilities {
			if mask&(1<<i) != 0 {
				out = append(out, c)
			}
		}
		return out, nil
	}
	return nil, errors.New("capability bounding set: no CapBnd in /proc/self/status")
}
