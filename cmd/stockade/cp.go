package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/volume"
)

// cpCommand is `cp [-a] [-L] SRC DST`.
func (a *app) cpCommand() *cli.Command {
	return &cli.Command{
		Name:      "cp",
		Usage:     "copy files between a container and the host (- for a tar stream on stdin or stdout)",
		ArgsUsage: "CONTAINER:SRC_PATH DEST_PATH|- | SRC_PATH|- CONTAINER:DEST_PATH",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "archive", Aliases: []string{"a"}, Usage: "keep the source's uid and gid (default: the container's root inside it, the calling user on the host)"},
			&cli.BoolFlag{Name: "follow-link", Aliases: []string{"L"}, Usage: "follow a symbolic link that SRC_PATH is"},
		},
		Action: arity(2, 2, a.cp),
	}
}

// cpArg is one side of cp: a container path or a host path ("-" for a
// tar stream).
type cpArg struct {
	container string
	path      string
}

// parseCpArg reads NAME:PATH as a container path, as docker does: the
// part before the first colon names a container unless it holds a slash
// or starts with "." (then the whole is a host path).
func parseCpArg(s string) cpArg {
	if name, p, ok := strings.Cut(s, ":"); ok && name != "" && !strings.Contains(name, "/") && !strings.HasPrefix(name, ".") {
		return cpArg{container: name, path: p}
	}
	return cpArg{path: s}
}

func (a *app) cp(c *cli.Context) error {
	src, dst := parseCpArg(c.Args().Get(0)), parseCpArg(c.Args().Get(1))
	switch {
	case src.container != "" && dst.container != "":
		return errors.New("cp: copying between two containers is not supported: one side must be a host path or -")
	case src.container == "" && dst.container == "":
		return fmt.Errorf("cp %s %s: one side must be CONTAINER:PATH", c.Args().Get(0), c.Args().Get(1))
	}
	side := src
	if dst.container != "" {
		side = dst
	}
	if side.path == "" {
		return fmt.Errorf("cp: %s:%s: an empty path in the container", side.container, side.path)
	}
	if _, err := engine.CleanContainerPath(side.path); err != nil {
		return fmt.Errorf("cp: %s:%w", side.container, err)
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ctr, root, release, err := e.MountedRoot(c.Context, side.container)
	if err != nil {
		return fmt.Errorf("cp: %w", err)
	}
	defer release()
	root, p, ro := volumeRoot(ctr, root, side.path)
	if src.container != "" {
		err = a.cpFrom(c, ctr, root, p, dst.path)
	} else if ro {
		err = fmt.Errorf("%s:%s: on a volume mounted read-only", ctr.Name, dst.path)
	} else {
		err = a.cpTo(c, ctr, root, src.path, p)
	}
	if err != nil {
		return fmt.Errorf("cp: %w", err)
	}
	return nil
}

// target is where a copy lands: the directory dir and the name of the
// copy in it ("." to merge a directory's contents into dir).
type target struct {
	dir, name string
}

// cpTarget applies docker's cp rules to a source (a directory or not,
// "/." at its end to copy a directory's contents) and a destination that
// exists (a directory or not) or does not (its parent then must).
func cpTarget(srcPath string, srcIsDir bool, dstPath string, dstExists, dstIsDir bool) (target, error) {
	contents := strings.HasSuffix(srcPath, "/.") || srcPath == "."
	base := path.Base(path.Clean("/" + srcPath))
	switch {
	case dstExists && dstIsDir:
		if srcIsDir && contents {
			return target{dir: dstPath, name: "."}, nil
		}
		return target{dir: dstPath, name: base}, nil
	case dstExists:
		if srcIsDir {
			return target{}, fmt.Errorf("%s: cannot copy a directory onto a file", dstPath)
		}
		return target{dir: path.Dir(dstPath), name: path.Base(dstPath)}, nil
	}
	if strings.HasSuffix(dstPath, "/") && !srcIsDir {
		return target{}, fmt.Errorf("%s: no such directory", dstPath)
	}
	clean := path.Clean(dstPath)
	return target{dir: path.Dir(clean), name: path.Base(clean)}, nil
}

// cpFrom copies the container path p to the host path dst, or to stdout
// as a tar stream when dst is "-".
func (a *app) cpFrom(c *cli.Context, ctr *engine.Container, root, p, dst string) error {
	follow := c.Bool("follow-link")
	fi, err := engine.StatInRoot(root, p, follow)
	if err != nil {
		return fmt.Errorf("%s:%s: %w", ctr.Name, p, unwrapPath(err))
	}
	if dst == "-" {
		return engine.WriteArchive(c.Context, a.stdout, root, p, engine.ArchiveOptions{FollowLink: follow})
	}
	di, err := os.Stat(dst)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	t, err := cpTarget(p, fi.IsDir(), dst, err == nil, err == nil && di.IsDir())
	if err != nil {
		return err
	}
	if pi, err := os.Stat(t.dir); err != nil || !pi.IsDir() {
		return fmt.Errorf("%s: the directory %s does not exist", dst, t.dir)
	}
	var owner *engine.Owner
	if !c.Bool("archive") {
		owner = &engine.Owner{UID: os.Getuid(), GID: os.Getgid()}
	}
	dir, err := filepath.Abs(t.dir)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(engine.WriteArchive(c.Context, pw, root, p, engine.ArchiveOptions{FollowLink: follow, Name: t.name, Owner: owner}))
	}()
	err = engine.ApplyArchive(c.Context, dir, "", pr, nil)
	pr.Close()
	return err
}

