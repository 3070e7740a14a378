package bundle

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Errors of user resolution, wrapped in an *OptionError naming the user.
var (
	// ErrNoSuchUser: a user name is not in the image's /etc/passwd.
	ErrNoSuchUser = errors.New("no such user in the image's /etc/passwd")
	// ErrNoSuchGroup: a group name is not in the image's /etc/group.
	ErrNoSuchGroup = errors.New("no such group in the image's /etc/group")
)

// MaxUserFileSize is the largest /etc/passwd or /etc/group read.
const MaxUserFileSize = 16 << 20

// maxID is the largest uid or gid accepted, as docker's.
const maxID = 1<<31 - 1

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

// groupEntry is one line of /etc/group.
type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// UserInfo is what a user spec resolved to in a root file system: the
// process's user and its home directory (HOME, unless the image or -e
// sets it). Generate's callers keep it (see Options.ResolvedUser).
type UserInfo struct {
	User specs.User `json:"user"`
	Home string     `json:"home,omitempty"`
}

// resolvedUser is the outcome of user resolution.
type resolvedUser struct {
	user specs.User
	home string
}

// rootFS reads files of a container's root file system. A nil *rootFS has
// no files.
type rootFS struct {
	root *os.Root
}

// openRootFS opens dir as a root file system; "" gives an empty one.
func openRootFS(dir string) (*rootFS, error) {
	if dir == "" {
		return &rootFS{}, nil
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	return &rootFS{root: r}, nil
}

func (r *rootFS) Close() error {
	if r.root == nil {
		return nil
	}
	return r.root.Close()
}

// rootVFS lets securejoin walk the root file system through the os.Root:
// the paths it is given are "/"-rooted container paths.
type rootVFS struct{ root *os.Root }

func rel(name string) string {
	name = strings.TrimLeft(filepath.Clean("/"+name), "/")
	if name == "" {
		return "."
	}
	return name
}

func (v rootVFS) Lstat(name string) (os.FileInfo, error) { return v.root.Lstat(rel(name)) }

func (v rootVFS) Readlink(name string) (string, error) { return v.root.Readlink(rel(name)) }

// readFile reads the container file name (e.g. "/etc/passwd"), resolving
// symbolic links as if the root file system were "/". It reports
// fs.ErrNotExist when there is no such regular file to read.
func (r *rootFS) readFile(name string) ([]byte, error) {
	if r == nil || r.root == nil {
		return nil, fs.ErrNotExist
	}
	resolved, err := securejoin.SecureJoinVFS("/", name, rootVFS{r.root})
	if err != nil {
		if securejoin.IsNotExist(err) {
			return nil, fs.ErrNotExist
		}
		return nil, fmt.Errorf("resolve %s: %w", name, err)
	}
	p := rel(resolved)
	// Refuse anything but a regular file before opening it: a FIFO would
	// block the open, a device could have effects.
	fi, err := r.root.Lstat(p)
	if err != nil {
		if securejoin.IsNotExist(err) {
			return nil, fs.ErrNotExist
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	// The os.Root refuses any path that leaves it, so a component swapped
	// for a symbolic link since the walk above cannot lead out either.
	f, err := r.root.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if securejoin.IsNotExist(err) {
			return nil, fs.ErrNotExist
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxUserFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxUserFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxUserFileSize)
	}
	return data, nil
}

// lines calls fn with the fields of each entry line of a passwd or group
// file, skipping blank lines, comments and NIS (+/-) lines.
func lines(data []byte, fn func(fields []string)) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxUserFileSize+1)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		fn(strings.Split(line, ":"))
	}
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > maxID {
		return 0, false
	}
	return uint32(n), true
}

func parsePasswd(data []byte) []passwdEntry {
	var out []passwdEntry
	lines(data, func(f []string) {
		if len(f) < 4 {
			return
		}
		uid, ok1 := parseID(f[2])
		gid, ok2 := parseID(f[3])
		if !ok1 || !ok2 {
			return
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	})
	return out
}

func parseGroup(data []byte) []groupEntry {
	var out []groupEntry
	lines(data, func(f []string) {
		if len(f) < 3 {
			return
		}
		gid, ok := parseID(f[2])
		if !ok {
			return
		}
		e := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 {
			for _, m := range strings.Split(f[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					e.members = append(e.members, m)
				}
			}
		}
		out = append(out, e)
	})
	return out
}

// numericID parses a uid or gid given by the user; ok is false when s is
// not a number at all.
func numericID(s string) (id uint32, ok bool, err error) {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && !(i == 0 && s[i] == '-') {
			return 0, false, nil
		}
	}
	if s == "-" {
		return 0, false, nil
	}
	n, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil || n < 0 || n > maxID {
		return 0, true, fmt.Errorf("id %s out of range (0 to %d)", s, maxID)
	}
	return uint32(n), true, nil
}

