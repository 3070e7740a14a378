package bundle

import (
	"errors"
	"fmt"
	"math/big"
	"path"
	"strings"
)

// Options are the `stockade run` options that shape a container's spec.
// The zero value is a valid, default configuration for the host's OS.
type Options struct {
	// GOOS is the OS the container runs on: "linux" or "freebsd". Empty
	// means the OS this program runs on.
	GOOS string
	// ImageOS is the image's os. Empty means GOOS. A "linux" image on
	// "freebsd" runs through the Linux ABI (linuxulator).
	ImageOS string

	// Args replaces the image's Cmd (stockade run IMAGE [CMD [ARG...]]).
	Args []string
	// Entrypoint replaces the image's Entrypoint when EntrypointSet is
	// true, and then the image's Cmd is dropped too, as with docker's
	// --entrypoint. An empty Entrypoint with EntrypointSet clears it.
	Entrypoint    []string
	EntrypointSet bool

	// Env holds -e values, each KEY=VALUE. A bare KEY (take the value from
	// the caller's environment) must be resolved by the caller.
	Env []string
	// Volumes holds -v values, SRC:DST[:ro|rw], as typed; see ParseVolume.
	// Whether SRC exists is the caller's to check.
	Volumes []string
	// Tmpfs holds --tmpfs values, DST[:OPTIONS]; see ParseTmpfs.
	Tmpfs []string

	// Workdir is -w: an absolute path in the container.
	Workdir string
	// User is -u; see the package documentation for its forms.
	User string
	// ResolvedUser, when set, is what the user (User, or the image's
	// when that is empty) resolved to in this image's root before
	// (GenerateUser's UserInfo, as a cache of them keeps it): Generate
	// then reads no file of the root, which need not be mounted.
	ResolvedUser *UserInfo
	// Hostname is --hostname. Empty leaves the hostname to the runtime
	// (callers usually pass the container's short id, as docker does).
	Hostname string
	// ReadOnly is --read-only: the root file system is mounted read-only.
	ReadOnly bool

	// Memory is --memory, e.g. "512m"; see ParseMemory.
	Memory string
	// CPUs is --cpus, e.g. "1.5"; see ParseCPUs.
	CPUs string
	// PidsLimit is --pids-limit: 0 sets no limit, -1 is explicitly
	// unlimited, other values must be positive.
	PidsLimit int64

	// Network is --network: NetworkHost, NetworkNone, or empty for
	// NetworkDefault.
	Network string
	// Annotations are copied into the spec.
	Annotations map[string]string
	// Terminal is -t: the process gets a terminal (the console size is the
	// caller's to set).
	Terminal bool
	// Init is --init: the host path of an init binary run as the first
	// process, with the command as its arguments (see InitPath).
	Init string
	// Rootfs is root.path. Empty means the rootfsDir given to Generate, or
	// "rootfs" (relative to the bundle) when that is empty too.
	Rootfs string

	// Security holds --privileged, --cap-add, --cap-drop, --security-opt,
	// --device and the FreeBSD jail permissions; see Security.
	Security Security
}

// Network modes of Options.Network.
const (
	// NetworkHost shares the host's network stack.
	NetworkHost = "host"
	// NetworkNone gives the container no network (Linux: a loopback only).
	NetworkNone = "none"
	// NetworkDefault is what an empty Options.Network means: a stack of
	// the container's own, which the network hook attaches to a bridge
	// network when the command line asked for one (its default).
	NetworkDefault = NetworkNone
)

// Annotations read by stockade's FreeBSD jail runtime: each
// AnnotationRctlPrefix+RESOURCE annotation, valued ACTION=AMOUNT, becomes
// the rctl(8) rule jail:<jail>:RESOURCE:ACTION=AMOUNT.
const (
	// AnnotationRctlPrefix starts the name of every rctl annotation.
	AnnotationRctlPrefix = "org.freebsd.rctl."
	// AnnotationRctlMemoryUse carries --memory: "deny=BYTES".
	AnnotationRctlMemoryUse = AnnotationRctlPrefix + "memoryuse"
	// AnnotationRctlPcpu carries --cpus: "deny=PERCENT" of one CPU.
	AnnotationRctlPcpu = AnnotationRctlPrefix + "pcpu"
	// AnnotationRctlMaxProc carries --pids-limit: "deny=N".
	AnnotationRctlMaxProc = AnnotationRctlPrefix + "maxproc"
)

