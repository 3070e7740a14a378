package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/bundle"
)

// Stats is one sample of a running container's resource use, as `stats`
// shows it. Counters are cumulative since the container started.
type Stats struct {
	// Read is when the sample was taken.
	Read time.Time `json:"read"`
	// CPU is the CPU time the container's processes used.
	CPU time.Duration `json:"cpuNanos"`
	// PCPU is the system's own estimate of the CPU percentage (FreeBSD's
	// racct pcpu), or -1 when the system has none and the percentage is
	// computed from two samples' CPU.
	PCPU float64 `json:"-"`
	// MemoryUsage and MemoryLimit are in bytes; the limit is the host's
	// memory when the container has none.
	MemoryUsage uint64 `json:"memoryUsage"`
	MemoryLimit uint64 `json:"memoryLimit"`
	// Pids is the number of processes (and threads on Linux).
	Pids uint64 `json:"pids"`
	// BlockRead and BlockWrite are bytes read from and written to block
	// devices.
	BlockRead  uint64 `json:"blockRead"`
	BlockWrite uint64 `json:"blockWrite"`
	// NetRx and NetTx are bytes received and sent on the container's
	// interfaces, loopback excepted.
	NetRx uint64 `json:"netRx"`
	NetTx uint64 `json:"netTx"`
}

// CPUPercent is the CPU use between two samples of one container, in
// percent of one CPU (docker's unit: 200% is two CPUs busy). Without an
// earlier sample it is the system's own estimate, or 0.
func CPUPercent(prev, cur *Stats) float64 {
	if prev == nil || !cur.Read.After(prev.Read) || cur.CPU < prev.CPU {
		if cur.PCPU > 0 {
			return cur.PCPU
		}
		return 0
	}
	if cur.PCPU >= 0 && cur.CPU == prev.CPU {
		return cur.PCPU // racct counts whole seconds: between them, its estimate
	}
	return float64(cur.CPU-prev.CPU) / float64(cur.Read.Sub(prev.Read)) * 100
}

// ErrRacctDisabled is returned on FreeBSD when resource accounting is off.
var ErrRacctDisabled = errors.New("resource accounting (racct) is disabled: add kern.racct.enable=1 to /boot/loader.conf and reboot")

// Stats samples the resource use of the running container c.
func (e *Engine) Stats(ctx context.Context, c *Container) (*Stats, error) {
	if !c.State.Running() || c.State.Pid <= 0 {
		return nil, fmt.Errorf("stats %s: container is not running", c.Name)
	}
	s, err := e.sample(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("stats %s: %w", c.Name, err)
	}
	return s, nil
}

// jailNameOf is the name racct knows the jail of container id by, from
// its spec (nil: none could be read): the id, below its parent's name when
// the spec puts it in a parent jail (freebsd.jail.parent, or ocijail's
// org.freebsd.parentJail annotation), as the jail runtime names it.
func jailNameOf(spec *specs.Spec, id string) string {
	if spec == nil {
		return id
	}
	parent := spec.Annotations["org.freebsd.parentJail"]
	if spec.FreeBSD != nil && spec.FreeBSD.Jail != nil && spec.FreeBSD.Jail.Parent != "" {
		parent = spec.FreeBSD.Jail.Parent
	}
	if parent == "" {
		return id
	}
	return parent + "." + id
}

// specMemoryLimit reads the --memory limit from a container's spec (nil:
// none could be read): the rctl annotation "deny=BYTES" on FreeBSD, the
// memory limit on Linux; 0 when it has none.
func specMemoryLimit(spec *specs.Spec) uint64 {
	if spec == nil {
		return 0
	}
	if v, ok := spec.Annotations[bundle.AnnotationRctlMemoryUse]; ok {
		if _, n, ok := strings.Cut(v, "="); ok {
			if b, err := strconv.ParseUint(n, 10, 64); err == nil {
				return b
			}
		}
	}
	if spec.Linux != nil && spec.Linux.Resources != nil && spec.Linux.Resources.Memory != nil && spec.Linux.Resources.Memory.Limit != nil && *spec.Linux.Resources.Memory.Limit > 0 {
		return uint64(*spec.Linux.Resources.Memory.Limit)
	}
	return 0
}

// parseKeyValues reads "key value" (sep ' ') or "key=value" (sep '=')
// lines of unsigned numbers; other lines are skipped.
func parseKeyValues(data string, sep byte) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), string(sep))
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		out[strings.TrimSpace(k)] = n
	}
	return out
}

