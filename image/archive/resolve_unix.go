//go:build linux || freebsd

package archive

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	// maxSymlinks bounds the symbolic links followed while resolving one
	// path, as the kernel's MAXSYMLINKS (40 on Linux) does.
	maxSymlinks = 40
	// maxDepth bounds the directory depth below root that Apply walks,
	// creates or removes (each level holds one descriptor while in use).
	maxDepth = 1024
	// maxLinkLen is the longest symbolic link target read (PATH_MAX).
	maxLinkLen = 4096
)

var errTooDeep = errors.New("path too deep")

// dirStack resolves directories below root and caches the result.
//
// names is a real path below root, made only of directories each opened by
// name from the previous one with O_NOFOLLOW, so it holds no symbolic link
// and no "..". fds[i] is an open descriptor on names[:i+1]. Because of that,
// any lexical path that starts with names[:i+1] resolves, from there on,
// exactly like it would from root, and resolve only walks what differs
// from the previous call. The stack is dropped (lazily, at the next
// resolve) whenever Apply removes anything, since a removal could take a
// directory of the stack away.
type dirStack struct {
	root  int
	names []string
	fds   []int
	// lexical reports whether the last resolve reached its directory
	// without going through a symbolic link or "..": then the lexical path
	// is also the real one.
	lexical bool
	// stale is set after a removal: the next resolve starts again at root.
	stale bool
	// created, when not nil, records the real paths of the directories
	// that resolve had to create.
	created map[string]struct{}
}

func (s *dirStack) top() int {
	if n := len(s.fds); n > 0 {
		return s.fds[n-1]
	}
	return s.root
}

func (s *dirStack) truncate(n int) {
	for i := len(s.fds) - 1; i >= n; i-- {
		unix.Close(s.fds[i])
	}
	s.fds = s.fds[:n]
	s.names = s.names[:n]
}

func (s *dirStack) push(name string, fd int) {
	s.names = append(s.names, name)
	s.fds = append(s.fds, fd)
}

// adopt pushes fd, an open descriptor on the directory name inside the
// directory parent, when parent is the top of a valid stack (so the next
// entry below it needs no lookup); otherwise it closes fd.
func (s *dirStack) adopt(parent int, name string, fd int) {
	if s.stale || s.top() != parent || len(s.fds) >= maxDepth {
		unix.Close(fd)
		return
	}
	s.push(name, fd)
}

// path returns the real path of the top of the stack joined with base.
func (s *dirStack) path(base string) string {
	n := len(base)
	for _, c := range s.names {
		n += len(c) + 1
	}
	var b strings.Builder
	b.Grow(n)
	for i, c := range s.names {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(c)
	}
	if base != "" {
		if len(s.names) > 0 {
			b.WriteByte('/')
		}
		b.WriteString(base)
	}
	return b.String()
}

// resolve returns a descriptor on the directory dir, a clean relative path
// ("" for root), owned by the stack: it stays valid until the next resolve.
// Symbolic links met on the way are followed, their targets taken as if
// root were "/". Missing directories are created (mode 0755) when create is
// set. The result is always root or a directory below it.
func (s *dirStack) resolve(dir string, create bool) (int, error) {
	if s.stale {
		s.truncate(0)
		s.stale = false
	}
	i, rest := 0, dir
	for i < len(s.names) && rest != "" {
		n := s.names[i]
		if !strings.HasPrefix(rest, n) {
			break
		}
		if len(rest) == len(n) {
			rest = ""
		} else if rest[len(n)] == '/' {
			rest = rest[len(n)+1:]
		} else {
			break
		}
		i++
	}
	s.truncate(i)
	s.lexical = true
	if err := s.walk(rest, create); err != nil {
		return -1, err
	}
	return s.top(), nil
}

