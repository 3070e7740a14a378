package build

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// IgnoreFiles are the files of a build context that list what COPY and
// ADD do not see, in the order they are looked for.
var IgnoreFiles = []string{".containerignore", ".dockerignore"}

// Context is the build context: a directory and its ignore rules.
type Context struct {
	// Dir is the context directory, absolute.
	Dir    string
	ignore *patternmatcher.PatternMatcher
}

// OpenContext opens the context directory dir and reads its
// .containerignore, or else its .dockerignore.
func OpenContext(dir string) (*Context, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("build context %s: not a directory", dir)
	}
	c := &Context{Dir: abs}
	for _, name := range IgnoreFiles {
		f, err := os.Open(filepath.Join(abs, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("build context: %s: %w", name, err)
		}
		if c.ignore, err = patternmatcher.New(patterns); err != nil {
			return nil, fmt.Errorf("build context: %s: %w", name, err)
		}
		break
	}
	return c, nil
}

// Ignored tells whether the context path rel (slash-separated, relative
// to the context) is excluded by the ignore file.
func (c *Context) Ignored(rel string) bool {
	if c.ignore == nil || rel == "" || rel == "." {
		return false
	}
	m, err := c.ignore.MatchesOrParentMatches(filepath.FromSlash(rel))
	return err == nil && m
}

// tree is where a COPY or ADD takes its sources from: the build context
// (strict: a path that leads out of it is refused) or another stage's or
// image's root file system (contained: symlinks resolve inside it, as
// they would in the container).
type tree struct {
	dir    string
	ctx    *Context // nil for a root file system
	strict bool
}

func (c *Context) tree() *tree { return &tree{dir: c.Dir, ctx: c, strict: true} }

func rootTree(dir string) *tree { return &tree{dir: dir} }

func (t *tree) ignored(rel string) bool { return t.ctx != nil && t.ctx.Ignored(rel) }

// source is one path a COPY or ADD names, found in its tree.
type source struct {
	// rel is its slash path relative to the tree, as matched.
	rel string
	// host is its path on the host, symlinks of rel resolved.
	host string
	info fs.FileInfo
}

// errOutside is a COPY or ADD source outside the build context.
var errOutside = errors.New("outside the build context")

// clean turns a source as typed into a path relative to the tree; a
// context source may not climb out with "..".
func (t *tree) clean(src string) (string, error) {
	p := filepath.ToSlash(src)
	if t.strict && !path.IsAbs(p) {
		if c := path.Clean(p); c == ".." || strings.HasPrefix(c, "../") {
			return "", errOutside
		}
	}
	return strings.TrimPrefix(path.Clean("/"+p), "/"), nil
}

// resolve returns the host path of rel with its symlinks resolved. In a
// strict tree, a symlink whose target leaves the tree is refused; in a
// root file system it is contained (absolute targets start at the root).
func (t *tree) resolve(rel string) (string, error) {
	if !t.strict {
		return securejoin.SecureJoin(t.dir, rel)
	}
	cur := ""   // resolved so far, relative to the tree
	todo := rel // still to walk
	for hops := 0; todo != ""; {
		var comp string
		comp, todo, _ = strings.Cut(todo, "/")
		if comp == "" || comp == "." {
			continue
		}
		next := path.Join(cur, comp)
		if next == ".." || strings.HasPrefix(next, "../") {
			return "", errOutside
		}
		fi, err := os.Lstat(filepath.Join(t.dir, filepath.FromSlash(next)))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 255 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", rel)
		}
		target, err := os.Readlink(filepath.Join(t.dir, filepath.FromSlash(next)))
		if err != nil {
			return "", err
		}
		target = filepath.ToSlash(target)
		if path.IsAbs(target) {
			return "", fmt.Errorf("symlink %s -> %s: %w", next, target, errOutside)
		}
		joined := path.Join(cur, target)
		if joined == ".." || strings.HasPrefix(joined, "../") {
			return "", fmt.Errorf("symlink %s -> %s: %w", next, target, errOutside)
		}
		cur = ""
		if todo != "" {
			todo = joined + "/" + todo
		} else {
			todo = joined
		}
	}
	return filepath.Join(t.dir, filepath.FromSlash(cur)), nil
}

