// Package version reports the build's version, set at link time by the
// Makefile, falling back to the module and VCS data the Go toolchain records.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Version and Commit are set with -ldflags "-X ...version.Version=v0.1.0".
var (
	Version = ""
	Commit  = ""
)

// Get returns the version and commit, filling blanks from the build info.
func Get() (ver, commit string) {
	ver, commit = Version, Commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && commit == "" {
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			}
		}
	}
	if ver == "" {
		ver = "dev"
	}
	if commit == "" {
		commit = "unknown"
	}
	return ver, commit
}

// String renders the multi-line --version text, in runc's shape so tools
// that parse `runc --version` read it too.
func String(prog string) string {
	ver, commit := Get()
	return fmt.Sprintf("%s version %s\ncommit: %s\nspec: %s\ngo: %s\nplatform: %s/%s\n",
		prog, ver, commit, specs.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
