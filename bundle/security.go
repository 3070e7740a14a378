package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Security holds the options that widen or narrow what a container may
// do: Linux capabilities, seccomp, no-new-privileges and devices; on
// FreeBSD, jail parameters. The zero value is the default: docker's
// capabilities and seccomp profile on Linux, stockade's jail defaults on
// FreeBSD (see docs/SECURITY.md and docs/JAIL.md).
type Security struct {
	// Privileged is --privileged. Linux: every capability, no seccomp,
	// the host's devices, no masked or read-only paths, /sys writable.
	// FreeBSD: the set of PrivilegedJailParams and a /dev without a
	// devfs ruleset.
	Privileged bool
	// CapAdd and CapDrop are --cap-add and --cap-drop: capability names
	// with or without "CAP_", any case, or "ALL". Linux only.
	CapAdd, CapDrop []string
	// Seccomp is "" (docker's default profile), SeccompUnconfined (none),
	// or the name of the file SeccompProfile was read from, for messages.
	// Linux only.
	Seccomp string
	// SeccompProfile is the profile, in docker's JSON format, when
	// Seccomp names a file.
	SeccompProfile []byte
	// NoNewPrivileges is --security-opt no-new-privileges[=BOOL]; nil
	// keeps stockade's default, true. Linux only.
	NoNewPrivileges *bool
	// Devices holds --device values, HOST[:CONTAINER][:PERMS].
	Devices []string

	// JailParams holds --jail-param values, NAME[=VALUE]. FreeBSD only.
	JailParams []string
	// Securelevel is --securelevel (-1 to 3); nil leaves the kernel's
	// default. FreeBSD only.
	Securelevel *int
	// DevfsRuleset is --devfs-ruleset: the devfs ruleset of the
	// container's /dev; nil means DevfsRuleset (or none with
	// Privileged). FreeBSD only.
	DevfsRuleset *int
}

// SeccompUnconfined is the Security.Seccomp value that turns seccomp off.
const SeccompUnconfined = "unconfined"

// AllCapabilities are every Linux capability up to CAP_CHECKPOINT_RESTORE
// (Linux 5.9), in the kernel's order: what --privileged and --cap-add ALL
// give.
var AllCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// securityPlan is Security once checked.
type securityPlan struct {
	privileged  bool
	caps        []string         // Linux: the bounding set
	seccomp     *seccomp.Seccomp // a profile from a file
	seccompRaw  []byte
	seccompFile string
	seccompOff  bool // unconfined or privileged
	nnp         bool
	allCaps     bool // privileged or --cap-add ALL: all that this process holds
	devices     []DeviceRequest
	jail        *jailPlan // FreeBSD
}

// checkSecurity checks s for goos without touching the host.
func checkSecurity(goos string, s Security) (*securityPlan, error) {
	sp := &securityPlan{privileged: s.Privileged, nnp: true}
	if s.NoNewPrivileges != nil {
		sp.nnp = *s.NoNewPrivileges
	}
	for _, d := range s.Devices {
		r, err := ParseDevice(d)
		if err != nil {
			return nil, err
		}
		sp.devices = append(sp.devices, r)
	}
	wrongOS := func(option, value, forOS string) error {
		if value != "" && goos != forOS {
			return optErr(option, value, "is for %s only (this container is %s)", map[string]string{"linux": "Linux containers", "freebsd": "FreeBSD jails"}[forOS], goos)
		}
		return nil
	}
	intValue := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	nnp := ""
	if s.NoNewPrivileges != nil {
		nnp = "no-new-privileges=" + strconv.FormatBool(*s.NoNewPrivileges)
	}
	seccompOpt := ""
	if s.Seccomp != "" {
		seccompOpt = "seccomp=" + s.Seccomp
	}
	for _, e := range []error{
		wrongOS("--cap-add", strings.Join(s.CapAdd, ","), "linux"),
		wrongOS("--cap-drop", strings.Join(s.CapDrop, ","), "linux"),
		wrongOS("--security-opt", seccompOpt, "linux"),
		wrongOS("--security-opt", nnp, "linux"),
		wrongOS("--jail-param", strings.Join(s.JailParams, ","), "freebsd"),
		wrongOS("--securelevel", intValue(s.Securelevel), "freebsd"),
		wrongOS("--devfs-ruleset", intValue(s.DevfsRuleset), "freebsd"),
	} {
		if e != nil {
			return nil, e
		}
	}

	if goos == "freebsd" {
		jp, err := checkJail(s, sp.devices)
		if err != nil {
			return nil, err
		}
		sp.jail = jp
		return sp, nil
	}

	caps, err := Capabilities(s.Privileged, s.CapAdd, s.CapDrop)
	if err != nil {
		return nil, err
	}
	sp.caps = caps
	sp.allCaps = s.Privileged || slices.ContainsFunc(s.CapAdd, func(c string) bool { return strings.EqualFold(strings.TrimSpace(c), "ALL") })
	switch {
	case s.Seccomp == SeccompUnconfined || s.Privileged:
		sp.seccompOff = true
	case s.Seccomp != "":
		p, err := ParseSeccompProfile(s.Seccomp, s.SeccompProfile)
		if err != nil {
			return nil, err
		}
		sp.seccomp, sp.seccompRaw, sp.seccompFile = p, s.SeccompProfile, s.Seccomp
	}
	return sp, nil
}

