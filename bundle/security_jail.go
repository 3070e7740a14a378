package bundle

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Annotations that carry jail parameters to the FreeBSD runtime when the
// spec's freebsd section has no field for them.
const (
	// AnnotationJailAllowPrefix + an allow.* parameter's name ("nfsd")
	// with "true" or "false" sets it: ocijail's annotation as daemonless'
	// patch reads it, and stockade's jail runtime for the allow flags the
	// spec has.
	AnnotationJailAllowPrefix = "org.freebsd.jail.allow."
	// AnnotationJailParamPrefix + any other parameter's name
	// ("securelevel", "children.max") carries its value as jail(8) writes
	// it.
	AnnotationJailParamPrefix = "org.freebsd.jail.param."
	// AnnotationJailLinuxOSRelease is the linux.osrelease of a Linux
	// image's jail.
	AnnotationJailLinuxOSRelease = "org.freebsd.jail.linux.osrelease"
)

// jailParamType is how a --jail-param value is written.
type jailParamType int

const (
	jailBool    jailParamType = iota // 1, 0, true, false, or the name alone
	jailInt                          // a decimal integer in [min, max]
	jailString                       // printable text
	jailSharing                      // new, inherit or disable (1, 2, 0)
)

// jailRoute says where a parameter goes in the spec.
type jailRoute int

const (
	routeSpecAllow  jailRoute = iota // freebsd.jail.allow.<field>
	routeMountFS                     // freebsd.jail.allow.mount list
	routeStatfs                      // freebsd.jail.enforceStatfs
	routeSysV                        // freebsd.jail.sysvmsg/sem/shm
	routeSysVIPC                     // allow.sysvipc: the three sysv* "inherit"
	routeRuleset                     // the /dev devfs mount's ruleset
	routeLinuxRel                    // AnnotationJailLinuxOSRelease
	routeAllowAnnot                  // AnnotationJailAllowPrefix
	routeParamAnnot                  // AnnotationJailParamPrefix
	routeOwned                       // set by stockade from other options
)

type jailParamInfo struct {
	typ      jailParamType
	min, max int64
	route    jailRoute
	hint     string // for routeOwned: the option to use
}

