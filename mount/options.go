package mount

import "strings"

// Linux mount(2) flag values (the MS_* constants of <sys/mount.h>). They
// are kernel ABI numbers, spelled out here so that option parsing builds
// and is tested on every OS; mount_linux_test.go checks them against
// golang.org/x/sys/unix.
const (
	msRdonly      = 0x1
	msNosuid      = 0x2
	msNodev       = 0x4
	msNoexec      = 0x8
	msSynchronous = 0x10
	msRemount     = 0x20
	msMandlock    = 0x40
	msDirsync     = 0x80
	msNoatime     = 0x400
	msNodiratime  = 0x800
	msBind        = 0x1000
	msRec         = 0x4000
	msUnbindable  = 0x20000
	msPrivate     = 0x40000
	msSlave       = 0x80000
	msShared      = 0x100000
	msRelatime    = 0x200000
	msStrictatime = 0x1000000
)

// MaxDataLen is the longest data string mount(2) accepts: the kernel
// copies at most one page, NUL included, and 4096 bytes is the smallest
// page size of the supported systems.
const MaxDataLen = 4095

// Options is a parsed mount option list.
type Options struct {
	// Flags are the mount(2) flags (Linux MS_* values).
	Flags uintptr
	// Propagation holds the propagation flags ("shared", "rprivate", ...),
	// which mount(2) only takes in a call of their own.
	Propagation uintptr
	// Data is the file-system-specific data string: the options that are
	// not flags, in order, joined with commas.
	Data string
}

// flagOption tells how one option word changes the flags.
type flagOption struct {
	clear bool
	flag  uintptr
}

// flagOptions maps the option words of mount(8) to flags.
var flagOptions = map[string]flagOption{
	"async":         {true, msSynchronous},
	"atime":         {true, msNoatime},
	"bind":          {false, msBind},
	"defaults":      {false, 0},
	"dev":           {true, msNodev},
	"diratime":      {true, msNodiratime},
	"dirsync":       {false, msDirsync},
	"exec":          {true, msNoexec},
	"mand":          {false, msMandlock},
	"noatime":       {false, msNoatime},
	"nodev":         {false, msNodev},
	"nodiratime":    {false, msNodiratime},
	"noexec":        {false, msNoexec},
	"nomand":        {true, msMandlock},
	"norelatime":    {true, msRelatime},
	"nostrictatime": {true, msStrictatime},
	"nosuid":        {false, msNosuid},
	"rbind":         {false, msBind | msRec},
	"relatime":      {false, msRelatime},
	"remount":       {false, msRemount},
	"ro":            {false, msRdonly},
	"rw":            {true, msRdonly},
	"strictatime":   {false, msStrictatime},
	"suid":          {true, msNosuid},
	"sync":          {false, msSynchronous},
}

// propagationOptions maps the propagation words to flags.
var propagationOptions = map[string]uintptr{
	"private":     msPrivate,
	"rprivate":    msPrivate | msRec,
	"shared":      msShared,
	"rshared":     msShared | msRec,
	"slave":       msSlave,
	"rslave":      msSlave | msRec,
	"unbindable":  msUnbindable,
	"runbindable": msUnbindable | msRec,
}

// ParseOptions splits a mount option list into flags, propagation flags and
// the data string. Flag words apply in order, so "ro,rw" is read-write.
// Words that are not flags ("lowerdir=...", "size=64m", "mode=755") go to
// the data string unchanged; empty words are dropped.
func ParseOptions(opts []string) Options {
	var o Options
	var data []string
	for _, opt := range opts {
		if opt == "" {
			continue
		}
		if f, ok := flagOptions[opt]; ok {
			if f.clear {
				o.Flags &^= f.flag
			} else {
				o.Flags |= f.flag
			}
			continue
		}
		if p, ok := propagationOptions[opt]; ok {
			o.Propagation |= p
			continue
		}
		data = append(data, opt)
	}
	o.Data = strings.Join(data, ",")
	return o
}

// bindRemountFlags are the flags that a bind mount ignores and that must be
// applied by a second, MS_REMOUNT|MS_BIND call.
const bindRemountFlags = msRdonly | msNosuid | msNodev | msNoexec |
	msNoatime | msNodiratime | msRelatime | msStrictatime

// plan is the sequence of mount(2) calls that make one mount.
type plan struct {
	source, fstype string
	flags          uintptr
	data           string
	// remount, when not zero, are the flags of a second call that applies
	// the flags a bind mount ignored.
	remount uintptr
	// propagation, when not zero, are the flags of a last call.
	propagation uintptr
}

// makePlan turns a mount into its mount(2) calls. Type "bind" (and
// "rbind") adds MS_BIND (and MS_REC) and passes no file system type.
func makePlan(typ, source string, options []string) plan {
	o := ParseOptions(options)
	p := plan{source: source, fstype: typ, flags: o.Flags, data: o.Data, propagation: o.Propagation}
	switch typ {
	case "bind":
		p.flags |= msBind
	case "rbind":
		p.flags |= msBind | msRec
	}
	if p.flags&msBind != 0 {
		p.fstype = ""
		if p.flags&msRemount == 0 && p.flags&bindRemountFlags != 0 {
			p.remount = msRemount | msBind | p.flags&bindRemountFlags
		}
	}
	return p
}