// Limits of the resource options.
const (
	// MinMemory is the smallest --memory accepted (docker's minimum).
	MinMemory int64 = 6 << 20
	// NanoCPUsPerCPU is ParseCPUs' unit: one CPU is 1e9 nano-CPUs.
	NanoCPUsPerCPU int64 = 1_000_000_000
	// MinNanoCPUs is the smallest --cpus accepted, 0.01 CPU: a 1ms quota
	// in a 100ms period, the kernel's smallest.
	MinNanoCPUs int64 = NanoCPUsPerCPU / 100
	// CPUPeriod is the CFS period used with --cpus on Linux, in µs.
	CPUPeriod uint64 = 100_000
)

// ErrNoCommand is returned by Generate when neither the image nor the
// options give a command to run.
var ErrNoCommand = errors.New("no command specified")

// OptionError is a bad value given to one option: its message names the
// option and the value, e.g. `-w "rel": must be absolute`.
type OptionError struct {
	// Option is the option's name as the user types it ("-v", "--memory")
	// or what the value is ("user", "image working directory").
	Option string
	// Value is the value as given.
	Value string
	// Err says what is wrong with it.
	Err error
}

// Error returns `OPTION "VALUE": reason`.
func (e *OptionError) Error() string {
	return fmt.Sprintf("%s %q: %v", e.Option, e.Value, e.Err)
}

// Unwrap returns the reason.
func (e *OptionError) Unwrap() error { return e.Err }

func optErr(option, value, format string, args ...any) error {
	return &OptionError{Option: option, Value: value, Err: fmt.Errorf(format, args...)}
}

// Volume is a parsed -v value: a bind mount (nullfs on FreeBSD) of a host
// path into the container.
type Volume struct {
	// Source is the host path, absolute and cleaned.
	Source string
	// Destination is the path in the container, absolute, cleaned, not "/".
	Destination string
	// ReadOnly is the ":ro" mode.
	ReadOnly bool
}

// ParseVolume parses a -v value, SRC:DST[:MODE], where SRC and DST are
// absolute paths and MODE is "ro" or "rw" (comma-separated lists of those
// are accepted, as docker's, but not both). Named and anonymous volumes are
// not supported; relative sources must be made absolute by the caller.
func ParseVolume(s string) (Volume, error) {
	const opt = "-v"
	if s == "" {
		return Volume{}, optErr(opt, s, "empty value (want SRC:DST[:ro|rw])")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Volume{}, optErr(opt, s, "contains a NUL byte")
	}
	parts := strings.Split(s, ":")
	switch {
	case len(parts) < 2:
		return Volume{}, optErr(opt, s, "want SRC:DST[:ro|rw] (anonymous volumes are not supported)")
	case len(parts) > 3:
		return Volume{}, optErr(opt, s, "too many fields (want SRC:DST[:ro|rw])")
	}
	src, dst := parts[0], parts[1]
	if src == "" {
		return Volume{}, optErr(opt, s, "empty source")
	}
	if !path.IsAbs(src) {
		return Volume{}, optErr(opt, s, "source %q must be an absolute path (a host directory) or a volume name", src)
	}
	d, err := containerPath(dst)
	if err != nil {
		return Volume{}, optErr(opt, s, "destination: %w", err)
	}
	v := Volume{Source: path.Clean(src), Destination: d}
	if len(parts) == 3 {
		ro, rw := false, false
		for _, m := range strings.Split(parts[2], ",") {
			switch m {
			case "ro":
				ro = true
			case "rw":
				rw = true
			case "":
				return Volume{}, optErr(opt, s, "empty mode (want ro or rw)")
			default:
				return Volume{}, optErr(opt, s, "unknown mode %q (want ro or rw)", m)
			}
		}
		if ro && rw {
			return Volume{}, optErr(opt, s, "modes ro and rw conflict")
		}
		v.ReadOnly = ro
	}
	return v, nil
}