// jailParams is the table of the jail parameters FreeBSD's kernel knows
// (jail(8), sys/kern/kern_jail.c; the linux.* ones with linux64 loaded),
// with what --jail-param does with each.
var jailParams = func() map[string]jailParamInfo {
	t := map[string]jailParamInfo{
		"enforce_statfs":  {typ: jailInt, min: 0, max: 2, route: routeStatfs},
		"sysvmsg":         {typ: jailSharing, route: routeSysV},
		"sysvsem":         {typ: jailSharing, route: routeSysV},
		"sysvshm":         {typ: jailSharing, route: routeSysV},
		"allow.sysvipc":   {typ: jailBool, route: routeSysVIPC},
		"devfs_ruleset":   {typ: jailInt, min: 0, max: 65535, route: routeRuleset},
		"securelevel":     {typ: jailInt, min: -1, max: 3, route: routeParamAnnot},
		"children.max":    {typ: jailInt, min: 0, max: 1<<31 - 1, route: routeParamAnnot},
		"osreldate":       {typ: jailInt, min: 1, max: 1<<31 - 1, route: routeParamAnnot},
		"osrelease":       {typ: jailString, route: routeParamAnnot},
		"host.hostuuid":   {typ: jailString, route: routeParamAnnot},
		"host.hostid":     {typ: jailInt, min: 0, max: 1<<32 - 1, route: routeParamAnnot},
		"ip4.saddrsel":    {typ: jailBool, route: routeParamAnnot},
		"ip6.saddrsel":    {typ: jailBool, route: routeParamAnnot},
		"linux.osrelease": {typ: jailString, route: routeLinuxRel},

		"name":            {route: routeOwned, hint: "--name"},
		"jid":             {route: routeOwned, hint: "nothing: the kernel numbers jails"},
		"path":            {route: routeOwned, hint: "nothing: it is the container's root"},
		"persist":         {route: routeOwned, hint: "nothing: the runtime keeps the jail while the container lives"},
		"parent":          {route: routeOwned, hint: "--annotation org.freebsd.parentJail=NAME"},
		"dying":           {route: routeOwned, hint: "nothing: it is read-only"},
		"children.cur":    {route: routeOwned, hint: "nothing: it is read-only"},
		"cpuset.id":       {route: routeOwned, hint: "nothing: it is read-only"},
		"host":            {route: routeOwned, hint: "--hostname"},
		"host.hostname":   {route: routeOwned, hint: "--hostname"},
		"host.domainname": {route: routeOwned, hint: "--annotation or the image"},
		"ip4":             {route: routeOwned, hint: "--network"},
		"ip4.addr":        {route: routeOwned, hint: "--network and --ip"},
		"ip6":             {route: routeOwned, hint: "--network"},
		"ip6.addr":        {route: routeOwned, hint: "--network and --ip6"},
		"vnet":            {route: routeOwned, hint: "--network"},
		"linux":           {route: routeOwned, hint: "nothing: a Linux image gets it"},
		"linux.osname":    {route: routeOwned, hint: "nothing: a Linux image gets \"Linux\""},
		"allow.mount":     {route: routeOwned, hint: "allow.mount.<fs>, e.g. --jail-param allow.mount.nullfs"},
	}
	for _, a := range []string{"set_hostname", "raw_sockets", "chflags", "quotas", "socket_af", "mlock", "reserved_ports", "suser"} {
		t["allow."+a] = jailParamInfo{typ: jailBool, route: routeSpecAllow}
	}
	for _, a := range []string{"read_msgbuf", "nfsd", "unprivileged_proc_debug", "vmm", "extattr", "adjtime", "settime", "routing", "unprivileged_parent_tampering", "setaudit"} {
		t["allow."+a] = jailParamInfo{typ: jailBool, route: routeAllowAnnot}
	}
	for _, fs := range []string{"devfs", "fdescfs", "fusefs", "lindebugfs", "linprocfs", "linsysfs", "nullfs", "procfs", "tmpfs", "zfs"} {
		t["allow.mount."+fs] = jailParamInfo{typ: jailBool, route: routeMountFS}
	}
	return t
}()

// JailParamNames returns the names --jail-param accepts, sorted.
func JailParamNames() []string {
	var out []string
	for _, n := range slices.Sorted(maps.Keys(jailParams)) {
		if jailParams[n].route != routeOwned {
			out = append(out, n)
		}
	}
	return out
}

// PrivilegedJailParams is what --privileged sets on FreeBSD, before any
// --jail-param: the allow.* permissions a jail can be given without
// changing what it sees of the host's mounts. With them, /dev gets no
// devfs ruleset: every host device is visible, as docker's --privileged
// gives the host's devices.
var PrivilegedJailParams = []string{
	"allow.set_hostname=1",
	"allow.raw_sockets=1",
	"allow.chflags=1",
	"allow.mlock=1",
	"allow.socket_af=1",
	"allow.quotas=1",
	"allow.reserved_ports=1",
}

// PrivilegedDevfsRuleset is the /dev ruleset of a privileged jail: 0, no
// rules, every device.
const PrivilegedDevfsRuleset = 0

// jailPlan is what the security options do to a jail.
type jailPlan struct {
	allow       map[string]bool // the spec's allow flags, by parameter name
	mountFS     []string
	statfs      *int
	sysv        map[string]specs.FreeBSDSharing
	ruleset     *int
	annotations map[string]string
	devices     []specs.FreeBSDDevice
}