func (s *dirStack) walk(rest string, create bool) error {
	links := 0
	for rest != "" {
		var comp string
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			comp, rest = rest[:j], rest[j+1:]
		} else {
			comp, rest = rest, ""
		}
		switch comp {
		case "", ".":
			continue
		case "..":
			// Never above root: ".." at root is root, as in a chroot.
			s.lexical = false
			if n := len(s.fds); n > 0 {
				s.truncate(n - 1)
			}
			continue
		}
		if len(s.fds) >= maxDepth {
			return errTooDeep
		}
		parent := s.top()
		fd, err := openDirAt(parent, comp)
		if err == unix.ENOENT && create {
			err = mkdirat(parent, comp, 0o755)
			made := err == nil
			if made && s.created != nil {
				s.created[s.path(comp)] = struct{}{}
			}
			if made || err == unix.EEXIST {
				fd, err = openDirAt(parent, comp)
				if err == nil && made {
					// The mode must not depend on the umask.
					unix.Fchmod(fd, 0o755)
				}
			}
		}
		if err == nil {
			s.push(comp, fd)
			continue
		}
		if !isNotDirErr(err) {
			return err
		}
		// Not a directory: a symbolic link to follow inside root, or an
		// error.
		target, ok, err := readlinkAt(parent, comp)
		if err != nil {
			return err
		}
		if !ok {
			return unix.ENOTDIR
		}
		if links++; links > maxSymlinks {
			return unix.ELOOP
		}
		s.lexical = false
		if strings.HasPrefix(target, "/") {
			s.truncate(0)
		}
		if rest == "" {
			rest = target
		} else {
			rest = target + "/" + rest
		}
	}
	return nil
}

// isNotDirErr reports whether openat(O_DIRECTORY|O_NOFOLLOW) failed
// because the name is not a directory or is a symbolic link (ELOOP on
// Linux, EMLINK on FreeBSD).
func isNotDirErr(err error) bool {
	return err == unix.ENOTDIR || err == unix.ELOOP || err == unix.EMLINK
}

func openDirAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func mkdirat(dirfd int, name string, mode uint32) error {
	for {
		err := unix.Mkdirat(dirfd, name, mode)
		if err != unix.EINTR {
			return err
		}
	}
}

// readlinkAt reads the symbolic link name in dirfd; ok is false when name
// is not a symbolic link.
func readlinkAt(dirfd int, name string) (target string, ok bool, err error) {
	buf := make([]byte, maxLinkLen)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err == unix.EINVAL {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if n >= len(buf) {
		return "", false, unix.ENAMETOOLONG
	}
	return string(buf[:n]), true, nil
}

// removeAt removes name from dirfd, recursively if it is a directory. It
// never follows a symbolic link: a link is removed, not its target.
func removeAt(dirfd int, name string) error {
	return removeAtDepth(dirfd, name, 0)
}

func removeAtDepth(dirfd int, name string, depth int) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	// EISDIR on Linux, EPERM on FreeBSD: try it as a directory.
	fd, oerr := openDirAt(dirfd, name)
	if oerr != nil {
		if oerr == unix.ENOENT {
			return nil
		}
		if isNotDirErr(oerr) {
			return err
		}
		return oerr
	}
	if depth >= maxDepth {
		unix.Close(fd)
		return errTooDeep
	}
	names, rerr := readDirNames(fd)
	for _, n := range names {
		if rerr != nil {
			break
		}
		rerr = removeAtDepth(fd, n, depth+1)
	}
	unix.Close(fd)
	if rerr != nil {
		return rerr
	}
	err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	if err == unix.ENOENT {
		return nil
	}
	return err
}

// readDirNames lists the directory fd through a new open file description
// of its own, so the offset of fd is left alone.
func readDirNames(fd int) ([]string, error) {
	dfd, err := openDirAt(fd, ".")
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dfd), ".")
	names, err := f.Readdirnames(-1)
	f.Close()
	return names, err
}

// dupFd duplicates fd with close-on-exec.
func dupFd(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}
