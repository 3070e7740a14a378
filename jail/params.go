package jail

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/freebsdabi"
)

// ParamType is how a jail parameter's value is encoded for jail_set(2).
type ParamType int

// The parameter types.
const (
	// ParamString is a NUL-terminated string.
	ParamString ParamType = iota
	// ParamInt is a native-endian 4-byte int.
	ParamInt
	// ParamBool is a flag: the name alone for true, the name with "no"
	// before its last component for false, and an empty value.
	ParamBool
	// ParamIP4 is a packed array of struct in_addr.
	ParamIP4
	// ParamIP6 is a packed array of struct in6_addr.
	ParamIP6
	// ParamULong is a native-endian unsigned long: 8 bytes on the 64-bit
	// systems stockade runs on (host.hostid).
	ParamULong
)

// The values of the "jailsys" parameters (host, ip4, ip6, vnet, sysvmsg,
// sysvsem, sysvshm): JAIL_SYS_DISABLE, JAIL_SYS_NEW and JAIL_SYS_INHERIT of
// <sys/jail.h>.
const (
	JailSysDisable = freebsdabi.JailSysDisable
	JailSysNew     = freebsdabi.JailSysNew
	JailSysInherit = freebsdabi.JailSysInherit
)

// Param is one jail parameter.
type Param struct {
	// Name is the parameter's name, such as "host.hostname".
	Name string
	// Type says which of the value fields is used.
	Type ParamType
	// Str is the value of a ParamString.
	Str string
	// Int is the value of a ParamInt.
	Int int32
	// Bool is the value of a ParamBool.
	Bool bool
	// Addrs is the value of a ParamIP4 or ParamIP6.
	Addrs []netip.Addr
	// ULong is the value of a ParamULong.
	ULong uint64
}

// StrParam, IntParam and BoolParam make parameters.
func StrParam(name, v string) Param { return Param{Name: name, Type: ParamString, Str: v} }

// IntParam makes an integer parameter.
func IntParam(name string, v int32) Param { return Param{Name: name, Type: ParamInt, Int: v} }

// BoolParam makes a boolean parameter.
func BoolParam(name string, v bool) Param { return Param{Name: name, Type: ParamBool, Bool: v} }

// String renders the parameter as jail(8) writes it: name=value, name or
// name with its "no" prefix for booleans, addresses joined by commas.
func (p Param) String() string {
	switch p.Type {
	case ParamInt:
		return p.Name + "=" + strconv.Itoa(int(p.Int))
	case ParamULong:
		return p.Name + "=" + strconv.FormatUint(p.ULong, 10)
	case ParamBool:
		return p.KernelName()
	case ParamIP4, ParamIP6:
		s := make([]string, len(p.Addrs))
		for i, a := range p.Addrs {
			s[i] = a.String()
		}
		return p.Name + "=" + strings.Join(s, ",")
	}
	return p.Name + "=" + p.Str
}

// KernelName is the name passed to the kernel: a false boolean gets "no"
// before its last component ("nopersist", "allow.noset_hostname",
// "allow.mount.notmpfs").
func (p Param) KernelName() string {
	if p.Type != ParamBool || p.Bool {
		return p.Name
	}
	if i := strings.LastIndexByte(p.Name, '.'); i >= 0 {
		return p.Name[:i+1] + "no" + p.Name[i+1:]
	}
	return "no" + p.Name
}

// Annotations read from the spec, as ocijail reads them, and written into
// the state.
const (
	// AnnotationParentJail names the parent jail (ocijail, podman).
	AnnotationParentJail = "org.freebsd.parentJail"
	// AnnotationVnet is "new" or "inherit" (ocijail, podman).
	AnnotationVnet = "org.freebsd.jail.vnet"
	// AnnotationAllowPrefix + an allow parameter's name ("mlock",
	// "raw_sockets") with "true" or "false" sets it (daemonless' ocijail
	// extension).
	AnnotationAllowPrefix = "org.freebsd.jail.allow."
	// AnnotationJID is the jail's id, in the container's state.
	AnnotationJID = "org.freebsd.jail.jid"
	// AnnotationJailPrefix is the prefix of all jail annotations; unknown
	// ones are errors.
	AnnotationJailPrefix = "org.freebsd.jail."
	// AnnotationImageOS is the OCI image annotation naming the image's
	// operating system; "linux" makes the jail a Linux jail (see
	// IsLinuxBundle).
	AnnotationImageOS = "org.opencontainers.image.os"
	// AnnotationLinuxOSRelease sets a Linux jail's linux.osrelease, the
	// kernel release uname(2) reports inside it ("5.15.0"); it is an error
	// on a bundle that is not for a Linux image.
	AnnotationLinuxOSRelease = "org.freebsd.jail.linux.osrelease"
)