// hasMeta tells whether a path holds glob characters.
func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// find returns the sources that src (as typed, maybe a glob) names, in
// lexical order. Ignored paths are invisible. No match is an error.
func (t *tree) find(src string) ([]source, error) {
	rel, err := t.clean(src)
	if err != nil {
		return nil, err
	}
	var rels []string
	if hasMeta(rel) {
		if rels, err = t.glob(rel); err != nil {
			return nil, err
		}
	} else if !t.ignored(rel) {
		rels = []string{rel}
	}
	var out []source
	for _, r := range rels {
		host, err := t.resolve(r)
		if errors.Is(err, fs.ErrNotExist) && hasMeta(rel) {
			continue // a dangling match of a glob
		}
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(host)
		if err != nil {
			return nil, err
		}
		out = append(out, source{rel: r, host: host, info: fi})
	}
	if len(out) == 0 {
		return nil, fs.ErrNotExist
	}
	return out, nil
}

// glob matches pattern, component by component, against the tree.
func (t *tree) glob(pattern string) ([]string, error) {
	matches := []string{""}
	for _, comp := range strings.Split(pattern, "/") {
		var next []string
		for _, m := range matches {
			if !hasMeta(comp) {
				next = append(next, path.Join(m, comp))
				continue
			}
			dir, err := t.resolve(m)
			if err != nil {
				continue
			}
			names, err := readDirNames(dir)
			if err != nil {
				continue
			}
			for _, n := range names {
				ok, err := path.Match(comp, n)
				if err != nil {
					return nil, fmt.Errorf("pattern %s: %w", pattern, err)
				}
				if ok {
					next = append(next, path.Join(m, n))
				}
			}
		}
		matches = next
	}
	var out []string
	for _, m := range matches {
		if !t.ignored(m) {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out, nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

// digest digests what the sources (as typed) name in the tree: every
// name, type, mode, link target and content, ignored files left out.
// Errors are the ones plan reports too.
func (t *tree) digest(sources []string) (string, error) {
	h := sha256.New()
	for _, src := range sources {
		if strings.Contains(src, "://") {
			return "", fmt.Errorf("%s: ADD of a URL is not supported (download it in a RUN, or beside the Containerfile)", src)
		}
		found, err := t.find(src)
		if err != nil {
			return "", sourceError(src, err)
		}
		fmt.Fprintf(h, "source %q\n", src)
		for _, s := range found {
			err := filepath.WalkDir(s.host, func(hp string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel := s.rel
				if hp != s.host {
					rel = path.Join(s.rel, filepath.ToSlash(strings.TrimPrefix(hp, s.host+string(filepath.Separator))))
					if t.ignored(rel) {
						return nil // excluded below may come back: keep walking
					}
				}
				var fi fs.FileInfo
				if hp == s.host {
					fi, err = os.Stat(hp) // resolved by find
				} else {
					fi, err = d.Info()
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "%q %v", rel, fi.Mode())
				switch {
				case fi.Mode()&fs.ModeSymlink != 0:
					target, err := os.Readlink(hp)
					if err != nil {
						return err
					}
					fmt.Fprintf(h, " -> %q\n", target)
				case fi.Mode().IsRegular():
					fmt.Fprintf(h, " %d\n", fi.Size())
					return hashFile(h, hp)
				default:
					fmt.Fprintln(h)
				}
				return nil
			})
			if err != nil {
				return "", fmt.Errorf("source %q: %w", src, err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sourceError words a source that cannot be taken.
func sourceError(src string, err error) error {
	switch {
	case errors.Is(err, errOutside):
		return fmt.Errorf("source %q: %v", src, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("source %q: no such file or directory", src)
	}
	return fmt.Errorf("source %q: %w", src, err)
}
