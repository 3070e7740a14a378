package backend

import (
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stockade/stockade/linux/runc"
	"github.com/stockade/stockade/ociruntime"
)

// RuntimeOptions are what opening a runtime takes.
type RuntimeOptions struct {
	// Dir is the runtime's state directory.
	Dir string
	// Binary is the program a runtime drives, as configured ([runc]
	// binary, stockade-runtime --runc); "" means the row's own.
	Binary string
	// Log receives the runtime's log lines.
	Log *slog.Logger
}

// Runtime is one row of the runtime table.
type Runtime struct {
	// Name is the name users give (runtime = "..."), one of
	// config.Runtimes.
	Name string
	// OS lists the systems it runs on; none means every system.
	OS []string
	// StateDir is its state directory under stockade's run-state
	// directory.
	StateDir string
	// RuntimeRoot returns its state directory under stockade-runtime's
	// --root.
	RuntimeRoot func(root string) string
	// Probe checks that the host has what Open needs, with an error
	// saying what is missing; nil checks nothing.
	Probe func(opts RuntimeOptions) error
	// Open returns the runtime.
	Open func(opts RuntimeOptions) (ociruntime.Runtime, error)
}

// RuntimeTable is the table of runtimes; the first row available on a
// system is that system's default.
type RuntimeTable []Runtime

// Runtimes returns the runtime table: the jail runtime on FreeBSD, runc
// and crun (runc's command line, another program) on Linux.
func Runtimes() RuntimeTable {
	return RuntimeTable{
		{
			Name: "jail", OS: []string{"freebsd"}, StateDir: "jail",
			// The jail runtime's state is --root itself, as runj's is.
			RuntimeRoot: func(root string) string { return root },
			Open:        openJail, // jail_freebsd.go; an error elsewhere
		},
		runcRow("runc"),
		runcRow("crun"),
	}
}

// runcRow is the row of runc or of crun, which takes runc's commands and
// flags. Both keep their state in "runc".
func runcRow(name string) Runtime {
	return Runtime{
		Name: name, OS: []string{"linux"}, StateDir: "runc",
		RuntimeRoot: func(root string) string { return filepath.Join(root, "runc") },
		Probe: func(opts RuntimeOptions) error {
			bin := runcBinary(name, opts.Binary)
			if _, err := exec.LookPath(bin); err != nil {
				return fmt.Errorf("runtime %s: %w (install it, or set [runc] binary in the configuration)", bin, err)
			}
			return nil
		},
		Open: func(opts RuntimeOptions) (ociruntime.Runtime, error) {
			return runc.New(runcBinary(name, opts.Binary), opts.Dir, opts.Log), nil
		},
	}
}

// runcBinary is the program the runtime name drives when configured is
// the configured binary: configured, unless the runtime is crun and
// configured is empty or the default "runc".
func runcBinary(name, configured string) string {
	switch {
	case name == "crun" && (configured == "" || configured == "runc"):
		return "crun"
	case configured == "":
		return "runc"
	}
	return configured
}

// Names returns the table's names in order.
func (t RuntimeTable) Names() []string {
	names := make([]string, len(t))
	for i, r := range t {
		names[i] = r.Name
	}
	return names
}

// Lookup returns the row of the runtime name, or an error saying that
// there is none or that it is not available on goos.
func (t RuntimeTable) Lookup(name, goos string) (Runtime, error) {
	i := slices.IndexFunc(t, func(r Runtime) bool { return r.Name == name })
	if i < 0 {
		return Runtime{}, fmt.Errorf("runtime %q is not one of %v on %s", name, t.Names(), goos)
	}
	r := t[i]
	if !availableOn(r.OS, goos) {
		var here []string
		for _, o := range t {
			if availableOn(o.OS, goos) {
				here = append(here, o.Name)
			}
		}
		hint := "no runtime runs here"
		if len(here) > 0 {
			hint = "use " + strings.Join(here, " or ")
		}
		return Runtime{}, fmt.Errorf("runtime %s is not available on %s (it runs on %s; %s)", name, goos, systems(r.OS), hint)
	}
	return r, nil
}

// Default returns goos's default runtime: the first row available there.
// It reports false on a system with no runtime.
func (t RuntimeTable) Default(goos string) (Runtime, bool) {
	for _, r := range t {
		if availableOn(r.OS, goos) {
			return r, true
		}
	}
	return Runtime{}, false
}
