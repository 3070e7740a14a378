package runcstate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// VersionCache is the file, beside runc's root (its parent directory),
// that remembers the versions of the runc binaries asked (CachedVersion).
func VersionCache(root string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(root)), "runc-version.json")
}

// Open is Load, for a container the runc at runcPath (absolute) keeps
// under root, when the package may act on it: DirectEnv does not turn it
// off and that runc is Supported (its version remembered in
// VersionCache(root)). Otherwise, or when Load fails, it is ErrFallBack.
func Open(ctx context.Context, root, id, runcPath string) (*Container, error) {
	if Disabled() {
		return nil, fmt.Errorf("%w: %s=0", ErrFallBack, DirectEnv)
	}
	// A container runc 1.1 made first (one read), then the binary's version.
	c, err := Load(root, id)
	if err != nil {
		return nil, err
	}
	version, err := CachedVersion(ctx, runcPath, VersionCache(root))
	if err != nil || !Supported(version) {
		return nil, fmt.Errorf("%w: runc %q (%v)", ErrFallBack, version, err)
	}
	return c, nil
}

// versionEntry is what the cache file remembers of one runc binary.
type versionEntry struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	Inode   uint64 `json:"inode"`
	Version string `json:"version"`
}

// maxVersionEntries bounds the cache: the binaries last asked.
const maxVersionEntries = 8

// CachedVersion returns the version of the runc at runcPath (absolute),
// as ParseVersion reads `runc --version`: from cacheFile when it holds the
// same binary (path, size, modification time and inode), else by running
// it and then writing cacheFile (atomically; a cache that cannot be
// written is not an error). "" is a binary that is not runc (crun).
func CachedVersion(ctx context.Context, runcPath, cacheFile string) (string, error) {
	fi, err := os.Stat(runcPath)
	if err != nil {
		return "", err
	}
	cur := versionEntry{Path: runcPath, Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		cur.Inode = uint64(st.Ino)
	}
	var entries []versionEntry
	if data, err := os.ReadFile(cacheFile); err == nil && json.Unmarshal(data, &entries) == nil {
		for _, e := range entries {
			if e.Path == cur.Path && e.Size == cur.Size && e.ModTime == cur.ModTime && e.Inode == cur.Inode {
				return e.Version, nil
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, runcPath, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", runcPath, err)
	}
	cur.Version = ParseVersion(string(out))
	kept := []versionEntry{cur}
	for _, e := range entries {
		if e.Path != cur.Path && len(kept) < maxVersionEntries {
			kept = append(kept, e)
		}
	}
	writeCache(cacheFile, kept)
	return cur.Version, nil
}

// writeCache replaces cacheFile with entries, atomically, or leaves it.
func writeCache(cacheFile string, entries []versionEntry) {
	data, err := json.Marshal(entries)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(cacheFile), ".runc-version-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), cacheFile) != nil {
		os.Remove(tmp.Name())
	}
}
