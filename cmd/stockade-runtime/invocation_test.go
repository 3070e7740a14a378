package main

import (
	"errors"
	"flag"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/ociruntime"
)

func TestParseInvocation(t *testing.T) {
	const term = syscall.SIGTERM
	tests := []struct {
		name    string
		command string
		args    string // split on spaces
		want    invocation
		wantErr string
	}{
		// create
		{"runc create", "create", "--bundle /b c1", invocation{Command: "create", ID: "c1", Bundle: "/b"}, ""},
		{"runc create short", "create", "-b /b c1", invocation{Command: "create", ID: "c1", Bundle: "/b"}, ""},
		{"runc create =", "create", "--bundle=/b --pid-file=/p c1", invocation{Command: "create", ID: "c1", Bundle: "/b", PidFile: "/p"}, ""},
		{"runc create (containerd's go-runc)", "create", "--bundle /b --pid-file /p --console-socket /s --no-pivot --no-new-keyring --preserve-fds 2 c1",
			invocation{Command: "create", ID: "c1", Bundle: "/b", PidFile: "/p", ConsoleSocket: "/s", PreserveFDs: 2}, ""},
		{"runc create in cwd", "create", "c1", invocation{Command: "create", ID: "c1"}, ""},
		{"runj create", "create", "c1 /b", invocation{Command: "create", ID: "c1", Bundle: "/b"}, ""},
		{"runj create flags after", "create", "c1 /b --pid-file /p --console-socket /s",
			invocation{Command: "create", ID: "c1", Bundle: "/b", PidFile: "/p", ConsoleSocket: "/s"}, ""},
		{"runj create flags between", "create", "c1 --pid-file /p /b", invocation{Command: "create", ID: "c1", Bundle: "/b", PidFile: "/p"}, ""},
		{"create same bundle twice", "create", "--bundle /b c1 /b", invocation{Command: "create", ID: "c1", Bundle: "/b"}, ""},
		{"create -- id", "create", "--bundle /b -- -weird", invocation{Command: "create", ID: "-weird", Bundle: "/b"}, ""},
		{"create two bundles", "create", "--bundle /b c1 /c", invocation{}, `bundle given twice: argument "/c" and --bundle "/b"`},
		{"create no id", "create", "--bundle /b", invocation{}, "missing container id (usage: create ID [BUNDLE])"},
		{"create too many", "create", "c1 /b x", invocation{}, `3 arguments ["c1" "/b" "x"], want ID [BUNDLE] (usage: create [--bundle DIR | BUNDLE]`},
		{"create bad flag", "create", "--bogus c1", invocation{}, "flag provided but not defined: -bogus"},
		{"create bad fds", "create", "--preserve-fds x c1", invocation{}, `invalid value "x" for flag -preserve-fds: parse error`},
		{"create negative fds", "create", "--preserve-fds -1 c1", invocation{}, "--preserve-fds -1 is negative"},
		{"create help", "create", "--help", invocation{}, flag.ErrHelp.Error()},
		{"create -h", "create", "c1 -h", invocation{}, flag.ErrHelp.Error()},

		// start, state
		{"start", "start", "c1", invocation{Command: "start", ID: "c1"}, ""},
		{"start no id", "start", "", invocation{}, "missing container id (usage: start ID)"},
		{"start two", "start", "c1 c2", invocation{}, `2 arguments ["c1" "c2"], want ID (usage: start ID)`},
		{"state", "state", "c1", invocation{Command: "state", ID: "c1"}, ""},
		{"state empty id", "state", "--", invocation{}, "missing container id (usage: state ID)"},

		// kill
		{"kill default SIGTERM", "kill", "c1", invocation{Command: "kill", ID: "c1", Signal: term}, ""},
		{"kill name", "kill", "c1 KILL", invocation{Command: "kill", ID: "c1", Signal: syscall.SIGKILL}, ""},
		{"kill SIG name", "kill", "c1 SIGKILL", invocation{Command: "kill", ID: "c1", Signal: syscall.SIGKILL}, ""},
		{"kill lower case", "kill", "c1 sighup", invocation{Command: "kill", ID: "c1", Signal: syscall.SIGHUP}, ""},
		{"kill number", "kill", "c1 9", invocation{Command: "kill", ID: "c1", Signal: syscall.SIGKILL}, ""},
		{"kill USR1 is this system's", "kill", "c1 USR1", invocation{Command: "kill", ID: "c1", Signal: unix.SIGUSR1}, ""},
		{"runc kill --all", "kill", "--all c1 TERM", invocation{Command: "kill", ID: "c1", All: true, Signal: term}, ""},
		{"runj kill --pid (an exec)", "kill", "c1 TERM --pid 4242", invocation{Command: "kill", ID: "c1", Signal: term, Pid: 4242}, ""},
		{"runc kill -a", "kill", "-a c1 15", invocation{Command: "kill", ID: "c1", All: true, Signal: term}, ""},
		{"runj kill --all after", "kill", "c1 TERM --all", invocation{Command: "kill", ID: "c1", All: true, Signal: term}, ""},
		{"kill unknown signal", "kill", "c1 SIGBOGUS", invocation{}, `unknown signal "SIGBOGUS"`},
		{"kill signal 0", "kill", "c1 0", invocation{}, "signal 0 out of range"},
		{"kill too many", "kill", "c1 TERM x", invocation{}, `3 arguments ["c1" "TERM" "x"], want ID [SIGNAL]`},

		// delete
		{"delete", "delete", "c1", invocation{Command: "delete", ID: "c1"}, ""},
		{"runc delete --force", "delete", "--force c1", invocation{Command: "delete", ID: "c1", Force: true}, ""},
		{"runc delete -f", "delete", "-f c1", invocation{Command: "delete", ID: "c1", Force: true}, ""},
		{"runj delete flag after", "delete", "c1 -f", invocation{Command: "delete", ID: "c1", Force: true}, ""},

		// exec
		{"runc exec --process (containerd)", "exec", "--process /p.json --detach --pid-file /pid --console-socket /s --tty c1",
			invocation{Command: "exec", ID: "c1", Process: "/p.json", Detach: true, PidFile: "/pid", ConsoleSocket: "/s", TTY: true}, ""},
		{"runc exec short", "exec", "-p /p.json -d -t c1", invocation{Command: "exec", ID: "c1", Process: "/p.json", Detach: true, TTY: true}, ""},
		{"runj exec -p after id", "exec", "c1 -p /p.json", invocation{Command: "exec", ID: "c1", Process: "/p.json"}, ""},
		{"exec command", "exec", "c1 /bin/sh -c true", invocation{Command: "exec", ID: "c1", Args: []string{"/bin/sh", "-c", "true"}}, ""},
		{"exec command with flags first", "exec", "-t -e A=1 --env B=2 --cwd /tmp c1 ls -l --all",
			invocation{Command: "exec", ID: "c1", TTY: true, Env: []string{"A=1", "B=2"}, Cwd: "/tmp", Args: []string{"ls", "-l", "--all"}}, ""},
		{"exec flags between id and command", "exec", "c1 -d ls", invocation{Command: "exec", ID: "c1", Detach: true, Args: []string{"ls"}}, ""},
		{"exec -- command", "exec", "c1 -- -dash arg", invocation{Command: "exec", ID: "c1", Args: []string{"-dash", "arg"}}, ""},
		{"exec no command", "exec", "c1", invocation{}, `1 arguments ["c1"], want ID COMMAND [ARG...], or --process F ID`},
		{"exec process and command", "exec", "-p /p.json c1 ls", invocation{}, `2 arguments ["c1" "ls"], want ID (the command is in --process)`},
		{"exec no id", "exec", "-p /p.json", invocation{}, "missing container id"},

		// list
		{"list", "list", "", invocation{Command: "list", Format: "table"}, ""},
		{"list json", "list", "--format json", invocation{Command: "list", Format: "json"}, ""},
		{"list -f json -q", "list", "-f json -q", invocation{Command: "list", Format: "json", Quiet: true}, ""},
		{"list bad format", "list", "--format yaml", invocation{}, `--format "yaml" is not one of table, json`},
		{"list argument", "list", "c1", invocation{}, `unexpected arguments ["c1"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			if tt.args != "" {
				args = strings.Split(tt.args, " ")
			}
			got, err := parseInvocation(tt.command, args)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("got %+v, %v\nwant error %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
		err  bool
	}{
		{"TERM", syscall.SIGTERM, false},
		{"SIGTERM", syscall.SIGTERM, false},
		{"term", syscall.SIGTERM, false},
		{"SigKill", syscall.SIGKILL, false},
		{"15", syscall.SIGTERM, false},
		{"HUP", syscall.SIGHUP, false},
		{"WINCH", syscall.SIGWINCH, false},
		{"", 0, true},
		{"SIG", 0, true},
		{"-1", 0, true},
		{"999", 0, true},
		{"NOPE", 0, true},
	}
	for _, tt := range tests {
		got, err := ociruntime.ParseSignal(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseSignal(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestHelpText(t *testing.T) {
	for _, d := range commandDocs {
		_, err := parseInvocation(d.name, []string{"--help"})
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s --help: %v", d.name, err)
		}
		h := helpText(d.name)
		if !strings.HasPrefix(h, "Usage: stockade-runtime [global flags] "+d.name+" ") || !strings.Contains(h, d.usage) {
			t.Errorf("%s: %q", d.name, h)
		}
	}
}
