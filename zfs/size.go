package zfs

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrInvalidSize is wrapped by ParseSize's errors.
var ErrInvalidSize = errors.New("invalid size")

// ParseSize parses a size the way zfs(8) writes quotas: a number, possibly
// with a fraction, and an optional binary suffix K, M, G, T, P or E, which
// may be followed by "B" or "iB" and is case-insensitive ("10G", "1.5t",
// "512MiB", "4096"). "none" and "0" mean no limit and return 0.
func ParseSize(s string) (uint64, error) {
	in := s
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "none") {
		return 0, nil
	}
	upper := strings.ToUpper(s)
	switch {
	case strings.HasSuffix(upper, "IB"):
		upper = upper[:len(upper)-2]
	case strings.HasSuffix(upper, "B"):
		upper = upper[:len(upper)-1]
	}
	shift := 0
	if n := len(upper); n > 0 {
		if i := strings.IndexByte("KMGTPE", upper[n-1]); i >= 0 {
			shift = 10 * (i + 1)
			upper = upper[:n-1]
		}
	}
	if upper == "" || strings.ContainsAny(upper, "+-eE_ ") {
		return 0, fmt.Errorf("%w: %q", ErrInvalidSize, in)
	}
	whole, frac, hasFrac := strings.Cut(upper, ".")
	if whole == "" && (!hasFrac || frac == "") {
		return 0, fmt.Errorf("%w: %q", ErrInvalidSize, in)
	}
	f, err := strconv.ParseFloat(upper, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%w: %q", ErrInvalidSize, in)
	}
	if !hasFrac {
		// Integers are exact: no float rounding for large byte counts.
		n, err := strconv.ParseUint(whole, 10, 64)
		if err != nil || (shift > 0 && n > math.MaxUint64>>shift) {
			return 0, fmt.Errorf("%w: %q overflows", ErrInvalidSize, in)
		}
		return n << shift, nil
	}
	v := f * math.Pow(2, float64(shift))
	if v >= math.MaxUint64 {
		return 0, fmt.Errorf("%w: %q overflows", ErrInvalidSize, in)
	}
	return uint64(v), nil
}
