package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/bundle"
)

// securityFlags are the flags of run and create that widen or narrow what
// a container may do (docs/SECURITY.md).
func securityFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "privileged", Usage: "Linux: every capability, no seccomp, the host's devices; FreeBSD: the jail permissions of docs/JAIL.md"},
		&cli.StringSliceFlag{Name: "cap-add", Usage: "add a Linux capability (NET_ADMIN, CAP_SYS_TIME, ALL) (repeatable)"},
		&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a Linux capability, or ALL (repeatable)"},
		&cli.StringSliceFlag{Name: "security-opt", Usage: "seccomp=unconfined|FILE, no-new-privileges[=true|false] (repeatable)"},
		&cli.StringSliceFlag{Name: "device", Usage: "a host device HOST[:CONTAINER][:PERMS] (repeatable)"},
		&cli.StringSliceFlag{Name: "jail-param", Usage: "FreeBSD: a jail parameter NAME[=VALUE], e.g. allow.mlock=1 (repeatable)"},
		&cli.IntFlag{Name: "securelevel", Usage: "FreeBSD: the jail's securelevel (-1 to 3)"},
		&cli.IntFlag{Name: "devfs-ruleset", Usage: "FreeBSD: the devfs ruleset of the jail's /dev (default 4)"},
	}
}

// securityOptions reads and checks the security flags for a container of
// goos, before anything is pulled or made. A seccomp profile file is read
// here.
func securityOptions(c *cli.Context, goos string) (bundle.Security, error) {
	s := bundle.Security{
		Privileged: c.Bool("privileged"),
		CapAdd:     c.StringSlice("cap-add"),
		CapDrop:    c.StringSlice("cap-drop"),
		Devices:    c.StringSlice("device"),
		JailParams: c.StringSlice("jail-param"),
	}
	if c.IsSet("securelevel") {
		v := c.Int("securelevel")
		s.Securelevel = &v
	}
	if c.IsSet("devfs-ruleset") {
		v := c.Int("devfs-ruleset")
		s.DevfsRuleset = &v
	}
	for _, o := range c.StringSlice("security-opt") {
		if err := securityOpt(&s, o); err != nil {
			return s, err
		}
	}
	return s, s.Check(goos)
}

// securityOpt applies one --security-opt value: docker's KEY=VALUE, or its
// older KEY:VALUE.
func securityOpt(s *bundle.Security, o string) error {
	key, value, hasValue := strings.Cut(o, "=")
	if !hasValue {
		key, value, hasValue = strings.Cut(o, ":")
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("--security-opt %q: %s", o, fmt.Sprintf(format, a...))
	}
	switch key {
	case "seccomp":
		switch {
		case value == "":
			return fail("want seccomp=unconfined or seccomp=FILE")
		case value == bundle.SeccompUnconfined:
			s.Seccomp, s.SeccompProfile = value, nil
		default:
			data, err := os.ReadFile(value)
			if err != nil {
				return fail("%v", err)
			}
			s.Seccomp, s.SeccompProfile = value, data
		}
	case "no-new-privileges":
		v := true
		if hasValue {
			b, err := strconv.ParseBool(value)
			if err != nil {
				return fail("want true or false")
			}
			v = b
		}
		s.NoNewPrivileges = &v
	case "apparmor", "label":
		// Stockade applies no AppArmor profile or SELinux label: turning
		// them off asks for what is already so.
		if off := map[string]string{"apparmor": "unconfined", "label": "disable"}[key]; value != off {
			return fail("stockade applies no AppArmor profile or SELinux label (only %s=%s is accepted)", key, off)
		}
	default:
		return fail("unknown option %q (want seccomp=unconfined|FILE or no-new-privileges[=true|false])", key)
	}
	return nil
}
