package mount

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/stockade/stockade/freebsdabi"
	"github.com/stockade/stockade/snapshot"
)

// FreeBSD mount flag values (the MNT_* constants of <sys/mount.h>), kept
// in package freebsdabi, which checks them.
const (
	mntRdonly      = freebsdabi.MntRdonly
	mntSynchronous = freebsdabi.MntSynchronous
	mntNoexec      = freebsdabi.MntNoexec
	mntNosuid      = freebsdabi.MntNosuid
	mntAsync       = freebsdabi.MntAsync
	mntUpdate      = freebsdabi.MntUpdate
	mntForce       = freebsdabi.MntForce
	mntNosymfollow = freebsdabi.MntNosymfollow
	mntNoatime     = freebsdabi.MntNoatime
)

// ErrmsgLen is the size of the "errmsg" buffer passed to nmount(2), in
// which the kernel writes a message explaining a failure; mount(8) uses
// the same size.
const ErrmsgLen = 255

// nmountFlagOptions maps the option words that nmount(2) takes as flags
// (its third argument) rather than as name/value pairs.
var nmountFlagOptions = map[string]flagOption{
	"ro":          {false, mntRdonly},
	"rdonly":      {false, mntRdonly},
	"rw":          {true, mntRdonly},
	"sync":        {false, mntSynchronous},
	"async":       {false, mntAsync},
	"noexec":      {false, mntNoexec},
	"exec":        {true, mntNoexec},
	"nosuid":      {false, mntNosuid},
	"suid":        {true, mntNosuid},
	"noatime":     {false, mntNoatime},
	"atime":       {true, mntNoatime},
	"update":      {false, mntUpdate},
	"remount":     {false, mntUpdate},
	"force":       {false, mntForce},
	"nosymfollow": {false, mntNosymfollow},
	"defaults":    {false, 0},
}

// linuxOnlyOptions are option words of Linux's mount(2) that have no
// FreeBSD meaning and are dropped: device nodes only exist on devfs, atime
// policies other than noatime and mount propagation do not exist, and
// "bind"/"rbind" only select nullfs.
var linuxOnlyOptions = map[string]bool{
	"nodev": true, "dev": true,
	"relatime": true, "norelatime": true, "strictatime": true, "nostrictatime": true,
	"diratime": true, "nodiratime": true, "dirsync": true, "mand": true, "nomand": true,
	"bind": true, "rbind": true,
	"private": true, "rprivate": true, "shared": true, "rshared": true,
	"slave": true, "rslave": true, "unbindable": true, "runbindable": true,
}

// NmountOption is one name/value pair of an nmount(2) call.
type NmountOption struct {
	// Name is the option's name, such as "fstype" or "from".
	Name string
	// Value is its value. It is ignored when Null is set.
	Value string
	// Null passes the value as a NULL pointer of length 0, as mount(8)
	// passes a bare "-o below".
	Null bool
}

// String renders the option as name=value, or name alone when Null.
func (o NmountOption) String() string {
	if o.Null {
		return o.Name
	}
	return o.Name + "=" + o.Value
}

func strOpt(name, value string) NmountOption { return NmountOption{Name: name, Value: value} }

// NmountCall is one nmount(2) call: its name/value pairs, in order, and
// its flags argument. The "errmsg" buffer is added by Encode.
type NmountCall struct {
	// Options are the name/value pairs, "fstype" and "fspath" first.
	Options []NmountOption
	// Flags are the MNT_* flags.
	Flags uint64
}

// NmountArgs returns the nmount(2) call that mounts m at target on
// FreeBSD. It is portable so that mount plans can be checked anywhere;
// see makeNmount for the mapping of types and options.
func NmountArgs(m snapshot.Mount, target string) (NmountCall, error) {
	return makeNmount(m, target)
}

// sourceOption names, per file system type, the option that carries the
// mount's source: nullfs takes the directory as "target" (as mount_nullfs
// passes it), unionfs the upper directory as "from" (as mount_unionfs
// does), zfs the dataset as "from", and the pseudo file systems a "from"
// that only shows up in mount(8)'s listing.
var sourceOption = map[string]string{
	"nullfs":  "target",
	"unionfs": "from",
	"zfs":     "from",
	"tmpfs":   "from",
	"devfs":   "from",
	"fdescfs": "from",
	"procfs":  "from",
}