// resolveUser resolves a user spec against the root file system's
// /etc/passwd and /etc/group, with docker's rules.
func resolveUser(r *rootFS, spec string) (resolvedUser, error) {
	fail := func(err error) (resolvedUser, error) {
		return resolvedUser{}, &OptionError{Option: "user", Value: spec, Err: err}
	}
	if strings.IndexByte(spec, 0) >= 0 {
		return fail(errors.New("contains a NUL byte"))
	}
	userPart, groupPart, hasGroup := spec, "", false
	if i := strings.IndexByte(spec, ':'); i >= 0 {
		userPart, groupPart, hasGroup = spec[:i], spec[i+1:], true
		if strings.Contains(groupPart, ":") {
			return fail(errors.New("want USER[:GROUP]"))
		}
		if userPart == "" {
			return fail(errors.New("empty user name"))
		}
		if groupPart == "" {
			return fail(errors.New("empty group name"))
		}
	}
	if userPart == "" {
		userPart = "0"
	}

	passwdData, err := r.readFile("/etc/passwd")
	noPasswd := errors.Is(err, fs.ErrNotExist)
	if err != nil && !noPasswd {
		return fail(fmt.Errorf("reading the image's /etc/passwd: %w", err))
	}
	users := parsePasswd(passwdData)

	var (
		out     resolvedUser
		matched *passwdEntry
	)
	uid, isNum, err := numericID(userPart)
	switch {
	case err != nil:
		return fail(err)
	case isNum:
		for i := range users {
			if users[i].uid == uid {
				matched = &users[i]
				break
			}
		}
		out.user.UID = uid // an unlisted uid runs with gid 0, as docker's
	default:
		for i := range users {
			if users[i].name == userPart {
				matched = &users[i]
				break
			}
		}
		if matched == nil {
			if noPasswd {
				return fail(fmt.Errorf("%w (the image has no /etc/passwd)", ErrNoSuchUser))
			}
			return fail(ErrNoSuchUser)
		}
	}
	out.home = "/"
	if matched != nil {
		out.user.UID, out.user.GID = matched.uid, matched.gid
		if matched.home != "" {
			out.home = matched.home
		}
	}

	var groups []groupEntry
	if hasGroup || matched != nil {
		groupData, err := r.readFile("/etc/group")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(fmt.Errorf("reading the image's /etc/group: %w", err))
		}
		groups = parseGroup(groupData)
	}

	var supplementary []uint32
	if hasGroup {
		gid, isNum, err := numericID(groupPart)
		switch {
		case err != nil:
			return fail(err)
		case isNum:
			out.user.GID = gid
		default:
			found := false
			for _, g := range groups {
				if g.name == groupPart {
					out.user.GID, found = g.gid, true
					break
				}
			}
			if !found {
				return fail(ErrNoSuchGroup)
			}
		}
	} else if matched != nil {
		for _, g := range groups {
			for _, m := range g.members {
				if m == matched.name {
					supplementary = append(supplementary, g.gid)
					break
				}
			}
		}
	}

	out.user.AdditionalGids = []uint32{out.user.GID}
	seen := map[uint32]bool{out.user.GID: true}
	for _, g := range supplementary {
		if !seen[g] {
			seen[g] = true
			out.user.AdditionalGids = append(out.user.AdditionalGids, g)
		}
	}
	return out, nil
}

// ResolveUser resolves a user spec (name, uid, name:group, uid:gid)
// against the /etc/passwd and /etc/group of the root file system at
// rootfsDir, read without following links out of it. `stockade exec -u`
// uses it on a running container's root.
func ResolveUser(rootfsDir, spec string) (specs.User, error) {
	r, err := openRootFS(rootfsDir)
	if err != nil {
		return specs.User{}, err
	}
	defer r.Close()
	u, err := resolveUser(r, spec)
	if err != nil {
		return specs.User{}, err
	}
	return u.user, nil
}