// Tmpfs is a parsed --tmpfs value.
type Tmpfs struct {
	// Destination is the path in the container, absolute, cleaned, not "/".
	Destination string
	// Options are the mount options given, in order (e.g. "size=64m",
	// "mode=1777", "exec"). Generate merges them over the defaults.
	Options []string
}

// ParseTmpfs parses a --tmpfs value, DST[:OPT[,OPT...]].
func ParseTmpfs(s string) (Tmpfs, error) {
	const opt = "--tmpfs"
	if strings.IndexByte(s, 0) >= 0 {
		return Tmpfs{}, optErr(opt, s, "contains a NUL byte")
	}
	dst, opts, hasOpts := strings.Cut(s, ":")
	d, err := containerPath(dst)
	if err != nil {
		return Tmpfs{}, optErr(opt, s, "destination: %w", err)
	}
	t := Tmpfs{Destination: d}
	if hasOpts {
		for _, o := range strings.Split(opts, ",") {
			if o == "" {
				return Tmpfs{}, optErr(opt, s, "empty mount option")
			}
			if strings.ContainsAny(o, " \t\n") {
				return Tmpfs{}, optErr(opt, s, "mount option %q contains white space", o)
			}
			t.Options = append(t.Options, o)
		}
	}
	return t, nil
}

// containerPath checks a mount destination and returns it cleaned.
func containerPath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("empty path")
	case !path.IsAbs(p):
		return "", fmt.Errorf("%q must be an absolute path", p)
	}
	p = path.Clean(p)
	if p == "/" {
		return "", errors.New(`cannot mount over "/"`)
	}
	return p, nil
}

// ParseMemory parses a --memory value into bytes. The number may have a
// fraction and a unit b, k, m, g, t or p (binary multiples, any case,
// optionally followed by "b" or "ib": "512m", "1.5G", "64MiB", "1048576").
func ParseMemory(s string) (int64, error) {
	n, err := parseSize(s)
	if err != nil {
		return 0, &OptionError{Option: "--memory", Value: s, Err: err}
	}
	return n, nil
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
	"p": 1 << 50, "pb": 1 << 50, "pib": 1 << 50,
}

var maxInt64 = new(big.Rat).SetInt64(1<<63 - 1)

func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty value (want e.g. 512m or 2g)")
	}
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	num, unit := s[:i], s[i:]
	r, ok := parseDecimal(num)
	if !ok {
		return 0, errors.New("not a size (want e.g. 512m or 2g)")
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q (want b, k, m, g, t or p)", unit)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if r.Cmp(maxInt64) > 0 {
		return 0, errors.New("too large")
	}
	n := new(big.Int).Quo(r.Num(), r.Denom()).Int64() // whole bytes
	if n <= 0 {
		return 0, errors.New("must be positive")
	}
	return n, nil
}

// ParseCPUs parses a --cpus value ("1.5", "0.25", "2") into nano-CPUs
// (NanoCPUsPerCPU per CPU). It must be at least 0.01 and have at most nine
// decimal places.
func ParseCPUs(s string) (int64, error) {
	const opt = "--cpus"
	r, ok := parseDecimal(s)
	if !ok {
		return 0, optErr(opt, s, "not a number of CPUs (want e.g. 1.5)")
	}
	r.Mul(r, new(big.Rat).SetInt64(NanoCPUsPerCPU))
	if !r.IsInt() {
		return 0, optErr(opt, s, "too precise (at most 9 decimal places)")
	}
	if r.Cmp(maxInt64) > 0 {
		return 0, optErr(opt, s, "too large")
	}
	n := r.Num().Int64()
	if n < MinNanoCPUs {
		return 0, optErr(opt, s, "must be at least 0.01")
	}
	return n, nil
}

// parseDecimal parses DIGITS[.DIGITS] (or .DIGITS) exactly.
func parseDecimal(s string) (*big.Rat, bool) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return nil, false
	}
	if dot && frac == "" {
		return nil, false
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if !isDigit(part[i]) {
				return nil, false
			}
		}
	}
	if len(s) > 64 { // far beyond int64 either way; keeps big.Rat small
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