// pseudoFS are the types whose source is only a name: an empty source is
// replaced by the type's name, as mount(8) does.
var pseudoFS = map[string]bool{"tmpfs": true, "devfs": true, "fdescfs": true, "procfs": true}

// makeNmount turns a mount of m at target into its nmount(2) call.
//
// Types: "nullfs" and the Linux spellings "bind" and "rbind" (or any type
// with a "bind"/"rbind" option, as runtime specs write bind mounts) become
// nullfs with the source as "target"; "unionfs" passes the source as
// "from" (the directory stacked above what target shows, or below with the
// "below" option); "zfs" passes the dataset as "from"; "tmpfs", "devfs",
// "fdescfs" and "procfs" pass the source (default: the type) as "from".
// Other types are passed through with their source as "from", except
// "overlay", which FreeBSD does not have.
//
// Options: flag words (ro, rw, nosuid, noexec, noatime, sync, async,
// update/remount, force, nosymfollow) set the flags argument, applied in
// order; noclusterr and noclusterw stay named options, which the kernel
// turns into flags (MNT_NOCLUSTERW is bit 31, which nmount's int flags
// argument cannot carry without its sign spreading to the high flags); Linux-only words (nodev, relatime,
// propagation, ...) are dropped; "name=value" becomes a name/value pair and
// any other word a name with a NULL value.
func makeNmount(m snapshot.Mount, target string) (NmountCall, error) {
	if target == "" {
		return NmountCall{}, fmt.Errorf("mount %s: empty target", m)
	}
	fstype := m.Type
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			fstype = "nullfs"
		}
	}
	switch fstype {
	case "bind", "rbind":
		fstype = "nullfs"
	case "overlay":
		return NmountCall{}, fmt.Errorf("mount %s on %s: %w: overlayfs is Linux-only", m, target, ErrNotSupported)
	case "":
		return NmountCall{}, fmt.Errorf("mount %s on %s: empty file system type", m, target)
	}
	source := m.Source
	if source == "" && pseudoFS[fstype] {
		source = fstype
	}
	if source == "" && (fstype == "nullfs" || fstype == "unionfs" || fstype == "zfs") {
		return NmountCall{}, fmt.Errorf("mount %s on %s: %s needs a source", m, target, fstype)
	}
	c := NmountCall{Options: []NmountOption{strOpt("fstype", fstype), strOpt("fspath", target)}}
	if source != "" {
		name := sourceOption[fstype]
		if name == "" {
			name = "from"
		}
		c.Options = append(c.Options, strOpt(name, source))
	}
	for _, o := range m.Options {
		if o == "" || linuxOnlyOptions[o] {
			continue
		}
		if f, ok := nmountFlagOptions[o]; ok {
			if f.clear {
				c.Flags &^= uint64(f.flag)
			} else {
				c.Flags |= uint64(f.flag)
			}
			continue
		}
		name, value, hasValue := strings.Cut(o, "=")
		if name == "" {
			return NmountCall{}, fmt.Errorf("mount %s on %s: option %q has no name", m, target, o)
		}
		switch name {
		case "fstype", "fspath", "errmsg", "from", "target":
			return NmountCall{}, fmt.Errorf("mount %s on %s: option %q is set by the mount itself", m, target, o)
		}
		if hasValue {
			c.Options = append(c.Options, strOpt(name, value))
		} else {
			c.Options = append(c.Options, NmountOption{Name: name, Null: true})
		}
	}
	return c, nil
}

// Encode returns the iovec contents of the call: names and values
// alternating, each string NUL-terminated, a nil entry for a NULL value,
// and last the "errmsg" name and its ErrmsgLen-byte zeroed buffer, which
// is also returned on its own so the caller can read the kernel's message.
func (c NmountCall) Encode() (iov [][]byte, errmsg []byte) {
	cstr := func(s string) []byte { return append([]byte(s), 0) }
	for _, o := range c.Options {
		iov = append(iov, cstr(o.Name))
		if o.Null {
			iov = append(iov, nil)
		} else {
			iov = append(iov, cstr(o.Value))
		}
	}
	errmsg = make([]byte, ErrmsgLen)
	iov = append(iov, cstr("errmsg"), errmsg)
	return iov, errmsg
}

// errmsgString returns the NUL-terminated message the kernel left in an
// errmsg buffer.
func errmsgString(buf []byte) string {
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	return string(buf)
}
