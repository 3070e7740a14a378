package freebsdabi

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// lp64Types are the sizes and alignments, on amd64 and arm64, of the
// types the Rust libc crate's kinfo_proc uses.
var lp64Types = map[string][2]int{
	"c_int": {4, 4}, "c_uint": {4, 4}, "u_int": {4, 4}, "i32": {4, 4}, "u32": {4, 4},
	"pid_t": {4, 4}, "uid_t": {4, 4}, "gid_t": {4, 4}, "lwpid_t": {4, 4}, "fixpt_t": {4, 4},
	"c_short": {2, 2}, "u_short": {2, 2}, "i16": {2, 2}, "u16": {2, 2},
	"c_char": {1, 1}, "c_uchar": {1, 1}, "i8": {1, 1}, "u8": {1, 1},
	"c_long": {8, 8}, "c_ulong": {8, 8}, "i64": {8, 8}, "u64": {8, 8},
	"vm_size_t": {8, 8}, "segsz_t": {8, 8}, "size_t": {8, 8},
	"sigset_t": {16, 4},  // four u32
	"timeval":  {16, 8},  // time_t, suseconds_t
	"rusage":   {144, 8}, // two timevals, fourteen longs
	"priority": {4, 1},   // four u_char
	"pointer":  {8, 8},
}

// typeLayout returns the size and alignment of a Rust type of the crate.
func typeLayout(typ string, defs map[string][]string) (int, int, error) {
	typ = strings.TrimSpace(typ)
	if strings.HasPrefix(typ, "*") {
		return 8, 8, nil
	}
	if strings.HasPrefix(typ, "[") && strings.HasSuffix(typ, "]") {
		inner := typ[1 : len(typ)-1]
		i := strings.LastIndex(inner, ";")
		if i < 0 {
			return 0, 0, fmt.Errorf("array %q", typ)
		}
		size, align, err := typeLayout(inner[:i], defs)
		if err != nil {
			return 0, 0, err
		}
		n, err := evalSum(inner[i+1:], defs)
		if err != nil {
			return 0, 0, err
		}
		return size * int(n), align, nil
	}
	l, ok := lp64Types[strings.TrimPrefix(typ, "::")]
	if !ok {
		return 0, 0, fmt.Errorf("unknown type %q", typ)
	}
	return l[0], l[1], nil
}

// evalSum evaluates sums and differences of terms evalRust knows.
func evalSum(expr string, defs map[string][]string) (int64, error) {
	var total int64
	sign := int64(1)
	for _, tok := range strings.Fields(expr) {
		switch tok {
		case "+":
			sign = 1
			continue
		case "-":
			sign = -1
			continue
		}
		v, err := evalRust(tok, defs, 0)
		if err != nil {
			return 0, err
		}
		total += sign * int64(v)
	}
	return total, nil
}

var rustField = regexp.MustCompile(`^\s*(?:pub\s+)?(\w+)\s*:\s*(.+?),\s*(?://.*)?$`)

// TestKinfoProcLayout lays struct kinfo_proc out as C does on LP64, from
// the Rust libc crate's FreeBSD 14 definition, and compares its size and
// the offsets the jail runtime reads with this package's.
func TestKinfoProcLayout(t *testing.T) {
	src := rustLibcSrc(t)
	defs := freebsdDefs(t, src)
	// A name defined twice comes from a cfg_if! whose first branch is an
	// older release (KI_NSPARE_INT: 4 for FreeBSD 11, else 2): the last
	// definition is FreeBSD 14's.
	for name, vals := range defs {
		if len(vals) > 1 {
			defs[name] = vals[len(vals)-1:]
		}
	}
	data, err := os.ReadFile(filepath.Join(src, "src/unix/bsd/freebsdlike/freebsd/freebsd14/mod.rs"))
	if err != nil {
		t.Fatalf("read the reference: %v", err)
	}
	text := string(data)
	start := strings.Index(text, "pub struct kinfo_proc {")
	if start < 0 {
		t.Fatal("no struct kinfo_proc in the reference")
	}
	body := text[start:]
	body = body[strings.Index(body, "{")+1 : strings.Index(body, "\n    }")]
	offsets := map[string]int{}
	off, maxAlign := 0, 1
	for _, line := range strings.Split(body, "\n") {
		m := rustField.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		size, align, err := typeLayout(m[2], defs)
		if err != nil {
			t.Fatalf("field %s: %v", m[1], err)
		}
		off = (off + align - 1) / align * align
		offsets[m[1]] = off
		off += size
		maxAlign = max(maxAlign, align)
	}
	size := (off + maxAlign - 1) / maxAlign * maxAlign
	if size != KinfoProcSize {
		t.Errorf("sizeof(struct kinfo_proc) = %d in the reference, %d here", size, KinfoProcSize)
	}
	for name, want := range map[string]int{
		"ki_structsize": KiStructsizeOffset, "ki_pid": KiPidOffset, "ki_stat": KiStatOffset, "ki_jid": KiJidOffset,
	} {
		got, ok := offsets[name]
		if !ok {
			t.Errorf("%s: not in the reference", name)
			continue
		}
		if got != want {
			t.Errorf("offsetof(%s) = %d in the reference, %d here", name, got, want)
		}
	}
	t.Logf("%d fields laid out, %d bytes", len(offsets), size)
}
