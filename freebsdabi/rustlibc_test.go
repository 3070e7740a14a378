package freebsdabi

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stockade/stockade/internal/testenv"
)

// rustLibcSrc finds the source of the Rust libc crate: $STOCKADE_RUST_LIBC,
// else the newest one Debian's librust-libc-dev installed.
func rustLibcSrc(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("STOCKADE_RUST_LIBC"); dir != "" {
		return dir
	}
	dirs, _ := filepath.Glob("/usr/share/cargo/registry/libc-0.*")
	if len(dirs) == 0 {
		testenv.Unavailable(t, "the Rust libc crate is not installed: apt-get install librust-libc-dev (or set STOCKADE_RUST_LIBC)")
	}
	slices.SortFunc(dirs, func(a, b string) int { return compareVersions(filepath.Base(a), filepath.Base(b)) })
	return dirs[len(dirs)-1]
}

// compareVersions orders "libc-0.2.139" after "libc-0.2.99".
func compareVersions(a, b string) int {
	num := func(s string) []int {
		var out []int
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
		return out
	}
	return slices.Compare(num(a), num(b))
}

var rustConst = regexp.MustCompile(`(?m)^\s*pub const ([A-Z_][A-Z0-9_]*)\s*:[^=;]+=\s*([^;]+);`)

// freebsdDefs reads every `pub const` of the crate's FreeBSD sources that
// apply to FreeBSD 14 on a 64-bit machine, as name -> value expressions
// (a name may be defined in several files).
func freebsdDefs(t *testing.T, src string) map[string][]string {
	t.Helper()
	bsd := filepath.Join(src, "src", "unix", "bsd")
	defs := map[string][]string{}
	read := func(path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read the reference: %v", err)
		}
		for _, m := range rustConst.FindAllStringSubmatch(string(data), -1) {
			defs[m[1]] = append(defs[m[1]], strings.TrimSpace(m[2]))
		}
	}
	read(filepath.Join(bsd, "mod.rs"))
	read(filepath.Join(bsd, "freebsdlike", "mod.rs"))
	skip := regexp.MustCompile(`^freebsd1[0-35-9]$|^(arm|x86|powerpc)\.rs$`) // other releases, 32-bit machines
	root := filepath.Join(bsd, "freebsdlike", "freebsd")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != root && skip.MatchString(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(path, ".rs") {
			read(path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the reference %s: %v", root, err)
	}
	if len(defs) < 500 {
		t.Fatalf("only %d constants found under %s: not the libc crate's FreeBSD sources?", len(defs), bsd)
	}
	return defs
}

// evalRust evaluates the constant expressions the crate uses for these
// numbers: integer literals, other constants, `as` casts, | and <<.
func evalRust(expr string, defs map[string][]string, depth int) (uint64, error) {
	if depth > 8 {
		return 0, fmt.Errorf("%q: too deep", expr)
	}
	expr = strings.TrimSpace(expr)
	if i := strings.Index(expr, " as "); i >= 0 {
		expr = strings.TrimSpace(expr[:i])
	}
	expr = strings.Trim(expr, "()")
	if l, r, ok := strings.Cut(expr, "|"); ok {
		a, err := evalRust(l, defs, depth+1)
		if err != nil {
			return 0, err
		}
		b, err := evalRust(r, defs, depth+1)
		return a | b, err
	}
	if l, r, ok := strings.Cut(expr, "<<"); ok {
		a, err := evalRust(l, defs, depth+1)
		if err != nil {
			return 0, err
		}
		b, err := evalRust(r, defs, depth+1)
		return a << b, err
	}
	lit := strings.ReplaceAll(expr, "_", "")
	lit = regexp.MustCompile(`([0-9a-fA-F])(u8|u16|u32|u64|usize|i32|i64)$`).ReplaceAllString(lit, "$1")
	if n, err := strconv.ParseUint(lit, 0, 64); err == nil {
		return n, nil
	}
	name := strings.TrimPrefix(expr, "::")
	if vals := defs[name]; len(vals) > 0 {
		return evalRust(vals[0], defs, depth+1)
	}
	return 0, fmt.Errorf("cannot evaluate %q", expr)
}

// TestAgainstRustLibc checks every number of this package against the
// Rust libc crate's FreeBSD definitions.
func TestAgainstRustLibc(t *testing.T) {
	src := rustLibcSrc(t)
	defs := freebsdDefs(t, src)
	t.Logf("reference: %s (%d constants)", src, len(defs))

	want := map[string]uint64{}
	for name, v := range constants {
		want[name] = v
	}
	for name, v := range Rlimits {
		want[name] = uint64(v)
	}
	// Names an older crate lacks, and how they are known to be right then.
	mayLack := map[string]func() error{
		// RLIMIT_PIPEBUF came with FreeBSD 14.2 and RLIM_NLIMITS went from
		// 15 to 16: a crate without it must say there are 15 limits, so
		// that 15 is the next number.
		"RLIMIT_PIPEBUF": func() error {
			n, err := evalRust(first(defs["RLIM_NLIMITS"]), defs, 0)
			if err != nil || n != RlimitPipebuf {
				return fmt.Errorf("RLIM_NLIMITS = %d (%v), want %d when RLIMIT_PIPEBUF is missing", n, err, RlimitPipebuf)
			}
			return nil
		},
	}
	checked := 0
	for _, name := range slices.Sorted(maps.Keys(want)) {
		exprs := defs[name]
		if len(exprs) == 0 {
			check, ok := mayLack[name]
			if !ok {
				t.Errorf("%s: not in the reference", name)
				continue
			}
			if err := check(); err != nil {
				t.Errorf("%s: not in the reference, and %v", name, err)
			}
			continue
		}
		for _, e := range exprs {
			got, err := evalRust(e, defs, 0)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if got != want[name] {
				t.Errorf("%s = %#x here, %#x (%s) in the Rust libc crate", name, want[name], got, e)
			}
			checked++
		}
	}
	if checked < len(want)-len(mayLack) {
		t.Errorf("only %d of %d values compared", checked, len(want))
	}
	t.Logf("%d names, %d definitions compared", len(want), checked)
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestFiodgnameArgLayout checks struct fiodgname_arg's LP64 layout: int
// len at 0, padding, void *buf at 8, 16 bytes in all. FIODGNAME encodes
// that size (bits 16-28 of the ioctl number).
func TestFiodgnameArgLayout(t *testing.T) {
	var a FiodgnameArg
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("FIODGNAME here is the LP64 value; this machine is not 64-bit")
	}
	if got := unsafe.Sizeof(a); got != 16 {
		t.Errorf("sizeof = %d, want 16", got)
	}
	if got := unsafe.Offsetof(a.Buf); got != 8 {
		t.Errorf("offsetof(buf) = %d, want 8", got)
	}
	const iocIn, iocParmMask = 0x80000000, 0x1fff
	if got := uintptr((FIODGNAME >> 16) & iocParmMask); got != unsafe.Sizeof(a) {
		t.Errorf("FIODGNAME encodes a %d-byte argument, the struct has %d", got, unsafe.Sizeof(a))
	}
	if FIODGNAME&iocIn == 0 || FIODGNAME&0xffff != 'f'<<8|120 {
		t.Errorf("FIODGNAME %#x is not _IOW('f', 120, ...)", FIODGNAME)
	}
}

func TestEvalRust(t *testing.T) {
	defs := map[string][]string{"A": {"0x10"}, "B": {"A"}}
	for _, tc := range []struct {
		expr string
		want uint64
		bad  bool
	}{
		{"0x00010000", 0x10000, false},
		{"15", 15, false},
		{"1_000", 1000, false},
		{"0x80106678 as ::c_ulong", 0x80106678, false},
		{"B", 0x10, false},
		{"::A", 0x10, false},
		{"A | 0x1", 0x11, false},
		{"1 << 3", 8, false},
		{"0x10u32", 0x10, false},
		{"C", 0, true},
		{"size_of::<u32>()", 0, true},
	} {
		got, err := evalRust(tc.expr, defs, 0)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("evalRust(%q) = %#x, %v; want %#x, bad=%v", tc.expr, got, err, tc.want, tc.bad)
		}
	}
}

