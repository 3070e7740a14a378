package unionfs

import "fmt"

// fsTypeAllowed tells whether upper directories may live on a file system
// of type fstype (statfs's f_fstypename): UFS and tmpfs implement
// VOP_WHITEOUT; ZFS and the others do not, and unionfs would fail to
// delete a lower file there.
func fsTypeAllowed(fstype string) error {
	switch fstype {
	case "ufs", "tmpfs":
		return nil
	case "zfs":
		return fmt.Errorf("the root is on ZFS, which has no whiteouts, so deleting a lower layer's file would fail; use the zfs snapshotter on ZFS, or a UFS root: %w", ErrNoWhiteouts)
	}
	return fmt.Errorf("the root is on %q, which has no unionfs whiteouts (use UFS): %w", fstype, ErrNoWhiteouts)
}
