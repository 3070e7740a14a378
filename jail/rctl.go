package jail

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// AnnotationRctlPrefix + RESOURCE with the value ACTION=AMOUNT[/PER]
// becomes the rctl(8) rule jail:<jail>:RESOURCE:ACTION=AMOUNT[/PER]. The
// amount may have rctl(8)'s suffixes (k, m, g, t, p, e: powers of 1024);
// the rule given to the kernel has it in plain digits, the only form
// rctl_add_rule(2) takes.
const AnnotationRctlPrefix = "org.freebsd.rctl."

// ErrRacctDisabled is returned when the kernel's resource accounting is
// off: rctl rules need kern.racct.enable=1 in /boot/loader.conf and a
// reboot.
var ErrRacctDisabled = errors.New("resource limits need racct, which is off: set kern.racct.enable=1 in /boot/loader.conf and reboot")

// RctlResources are the resources of rctl(8).
var RctlResources = []string{
	"cputime", "datasize", "stacksize", "coredumpsize", "memoryuse", "memorylocked",
	"maxproc", "openfiles", "vmemoryuse", "pseudoterminals", "swapuse", "nthr",
	"msgqqueued", "msgqsize", "nmsgq", "nsem", "nsemop", "nshm", "shmsize",
	"wallclock", "pcpu", "readbps", "writebps", "readiops", "writeiops",
}

// throttled are the resources the throttle action applies to.
var throttled = []string{"readbps", "writebps", "readiops", "writeiops"}

// undeniable are the resources that cannot be denied (rctl(8): they are
// only checked periodically, or are rates).
var undeniable = []string{"cputime", "wallclock", "readbps", "writebps", "readiops", "writeiops"}

var (
	amountRE = regexp.MustCompile(`^[0-9]+[kKmMgGtTpPeE]?$`)
	sigRE    = regexp.MustCompile(`^sig[a-z0-9]+$`)
)

// RctlRules returns the rctl rules the annotations ask for, with the jail
// named jailName as their subject, sorted by resource. A malformed value,
// an unknown resource or action, or an action the resource does not take
// is an error wrapping ErrInvalidSpec.
func RctlRules(jailName string, annotations map[string]string) ([]string, error) {
	var resources []string
	for k := range annotations {
		if r, ok := strings.CutPrefix(k, AnnotationRctlPrefix); ok {
			resources = append(resources, r)
		}
	}
	sort.Strings(resources)
	var rules []string
	for _, res := range resources {
		v := annotations[AnnotationRctlPrefix+res]
		action, err := checkRctl(res, v)
		if err != nil {
			return nil, fmt.Errorf("%w: annotation %s%s=%q: %w", ErrInvalidSpec, AnnotationRctlPrefix, res, v, err)
		}
		rules = append(rules, "jail:"+jailName+":"+res+":"+action)
	}
	return rules, nil
}

// rctlSuffixes are the multipliers of expand_number(3), which rctl(8)
// applies to amounts.
var rctlSuffixes = map[byte]uint{'k': 10, 'm': 20, 'g': 30, 't': 40, 'p': 50, 'e': 60}

// rctlAmount returns amount (digits with an optional suffix) in plain
// digits; the kernel reads it as an int64.
func rctlAmount(amount string) (string, error) {
	if !amountRE.MatchString(amount) {
		return "", fmt.Errorf("amount %q is not a number with an optional k, m, g, t, p or e suffix", amount)
	}
	digits, shift := amount, uint(0)
	if last := amount[len(amount)-1]; last < '0' || last > '9' {
		digits, shift = amount[:len(amount)-1], rctlSuffixes[last|0x20]
	}
	n, err := strconv.ParseUint(digits, 10, 63)
	if err != nil || (shift > 0 && n > math.MaxInt64>>shift) {
		return "", fmt.Errorf("amount %q is too large", amount)
	}
	return strconv.FormatUint(n<<shift, 10), nil
}

// checkRctl checks the value ACTION=AMOUNT[/PER] of resource res and
// returns it with the amount in plain digits.
func checkRctl(res, v string) (string, error) {
	if !slices.Contains(RctlResources, res) {
		return "", fmt.Errorf("unknown resource %q", res)
	}
	action, rest, ok := strings.Cut(v, "=")
	if !ok {
		return "", errors.New("want ACTION=AMOUNT")
	}
	amount, per, hasPer := strings.Cut(rest, "/")
	amount, err := rctlAmount(amount)
	if err != nil {
		return "", err
	}
	if hasPer && !slices.Contains([]string{"process", "user", "loginclass", "jail"}, per) {
		return "", fmt.Errorf("per %q: want process, user, loginclass or jail", per)
	}
	switch {
	case action == "deny":
		if slices.Contains(undeniable, res) {
			return "", fmt.Errorf("%s cannot be denied", res)
		}
	case action == "throttle":
		if !slices.Contains(throttled, res) {
			return "", fmt.Errorf("only %s can be throttled", strings.Join(throttled, ", "))
		}
	case action == "log", action == "devctl", sigRE.MatchString(action):
	default:
		return "", fmt.Errorf("unknown action %q", action)
	}
	out := action + "=" + amount
	if hasPer {
		out += "/" + per
	}
	return out, nil
}