// constants lists every integer constant of the package by its C name.
var constants = map[string]uint64{
	"JAIL_CREATE": JailCreate, "JAIL_UPDATE": JailUpdate, "JAIL_ATTACH": JailAttach, "JAIL_DYING": JailDying,
	"JAIL_SYS_DISABLE": JailSysDisable, "JAIL_SYS_NEW": JailSysNew, "JAIL_SYS_INHERIT": JailSysInherit,
	"FIODGNAME": FIODGNAME,
	"P_PID":     PPid, "PROC_REAP_ACQUIRE": ProcReapAcquire,
	"MNT_RDONLY": MntRdonly, "MNT_SYNCHRONOUS": MntSynchronous, "MNT_NOEXEC": MntNoexec,
	"MNT_NOSUID": MntNosuid, "MNT_ASYNC": MntAsync, "MNT_UPDATE": MntUpdate, "MNT_FORCE": MntForce,
	"MNT_NOSYMFOLLOW": MntNosymfollow, "MNT_NOATIME": MntNoatime,
	"MNT_NOCLUSTERR": MntNoclusterr, "MNT_NOCLUSTERW": MntNoclusterw,
	"CTL_KERN": CtlKern, "KERN_PROC": KernProc, "KERN_PROC_PID": KernProcPid, "KERN_PROC_PROC": KernProcProc,
	"SIDL": SIdl, "SZOMB": SZomb,
}
