package nri

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The rctl annotations that carry a FreeBSD container's limits (see
// package bundle); the jail runtime turns them into rctl(8) rules.
const (
	annotationRctlPrefix    = "org.freebsd.rctl."
	annotationRctlMemoryUse = annotationRctlPrefix + "memoryuse"
	annotationRctlPcpu      = annotationRctlPrefix + "pcpu"
	annotationRctlMaxProc   = annotationRctlPrefix + "maxproc"
)

// ApplyAdjustment changes spec, made for goos ("linux" or "freebsd"), as
// the plugins' combined adjustment asks: annotations, mounts, environment,
// arguments, OCI hooks, rlimits, devices and resources. On Linux devices
// and resources go to the spec's linux section (cgroups); on FreeBSD the
// memory limit, CPU quota and pids limit become rctl annotations, and what
// a jail has no equivalent for is an error naming it.
func ApplyAdjustment(goos string, spec *specs.Spec, adj *api.ContainerAdjustment) error {
	if adj == nil {
		return nil
	}
	if spec.Process == nil {
		spec.Process = &specs.Process{}
	}
	var unsupported []string
	for k, v := range adj.Annotations {
		if key, ok := api.IsMarkedForRemoval(k); ok {
			delete(spec.Annotations, key)
			continue
		}
		if spec.Annotations == nil {
			spec.Annotations = map[string]string{}
		}
		spec.Annotations[k] = v
	}
	if err := applyMounts(goos, spec, adj.Mounts); err != nil {
		return err
	}
	for _, kv := range adj.Env {
		key, remove := kv.IsMarkedForRemoval()
		if !remove {
			key = kv.Key
		}
		spec.Process.Env = slices.DeleteFunc(spec.Process.Env, func(e string) bool {
			k, _, _ := strings.Cut(e, "=")
			return k == key
		})
		if !remove {
			spec.Process.Env = append(spec.Process.Env, kv.Key+"="+kv.Value)
		}
	}
	if args := adj.Args; len(args) > 0 {
		if args[0] == "" { // UpdateArgs' marker
			args = args[1:]
		}
		if len(args) > 0 {
			spec.Process.Args = slices.Clone(args)
		}
	}
	if h := adj.Hooks; h != nil {
		if spec.Hooks == nil {
			spec.Hooks = &specs.Hooks{}
		}
		add := func(dst *[]specs.Hook, src []*api.Hook) {
			for _, x := range src {
				*dst = append(*dst, x.ToOCI())
			}
		}
		add(&spec.Hooks.Prestart, h.Prestart) //nolint:staticcheck // prestart is deprecated but still run
		add(&spec.Hooks.CreateRuntime, h.CreateRuntime)
		add(&spec.Hooks.CreateContainer, h.CreateContainer)
		add(&spec.Hooks.StartContainer, h.StartContainer)
		add(&spec.Hooks.Poststart, h.Poststart)
		add(&spec.Hooks.Poststop, h.Poststop)
	}
	for _, rl := range adj.Rlimits {
		spec.Process.Rlimits = slices.DeleteFunc(spec.Process.Rlimits, func(o specs.POSIXRlimit) bool { return o.Type == rl.Type })
		spec.Process.Rlimits = append(spec.Process.Rlimits, specs.POSIXRlimit{Type: rl.Type, Hard: rl.Hard, Soft: rl.Soft})
	}
	if len(adj.CDIDevices) > 0 {
		unsupported = append(unsupported, "CDI devices")
	}
	if l := adj.Linux; l != nil {
		var err error
		if goos == "freebsd" {
			unsupported, err = applyFreeBSD(spec, l, unsupported)
		} else {
			unsupported, err = applyLinux(spec, l, unsupported)
		}
		if err != nil {
			return err
		}
	}
	if len(unsupported) > 0 {
		return fmt.Errorf("adjustment of %s: not supported for %s containers", strings.Join(unsupported, ", "), goos)
	}
	return nil
}

// applyMounts removes the mounts marked for removal, then adds the new
// ones (replacing a mount on the same destination), parents before
// children.
func applyMounts(goos string, spec *specs.Spec, mounts []*api.Mount) error {
	if len(mounts) == 0 {
		return nil
	}
	for _, m := range mounts {
		dest, remove := m.IsMarkedForRemoval()
		if !remove {
			dest = m.Destination
		}
		if !path.IsAbs(dest) {
			return fmt.Errorf("mount destination %q is not an absolute path", dest)
		}
		spec.Mounts = slices.DeleteFunc(spec.Mounts, func(o specs.Mount) bool { return path.Clean(o.Destination) == path.Clean(dest) })
		if remove {
			continue
		}
		o := m.ToOCI(nil)
		if goos == "freebsd" {
			o = freebsdMount(o)
		}
		spec.Mounts = append(spec.Mounts, o)
	}
	depth := func(p string) int { return strings.Count(path.Clean(p), "/") }
	slices.SortStableFunc(spec.Mounts, func(a, b specs.Mount) int { return depth(a.Destination) - depth(b.Destination) })
	return nil
}