// The linuxulator's parameters of a Linux jail.
const (
	// LinuxOSName is the linux.osname of a Linux jail.
	LinuxOSName = "Linux"
	// DefaultLinuxOSRelease is the linux.osrelease of a Linux jail without
	// an org.freebsd.jail.linux.osrelease annotation: the
	// compat.linux.osrelease FreeBSD 14 reports by default, recent enough
	// for today's glibc and musl.
	DefaultLinuxOSRelease = "5.15.0"
	// maxLinuxUTSName is LINUX_MAX_UTSNAME less the NUL.
	maxLinuxUTSName = 64
)

// linuxOSRelease is a subset of what the linuxulator's linux_map_osrel
// accepts (sys/compat/linux/linux_mib.c): MAJOR.MINOR.PATCH with MAJOR >=
// 1, then nothing or '-' and a non-empty suffix. The kernel refuses a
// suffix starting with '.' and an empty one.
var linuxOSRelease = regexp.MustCompile(`^[1-9][0-9]*\.[0-9]+\.[0-9]+(-[!-~]+)?$`)

// IsLinuxBundle tells whether spec is for a Linux image, to run under the
// linuxulator. The rule is: the org.opencontainers.image.os annotation
// decides when it is set ("linux" is a Linux image, any other value is
// not); otherwise a spec with a linux section is for a Linux image. Mounts
// of linprocfs or linsysfs decide nothing: a FreeBSD jail may mount them
// for Linux binaries of its own.
func IsLinuxBundle(spec *specs.Spec) bool {
	if v, ok := spec.Annotations[AnnotationImageOS]; ok {
		return v == "linux"
	}
	return spec.Linux != nil
}

// ErrInvalidSpec is wrapped by every error about a spec the runtime cannot
// run as a jail.
var ErrInvalidSpec = errors.New("invalid spec for a jail")

func specErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, a...))
}

// allowFlags are the boolean allow.* parameters of freebsd.jail.allow, by
// their jail(8) names.
var allowFlags = []string{"set_hostname", "raw_sockets", "chflags", "quotas", "socket_af", "mlock", "reserved_ports", "suser"}

// MountFSTypes are the file system types allow.mount may list: the ones
// jail(8) has an allow.mount.<type> parameter for.
var MountFSTypes = []string{"devfs", "fdescfs", "fusefs", "lindebugfs", "linprocfs", "linsysfs", "nullfs", "procfs", "tmpfs", "zfs"}

// JailConfig is what the runtime needs to know about a container's jail
// besides its parameters.
type JailConfig struct {
	// Name is the jail's name: the container id, below its parent's name
	// for a child jail ("parent.id").
	Name string
	// Parent is the parent jail's name, or "".
	Parent string
	// Vnet is set when the jail has its own vnet.
	Vnet bool
	// Interface receives the jail's addresses as aliases.
	Interface string
	// IP4 and IP6 are the jail's addresses, with their prefix (/32 or
	// /128 unless given).
	IP4, IP6 []netip.Prefix
	// VnetInterfaces are moved into the jail's vnet while it lives.
	VnetInterfaces []string
	// Linux is set for a Linux image's jail (see IsLinuxBundle).
	Linux bool
	// Modules are the kernel modules that must be loaded before the jail
	// is made, because they add parameters it uses (as jail(8) loads
	// them): the file systems of allow.mount.<fs>, and linux64 for the
	// linux.* parameters.
	Modules []Module
	// Params are the jail_set(2) parameters, in order.
	Params []Param
}

// Module is a kernel module that registers a jail parameter.
type Module struct {
	// Param is a jail parameter the module adds.
	Param string
	// File is the module's file for kldload(2), such as "linux64".
	File string
}

// LinuxModule is the linuxulator module a Linux jail needs: linux64 (on
// amd64 and arm64) loads the common part that registers the linux.*
// jail parameters and runs 64-bit Linux programs.
const LinuxModule = "linux64"