// parseCgroupPath finds the cgroup v2 path in /proc/PID/cgroup ("0::/x").
func parseCgroupPath(data string) (string, error) {
	for _, l := range strings.Split(data, "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("no cgroup v2 entry in /proc/PID/cgroup (is the host on the unified hierarchy?)")
}

// parseCgroupV1 maps each cgroup v1 controller of /proc/PID/cgroup
// ("4:memory:/x", "2:cpu,cpuacct:/y") to its path.
func parseCgroupV1(data string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(data, "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || f[1] == "" {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			out[c] = f[2]
		}
	}
	return out
}

// parseBlkio sums the Read and Write lines of a cgroup v1
// blkio.throttle.io_service_bytes ("8:0 Read 4096").
func parseBlkio(data string) (read, write uint64) {
	for _, l := range strings.Split(data, "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		n, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			continue
		}
		switch f[1] {
		case "Read":
			read += n
		case "Write":
			write += n
		}
	}
	return read, write
}

// parseIOStat sums rbytes and wbytes over the devices of a cgroup v2
// io.stat ("8:0 rbytes=1 wbytes=2 rios=3 ...").
func parseIOStat(data string) (read, write uint64) {
	for _, l := range strings.Split(data, "\n") {
		for _, f := range strings.Fields(l) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "rbytes":
				read += n
			case "wbytes":
				write += n
			}
		}
	}
	return read, write
}

// parseNetDev sums received and sent bytes over the interfaces of a
// /proc/PID/net/dev, loopback excepted.
func parseNetDev(data string) (rx, tx uint64) {
	for _, l := range strings.Split(data, "\n") {
		name, rest, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, err1 := strconv.ParseUint(f[0], 10, 64)
		t, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 == nil && err2 == nil {
			rx += r
			tx += t
		}
	}
	return rx, tx
}

// parseNetstatLink reads the bytes in and out of `netstat -b -n -I IF`'s
// link row ("<Link#N>": name, mtu, network, address, Ipkts, Ierrs, Idrop,
// Ibytes, Opkts, Oerrs, Obytes, Coll).
func parseNetstatLink(data string) (in, out uint64, ok bool) {
	for _, l := range strings.Split(data, "\n") {
		f := strings.Fields(l)
		if len(f) < 11 || !strings.HasPrefix(f[2], "<Link#") {
			continue
		}
		i, err1 := strconv.ParseUint(f[7], 10, 64)
		o, err2 := strconv.ParseUint(f[10], 10, 64)
		if err1 == nil && err2 == nil {
			return i, o, true
		}
	}
	return 0, 0, false
}

// hostInterfaces are the host ends of the container's network interfaces,
// from the network hook's extension (read as JSON: engine does not import
// the network package).
func hostInterfaces(c *Container) []string {
	var ext struct {
		Endpoints []struct {
			HostIf string `json:"hostIf"`
		} `json:"endpoints"`
	}
	if _, err := c.Extension("network", &ext); err != nil {
		return nil
	}
	var out []string
	for _, ep := range ext.Endpoints {
		if ep.HostIf != "" {
			out = append(out, ep.HostIf)
		}
	}
	return out
}

// parseRctlUsage reads `rctl -u jail:NAME` (resource=value per line) into
// a sample: cputime (seconds), pcpu, memoryuse, maxproc; racct keeps no
// byte counters of block I/O (readbps and writebps are rates).
func parseRctlUsage(data string) (*Stats, error) {
	kv := parseKeyValues(data, '=')
	if _, ok := kv["memoryuse"]; !ok {
		return nil, fmt.Errorf("rctl -u: no memoryuse in %q", strings.TrimSpace(data))
	}
	return &Stats{
		CPU:         time.Duration(kv["cputime"]) * time.Second,
		PCPU:        float64(kv["pcpu"]),
		MemoryUsage: kv["memoryuse"],
		Pids:        kv["maxproc"],
	}, nil
}

// rctlError reads rctl's complaint: racct switched off at boot.
func rctlError(stderr string, err error) error {
	if strings.Contains(stderr, "kern.racct.enable") || strings.Contains(stderr, "RACCT/RCTL present, but disabled") {
		return ErrRacctDisabled
	}
	if stderr != "" {
		return fmt.Errorf("rctl: %s", strings.TrimSpace(stderr))
	}
	return fmt.Errorf("rctl: %w", err)
}