// freebsdMount turns a Linux bind mount into FreeBSD's nullfs, keeping
// only the options nullfs has (ro, rw).
func freebsdMount(m specs.Mount) specs.Mount {
	bind := m.Type == "bind" || m.Type == "rbind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
	if !bind {
		return m
	}
	m.Type = "nullfs"
	var opts []string
	for _, o := range m.Options {
		if o == "ro" || o == "rw" {
			opts = append(opts, o)
		}
	}
	m.Options = opts
	return m
}

func applyLinux(spec *specs.Spec, l *api.LinuxContainerAdjustment, unsupported []string) ([]string, error) {
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	for _, d := range l.Devices {
		p, remove := d.IsMarkedForRemoval()
		if !remove {
			p = d.Path
		}
		spec.Linux.Devices = slices.DeleteFunc(spec.Linux.Devices, func(o specs.LinuxDevice) bool { return o.Path == p })
		if remove {
			continue
		}
		od := d.ToOCI()
		spec.Linux.Devices = append(spec.Linux.Devices, od)
		// The device cgroup must let the container use it.
		if spec.Linux.Resources == nil {
			spec.Linux.Resources = &specs.LinuxResources{}
		}
		major, minor := od.Major, od.Minor
		spec.Linux.Resources.Devices = append(spec.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
			Allow: true, Type: od.Type, Major: &major, Minor: &minor, Access: d.AccessString(),
		})
	}
	if l.Resources != nil {
		if spec.Linux.Resources == nil {
			spec.Linux.Resources = &specs.LinuxResources{}
		}
		mergeResources(spec.Linux.Resources, l.Resources)
	}
	if l.CgroupsPath != "" {
		spec.Linux.CgroupsPath = l.CgroupsPath
	}
	if v := l.OomScoreAdj.Get(); v != nil {
		spec.Process.OOMScoreAdj = v
	}
	for _, n := range l.Namespaces {
		typ, remove := n.IsMarkedForRemoval()
		if !remove {
			typ = n.Type
		}
		spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(o specs.LinuxNamespace) bool { return string(o.Type) == typ })
		if !remove {
			spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(n.Type), Path: n.Path})
		}
	}
	for k, v := range l.Sysctl {
		if key, ok := api.IsMarkedForRemoval(k); ok {
			delete(spec.Linux.Sysctl, key)
			continue
		}
		if spec.Linux.Sysctl == nil {
			spec.Linux.Sysctl = map[string]string{}
		}
		spec.Linux.Sysctl[k] = v
	}
	return append(unsupported, unsupportedLinux(l)...), nil
}

// unsupportedLinux names the parts of a Linux adjustment stockade does not
// apply on either OS.
func unsupportedLinux(l *api.LinuxContainerAdjustment) []string {
	var out []string
	if l.IoPriority != nil {
		out = append(out, "linux.io_priority")
	}
	if l.SeccompPolicy != nil {
		out = append(out, "linux.seccomp_policy")
	}
	if len(l.NetDevices) > 0 {
		out = append(out, "linux.net_devices")
	}
	if l.Scheduler != nil {
		out = append(out, "linux.scheduler")
	}
	if l.Rdt != nil {
		out = append(out, "linux.rdt")
	}
	if l.MemoryPolicy != nil {
		out = append(out, "linux.memory_policy")
	}
	return out
}

// mergeResources sets in dst every resource src sets.
func mergeResources(dst *specs.LinuxResources, src *api.LinuxResources) {
	o := src.ToOCI()
	if m := o.Memory; m != nil {
		if dst.Memory == nil {
			dst.Memory = &specs.LinuxMemory{}
		}
		set(&dst.Memory.Limit, m.Limit)
		set(&dst.Memory.Reservation, m.Reservation)
		set(&dst.Memory.Swap, m.Swap)
		set(&dst.Memory.Kernel, m.Kernel) //nolint:staticcheck // as NRI passes it
		set(&dst.Memory.KernelTCP, m.KernelTCP)
		set(&dst.Memory.Swappiness, m.Swappiness)
		set(&dst.Memory.DisableOOMKiller, m.DisableOOMKiller)
		set(&dst.Memory.UseHierarchy, m.UseHierarchy)
		if *dst.Memory == (specs.LinuxMemory{}) {
			dst.Memory = nil
		}
	}
	if c := o.CPU; c != nil {
		if dst.CPU == nil {
			dst.CPU = &specs.LinuxCPU{}
		}
		set(&dst.CPU.Shares, c.Shares)
		set(&dst.CPU.Quota, c.Quota)
		set(&dst.CPU.Period, c.Period)
		set(&dst.CPU.RealtimeRuntime, c.RealtimeRuntime)
		set(&dst.CPU.RealtimePeriod, c.RealtimePeriod)
		if c.Cpus != "" {
			dst.CPU.Cpus = c.Cpus
		}
		if c.Mems != "" {
			dst.CPU.Mems = c.Mems
		}
		if *dst.CPU == (specs.LinuxCPU{}) {
			dst.CPU = nil
		}
	}
	if o.Pids != nil {
		dst.Pids = o.Pids
	}
	for _, h := range o.HugepageLimits {
		dst.HugepageLimits = slices.DeleteFunc(dst.HugepageLimits, func(x specs.LinuxHugepageLimit) bool { return x.Pagesize == h.Pagesize })
		dst.HugepageLimits = append(dst.HugepageLimits, h)
	}
	if len(o.Unified) > 0 {
		if dst.Unified == nil {
			dst.Unified = map[string]string{}
		}
		maps.Copy(dst.Unified, o.Unified)
	}
	if o.BlockIO != nil {
		dst.BlockIO = o.BlockIO
	}
	dst.Devices = append(dst.Devices, o.Devices...)
}

