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

// versionCache is the file that remembers which runc binary had which
// version, so `runc --version` runs once per binary, not per command.
type versionCache struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	Inode   uint64 `json:"inode"`
	Version string `json:"version"`
}

// CachedVersion returns the version of the runc at runcPath (absolute),
// as ParseVersion reads `runc --version`: from cacheFile when it names the
// same binary (path, size, modification time and inode), else by running
// it and then writing cacheFile (atomically; a cache that cannot be
// written is not an error). "" is a binary that is not runc.
func CachedVersion(ctx context.Context, runcPath, cacheFile string) (string, error) {
	fi, err := os.Stat(runcPath)
	if err != nil {
		return "", err
	}
	cur := versionCache{Path: runcPath, Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		cur.Inode = uint64(st.Ino)
	}
	if data, err := os.ReadFile(cacheFile); err == nil {
		var old versionCache
		if json.Unmarshal(data, &old) == nil && old.Path == cur.Path && old.Size == cur.Size &&
			old.ModTime == cur.ModTime && old.Inode == cur.Inode {
			return old.Version, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, runcPath, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", runcPath, err)
	}
	cur.Version = ParseVersion(string(out))
	if data, err := json.Marshal(cur); err == nil {
		tmp, err := os.CreateTemp(filepath.Dir(cacheFile), ".runc-version-*")
		if err == nil {
			_, werr := tmp.Write(data)
			if cerr := tmp.Close(); werr == nil && cerr == nil && os.Rename(tmp.Name(), cacheFile) == nil {
				return cur.Version, nil
			}
			os.Remove(tmp.Name())
		}
	}
	return cur.Version, nil
}
