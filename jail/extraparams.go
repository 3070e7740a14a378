package jail

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// AnnotationParamPrefix + a jail parameter's name ("securelevel",
// "children.max") carries the value of a parameter that the spec's freebsd
// section has no field for, written as jail(8) writes it. Only the
// parameters of ExtraParams are accepted; the others are either set from
// the spec (name, path, host, ip4, vnet, allow.*, ...) or read-only.
const AnnotationParamPrefix = "org.freebsd.jail.param."

// ExtraParam describes a parameter that AnnotationParamPrefix may set.
type ExtraParam struct {
	// Type is how the value is passed to jail_set(2).
	Type ParamType
	// Min and Max bound an integer value.
	Min, Max int64
	// MaxLen bounds a string value (the kernel's buffer less its NUL).
	MaxLen int
}

// ExtraParams are the parameters AnnotationParamPrefix sets, with the
// types kern_jail.c declares them with (SYSCTL_JAIL_PARAM and
// SYSCTL_JAIL_PARAM_STRING): securelevel, children.max and osreldate are
// "I" (int), host.hostid is "LU" (unsigned long), ip4.saddrsel and
// ip6.saddrsel are "B" (boolean), osrelease is OSRELEASELEN (32) and
// host.hostuuid HOSTUUIDLEN (64) bytes with the NUL.
var ExtraParams = map[string]ExtraParam{
	"securelevel":   {Type: ParamInt, Min: -1, Max: 3},
	"children.max":  {Type: ParamInt, Min: 0, Max: 1<<31 - 1},
	"osreldate":     {Type: ParamInt, Min: 1, Max: 1<<31 - 1},
	"osrelease":     {Type: ParamString, MaxLen: 31},
	"host.hostuuid": {Type: ParamString, MaxLen: 63},
	"host.hostid":   {Type: ParamULong, Min: 0, Max: 1<<32 - 1},
	"ip4.saddrsel":  {Type: ParamBool},
	"ip6.saddrsel":  {Type: ParamBool},
}

// ExtraAllowFlags are the allow.* parameters the spec's freebsd.jail.allow
// has no field for, which org.freebsd.jail.allow.<name> may set. Unlike
// allowFlags they are passed only when an annotation sets them: some exist
// only when a module registers them (allow.nfsd with nfsd, allow.vmm with
// vmm), and the kernel refuses a parameter it does not know.
var ExtraAllowFlags = []string{
	"read_msgbuf", "nfsd", "unprivileged_proc_debug", "vmm", "extattr",
	"adjtime", "settime", "routing", "unprivileged_parent_tampering", "setaudit",
}

// extraParams turns the AnnotationParamPrefix annotations into
// parameters, sorted by name. An unknown name or a value that does not fit
// the parameter's type is an error wrapping ErrInvalidSpec.
func extraParams(ann map[string]string) ([]Param, error) {
	var out []Param
	for _, k := range slices.Sorted(maps.Keys(ann)) {
		name, ok := strings.CutPrefix(k, AnnotationParamPrefix)
		if !ok {
			continue
		}
		p, err := ParseExtraParam(name, ann[k])
		if err != nil {
			return nil, specErr("annotation %s: %v", k, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseExtraParam parses value as the ExtraParams parameter name.
func ParseExtraParam(name, value string) (Param, error) {
	info, ok := ExtraParams[name]
	if !ok {
		return Param{}, &paramError{name: name, msg: "not a parameter that can be set this way (known: " + strings.Join(slices.Sorted(maps.Keys(ExtraParams)), ", ") + ")"}
	}
	switch info.Type {
	case ParamInt, ParamULong:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < info.Min || n > info.Max {
			return Param{}, &paramError{name: name, msg: strconv.Quote(value) + " is not an integer from " + strconv.FormatInt(info.Min, 10) + " to " + strconv.FormatInt(info.Max, 10)}
		}
		if info.Type == ParamULong {
			return Param{Name: name, Type: ParamULong, ULong: uint64(n)}, nil
		}
		return IntParam(name, int32(n)), nil
	case ParamBool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return Param{}, &paramError{name: name, msg: strconv.Quote(value) + " is not true or false"}
		}
		return BoolParam(name, b), nil
	default:
		if len(value) > info.MaxLen || strings.IndexFunc(value, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			return Param{}, &paramError{name: name, msg: strconv.Quote(value) + " is not printable text of at most " + strconv.Itoa(info.MaxLen) + " bytes"}
		}
		return StrParam(name, value), nil
	}
}

type paramError struct{ name, msg string }

func (e *paramError) Error() string { return "jail parameter " + e.name + ": " + e.msg }
