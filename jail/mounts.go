package jail

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/snapshot"
)

// MountTypes are the mount types the jail runtime makes; "bind" and
// "rbind" (or a "bind"/"rbind" option) mean nullfs.
var MountTypes = []string{"nullfs", "bind", "rbind", "devfs", "tmpfs", "fdescfs", "procfs", "linprocfs", "linsysfs", "zfs", "unionfs", "fusefs"}

// MountStep is one mount of a container, in the order they are made.
type MountStep struct {
	// Destination is the path inside the container ("/" for the
	// read-only root).
	Destination string
	// Mount is the file system to mount: its type, source (an absolute
	// host path for nullfs) and options.
	Mount snapshot.Mount
	// File is set when Destination must be a file (a nullfs mount of a
	// file); otherwise it is a directory.
	File bool
	// Devices are the freebsd.devices to unhide on this devfs mount.
	Devices []specs.FreeBSDDevice
}

// Call returns the nmount(2) call of the step on a resolved target.
func (s MountStep) Call(target string) (mount.NmountCall, error) {
	c, err := mount.NmountArgs(s.Mount, target)
	if err != nil {
		return c, fmt.Errorf("mount on %s: %w", s.Destination, err)
	}
	return c, nil
}

// DevfsRules returns the devfs(8) argument lists that unhide the step's
// devices on the devfs mounted at target and set their modes:
//
//	devfs -m TARGET rule apply path PATH unhide
//	devfs -m TARGET rule apply path PATH mode 0MODE
func (s MountStep) DevfsRules(target string) [][]string {
	var out [][]string
	for _, d := range s.Devices {
		out = append(out, []string{"-m", target, "rule", "apply", "path", d.Path, "unhide"})
		if d.Mode != nil {
			out = append(out, []string{"-m", target, "rule", "apply", "path", d.Path, "mode", fmt.Sprintf("0%o", d.Mode.Perm())})
		}
	}
	return out
}

// PlanMounts returns the mounts of a container whose bundle is the
// directory bundle and whose root file system is rootfs (absolute), in
// order: first, with root.readonly, a read-only nullfs of rootfs on
// itself; then spec.Mounts in their order. Relative nullfs sources are
// relative to the bundle. freebsd.devices are attached to the devfs mount
// on /dev, which must exist when devices are listed. Unknown types,
// relative destinations, and bad device paths or modes are errors wrapping
// ErrInvalidSpec. For a Linux image with a mount on /dev/shm, the devfs
// on /dev also unhides "shm", the directory the linuxulator makes in
// devfs for it.
//
// Destinations are resolved when mounting, by ResolveTarget, since earlier
// mounts change what a later destination's path goes through.
func PlanMounts(spec *specs.Spec, bundle, rootfs string) ([]MountStep, error) {
	var steps []MountStep
	if spec.Root != nil && spec.Root.Readonly {
		steps = append(steps, MountStep{
			Destination: "/",
			Mount:       snapshot.Mount{Type: "nullfs", Source: rootfs, Options: []string{"ro"}},
		})
	}
	devfsAt := -1
	for i, m := range spec.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return nil, specErr("mount %d: destination %q is not absolute", i, m.Destination)
		}
		dest := filepath.Clean(m.Destination)
		typ := m.Type
		if slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") || typ == "bind" || typ == "rbind" {
			typ = "nullfs"
		}
		if !slices.Contains(MountTypes, typ) {
			hint := ""
			switch typ {
			case "proc":
				hint = " (use procfs, or linprocfs for a Linux image)"
			case "sysfs":
				hint = " (use linsysfs for a Linux image)"
			case "":
				hint = " (empty type)"
			}
			return nil, specErr("mount on %s: type %q is not supported on FreeBSD%s", dest, m.Type, hint)
		}
		if typ == "tmpfs" {
			if err := checkTmpfsOptions(dest, m.Options); err != nil {
				return nil, err
			}
		}
		sm := snapshot.Mount{Type: typ, Source: m.Source, Options: m.Options}
		step := MountStep{Destination: dest, Mount: sm}
		if typ == "nullfs" {
			if m.Source == "" {
				return nil, specErr("mount on %s: nullfs needs a source", dest)
			}
			src := m.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(bundle, src)
			}
			step.Mount.Source = filepath.Clean(src)
			// Mount options "bind"/"rbind" only select nullfs.
			step.Mount.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "bind" || o == "rbind" })
		}
		if typ == "devfs" && dest == "/dev" {
			devfsAt = len(steps)
		}
		steps = append(steps, step)
	}
	if spec.FreeBSD != nil && len(spec.FreeBSD.Devices) > 0 {
		if devfsAt < 0 {
			return nil, specErr("freebsd.devices need a devfs mount on /dev")
		}
		for _, d := range spec.FreeBSD.Devices {
			p := d.Path
			if p == "" || filepath.IsAbs(p) || strings.ContainsAny(p, " \t\n") || slices.Contains(strings.Split(p, "/"), "..") {
				return nil, specErr("freebsd.devices: path %q must be relative to /dev, without '..' or white space", p)
			}
			if d.Mode != nil && *d.Mode&^fs.ModePerm != 0 {
				return nil, specErr("freebsd.devices %s: mode %#o has more than permission bits", p, uint32(*d.Mode))
			}
		}
		steps[devfsAt].Devices = spec.FreeBSD.Devices
	}
	// The linuxulator adds a "shm" directory to every devfs, the only way
	// to have one there (devfs has no mkdir): a Linux jail's /dev/shm
	// mount needs it unhidden in the jail's /dev.
	if devfsAt >= 0 && IsLinuxBundle(spec) && slices.ContainsFunc(spec.Mounts, func(m specs.Mount) bool {
		return filepath.Clean(m.Destination) == "/dev/shm"
	}) && !slices.ContainsFunc(steps[devfsAt].Devices, func(d specs.FreeBSDDevice) bool { return d.Path == "shm" }) {
		steps[devfsAt].Devices = append(slices.Clone(steps[devfsAt].Devices), specs.FreeBSDDevice{Path: "shm"})
	}
	return steps, nil
}

