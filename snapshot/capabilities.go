package snapshot

import (
	"context"
	"time"
)

// Capability interfaces: what some snapshotters can do beyond the
// Snapshotter interface. A backend implements the ones it can; callers
// discover them with a type assertion on the Snapshotter they hold, never
// on a backend's concrete type:
//
//	if c, ok := sn.(snapshot.Cleaner); ok {
//		err = c.Cleanup(ctx)
//	}
//
// A caller that finds a capability missing says so in the user's terms
// (for example "container snapshots need the zfs snapshotter").

// Cleaner is implemented by snapshotters that can remove what interrupted
// operations left behind under their root: staged directories of a
// Prepare or Remove that did not finish, mounts of a crashed apply. It
// never touches a snapshot that Stat or Walk can see, and is safe to call
// while other processes use the snapshotter.
type Cleaner interface {
	// Cleanup removes the leftovers of interrupted operations.
	Cleanup(ctx context.Context) error
}

// DeferredRemover is implemented by snapshotters that can remove a
// snapshot in two steps: RemoveDeferred takes it away (Stat, Walk and
// Mounts no longer see it, as after Remove) and returns the deletion of
// its files, for the caller to run when it has time, such as after a
// container's exit was reported. Files whose deletion never runs are
// trash a Cleaner's Cleanup removes.
type DeferredRemover interface {
	// RemoveDeferred is Remove but for the deletion of the snapshot's
	// files, which finish does; finish is nil when err is not.
	RemoveDeferred(ctx context.Context, key string) (finish func() error, err error)
}

// Problem is one inconsistency a Checker found in a snapshotter's own
// records.
type Problem struct {
	// What names the thing concerned, such as "dataset zroot/st/active/x".
	What string `json:"what"`
	// Issue says what is wrong, starting with a short kind
	// ("abandoned: ...").
	Issue string `json:"issue"`
	// Repaired tells whether the check fixed it.
	Repaired bool `json:"repaired"`
	// Err is why a repair failed, nil otherwise.
	Err error `json:"-"`
}

// Checker is implemented by snapshotters that keep records of their own
// (outside stockade's metadata store) which crashes and hand edits can make
// inconsistent, such as zfs with its dataset properties.
type Checker interface {
	// CheckSnapshots finds the inconsistencies and, when repair is true,
	// repairs what can be repaired safely. The error reports a failure to
	// look, or the repairs that failed (each Problem's Err tells which).
	CheckSnapshots(ctx context.Context, repair bool) ([]Problem, error)
}

// RootSnapshot is one point-in-time snapshot of an active snapshot (a
// container's root), as a RootSnapshotter lists it.
type RootSnapshot struct {
	// Name is the name given to Snapshot.
	Name string `json:"name"`
	// Dataset is the backend's full name of the snapshot (for zfs,
	// <dataset>@<name>).
	Dataset string `json:"dataset"`
	// Created is when it was taken.
	Created time.Time `json:"created"`
	// Used is the space only this snapshot holds: what removing it frees.
	Used uint64 `json:"used"`
	// Referenced is the size of the file system as the snapshot shows it.
	Referenced uint64 `json:"referenced"`
}

// RootSnapshotter is implemented by snapshotters that can take named
// snapshots of an active snapshot and roll it back to them: what an
// administrator reaches for before an upgrade inside a container. Names
// follow the rules of ValidKey.
type RootSnapshotter interface {
	// Snapshot takes a snapshot called name of the active snapshot key. It
	// fails with an error wrapping ErrExists if key has one of that name.
	Snapshot(ctx context.Context, key, name string) error
	// Rollback returns the active snapshot key to its snapshot name,
	// removing the snapshots taken after it. It fails with an error
	// wrapping ErrNotFound when there is no such snapshot.
	Rollback(ctx context.Context, key, name string) error
	// RemoveSnapshot removes the snapshot name of the active snapshot key.
	RemoveSnapshot(ctx context.Context, key, name string) error
	// ListSnapshots returns the snapshots of the active snapshot key,
	// oldest first.
	ListSnapshots(ctx context.Context, key string) ([]RootSnapshot, error)
}

// Quota is implemented by snapshotters that can cap the size of an active
// snapshot: Prepare with the label LabelSize set to a size makes a
// snapshot that cannot grow past it.
type Quota interface {
	// ParseQuota checks size, a value for LabelSize, and returns it in
	// bytes.
	ParseQuota(size string) (uint64, error)
}

// LabelSize, on Prepare, asks a snapshotter that implements Quota to cap
// the new active snapshot's size.
const LabelSize = "stockade.io/size"
