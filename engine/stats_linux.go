package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// sample reads the container's cgroup (found from its init's
// /proc/PID/cgroup, whichever cgroup driver runc used): cgroup v2 when
// the host has the unified hierarchy, else the v1 controllers; and the
// network counters of its namespace (/proc/PID/net/dev).
func (e *Engine) sample(_ context.Context, c *Container) (*Stats, error) {
	pid := strconv.Itoa(c.State.Pid)
	data, err := os.ReadFile(filepath.Join("/proc", pid, "cgroup"))
	if err != nil {
		return nil, err
	}
	var s *Stats
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		s, err = sampleV2(string(data))
		if err != nil {
			return nil, err
		}
	} else {
		s, err = sampleV1(string(data))
		if err != nil {
			return nil, err
		}
	}
	if s.MemoryLimit == 0 || s.MemoryLimit > hostMemory() {
		s.MemoryLimit = hostMemory()
	}
	if nd, err := os.ReadFile(filepath.Join("/proc", pid, "net", "dev")); err == nil {
		s.NetRx, s.NetTx = parseNetDev(string(nd))
	}
	return s, nil
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func readUint(path string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(readString(path)), 10, 64)
	return n
}

func sampleV2(procCgroup string) (*Stats, error) {
	cg, err := parseCgroupPath(procCgroup)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cgroupRoot, filepath.Clean("/"+cg))
	s := &Stats{Read: time.Now(), PCPU: -1}
	cpu, ok := parseKeyValues(readString(filepath.Join(dir, "cpu.stat")), ' ')["usage_usec"]
	if !ok {
		return nil, fmt.Errorf("cgroup %s: no cpu.stat usage_usec", dir)
	}
	s.CPU = time.Duration(cpu) * time.Microsecond
	// As docker: the page cache the kernel can drop is not "used".
	s.MemoryUsage = readUint(filepath.Join(dir, "memory.current"))
	if inactive := parseKeyValues(readString(filepath.Join(dir, "memory.stat")), ' ')["inactive_file"]; inactive < s.MemoryUsage {
		s.MemoryUsage -= inactive
	}
	s.MemoryLimit = readUint(filepath.Join(dir, "memory.max")) // "max" reads as 0
	s.Pids = readUint(filepath.Join(dir, "pids.current"))
	s.BlockRead, s.BlockWrite = parseIOStat(readString(filepath.Join(dir, "io.stat")))
	return s, nil
}

// v1Dir is the directory of controller in the v1 hierarchy it is mounted
// on alone or with others ("cpu,cpuacct").
func v1Dir(paths map[string]string, controller string) string {
	p, ok := paths[controller]
	if !ok {
		return ""
	}
	for _, mount := range []string{controller, "cpu,cpuacct", "cpuacct,cpu"} {
		d := filepath.Join(cgroupRoot, mount)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return filepath.Join(d, filepath.Clean("/"+p))
		}
	}
	return ""
}

func sampleV1(procCgroup string) (*Stats, error) {
	paths := parseCgroupV1(procCgroup)
	acct := v1Dir(paths, "cpuacct")
	if acct == "" {
		return nil, fmt.Errorf("no cgroup v2 and no cpuacct controller in /proc/PID/cgroup")
	}
	ns, err := strconv.ParseUint(strings.TrimSpace(readString(filepath.Join(acct, "cpuacct.usage"))), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: cpuacct.usage: %w", acct, err)
	}
	s := &Stats{Read: time.Now(), PCPU: -1, CPU: time.Duration(ns)}
	if mem := v1Dir(paths, "memory"); mem != "" {
		s.MemoryUsage = readUint(filepath.Join(mem, "memory.usage_in_bytes"))
		if inactive := parseKeyValues(readString(filepath.Join(mem, "memory.stat")), ' ')["total_inactive_file"]; inactive < s.MemoryUsage {
			s.MemoryUsage -= inactive
		}
		s.MemoryLimit = readUint(filepath.Join(mem, "memory.limit_in_bytes"))
	}
	if pids := v1Dir(paths, "pids"); pids != "" {
		s.Pids = readUint(filepath.Join(pids, "pids.current"))
	}
	if blk := v1Dir(paths, "blkio"); blk != "" {
		s.BlockRead, s.BlockWrite = parseBlkio(readString(filepath.Join(blk, "blkio.throttle.io_service_bytes")))
	}
	return s, nil
}

// hostMemory is MemTotal of /proc/meminfo in bytes.
func hostMemory() uint64 {
	for _, l := range strings.Split(readString("/proc/meminfo"), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}