// ValidateID checks that id can name a jail: not empty, no dot (dots
// separate parent and child jails), not all digits (a number names a jail
// by id), no slash or white space.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("empty container id")
	}
	if strings.ContainsAny(id, "./ \t\n") {
		return fmt.Errorf("container id %q: a jail name cannot contain '.', '/' or white space", id)
	}
	if _, err := strconv.Atoi(id); err == nil {
		return fmt.Errorf("container id %q: a jail name cannot be a number", id)
	}
	if len(id) > 200 {
		return fmt.Errorf("container id %q: longer than 200 bytes", id)
	}
	return nil
}

func sharing(field string, v specs.FreeBSDSharing, allowed ...int) (int32, bool, error) {
	var n int
	switch v {
	case "":
		return 0, false, nil
	case specs.FreeBSDShareDisable:
		n = JailSysDisable
	case specs.FreeBSDShareNew:
		n = JailSysNew
	case specs.FreeBSDShareInherit:
		n = JailSysInherit
	default:
		return 0, false, specErr("freebsd.jail.%s: unknown value %q (want disable, new or inherit)", field, v)
	}
	if !slices.Contains(allowed, n) {
		return 0, false, specErr("freebsd.jail.%s: %q is not allowed here", field, v)
	}
	return int32(n), true, nil
}

func parseAddrs(field string, list []string, v6 bool) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(s)
			if err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, specErr("freebsd.jail.%s: %q is not a numeric address: %v", field, s, err)
		}
		if a := p.Addr(); (v6 && !(a.Is6() && !a.Is4In6())) || (!v6 && !a.Is4()) || a.Zone() != "" {
			return nil, specErr("freebsd.jail.%s: %q is not an IPv%s address", field, s, map[bool]string{false: "4", true: "6"}[v6])
		}
		if a := p.Addr(); a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return nil, specErr("freebsd.jail.%s: %s cannot be a jail's address", field, a)
		}
		out = append(out, p)
	}
	return out, nil
}

// jailAnnotations applies ocijail's annotations to a copy of j.
func jailAnnotations(j specs.FreeBSDJail, ann map[string]string) (specs.FreeBSDJail, map[string]bool, error) {
	allow := map[string]bool{}
	if v, ok := ann[AnnotationParentJail]; ok {
		if v == "" {
			return j, nil, specErr("annotation %s is empty", AnnotationParentJail)
		}
		if j.Parent != "" && j.Parent != v {
			return j, nil, specErr("freebsd.jail.parent %q and annotation %s %q disagree", j.Parent, AnnotationParentJail, v)
		}
		j.Parent = v
	}
	for _, k := range slices.Sorted(maps.Keys(ann)) {
		v := ann[k]
		switch {
		case !strings.HasPrefix(k, AnnotationJailPrefix):
		case k == AnnotationVnet:
			s := specs.FreeBSDSharing(v)
			if s != specs.FreeBSDShareNew && s != specs.FreeBSDShareInherit {
				return j, nil, specErr("annotation %s: %q (want new or inherit)", k, v)
			}
			if j.Vnet != "" && j.Vnet != s {
				return j, nil, specErr("freebsd.jail.vnet %q and annotation %s %q disagree", j.Vnet, k, v)
			}
			j.Vnet = s
		case strings.HasPrefix(k, AnnotationAllowPrefix):
			name := strings.TrimPrefix(k, AnnotationAllowPrefix)
			if !slices.Contains(allowFlags, name) && !slices.Contains(ExtraAllowFlags, name) {
				return j, nil, specErr("annotation %s: unknown allow parameter %q", k, name)
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return j, nil, specErr("annotation %s: %q is not true or false", k, v)
			}
			allow[name] = b
		case k == AnnotationJID:
			return j, nil, specErr("annotation %s is set by the runtime", k)
		case k == AnnotationLinuxOSRelease, strings.HasPrefix(k, AnnotationParamPrefix):
			// JailParams checks them.
		default:
			return j, nil, specErr("unknown annotation %s", k)
		}
	}
	return j, allow, nil
}

