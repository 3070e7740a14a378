package engine

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// containerProcesses lists the processes that share init's pid namespace.
func containerProcesses(initPid int) ([]Process, error) {
	ns, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(initPid), "ns/pid"))
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(filepath.Join("/proc", ent.Name(), "ns/pid")); err != nil || l != ns {
			continue
		}
		p := Process{Pid: pid}
		if stat, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat")); err == nil {
			// pid (comm) state ppid ...: comm may hold spaces and parens.
			s := string(stat)
			if i := strings.LastIndexByte(s, ')'); i > 0 {
				f := strings.Fields(s[i+1:])
				if len(f) > 1 {
					p.State = f[0]
					p.PPid, _ = strconv.Atoi(f[1])
				}
			}
		}
		if cmd, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline")); err == nil {
			p.Command = strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out, nil
}
