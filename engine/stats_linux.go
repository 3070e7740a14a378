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

// cgroupRoot is where the cgroup v2 hierarchy is mounted.
const cgroupRoot = "/sys/fs/cgroup"

// sample reads the container's cgroup v2 (found from its init's
// /proc/PID/cgroup, whichever cgroup driver runc used) and the network
// counters of its namespace (/proc/PID/net/dev).
func (e *Engine) sample(_ context.Context, c *Container) (*Stats, error) {
	pid := strconv.Itoa(c.State.Pid)
	data, err := os.ReadFile(filepath.Join("/proc", pid, "cgroup"))
	if err != nil {
		return nil, err
	}
	cg, err := parseCgroupPath(string(data))
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cgroupRoot, filepath.Clean("/"+cg))
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	num := func(name string) uint64 {
		n, _ := strconv.ParseUint(strings.TrimSpace(read(name)), 10, 64)
		return n
	}
	s := &Stats{Read: time.Now(), PCPU: -1}
	cpu, ok := parseKeyValues(read("cpu.stat"), ' ')["usage_usec"]
	if !ok {
		return nil, fmt.Errorf("cgroup %s: no cpu.stat usage_usec", dir)
	}
	s.CPU = time.Duration(cpu) * time.Microsecond
	// As docker: the page cache the kernel can drop is not "used".
	s.MemoryUsage = num("memory.current")
	if inactive := parseKeyValues(read("memory.stat"), ' ')["inactive_file"]; inactive < s.MemoryUsage {
		s.MemoryUsage -= inactive
	}
	s.MemoryLimit = num("memory.max") // "max" reads as 0
	if s.MemoryLimit == 0 {
		s.MemoryLimit = hostMemory()
	}
	s.Pids = num("pids.current")
	s.BlockRead, s.BlockWrite = parseIOStat(read("io.stat"))
	if nd, err := os.ReadFile(filepath.Join("/proc", pid, "net", "dev")); err == nil {
		s.NetRx, s.NetTx = parseNetDev(string(nd))
	}
	return s, nil
}

// hostMemory is MemTotal of /proc/meminfo in bytes.
func hostMemory() uint64 {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(data), "\n") {
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
