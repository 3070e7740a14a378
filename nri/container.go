package nri

import (
	"maps"
	"strconv"
	"strings"

	"github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/engine"
)

// Namespace is the pod namespace every stockade container's pod is in.
const Namespace = "stockade"

// Pod returns the pod sandbox a container is presented in: stockade has
// no pods, so each container is its own pod, with the container's id,
// name and labels.
func Pod(c *engine.Container) *api.PodSandbox {
	return &api.PodSandbox{
		Id:        c.ID,
		Name:      c.Name,
		Uid:       c.ID,
		Namespace: Namespace,
		Labels:    maps.Clone(c.Labels),
	}
}

// Container returns how plugins see c in state st: its spec (may be nil
// when it cannot be read) for goos, and its record's times, pid and exit
// code.
func Container(goos string, c *engine.Container, spec *specs.Spec, st api.ContainerState, pid int) *api.Container {
	ctr := &api.Container{
		Id:           c.ID,
		PodSandboxId: c.ID,
		Name:         c.Name,
		State:        st,
		Labels:       maps.Clone(c.Labels),
		Pid:          uint32(max(pid, 0)),
		CreatedAt:    c.Created.UnixNano(),
	}
	if !c.State.StartedAt.IsZero() {
		ctr.StartedAt = c.State.StartedAt.UnixNano()
	}
	if st == api.ContainerState_CONTAINER_STOPPED {
		if !c.State.FinishedAt.IsZero() {
			ctr.FinishedAt = c.State.FinishedAt.UnixNano()
		}
		ctr.ExitCode = int32(c.State.ExitCode)
		ctr.StatusMessage = c.State.Error
	}
	if spec == nil {
		return ctr
	}
	ctr.Annotations = maps.Clone(spec.Annotations)
	ctr.Mounts = api.FromOCIMounts(spec.Mounts)
	ctr.Hooks = api.FromOCIHooks(spec.Hooks)
	if p := spec.Process; p != nil {
		ctr.Args = append([]string(nil), p.Args...)
		ctr.Env = append([]string(nil), p.Env...)
		for _, rl := range p.Rlimits {
			ctr.Rlimits = append(ctr.Rlimits, &api.POSIXRlimit{Type: rl.Type, Hard: rl.Hard, Soft: rl.Soft})
		}
		ctr.User = &api.User{Uid: p.User.UID, Gid: p.User.GID, AdditionalGids: append([]uint32(nil), p.User.AdditionalGids...)}
	}
	switch {
	case goos == "freebsd":
		// A jail's limits are rctl annotations; plugins see them as the
		// Linux resources they would set.
		ctr.Linux = &api.LinuxContainer{Resources: rctlResources(spec.Annotations)}
	case spec.Linux != nil:
		l := spec.Linux
		ctr.Linux = &api.LinuxContainer{
			Namespaces:  api.FromOCILinuxNamespaces(l.Namespaces),
			Devices:     api.FromOCILinuxDevices(l.Devices),
			Resources:   api.FromOCILinuxResources(l.Resources, nil),
			CgroupsPath: l.CgroupsPath,
		}
		if spec.Process != nil && spec.Process.OOMScoreAdj != nil {
			ctr.Linux.OomScoreAdj = api.Int(spec.Process.OOMScoreAdj)
		}
	}
	return ctr
}

// rctlResources reads the deny limits of the memoryuse, pcpu and maxproc
// rctl annotations back as Linux resources.
func rctlResources(ann map[string]string) *api.LinuxResources {
	r := &api.LinuxResources{}
	amount := func(key string) (int64, bool) {
		action, n, ok := strings.Cut(ann[key], "=")
		if !ok || action != "deny" {
			return 0, false
		}
		v, err := strconv.ParseInt(n, 10, 64)
		return v, err == nil && v >= 0
	}
	if n, ok := amount(annotationRctlMemoryUse); ok {
		r.Memory = &api.LinuxMemory{Limit: api.Int64(n)}
	}
	if n, ok := amount(annotationRctlPcpu); ok {
		r.Cpu = &api.LinuxCPU{Quota: api.Int64(n * 1000), Period: api.UInt64(uint64(100000))}
	}
	if n, ok := amount(annotationRctlMaxProc); ok {
		r.Pids = &api.LinuxPids{Limit: n}
	}
	return r
}
