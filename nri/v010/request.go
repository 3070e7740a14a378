package v010

import (
	"encoding/json"
	"maps"
	"strconv"
	"strings"

	types "github.com/containerd/nri/types/v1" //nolint:staticcheck // NRI 0.1 is what this package speaks
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// AnnotationJID carries a FreeBSD container's jail id in requests, as the
// jail runtime reports it in the container's state.
const AnnotationJID = "org.freebsd.jail.jid"

// The rctl annotations a FreeBSD spec carries its limits in (see package
// bundle), read back into the request's resources.
const (
	annotationRctlMemoryUse = "org.freebsd.rctl.memoryuse"
	annotationRctlPcpu      = "org.freebsd.rctl.pcpu"
	annotationRctlMaxProc   = "org.freebsd.rctl.maxproc"
)

// cpuPeriod is the CFS period the FreeBSD pcpu limit is expressed over:
// pcpu P percent of one CPU is a quota of P*cpuPeriod/100.
const cpuPeriod = 100000

// Spec is the part of a container's runtime spec that 0.1 requests carry.
// It is computed once, when the container is created, for the OS the
// container runs on.
func Spec(goos string, spec *specs.Spec) (*types.Spec, error) {
	s := &types.Spec{Namespaces: map[string]string{}, Annotations: maps.Clone(spec.Annotations)}
	var res any
	switch {
	case goos == "freebsd":
		// A jail has no namespaces or cgroups; its limits are rctl rules,
		// given back in the shape of Linux resources (memory limit, CPU
		// quota over a 100ms period, pids limit), which plugins written
		// for containerd read.
		res = rctlResources(spec.Annotations)
	case spec.Linux != nil:
		s.CgroupsPath = spec.Linux.CgroupsPath
		res = spec.Linux.Resources
		for _, ns := range spec.Linux.Namespaces {
			s.Namespaces[string(ns.Type)] = ns.Path
		}
	default:
		res = (*specs.LinuxResources)(nil)
	}
	data, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	s.Resources = data
	return s, nil
}

// rctlResources reads the deny limits of the memoryuse, pcpu and maxproc
// rctl annotations. Other actions and other resources stay in the
// annotations only.
func rctlResources(ann map[string]string) *specs.LinuxResources {
	amount := func(key string) (int64, bool) {
		v, ok := ann[key]
		if !ok {
			return 0, false
		}
		action, n, ok := strings.Cut(v, "=")
		if !ok || action != "deny" {
			return 0, false
		}
		return rctlAmount(n)
	}
	r := &specs.LinuxResources{}
	if n, ok := amount(annotationRctlMemoryUse); ok {
		r.Memory = &specs.LinuxMemory{Limit: &n}
	}
	if n, ok := amount(annotationRctlPcpu); ok {
		quota, period := n*cpuPeriod/100, uint64(cpuPeriod)
		r.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if n, ok := amount(annotationRctlMaxProc); ok {
		r.Pids = &specs.LinuxPids{Limit: &n}
	}
	return r
}

// rctlAmount parses an rctl amount: digits with an optional k, m, g, t,
// p or e suffix (powers of 1024).
func rctlAmount(s string) (int64, bool) {
	shift := 0
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		case 't', 'T':
			shift = 40
		case 'p', 'P':
			shift = 50
		case 'e', 'E':
			shift = 60
		}
		if shift > 0 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || shift > 0 && n > (1<<(63-shift))-1 {
		return 0, false
	}
	return n << shift, true
}

// Target is the container a request is about.
type Target struct {
	// ID is the container's id.
	ID string
	// Pid is the host pid of the container's process (-1 for none).
	Pid int
	// Spec is the container's 0.1 spec (see Spec).
	Spec *types.Spec
	// Labels are the container's labels.
	Labels map[string]string
	// JID is the FreeBSD jail id, or empty.
	JID string
}

// NewRequest returns the request for state about t. The jail id, when
// known, is added to the spec's annotations as AnnotationJID. The
// container is not in a sandbox: SandboxID stays empty, as containerd
// 1.5 sent it for containers outside a pod.
func NewRequest(state types.State, t Target) *types.Request {
	s := &types.Spec{}
	if t.Spec != nil {
		*s = *t.Spec
		s.Annotations = maps.Clone(t.Spec.Annotations)
	}
	if t.JID != "" {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[AnnotationJID] = t.JID
	}
	return &types.Request{
		Version: Version,
		State:   state,
		ID:      t.ID,
		Pid:     t.Pid,
		Spec:    s,
		Labels:  maps.Clone(t.Labels),
	}
}