// JailParams maps a spec to the jail of container id with its root file
// system at root (an absolute host path), as config-freebsd.md's table
// says:
//
//	name             id, or parent.id when freebsd.jail.parent is set
//	path             root
//	persist          always (the runtime removes the jail)
//	host             freebsd.jail.host (new or inherit)
//	host.hostname    hostname (needs host "new")
//	host.domainname  domainname (needs host "new")
//	ip4, ip4.addr    freebsd.jail.ip4, ip4Addr (addresses imply "new")
//	ip6, ip6.addr    freebsd.jail.ip6, ip6Addr
//	vnet             freebsd.jail.vnet "new" (inherit is what a jail gets
//	                 without it; passed, it would make the kernel refuse
//	                 ip4/ip6 parameters)
//	sysvmsg/sem/shm  freebsd.jail.sysvmsg/sysvsem/sysvshm
//	linux            "new" (1) for a Linux image (IsLinuxBundle), with
//	linux.osname     "Linux" and
//	linux.osrelease  org.freebsd.jail.linux.osrelease, default
//	                 DefaultLinuxOSRelease
//	enforce_statfs   freebsd.jail.enforceStatfs (0, 1 or 2; default 2)
//	allow.*          freebsd.jail.allow: set_hostname, raw_sockets, chflags,
//	                 quotas, socket_af and mlock are always passed (false
//	                 as allow.noX); reserved_ports and suser only when true,
//	                 since JSON cannot tell false from unset and the kernel
//	                 enables both by default
//	allow.mount      true when allow.mount lists types, with
//	allow.mount.<t>  one per listed type (needs enforce_statfs < 2)
//	devfs_ruleset    the /dev devfs mount's ruleset, when devfs may be
//	                 mounted inside the jail
//
//	securelevel ...  org.freebsd.jail.param.<name> for the ExtraParams
//	                 (securelevel, children.max, osreldate, osrelease,
//	                 host.hostuuid, host.hostid, ip4/ip6.saddrsel)
//
// ocijail's annotations are accepted: org.freebsd.parentJail (the parent),
// org.freebsd.jail.vnet (new or inherit) and org.freebsd.jail.allow.<name>
// (true or false; the ExtraAllowFlags too, passed only when set), and
// org.freebsd.jail.linux.osrelease (a Linux release,
// MAJOR.MINOR.PATCH[-suffix], for a Linux image only). Unknown
// org.freebsd.jail.* annotations, unknown values
// and contradictions (addresses with ip4 "disable", any ip4/ip6 setting or
// interface with vnet "new", vnetInterfaces without vnet "new", a
// hostname with host "inherit", ...) are errors wrapping ErrInvalidSpec.
func JailParams(spec *specs.Spec, id, root string) (*JailConfig, error) {
	if err := ValidateID(id); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	if !filepath.IsAbs(root) {
		return nil, specErr("root %q is not absolute", root)
	}
	var j specs.FreeBSDJail
	if spec.FreeBSD != nil && spec.FreeBSD.Jail != nil {
		j = *spec.FreeBSD.Jail
	}
	j, annAllow, err := jailAnnotations(j, spec.Annotations)
	if err != nil {
		return nil, err
	}
	cfg := &JailConfig{Name: id, Parent: j.Parent, Interface: j.Interface}
	if j.Parent != "" {
		if strings.ContainsAny(j.Parent, "/ \t\n") || strings.HasPrefix(j.Parent, ".") || strings.HasSuffix(j.Parent, ".") {
			return nil, specErr("freebsd.jail.parent %q is not a jail name", j.Parent)
		}
		cfg.Name = j.Parent + "." + id
	}
	add := func(p Param) { cfg.Params = append(cfg.Params, p) }
	add(StrParam("name", cfg.Name))
	add(StrParam("path", filepath.Clean(root)))
	add(BoolParam("persist", true))

	// host
	host, hostSet, err := sharing("host", j.Host, JailSysNew, JailSysInherit)
	if err != nil {
		return nil, err
	}
	if (spec.Hostname != "" || spec.Domainname != "") && hostSet && host != JailSysNew {
		return nil, specErr("hostname/domainname need freebsd.jail.host \"new\", not %q", j.Host)
	}
	if spec.Hostname != "" || spec.Domainname != "" {
		host, hostSet = JailSysNew, true
	}
	if hostSet {
		add(IntParam("host", host))
	}
	if spec.Hostname != "" {
		add(StrParam("host.hostname", spec.Hostname))
	}
	if spec.Domainname != "" {
		add(StrParam("host.domainname", spec.Domainname))
	}

	// vnet
	vnet, _, err := sharing("vnet", j.Vnet, JailSysNew, JailSysInherit)
	if err != nil {
		return nil, err
	}
	// Only "new" is passed: "inherit" is what a jail without the parameter
	// gets, and passing it would make the kernel refuse any ip4/ip6
	// parameter beside it ("vnet jails cannot have IP address
	// restrictions").
	cfg.Vnet = j.Vnet != "" && vnet == JailSysNew
	if len(j.VnetInterfaces) > 0 && !cfg.Vnet {
		return nil, specErr("freebsd.jail.vnetInterfaces need freebsd.jail.vnet \"new\"")
	}
	for _, ifc := range j.VnetInterfaces {
		if err := validIfname(ifc); err != nil {
			return nil, specErr("freebsd.jail.vnetInterfaces: %v", err)
		}
		if slices.Contains(cfg.VnetInterfaces, ifc) {
			return nil, specErr("freebsd.jail.vnetInterfaces: %q listed twice", ifc)
		}
		cfg.VnetInterfaces = append(cfg.VnetInterfaces, ifc)
	}
	if cfg.Vnet {
		add(IntParam("vnet", JailSysNew))
	}

	// ip4, ip6
	for _, fam := range []struct {
		name   string
		share  specs.FreeBSDSharing
		addrs  []string
		v6     bool
		result *[]netip.Prefix
		typ    ParamType
	}{
		{"ip4", j.Ip4, j.Ip4Addr, false, &cfg.IP4, ParamIP4},
		{"ip6", j.Ip6, j.Ip6Addr, true, &cfg.IP6, ParamIP6},
	} {
		v, set, err := sharing(fam.name, fam.share, JailSysDisable, JailSysNew, JailSysInherit)
		if err != nil {
			return nil, err
		}
		addrs, err := parseAddrs(fam.name+"Addr", fam.addrs, fam.v6)
		if err != nil {
			return nil, err
		}
		if len(addrs) > 0 {
			if set && v != JailSysNew {
				return nil, specErr("freebsd.jail.%sAddr needs freebsd.jail.%s \"new\" or unset, not %q", fam.name, fam.name, fam.share)
			}
			if cfg.Vnet {
				return nil, specErr("freebsd.jail.%sAddr cannot be used with vnet \"new\" (configure addresses inside the vnet)", fam.name)
			}
			v, set = JailSysNew, true
		}
		if set && cfg.Vnet {
			// The kernel refuses every ip4/ip6 parameter of a vnet jail;
			// its addresses are configured inside its own network stack.
			return nil, specErr("freebsd.jail.%s %q cannot be used with vnet \"new\" (leave it unset)", fam.name, fam.share)
		}
		if set {
			add(IntParam(fam.name, v))
		}
		if len(addrs) > 0 {
			p := Param{Name: fam.name + ".addr", Type: fam.typ}
			for _, a := range addrs {
				if slices.Contains(p.Addrs, a.Addr()) {
					return nil, specErr("freebsd.jail.%sAddr: %s listed twice", fam.name, a.Addr())
				}
				p.Addrs = append(p.Addrs, a.Addr())
			}
			add(p)
			*fam.result = addrs
		}
	}
	if j.Interface != "" {
		if err := validIfname(j.Interface); err != nil {
			return nil, specErr("freebsd.jail.interface: %v", err)
		}
		if cfg.Vnet {
			return nil, specErr("freebsd.jail.interface cannot be used with vnet \"new\" (use vnetInterfaces)")
		}
		if len(cfg.IP4)+len(cfg.IP6) == 0 {
			return nil, specErr("freebsd.jail.interface %q is set but there is no ip4Addr or ip6Addr", j.Interface)
		}
	}

	// System V IPC
	for _, s := range []struct {
		name  string
		share specs.FreeBSDSharing
	}{{"sysvmsg", j.SysVMsg}, {"sysvsem", j.SysVSem}, {"sysvshm", j.SysVShm}} {
		v, set, err := sharing(s.name, s.share, JailSysDisable, JailSysNew, JailSysInherit)
		if err != nil {
			return nil, err
		}
		if set {
			add(IntParam(s.name, v))
		}
	}

	// linux
	rel, relSet := spec.Annotations[AnnotationLinuxOSRelease]
	cfg.Linux = IsLinuxBundle(spec)
	if relSet && !cfg.Linux {
		return nil, specErr("annotation %s is set but the bundle is not for a Linux image (no linux section, or %s is not \"linux\")", AnnotationLinuxOSRelease, AnnotationImageOS)
	}
	if cfg.Linux {
		if !relSet {
			rel = DefaultLinuxOSRelease
		} else if len(rel) > maxLinuxUTSName || !linuxOSRelease.MatchString(rel) {
			return nil, specErr("annotation %s: %q is not a Linux release (want MAJOR.MINOR.PATCH with an optional -suffix, up to %d bytes)", AnnotationLinuxOSRelease, rel, maxLinuxUTSName)
		}
		cfg.Modules = append(cfg.Modules, Module{Param: "linux", File: LinuxModule})
		add(IntParam("linux", JailSysNew))
		add(StrParam("linux.osname", LinuxOSName))
		add(StrParam("linux.osrelease", rel))
	}

	// enforce_statfs
	statfs := 2
	if j.EnforceStatfs != nil {
		statfs = *j.EnforceStatfs
		if statfs < 0 || statfs > 2 {
			return nil, specErr("freebsd.jail.enforceStatfs %d: want 0, 1 or 2", statfs)
		}
	}
	add(IntParam("enforce_statfs", int32(statfs)))

	// allow
	var a specs.FreeBSDJailAllow
	if j.Allow != nil {
		a = *j.Allow
	}
	flags := map[string]bool{
		"set_hostname": a.SetHostname, "raw_sockets": a.RawSockets, "chflags": a.Chflags,
		"quotas": a.Quotas, "socket_af": a.SocketAf, "mlock": a.Mlock,
		"reserved_ports": a.ReservedPorts, "suser": a.Suser,
	}
	for name, v := range annAllow {
		if flags[name] && !v {
			return nil, specErr("freebsd.jail.allow and annotation %s%s=false disagree", AnnotationAllowPrefix, name)
		}
		flags[name] = v
	}
	for _, name := range allowFlags {
		v := flags[name]
		_, explicit := annAllow[name]
		if (name == "reserved_ports" || name == "suser") && !v && !explicit {
			continue
		}
		add(BoolParam("allow."+name, v))
	}
	for _, name := range ExtraAllowFlags {
		if v, ok := annAllow[name]; ok {
			add(BoolParam("allow."+name, v))
		}
	}
	if len(a.Mount) > 0 {
		if statfs == 2 {
			return nil, specErr("freebsd.jail.allow.mount needs enforceStatfs 0 or 1 (jail(8): allow.mount is effective only below 2)")
		}
		add(BoolParam("allow.mount", true))
		var seen []string
		for _, fs := range a.Mount {
			if !slices.Contains(MountFSTypes, fs) {
				return nil, specErr("freebsd.jail.allow.mount: unknown file system type %q (known: %s)", fs, strings.Join(MountFSTypes, ", "))
			}
			if slices.Contains(seen, fs) {
				return nil, specErr("freebsd.jail.allow.mount: %q listed twice", fs)
			}
			seen = append(seen, fs)
			add(BoolParam("allow.mount."+fs, true))
			cfg.Modules = append(cfg.Modules, Module{Param: "allow.mount." + fs, File: fs})
		}
		if slices.Contains(seen, "devfs") {
			rs, err := devfsRuleset(spec.Mounts)
			if err != nil {
				return nil, err
			}
			add(IntParam("devfs_ruleset", rs))
		}
	} else {
		add(BoolParam("allow.mount", false))
	}
	extra, err := extraParams(spec.Annotations)
	if err != nil {
		return nil, err
	}
	cfg.Params = append(cfg.Params, extra...)
	return cfg, nil
}

// devfsRuleset returns the ruleset of the /dev devfs mount, 4 by default.
func devfsRuleset(mounts []specs.Mount) (int32, error) {
	for _, m := range mounts {
		if m.Type != "devfs" || filepath.Clean(m.Destination) != "/dev" {
			continue
		}
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "ruleset="); ok {
				n, err := strconv.ParseInt(v, 10, 32)
				if err != nil || n < 0 || n > 65535 {
					return 0, specErr("devfs mount on /dev: bad ruleset %q", v)
				}
				return int32(n), nil
			}
		}
	}
	return 4, nil
}

// validIfname checks a network interface name (IFNAMSIZ is 16 with the
// NUL).
func validIfname(name string) error {
	if name == "" || len(name) > 15 {
		return fmt.Errorf("interface name %q: want 1 to 15 bytes", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("interface name %q: bad character %q", name, c)
		}
	}
	return nil
}