func set[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}

func applyFreeBSD(spec *specs.Spec, l *api.LinuxContainerAdjustment, unsupported []string) ([]string, error) {
	if len(l.Devices) > 0 {
		unsupported = append(unsupported, "linux.devices (a jail's devices come from devfs rules)")
	}
	if len(l.Namespaces) > 0 {
		unsupported = append(unsupported, "linux.namespaces")
	}
	if len(l.Sysctl) > 0 {
		unsupported = append(unsupported, "linux.sysctl")
	}
	if l.CgroupsPath != "" {
		unsupported = append(unsupported, "linux.cgroups_path")
	}
	if l.OomScoreAdj != nil {
		unsupported = append(unsupported, "linux.oom_score_adj")
	}
	unsupported = append(unsupported, unsupportedLinux(l)...)
	if l.Resources != nil {
		ann, rest, err := RctlAnnotations(l.Resources)
		if err != nil {
			return nil, err
		}
		unsupported = append(unsupported, rest...)
		if len(ann) > 0 && spec.Annotations == nil {
			spec.Annotations = map[string]string{}
		}
		maps.Copy(spec.Annotations, ann)
	}
	return unsupported, nil
}

// RctlAnnotations maps Linux resources to the rctl annotations of a
// FreeBSD container: memory.limit to memoryuse (bytes), cpu.quota over
// cpu.period to pcpu (percent of one CPU, rounded up), pids.limit to
// maxproc, each with the deny action. It also returns the names of the
// resources set that have no rctl equivalent.
func RctlAnnotations(r *api.LinuxResources) (map[string]string, []string, error) {
	ann := map[string]string{}
	var rest []string
	o := r.ToOCI()
	if m := o.Memory; m != nil {
		if m.Limit != nil {
			if *m.Limit <= 0 {
				return nil, nil, fmt.Errorf("memory limit %d: must be positive", *m.Limit)
			}
			ann[annotationRctlMemoryUse] = "deny=" + strconv.FormatInt(*m.Limit, 10)
		}
		for name, set := range map[string]bool{
			"memory.reservation": m.Reservation != nil, "memory.swap": m.Swap != nil, "memory.kernel": m.Kernel != nil, //nolint:staticcheck
			"memory.kernel_tcp": m.KernelTCP != nil, "memory.swappiness": m.Swappiness != nil,
			"memory.disable_oom_killer": m.DisableOOMKiller != nil, "memory.use_hierarchy": m.UseHierarchy != nil,
		} {
			if set {
				rest = append(rest, "linux.resources."+name)
			}
		}
	}
	if c := o.CPU; c != nil {
		switch {
		case c.Quota != nil && *c.Quota > 0:
			period := uint64(100000)
			if c.Period != nil && *c.Period > 0 {
				period = *c.Period
			}
			pcpu := (uint64(*c.Quota)*100 + period - 1) / period
			ann[annotationRctlPcpu] = "deny=" + strconv.FormatUint(pcpu, 10)
		case c.Quota != nil:
			// -1 or 0: no CPU limit; the rule, if any, stays.
		case c.Period != nil:
			rest = append(rest, "linux.resources.cpu.period without a quota")
		}
		for name, set := range map[string]bool{
			"cpu.shares": c.Shares != nil, "cpu.realtime_runtime": c.RealtimeRuntime != nil,
			"cpu.realtime_period": c.RealtimePeriod != nil, "cpu.cpus": c.Cpus != "", "cpu.mems": c.Mems != "",
		} {
			if set {
				rest = append(rest, "linux.resources."+name)
			}
		}
	}
	if o.Pids != nil && o.Pids.Limit != nil {
		if *o.Pids.Limit <= 0 {
			return nil, nil, errors.New("pids limit must be positive on FreeBSD")
		}
		ann[annotationRctlMaxProc] = "deny=" + strconv.FormatInt(*o.Pids.Limit, 10)
	}
	if len(o.HugepageLimits) > 0 {
		rest = append(rest, "linux.resources.hugepage_limits")
	}
	if len(o.Unified) > 0 {
		rest = append(rest, "linux.resources.unified")
	}
	if o.BlockIO != nil {
		rest = append(rest, "linux.resources.blockio")
	}
	if len(o.Devices) > 0 {
		rest = append(rest, "linux.resources.devices")
	}
	slices.Sort(rest)
	return ann, rest, nil
}