// CanonicalCapability returns the kernel's name of a capability given
// with or without "CAP_", in any case ("net_admin" is "CAP_NET_ADMIN").
// "ALL" is returned as is. An unknown name is an error naming it.
func CanonicalCapability(name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if !slices.Contains(AllCapabilities, n) {
		return "", fmt.Errorf("unknown capability %q", name)
	}
	return n, nil
}

// Capabilities returns a container's bounding set as docker makes it:
// with "ALL" added, every capability less the drops; with "ALL" dropped,
// the adds only; otherwise docker's defaults (all of them when
// privileged) less the drops, plus the adds, so that an add wins over a
// drop of the same name.
func Capabilities(privileged bool, add, drop []string) ([]string, error) {
	canon := func(option string, names []string) ([]string, error) {
		out := make([]string, 0, len(names))
		for _, n := range names {
			c, err := CanonicalCapability(n)
			if err != nil {
				return nil, optErr(option, n, "unknown capability (see capabilities(7); ALL is all of them)")
			}
			out = append(out, c)
		}
		return out, nil
	}
	adds, err := canon("--cap-add", add)
	if err != nil {
		return nil, err
	}
	drops, err := canon("--cap-drop", drop)
	if err != nil {
		return nil, err
	}
	base := DefaultCapabilities
	if privileged {
		base = AllCapabilities
	}
	var caps []string
	switch {
	case slices.Contains(adds, "ALL"):
		for _, c := range AllCapabilities {
			if !slices.Contains(drops, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(drops, "ALL"):
		for _, c := range adds {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	default:
		for _, c := range base {
			if !slices.Contains(drops, c) {
				caps = append(caps, c)
			}
		}
		for _, c := range adds {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	if caps == nil {
		caps = []string{}
	}
	return caps, nil
}

// seccompActions are the actions a profile may name.
var seccompActions = []specs.LinuxSeccompAction{
	specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap,
	specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify,
}

// ParseSeccompProfile parses a seccomp profile in docker's JSON format,
// read from the file named file (for messages). It must be valid JSON with
// no unknown fields, a known defaultAction and known actions.
func ParseSeccompProfile(file string, data []byte) (*seccomp.Seccomp, error) {
	fail := func(format string, a ...any) error {
		return optErr("--security-opt", "seccomp="+file, format, a...)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p seccomp.Seccomp
	if err := dec.Decode(&p); err != nil {
		return nil, fail("not a valid seccomp profile: %v", jsonReason(data, err))
	}
	if dec.More() {
		return nil, fail("not a valid seccomp profile: data after the JSON object")
	}
	if p.DefaultAction == "" {
		return nil, fail("no defaultAction")
	}
	if !slices.Contains(seccompActions, p.DefaultAction) {
		return nil, fail("unknown defaultAction %q", p.DefaultAction)
	}
	if p.ListenerPath == "" && (p.DefaultAction == specs.ActNotify || slices.ContainsFunc(p.Syscalls, func(s *seccomp.Syscall) bool { return s.Action == specs.ActNotify })) {
		return nil, fail("SCMP_ACT_NOTIFY needs a listenerPath")
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return nil, fail("both architectures and archMap are set")
	}
	for i, s := range p.Syscalls {
		if s == nil {
			return nil, fail("syscalls[%d] is null", i)
		}
		names := s.Names
		if s.Name != "" {
			names = append([]string{s.Name}, names...)
		}
		if len(names) == 0 {
			return nil, fail("syscalls[%d] names no system call", i)
		}
		if !slices.Contains(seccompActions, s.Action) {
			return nil, fail("syscalls[%d] (%s): unknown action %q", i, names[0], s.Action)
		}
	}
	return &p, nil
}

// jsonReason says where JSON went wrong, with a line number.
func jsonReason(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err.Error()
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	return fmt.Sprintf("line %d: %v", line, err)
}

// DeviceRequest is a parsed --device value.
type DeviceRequest struct {
	// Host is the device's host path.
	Host string
	// Container is its path in the container (Host when not given).
	Container string
	// Permissions are the cgroup permissions, some of "rwm".
	Permissions string
	// Raw is the value as typed.
	Raw string
}

// ParseDevice parses a --device value, HOST[:CONTAINER][:PERMS]: absolute
// paths, PERMS some of r, w and m (default rwm).
func ParseDevice(s string) (DeviceRequest, error) {
	const opt = "--device"
	if strings.IndexByte(s, 0) >= 0 {
		return DeviceRequest{}, optErr(opt, s, "contains a NUL byte")
	}
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return DeviceRequest{}, optErr(opt, s, "too many fields (want HOST[:CONTAINER][:PERMS])")
	}
	r := DeviceRequest{Host: parts[0], Permissions: "rwm", Raw: s}
	if len(parts) == 2 && isPermissions(parts[1]) {
		r.Permissions = parts[1]
	} else if len(parts) >= 2 {
		r.Container = parts[1]
		if len(parts) == 3 {
			if !isPermissions(parts[2]) {
				return DeviceRequest{}, optErr(opt, s, "bad permissions %q (want some of r, w and m)", parts[2])
			}
			r.Permissions = parts[2]
		}
	}
	if r.Host == "" || !path.IsAbs(r.Host) {
		return DeviceRequest{}, optErr(opt, s, "host path %q must be absolute", r.Host)
	}
	r.Host = path.Clean(r.Host)
	if r.Container == "" {
		r.Container = r.Host
	}
	if !path.IsAbs(r.Container) {
		return DeviceRequest{}, optErr(opt, s, "container path %q must be absolute", r.Container)
	}
	r.Container = path.Clean(r.Container)
	if r.Container == "/" || r.Container == "/dev" {
		return DeviceRequest{}, optErr(opt, s, "container path %q is not a device path", r.Container)
	}
	return r, nil
}

func isPermissions(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("rwm", c) || strings.Count(s, string(c)) > 1 {
			return false
		}
	}
	return true
}

// applyLinuxSecurity sets the capabilities, seccomp, no-new-privileges,
// devices, and the paths --privileged lifts, on a Linux spec whose
// mounts are made. It reads the host's /dev for devices.
func applyLinuxSecurity(spec *specs.Spec, sp *securityPlan) error {
	caps := sp.caps
	if sp.allCaps {
		// As podman: "all" is all this process holds; a capability
		// outside its bounding set cannot be given (runc would fail).
		bounding, err := boundingSet()
		if err != nil {
			return err
		}
		caps = slices.DeleteFunc(slices.Clone(caps), func(c string) bool { return !slices.Contains(bounding, c) })
	}
	if spec.Process.User.UID == 0 {
		spec.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:  caps,
			Effective: slices.Clone(caps),
			Permitted: slices.Clone(caps),
		}
	} else {
		// As docker: a non-root user starts with no effective or
		// permitted capabilities, as execve would leave it.
		spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps}
	}
	spec.Process.NoNewPrivileges = sp.nnp

	lx := spec.Linux
	if sp.privileged {
		lx.MaskedPaths, lx.ReadonlyPaths = nil, nil
		for i, m := range spec.Mounts {
			if m.Type == "sysfs" || m.Type == "cgroup" {
				spec.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
			}
		}
		devs, err := hostDevices()
		if err != nil {
			return fmt.Errorf("--privileged: %w", err)
		}
		lx.Devices = devs
		lx.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	for _, r := range sp.devices {
		devs, err := lookupDevice(r)
		if err != nil {
			return err
		}
		for _, d := range devs {
			lx.Devices = slices.DeleteFunc(lx.Devices, func(x specs.LinuxDevice) bool { return x.Path == d.Path })
			lx.Devices = append(lx.Devices, d)
			if !sp.privileged {
				major, minor := d.Major, d.Minor
				lx.Resources.Devices = append(lx.Resources.Devices, specs.LinuxDeviceCgroup{
					Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: r.Permissions,
				})
			}
		}
	}

	switch {
	case sp.seccompOff:
	case sp.seccomp != nil:
		s, err := convertSeccomp(sp.seccompRaw, spec)
		if err != nil {
			return optErr("--security-opt", "seccomp="+sp.seccompFile, "%v", err)
		}
		lx.Seccomp = s
	default:
		s, err := defaultSeccomp(spec)
		if err != nil {
			return fmt.Errorf("default seccomp profile: %w", err)
		}
		lx.Seccomp = s
	}
	return nil
}

// applySecurity applies the checked security options to a spec whose
// mounts are made.
func applySecurity(spec *specs.Spec, p *plan) error {
	switch {
	case p.security == nil:
		return nil
	case p.goos == "freebsd":
		return applyJailSecurity(spec, p.security.jail)
	default:
		return applyLinuxSecurity(spec, p.security)
	}
}

// Check checks s for a container of goos ("linux" or "freebsd") as
// Generate will, without the host's devices: callers check the command
// line with it before pulling or making anything.
func (s Security) Check(goos string) error {
	_, err := checkSecurity(goos, s)
	return err
}