// cpTo copies the host path src, or a tar stream on stdin when src is
// "-", to the container path dst.
func (a *app) cpTo(c *cli.Context, ctr *engine.Container, root, src, dst string) error {
	di, derr := engine.StatInRoot(root, dst, true)
	if derr != nil && !errors.Is(derr, fs.ErrNotExist) {
		return fmt.Errorf("%s:%s: %w", ctr.Name, dst, unwrapPath(derr))
	}
	if src == "-" {
		if derr != nil || !di.IsDir() {
			return fmt.Errorf("%s:%s: a tar stream needs an existing directory", ctr.Name, dst)
		}
		rel, err := engine.ResolveInRoot(root, dst, true)
		if err != nil {
			return err
		}
		return engine.ApplyArchive(c.Context, root, rel, a.stdin, nil)
	}
	follow := c.Bool("follow-link")
	abs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	if follow {
		if abs, err = filepath.EvalSymlinks(abs); err != nil {
			return err
		}
	}
	si, err := os.Lstat(abs)
	if err != nil {
		return err
	}
	srcPath := src
	if strings.HasSuffix(src, "/.") || src == "." {
		srcPath = abs + "/."
	}
	t, err := cpTarget(srcPath, si.IsDir(), dst, derr == nil, derr == nil && di.IsDir())
	if err != nil {
		return fmt.Errorf("%s:%w", ctr.Name, err)
	}
	pi, err := engine.StatInRoot(root, t.dir, true)
	if err != nil || !pi.IsDir() {
		return fmt.Errorf("%s:%s: the directory %s does not exist in the container", ctr.Name, dst, t.dir)
	}
	rel, err := engine.ResolveInRoot(root, t.dir, true)
	if err != nil {
		return err
	}
	var owner *engine.Owner
	if !c.Bool("archive") {
		owner = &engine.Owner{}
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(engine.WriteArchive(c.Context, pw, "/", abs, engine.ArchiveOptions{Name: t.name, Owner: owner}))
	}()
	err = engine.ApplyArchive(c.Context, root, rel, pr, nil)
	pr.Close()
	return err
}

// unwrapPath turns "stat /x: no such file or directory" into the reason
// alone: the caller names the path as the user typed it.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, fs.ErrNotExist) {
			return errors.New("no such file or directory")
		}
		return pe.Err
	}
	return err
}

// volumeRoot redirects a container path under one of the container's
// volumes to the volume's directory, as the container sees it: it
// returns the root to resolve in (the volume's, else the container's),
// the path in it (keeping a trailing "/" or "/."), and whether the volume
// is mounted read-only.
func volumeRoot(ctr *engine.Container, root, p string) (string, string, bool) {
	clean, err := engine.CleanContainerPath(p)
	if err != nil {
		return root, p, false
	}
	var ext volume.Extension
	if _, err := ctr.Extension(volume.HookName, &ext); err != nil {
		return root, p, false
	}
	var best *volume.Mount
	for i, m := range ext.Mounts {
		if m.Source == "" || (clean != m.Destination && !strings.HasPrefix(clean, m.Destination+"/")) {
			continue
		}
		if best == nil || len(m.Destination) > len(best.Destination) {
			best = &ext.Mounts[i]
		}
	}
	if best == nil {
		return root, p, false
	}
	rest := strings.TrimPrefix(clean, best.Destination)
	switch {
	case strings.HasSuffix(p, "/."):
		rest += "/."
	case strings.HasSuffix(p, "/") && rest != "":
		rest += "/"
	}
	if rest == "" {
		rest = "/"
	}
	return best.Source, rest, best.ReadOnly
}
