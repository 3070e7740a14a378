// Package backend holds the tables from which stockade chooses its
// backends: one table per interface, each row a name with the systems it
// is available on, a probe of the host, and how to open it. Snapshotters
// (snapshot.Snapshotter: overlay, zfs, unionfs, copy) and runtimes
// (ociruntime.Runtime: jail, runc, crun) have theirs; a new backend is a
// new row, and the choice logic reads the rows only.
//
// On FreeBSD, importing the package also makes the binary able to serve as
// the jail runtime's init helper (see jail.RunInit): a binary that can
// open the jail runtime is the one that runtime re-executes.
package backend

import (
	"slices"
	"strings"
)

// availableOn reports whether a row for the systems oses is available on
// goos; no systems means every system.
func availableOn(oses []string, goos string) bool {
	return len(oses) == 0 || slices.Contains(oses, goos)
}

// systems renders oses for an error message.
func systems(oses []string) string {
	if len(oses) == 0 {
		return "every system"
	}
	return strings.Join(oses, ", ")
}
