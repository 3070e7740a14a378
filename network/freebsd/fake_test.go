package freebsd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// fakeHost records every command as one line and plays the part of
// FreeBSD's interfaces and pf anchors closely enough that a test can ask
// what is left on the host: interfaces (by vnet: "" is the host, else a
// jid), their groups, address aliases and loaded anchors.
type fakeHost struct {
	mu     sync.Mutex
	calls  []string
	stdin  map[string]string // anchor → rules last loaded
	failOn map[string]error  // exact line, or "#n": the n-th command (1-based)
	// out answers a command line with a fixed output.
	out map[string]string

	ifs     map[string]string // "name" or "jid:name" → vnet ("" host, else jid)
	peer    map[string]string // epair end → other end
	groups  map[string][]string
	aliases map[string]bool           // "IFACE ADDR"
	addrs   map[string][]netip.Prefix // by the key of ifs
	epairs  int
	bridges int
}

func newFakeHost() *fakeHost {
	return &fakeHost{
		stdin: map[string]string{}, failOn: map[string]error{}, out: map[string]string{},
		ifs: map[string]string{"em0": "", "lo0": ""}, peer: map[string]string{}, groups: map[string][]string{}, aliases: map[string]bool{}, addrs: map[string][]netip.Prefix{},
	}
}

func errLine(msg string) error {
	return &RunError{Args: []string{"fake"}, Stderr: msg, Err: errors.New("exit status 1")}
}

// state is what is on the host: interfaces with their vnet, aliases and
// anchors, sorted.
func (f *fakeHost) state() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for k, v := range f.ifs {
		if k == "em0" || k == "lo0" {
			continue
		}
		_, name, ok := strings.Cut(k, ":")
		if !ok {
			name = k
		}
		s = append(s, "if "+name+"@"+v)
	}
	for a := range f.aliases {
		s = append(s, "alias "+a)
	}
	for a := range f.stdin {
		s = append(s, "anchor "+a)
	}
	slices.Sort(s)
	return s
}

func (f *fakeHost) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeHost) reset() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

func (f *fakeHost) Run(ctx context.Context, stdin string, argv ...string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := strings.Join(argv, " ")
	f.calls = append(f.calls, line)
	if err, ok := f.failOn[line]; ok {
		return "", err
	}
	if err, ok := f.failOn[fmt.Sprintf("#%d", len(f.calls))]; ok {
		return "", err
	}
	if o, ok := f.out[line]; ok {
		return o, nil
	}
	switch argv[0] {
	case "ifconfig":
		return f.ifconfig(argv[1:])
	case "pfctl":
		return f.pfctl(argv[1:], stdin)
	case "route", "sysctl", "ps":
		return "", nil
	}
	return "", errLine(argv[0] + ": not found")
}

func (f *fakeHost) ifconfig(a []string) (string, error) {
	vnet := ""
	if len(a) >= 2 && a[0] == "-j" {
		vnet, a = a[1], a[2:]
	}
	if len(a) == 2 && a[0] == "-g" {
		var out []string
		for _, m := range f.groups[a[1]] {
			if v, ok := f.ifs[m]; ok && v == "" {
				out = append(out, m)
			}
		}
		return strings.Join(out, "\n"), nil
	}
	name := a[0]
	switch {
	case name == "epair" && len(a) == 2 && a[1] == "create":
		n := f.epairs
		f.epairs++
		x, y := fmt.Sprintf("epair%da", n), fmt.Sprintf("epair%db", n)
		f.ifs[x], f.ifs[y] = "", ""
		f.peer[x], f.peer[y] = y, x
		return x + "\n", nil
	case name == "bridge" && len(a) == 2 && a[1] == "create":
		x := fmt.Sprintf("bridge%d", f.bridges)
		f.bridges++
		f.ifs[x] = ""
		return x + "\n", nil
	}
	if name == "lo0" && vnet != "" {
		return "", nil // every vnet jail has its own lo0
	}
	// Interfaces are keyed "name" on the host and "jid:name" in a jail.
	key := name
	if vnet != "" {
		key = vnet + ":" + name
	}
	if _, ok := f.ifs[key]; !ok {
		return "", errLine(fmt.Sprintf("ifconfig: interface %s does not exist", name))
	}
	rekey := func(from, to string) {
		f.ifs[to] = f.ifs[from]
		delete(f.ifs, from)
		f.addrs[to] = f.addrs[from]
		delete(f.addrs, from)
		if p, ok := f.peer[from]; ok {
			f.peer[to], f.peer[p] = p, to
			delete(f.peer, from)
		}
		key = to
	}
	for i := 1; i < len(a); i++ {
		switch a[i] {
		case "destroy":
			delete(f.ifs, key)
			delete(f.addrs, key)
			if p, ok := f.peer[key]; ok {
				delete(f.ifs, p)
				delete(f.addrs, p)
			}
			return "", nil
		case "inet", "inet6":
			if i+1 < len(a) {
				if p, err := netip.ParsePrefix(a[i+1]); err == nil && !slices.Contains(a, "alias") {
					f.addrs[key] = append(f.addrs[key], p)
					i++
				}
			}
		case "name":
			to := a[i+1]
			if vnet != "" {
				to = vnet + ":" + to
			}
			if _, taken := f.ifs[to]; taken {
				return "", errLine("ifconfig: ioctl SIOCSIFNAME (set name): File exists")
			}
			rekey(key, to)
			i++
		case "vnet":
			rekey(key, a[i+1]+":"+name)
			f.ifs[key] = a[i+1]
			i++
		case "group":
			f.groups[a[i+1]] = append(f.groups[a[i+1]], name)
			i++
		case "alias":
			f.aliases[name+" "+strings.Split(a[i-1], "/")[0]] = true
		case "-alias":
			k := name + " " + a[i-1]
			if !f.aliases[k] {
				return "", errLine("ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address")
			}
			delete(f.aliases, k)
		}
	}
	return "", nil
}

func (f *fakeHost) pfctl(a []string, stdin string) (string, error) {
	if len(a) == 4 && a[0] == "-a" && a[2] == "-f" {
		f.stdin[a[1]] = stdin
		return "", nil
	}
	if len(a) == 4 && a[0] == "-a" && a[2] == "-F" {
		delete(f.stdin, a[1])
		return "", nil
	}
	if len(a) == 4 && a[0] == "-a" && a[2] == "-s" && a[3] == "Anchors" {
		return strings.Join(slices.Sorted(maps.Keys(f.stdin)), "\n"), nil
	}
	return "", nil
}