// ResolveTarget returns the host path of dest inside root, resolving
// symbolic links component by component as if root were the file
// system's root, so that no link leads out of it; "/" is root itself. When
// create is set, the missing part is made: directories, and for a file
// mount an empty file; nothing that exists is written to, or opened for
// writing. The result is resolved again afterwards, so a link
// swapped in meanwhile is caught.
func ResolveTarget(root, dest string, create, file bool) (string, error) {
	if dest == "/" {
		return root, nil
	}
	target, err := securejoin.SecureJoin(root, dest)
	if err != nil {
		return "", fmt.Errorf("resolve %s in %s: %w", dest, root, err)
	}
	if !create {
		return target, nil
	}
	dir := target
	if file {
		dir = filepath.Dir(target)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("mount point %s: %w", dest, err)
	}
	if file {
		// Opened for writing only to be made: an existing mount point
		// may be on a read-only file system (nullfs refuses to open a
		// regular file for writing there, null_access).
		if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("mount point %s: %w", dest, err)
			}
			if f != nil {
				f.Close()
			}
		} else if err != nil {
			return "", fmt.Errorf("mount point %s: %w", dest, err)
		}
	}
	again, err := securejoin.SecureJoin(root, dest)
	if err != nil || again != target {
		return "", fmt.Errorf("mount point %s: its path changed while it was made", dest)
	}
	return target, nil
}

// linuxTmpfsOptions are Linux tmpfs options FreeBSD's tmpfs does not have
// (tmpfs_vfsops.c's tmpfs_opts: size, maxfilesize, inodes, uid, gid, mode,
// easize, nonc, nomtime, nosymfollow, pgread, export, union), with the
// FreeBSD option to use instead when there is one.
var linuxTmpfsOptions = map[string]string{
	"nr_inodes": "inodes=N", "nr_blocks": "size=BYTES", "mpol": "", "huge": "", "noswap": "",
	"quota": "", "usrquota": "", "grpquota": "", "usrquota_block_hardlimit": "",
	"usrquota_inode_hardlimit": "", "grpquota_block_hardlimit": "", "grpquota_inode_hardlimit": "",
	"inode32": "", "inode64": "",
}

// checkTmpfsOptions refuses the Linux-only tmpfs options, and a size in
// percent of memory, which FreeBSD's tmpfs would refuse at nmount(2) with
// a less helpful message.
func checkTmpfsOptions(dest string, options []string) error {
	for _, o := range options {
		name, value, _ := strings.Cut(o, "=")
		if alt, ok := linuxTmpfsOptions[name]; ok {
			if alt != "" {
				return specErr("tmpfs on %s: option %q is Linux-only (FreeBSD's tmpfs takes %s)", dest, o, alt)
			}
			return specErr("tmpfs on %s: option %q is Linux-only", dest, o)
		}
		if name == "size" && strings.HasSuffix(value, "%") {
			return specErr("tmpfs on %s: option %q: FreeBSD's tmpfs takes a size in bytes (with k, m or g), not a share of memory", dest, o)
		}
	}
	return nil
}