// checkJail turns the FreeBSD security options into a jailPlan.
func checkJail(s Security, devices []DeviceRequest) (*jailPlan, error) {
	jp := &jailPlan{allow: map[string]bool{}, sysv: map[string]specs.FreeBSDSharing{}, annotations: map[string]string{}}
	set := func(option, raw string) error {
		name, value, hasValue := strings.Cut(raw, "=")
		name = strings.TrimSpace(name)
		info, ok := jailParams[name]
		if !ok && !hasValue {
			// jail(8)'s negated boolean: allow.nomlock, nopersist.
			if i := strings.LastIndexByte(name, '.'); strings.HasPrefix(name[i+1:], "no") {
				pos := name[:i+1] + strings.TrimPrefix(name[i+1:], "no")
				if pi, pok := jailParams[pos]; pok && pi.typ == jailBool {
					name, value, hasValue, info, ok = pos, "0", true, pi, true
				}
			}
		}
		if !ok {
			return optErr(option, raw, "unknown jail parameter %q (see jail(8))", name)
		}
		if info.route == routeOwned {
			return optErr(option, raw, "%s is set by stockade (use %s)", name, info.hint)
		}
		if !hasValue && info.typ != jailBool {
			return optErr(option, raw, "%s needs a value (NAME=VALUE)", name)
		}
		var b bool
		var n int64
		var sh specs.FreeBSDSharing
		switch info.typ {
		case jailBool:
			switch strings.ToLower(value) {
			case "", "1", "true", "yes", "on":
				b, value = true, "true"
			case "0", "false", "no", "off":
				b, value = false, "false"
			default:
				return optErr(option, raw, "%s is a boolean (want 1 or 0)", name)
			}
		case jailInt:
			var err error
			n, err = strconv.ParseInt(value, 10, 64)
			if err != nil || n < info.min || n > info.max {
				return optErr(option, raw, "%s wants an integer from %d to %d", name, info.min, info.max)
			}
			value = strconv.FormatInt(n, 10)
		case jailString:
			if value == "" {
				return optErr(option, raw, "%s needs a value", name)
			}
			for _, c := range value {
				if c < ' ' || c == 0x7f {
					return optErr(option, raw, "%s: control characters are not allowed", name)
				}
			}
		case jailSharing:
			switch value {
			case "new", "1":
				sh = specs.FreeBSDShareNew
			case "inherit", "2":
				sh = specs.FreeBSDShareInherit
			case "disable", "0":
				sh = specs.FreeBSDShareDisable
			default:
				return optErr(option, raw, "%s wants new, inherit or disable", name)
			}
		}
		switch info.route {
		case routeSpecAllow:
			jp.allow[name] = b
		case routeMountFS:
			fs := strings.TrimPrefix(name, "allow.mount.")
			jp.mountFS = slices.DeleteFunc(jp.mountFS, func(x string) bool { return x == fs })
			if b {
				jp.mountFS = append(jp.mountFS, fs)
			}
		case routeStatfs:
			v := int(n)
			jp.statfs = &v
		case routeSysV:
			jp.sysv[name] = sh
		case routeSysVIPC:
			for _, k := range []string{"sysvmsg", "sysvsem", "sysvshm"} {
				if b {
					jp.sysv[k] = specs.FreeBSDShareInherit
				} else {
					delete(jp.sysv, k)
				}
			}
		case routeRuleset:
			v := int(n)
			jp.ruleset = &v
		case routeLinuxRel:
			jp.annotations[AnnotationJailLinuxOSRelease] = value
		case routeAllowAnnot:
			jp.annotations[AnnotationJailAllowPrefix+strings.TrimPrefix(name, "allow.")] = value
		case routeParamAnnot:
			jp.annotations[AnnotationJailParamPrefix+name] = value
		}
		return nil
	}
	if s.Privileged {
		for _, p := range PrivilegedJailParams {
			if err := set("--privileged", p); err != nil {
				return nil, err
			}
		}
		rs := PrivilegedDevfsRuleset
		jp.ruleset = &rs
	}
	for _, p := range s.JailParams {
		if err := set("--jail-param", p); err != nil {
			return nil, err
		}
	}
	if s.Securelevel != nil {
		v := strconv.Itoa(*s.Securelevel)
		if err := set("--securelevel", "securelevel="+v); err != nil {
			return nil, optErr("--securelevel", v, "want -1, 0, 1, 2 or 3")
		}
	}
	if s.DevfsRuleset != nil {
		v := strconv.Itoa(*s.DevfsRuleset)
		if err := set("--devfs-ruleset", "devfs_ruleset="+v); err != nil {
			return nil, optErr("--devfs-ruleset", v, "want a ruleset number from 0 to 65535")
		}
	}
	if len(jp.mountFS) > 0 && (jp.statfs == nil || *jp.statfs == 2) {
		return nil, optErr("--jail-param", "allow.mount."+jp.mountFS[0], "needs --jail-param enforce_statfs=1 or 0 (jail(8): allow.mount works only below 2)")
	}
	for _, d := range devices {
		if d.Container != d.Host {
			return nil, optErr("--device", d.Raw, "a jail sees host devices at their own path (devfs cannot rename them)")
		}
		rel, ok := strings.CutPrefix(d.Host, "/dev/")
		if !ok || rel == "" || slices.Contains(strings.Split(rel, "/"), "..") {
			return nil, optErr("--device", d.Raw, "want a device under /dev")
		}
		if d.Permissions != "rwm" {
			return nil, optErr("--device", d.Raw, "permissions are not supported for a jail (its device's own mode applies)")
		}
		jp.devices = append(jp.devices, specs.FreeBSDDevice{Path: rel})
	}
	return jp, nil
}

