package jail

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// AnnotationRctlPrefix + RESOURCE with the value ACTION=AMOUNT[/PER]
// becomes the rctl(8) rule jail:<jail>:RESOURCE:ACTION=AMOUNT[/PER].
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
		if err := checkRctl(res, v); err != nil {
			return nil, fmt.Errorf("%w: annotation %s%s=%q: %w", ErrInvalidSpec, AnnotationRctlPrefix, res, v, err)
		}
		rules = append(rules, "jail:"+jailName+":"+res+":"+v)
	}
	return rules, nil
}

func checkRctl(res, v string) error {
	if !slices.Contains(RctlResources, res) {
		return fmt.Errorf("unknown resource %q", res)
	}
	action, rest, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want ACTION=AMOUNT")
	}
	amount, per, hasPer := strings.Cut(rest, "/")
	if !amountRE.MatchString(amount) {
		return fmt.Errorf("amount %q is not a number with an optional k, m, g, t, p or e suffix", amount)
	}
	if hasPer && !slices.Contains([]string{"process", "user", "loginclass", "jail"}, per) {
		return fmt.Errorf("per %q: want process, user, loginclass or jail", per)
	}
	switch {
	case action == "deny":
		if slices.Contains(undeniable, res) {
			return fmt.Errorf("%s cannot be denied", res)
		}
	case action == "throttle":
		if !slices.Contains(throttled, res) {
			return fmt.Errorf("only %s can be throttled", strings.Join(throttled, ", "))
		}
	case action == "log", action == "devctl", sigRE.MatchString(action):
	default:
		return fmt.Errorf("unknown action %q", action)
	}
	return nil
}
