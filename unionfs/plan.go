package unionfs

import (
	"github.com/stockade/stockade/snapshot"
)

// UpperOptions are the unionfs options of the writable top of an active
// snapshot's stack:
//
//   - copymode=transparent: a file copied up keeps its owner and mode (the
//     kernel's default, spelled out so the plan does not depend on it);
//   - whiteout=whenneeded: deleting a name writes a whiteout only when a
//     lower layer has that name, so a layer's directory holds no more
//     whiteouts than its changes need.
var UpperOptions = []string{"copymode=transparent", "whiteout=whenneeded"}

// MountPlan returns the mounts that stack a snapshot, in the order in
// which mount.All must make them on one target.
//
// lowers are the directories of the parent chain, nearest parent first;
// upper is the writable directory of an active snapshot, or "" for a
// read-only view. The plan mounts bottom-up:
//
//  1. a read-only nullfs mount of the bottom layer;
//  2. for each higher parent, a read-only unionfs mount of its directory:
//     mounted over the target, it becomes the upper layer of a union whose
//     lower layer is what the target showed, so its whiteouts and opaque
//     directories hide what is below;
//  3. for an active snapshot, a read-write unionfs mount of upper, with
//     UpperOptions: the only writable level, where copy-ups, new files and
//     whiteouts go.
//
// unionfs's "below" option is not used: it would put the new directory
// under the stack, making the stack itself each mount's upper layer, so
// that every write went through every level.
//
// Without parents an active snapshot is a read-write nullfs mount of upper
// and a view a read-only nullfs mount of its one layer. MountPlan returns
// nil when both upper and lowers are empty.
func MountPlan(upper string, lowers []string) []snapshot.Mount {
	if len(lowers) == 0 {
		if upper == "" {
			return nil
		}
		return []snapshot.Mount{{Type: "nullfs", Source: upper, Options: []string{"rw"}}}
	}
	n := len(lowers)
	plan := make([]snapshot.Mount, 0, n+1)
	plan = append(plan, snapshot.Mount{Type: "nullfs", Source: lowers[n-1], Options: []string{"ro"}})
	for i := n - 2; i >= 0; i-- {
		plan = append(plan, snapshot.Mount{Type: "unionfs", Source: lowers[i], Options: []string{"ro"}})
	}
	if upper != "" {
		opts := append([]string{"rw"}, UpperOptions...)
		plan = append(plan, snapshot.Mount{Type: "unionfs", Source: upper, Options: opts})
	}
	return plan
}
