package jail

import (
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/freebsdabi"
)

// InitCommand is the hidden first argument with which stockade-runtime
// runs as the init helper.
const InitCommand = "__stockade-jail-init"

// InitEnv is the environment variable carrying the helper's InitPlan as
// JSON.
const InitEnv = "_STOCKADE_JAIL_INIT"

// Rlimit is one resource limit of the process, with FreeBSD's resource
// number.
type Rlimit struct {
	Name     string `json:"name"`
	Resource int    `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

// InitPlan is everything the init helper does, in this order: open Fifo
// (read-write), setsid, open a pseudo-terminal and send its master over
// ConsoleSocket (when Terminal), jail_attach(JID), close LockFd,
// chdir(Cwd), setgroups, setgid, setrlimit, setuid, umask, find Args[0] in
// the jail's PATH, report readiness on descriptor 3+ExtraFiles (unless
// InPlace), wait for a byte on the fifo (when Fifo is set), mark every
// descriptor from 3+ExtraFiles on close-on-exec, and execute Args with Env.
type InitPlan struct {
	JID           int        `json:"jid"`
	Fifo          string     `json:"fifo,omitempty"`
	Args          []string   `json:"args"`
	Env           []string   `json:"env,omitempty"`
	Cwd           string     `json:"cwd"`
	UID           uint32     `json:"uid"`
	GID           uint32     `json:"gid"`
	Groups        []uint32   `json:"groups,omitempty"`
	Umask         *uint32    `json:"umask,omitempty"`
	Rlimits       []Rlimit   `json:"rlimits,omitempty"`
	Terminal      bool       `json:"terminal,omitempty"`
	ConsoleSocket string     `json:"consoleSocket,omitempty"`
	ConsoleSize   *specs.Box `json:"consoleSize,omitempty"`
	ExtraFiles    int        `json:"extraFiles,omitempty"`
	// InPlace is set when the helper replaced the process that runs the
	// exec (Runtime.ExecInPlace) instead of being its child: there is no
	// ready descriptor, and failures go to the standard error.
	InPlace bool `json:"inPlace,omitempty"`
	// LockFd, when positive, is the container's lock, inherited so that
	// no Delete runs between the exec's check and jail_attach; the helper
	// closes it once it is in the jail.
	LockFd int `json:"lockFd,omitempty"`
}

// NewInitPlan returns the plan of running p in jail jid. Args must not be
// empty, Cwd must be absolute, rlimits must be FreeBSD's (RLIMIT_NICE and
// other Linux-only ones are errors) with soft <= hard; a terminal needs a
// console socket (the console socket given here, from the command line).
// additionalGids come after gid, without repeating it.
func NewInitPlan(p *specs.Process, jid int, consoleSocket string) (*InitPlan, error) {
	if p == nil {
		return nil, specErr("no process")
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		return nil, specErr("process.args is empty")
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		return nil, specErr("process.cwd %q is not absolute", p.Cwd)
	}
	plan := &InitPlan{
		JID: jid, Args: p.Args, Env: p.Env, Cwd: filepath.Clean(cwd),
		UID: p.User.UID, GID: p.User.GID, Umask: p.User.Umask,
		Terminal: p.Terminal, ConsoleSize: p.ConsoleSize,
	}
	for _, g := range p.User.AdditionalGids {
		if g != p.User.GID && !containsU32(plan.Groups, g) {
			plan.Groups = append(plan.Groups, g)
		}
	}
	plan.Groups = append([]uint32{p.User.GID}, plan.Groups...)
	if p.User.Umask != nil && *p.User.Umask > 0o777 {
		return nil, specErr("process.user.umask %#o is more than 0777", *p.User.Umask)
	}
	seen := map[int]string{}
	for _, rl := range p.Rlimits {
		n, ok := freebsdabi.Rlimits[rl.Type]
		if !ok {
			return nil, specErr("process.rlimits: %s does not exist on FreeBSD", rl.Type)
		}
		if prev, dup := seen[n]; dup {
			return nil, specErr("process.rlimits: %s given twice (also as %s)", rl.Type, prev)
		}
		seen[n] = rl.Type
		if rl.Soft > rl.Hard {
			return nil, specErr("process.rlimits: %s soft limit %d is above the hard limit %d", rl.Type, rl.Soft, rl.Hard)
		}
		plan.Rlimits = append(plan.Rlimits, Rlimit{Name: rl.Type, Resource: n, Soft: rl.Soft, Hard: rl.Hard})
	}
	if p.Terminal {
		if consoleSocket == "" {
			return nil, specErr("process.terminal needs --console-socket")
		}
		plan.ConsoleSocket = consoleSocket
	}
	if p.SelinuxLabel != "" || p.ApparmorProfile != "" {
		return nil, specErr("process: SELinux and AppArmor labels are Linux-only")
	}
	return plan, nil
}

func containsU32(list []uint32, v uint32) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Validate checks a plan the helper received.
func (p *InitPlan) Validate() error {
	if len(p.Args) == 0 {
		return fmt.Errorf("init plan: no args")
	}
	if !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("init plan: cwd %q is not absolute", p.Cwd)
	}
	if p.JID <= 0 {
		return fmt.Errorf("init plan: no jail id")
	}
	return nil
}

// ReadyMessage is what the helper writes on its ready descriptor: an empty
// Error when it waits for the fifo (or is about to execute), else why it
// failed.
type ReadyMessage struct {
	Error string `json:"error,omitempty"`
}
