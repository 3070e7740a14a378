package engine

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/stockade/stockade/image/archive"
)

// Copying files in and out of a container (`stockade cp`) goes through
// tar streams, as docker's does. Paths in the container are resolved
// inside its root: symbolic links are followed as if the root were "/"
// (github.com/cyphar/filepath-securejoin), and the files are then opened
// one component at a time from a descriptor on the root, never following
// a link (openat with O_NOFOLLOW), so a link that changes meanwhile makes
// the copy fail instead of leaving the root. Writing is image/archive's
// Apply, which is contained in the same way.

// ErrOutsideRoot is returned for a container path that climbs above the
// container's root ("/../etc").
var ErrOutsideRoot = errors.New("path leaves the container's root")

// ErrWhiteoutName is returned when a file to copy into a directory has a
// name that layer whiteouts use (".wh.*"): the applier would read it as a
// deletion.
var ErrWhiteoutName = errors.New(`names starting with ".wh." cannot be copied`)

// CleanContainerPath returns p as a clean absolute path in the container
// ("" and relative paths are taken from "/"), or ErrOutsideRoot when p's
// ".." components climb above "/".
func CleanContainerPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("%q: holds a NUL byte", p)
	}
	depth := 0
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", fmt.Errorf("%s: %w", p, ErrOutsideRoot)
			}
		default:
			depth++
		}
	}
	return path.Clean("/" + p), nil
}

// ResolveInRoot resolves the container path p inside root: every symbolic
// link on the way is followed inside root, and the last component too
// when follow is set. It returns the path relative to root ("" for root
// itself) as it is now, made only of real directories (and the last
// component). The result is a plan: openers must still refuse links.
func ResolveInRoot(root, p string, follow bool) (string, error) {
	clean, err := CleanContainerPath(p)
	if err != nil {
		return "", err
	}
	root = filepath.Clean(root)
	if clean == "/" {
		return "", nil
	}
	var full string
	if follow {
		full, err = securejoin.SecureJoin(root, clean)
	} else {
		var dir string
		dir, err = securejoin.SecureJoin(root, path.Dir(clean))
		full = filepath.Join(dir, path.Base(clean))
	}
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", p, err)
	}
	rel, err := filepath.Rel(root, full)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%s: %w", p, ErrOutsideRoot)
	}
	if rel == "." {
		rel = ""
	}
	return rel, nil
}

// ArchiveOptions tune WriteArchive.
type ArchiveOptions struct {
	// FollowLink follows the symbolic link that p itself may be (cp -L),
	// inside root. Links below p are always archived as links.
	FollowLink bool
	// Name is the name of p's own entry in the archive; what is in a
	// directory p goes under Name/. Empty means p's base name.
	Name string
	// Owner, when not nil, replaces every entry's uid and gid.
	Owner *Owner
}

// Owner is a uid and a gid.
type Owner struct{ UID, GID int }

// WriteArchive writes a tar stream of p, a path inside root, to w: p and,
// for a directory, everything below it, with modes, owners, times,
// symbolic links (as links) and hard links within the stream. p is
// resolved with ResolveInRoot; nothing outside root is ever read.
func WriteArchive(ctx context.Context, w io.Writer, root, p string, opts ArchiveOptions) error {
	rel, err := ResolveInRoot(root, p, opts.FollowLink)
	if err != nil {
		return err
	}
	name := opts.Name
	if name == "" {
		name = path.Base(path.Clean("/" + p))
		if name == "/" {
			name = "."
		}
	}
	tw := tar.NewWriter(w)
	if err := writeTree(ctx, tw, root, rel, name, opts.Owner); err != nil {
		return err
	}
	return tw.Close()
}

// ApplyArchive applies the tar stream r below dir, a directory relative to
// root (as ResolveInRoot returns it): each entry NAME lands at
// root/dir/NAME, its owner replaced by owner unless that is nil. Nothing
// outside root is created, changed or followed (see archive.Apply).
func ApplyArchive(ctx context.Context, root, dir string, r io.Reader, owner *Owner) error {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(rebase(r, pw, dir, owner))
	}()
	_, err := archive.Apply(ctx, root, pr, archive.Options{})
	pr.CloseWithError(errors.New("apply stopped"))
	return err
}

// rebase copies the tar stream r to w with every name moved under dir.
func rebase(r io.Reader, w io.Writer, dir string, owner *Owner) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		clean, err := CleanContainerPath(hdr.Name)
		if err != nil {
			return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
		}
		if strings.HasPrefix(path.Base(clean), ".wh.") {
			return fmt.Errorf("archive entry %q: %w", hdr.Name, ErrWhiteoutName)
		}
		hdr.Name = path.Join("/", dir, clean)
		if hdr.Typeflag == tar.TypeLink {
			lc, err := CleanContainerPath(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("archive entry %q: link: %w", hdr.Name, err)
			}
			hdr.Linkname = path.Join("/", dir, lc)
		}
		if owner != nil {
			hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = owner.UID, owner.GID, "", ""
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// MountedRoot returns the container ref and the host directory of its
// root file system, mounted for as long as release is not called. A
// running container's root is the one its monitor mounted; a stopped
// one's is mounted here, under its monitor's lock, so that it cannot start
// (its start fails, "its monitor is still running") until release.
func (e *Engine) MountedRoot(ctx context.Context, ref string) (_ *Container, _ string, release func(), retErr error) {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return nil, "", nil, err
	}
	if c.State.Running() || monitorAlive(e.lockPath(c.ID)) {
		return c, e.rootfsDir(c.ID), func() {}, nil
	}
	if err := os.MkdirAll(e.runDir(c.ID), 0o700); err != nil {
		return nil, "", nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	lock, err := acquireMonitorLock(ctx, e.lockPath(c.ID))
	if err != nil {
		return nil, "", nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	dir, unmount, err := e.mountRootfs(ctx, c, rootWritable)
	if err != nil {
		lock.Close()
		return nil, "", nil, err
	}
	return c, dir, func() {
		unmount()
		lock.Close()
	}, nil
}