// applyJailSecurity writes a jailPlan into a FreeBSD spec whose mounts
// are made.
func applyJailSecurity(spec *specs.Spec, jp *jailPlan) error {
	j := spec.FreeBSD.Jail
	if len(jp.allow) > 0 || len(jp.mountFS) > 0 {
		a := &specs.FreeBSDJailAllow{}
		if j.Allow != nil {
			*a = *j.Allow
		}
		for name, v := range jp.allow {
			switch name {
			case "allow.set_hostname":
				a.SetHostname = v
			case "allow.raw_sockets":
				a.RawSockets = v
			case "allow.chflags":
				a.Chflags = v
			case "allow.quotas":
				a.Quotas = v
			case "allow.socket_af":
				a.SocketAf = v
			case "allow.mlock":
				a.Mlock = v
			case "allow.reserved_ports":
				a.ReservedPorts = v
			case "allow.suser":
				a.Suser = v
			}
			// JSON cannot tell false from unset for the two flags the
			// kernel enables by default; the annotation can.
			if !v && (name == "allow.reserved_ports" || name == "allow.suser") {
				jp.annotations[AnnotationJailAllowPrefix+strings.TrimPrefix(name, "allow.")] = "false"
			}
		}
		a.Mount = jp.mountFS
		j.Allow = a
	}
	if jp.statfs != nil {
		v := *jp.statfs
		j.EnforceStatfs = &v
	}
	for name, sh := range jp.sysv {
		switch name {
		case "sysvmsg":
			j.SysVMsg = sh
		case "sysvsem":
			j.SysVSem = sh
		case "sysvshm":
			j.SysVShm = sh
		}
	}
	if jp.ruleset != nil {
		found := false
		for i, m := range spec.Mounts {
			if m.Type != "devfs" || m.Destination != "/dev" {
				continue
			}
			found = true
			opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "ruleset=") })
			spec.Mounts[i].Options = append(opts, "ruleset="+strconv.Itoa(*jp.ruleset))
		}
		if !found {
			return optErr("--devfs-ruleset", strconv.Itoa(*jp.ruleset), "the container has no devfs on /dev")
		}
	}
	if len(jp.annotations) > 0 && spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	for _, k := range slices.Sorted(maps.Keys(jp.annotations)) {
		v := jp.annotations[k]
		if old, ok := spec.Annotations[k]; ok && old != v {
			return optErr("--annotation", k+"="+old, "conflicts with the jail parameter's %s=%s", k, v)
		}
		spec.Annotations[k] = v
	}
	if len(jp.devices) > 0 {
		spec.FreeBSD.Devices = append(spec.FreeBSD.Devices, jp.devices...)
	}
	return nil
}
