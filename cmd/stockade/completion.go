package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/network"
)

// The shell completions are made from the command tree itself: the
// commands, their flags (and which take a value) and, read from each
// command's ArgsUsage, what each argument names. Names of containers,
// images and networks come at completion time from the hidden
// `stockade __complete KIND`, run with the global flags of the line being
// completed (--root, --state, --config...), so that they come from the
// same store.

// Kinds of names an argument or a flag's value completes to.
const (
	kindContainer = "container"
	kindImage     = "image"
	kindNetwork   = "network"
	kindVolume    = "volume"
	kindFile      = "file"
	kindNone      = "-"
)

// flagKinds are the flags whose values are names stockade knows.
var flagKinds = map[string]string{
	"depends-on": kindContainer,
	"network":    kindNetwork,
	"net":        kindNetwork,
}

func (a *app) completionCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "completion",
			Usage:     "print the shell completion script for bash, zsh or fish",
			ArgsUsage: "bash|zsh|fish",
			Action:    arity(1, 1, a.completion),
		},
		{
			Name:      "__complete",
			Hidden:    true,
			Usage:     "print the names of one kind, one a line, for the shell completions",
			ArgsUsage: "container|image|network|volume",
			Action:    arity(1, 1, a.completeNames),
		},
	}
}

// completion is `completion bash|zsh|fish`.
func (a *app) completion(c *cli.Context) error {
	tree := completionTree(a.commands())
	switch shell := c.Args().First(); shell {
	case "bash":
		writeBashCompletion(a.stdout, tree, false)
	case "zsh":
		writeBashCompletion(a.stdout, tree, true)
	case "fish":
		writeFishCompletion(a.stdout, tree)
	default:
		return fmt.Errorf("completion %q: not one of bash, zsh, fish", shell)
	}
	return nil
}

// completeNames is `__complete KIND`: the names of every container (and
// their short IDs are left out: names are what people type), image or
// network. A store that does not exist yet has no names, and is not made.
func (a *app) completeNames(c *cli.Context) error {
	kind := c.Args().First()
	switch kind {
	case kindContainer, kindImage, kindNetwork, kindVolume:
	default:
		return fmt.Errorf("__complete %q: not one of container, image, network, volume", kind)
	}
	if _, err := os.Stat(a.cfg.Root); err != nil {
		return nil
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	var names []string
	switch kind {
	case kindContainer:
		all, err := e.List(c.Context)
		if err != nil {
			return err
		}
		for _, ctr := range all {
			names = append(names, ctr.Name)
		}
	case kindImage:
		imgs, err := a.svc.List(c.Context)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			names = append(names, img.Name)
		}
	case kindNetwork:
		nets, err := (&network.Store{DB: e.DB}).List(c.Context)
		if err != nil {
			return err
		}
		for _, n := range nets {
			names = append(names, n.Name)
		}
	case kindVolume:
		vols, err := a.parts.VolumeStore(e.DB, e.Snapshotter).List(c.Context)
		if err != nil {
			return err
		}
		for _, v := range vols {
			names = append(names, v.Name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(a.stdout, n)
	}
	return nil
}

// compCommand is one command as the completion scripts see it.
type compCommand struct {
	// Key is the command's path joined by "_", from "stockade".
	Key   string
	Path  []string
	Usage string
	// Subs are the visible subcommands' names (and aliases).
	Subs []string
	// Flags are every flag name with its dashes; ValueFlags those that
	// take a value; FlagKinds the value kind of those in flagKinds.
	Flags, ValueFlags []string
	FlagKinds         map[string]string
	// Args are the kinds of the positional arguments, by position; Repeat
	// says the last one repeats.
	Args   []string
	Repeat bool
}

// completionTree flattens the command tree, root first.
func completionTree(cmds []*cli.Command) []compCommand {
	root := &cli.Command{Name: "stockade", Subcommands: cmds, Flags: append(globalFlags(),
		&cli.BoolFlag{Name: "help", Aliases: []string{"h"}},
		&cli.BoolFlag{Name: "version", Aliases: []string{"v"}})}
	var out []compCommand
	var walk func(path []string, cmd *cli.Command)
	walk = func(path []string, cmd *cli.Command) {
		cc := compCommand{Key: strings.Join(path, "_"), Path: path, Usage: cmd.Usage, FlagKinds: map[string]string{}}
		for _, s := range cmd.Subcommands {
			if !s.Hidden {
				cc.Subs = append(cc.Subs, s.Names()...)
			}
		}
		for _, f := range cmd.Flags {
			takes := false
			if d, ok := f.(cli.DocGenerationFlag); ok {
				takes = d.TakesValue()
			}
			for _, n := range f.Names() {
				name := "--" + n
				if len(n) == 1 {
					name = "-" + n
				}
				cc.Flags = append(cc.Flags, name)
				if takes {
					cc.ValueFlags = append(cc.ValueFlags, name)
					if k, ok := flagKinds[n]; ok {
						cc.FlagKinds[name] = k
					}
				}
			}
		}
		if len(path) > 1 {
			cc.Flags = append(cc.Flags, "--help")
		}
		cc.Args, cc.Repeat = argKinds(path, cmd.ArgsUsage)
		out = append(out, cc)
		for _, s := range cmd.Subcommands {
			if s.Hidden {
				continue
			}
			for _, n := range s.Names() {
				walk(append(append([]string{}, path...), n), s)
			}
		}
	}
	walk([]string{"stockade"}, root)
	return out
}

// argKinds reads what each argument names from a command's ArgsUsage,
// e.g. "CONTAINER..." or "IMAGE [CMD [ARG...]]"; NAME is a network's name
// under `network` and a volume's under `volume`, SRC an image's under
// the image commands that copy one.
func argKinds(path []string, usage string) (kinds []string, repeat bool) {
	group := ""
	if len(path) > 2 {
		group = path[1]
	}
	for _, w := range strings.Fields(usage) {
		w = strings.Trim(w, "[]")
		repeat = strings.HasSuffix(w, "...")
		w = strings.TrimSuffix(w, "...")
		kind := kindNone
		switch w {
		case "CONTAINER":
			kind = kindContainer
		case "IMAGE", "SRC":
			if w == "IMAGE" || path[len(path)-1] == "tag" || group == "image" {
				kind = kindImage
			}
		case "CONTAINER|IMAGE":
			kind = kindContainer + "|" + kindImage
		case "NETWORK":
			kind = kindNetwork
		case "VOLUME":
			kind = kindVolume
		case "NAME":
			switch group {
			case "network":
				kind = kindNetwork
			case "volume":
				kind = kindVolume
			}
		case "FILE", "FILE.tar", "PATH", "DIR":
			kind = kindFile
		}
		kinds = append(kinds, kind)
	}
	return kinds, repeat
}

// writeBashCompletion writes the bash script; for zsh, the same script
// under zsh's bash completion emulation.
func writeBashCompletion(w io.Writer, tree []compCommand, zsh bool) {
	if zsh {
		fmt.Fprint(w, "#compdef stockade\n# zsh completion for stockade, through zsh's bash completion emulation.\nautoload -U +X bashcompinit && bashcompinit\n")
	} else {
		fmt.Fprint(w, "# bash completion for stockade: source it, or install it as\n# share/bash-completion/completions/stockade.\n")
	}
	fmt.Fprint(w, "typeset -gA _stockade_subs _stockade_flags _stockade_valflags _stockade_flagkinds _stockade_args\n")
	for _, c := range tree {
		fmt.Fprintf(w, "_stockade_subs[%s]=%s\n", c.Key, shellQuote(strings.Join(c.Subs, " ")))
		fmt.Fprintf(w, "_stockade_flags[%s]=%s\n", c.Key, shellQuote(strings.Join(c.Flags, " ")))
		fmt.Fprintf(w, "_stockade_valflags[%s]=%s\n", c.Key, shellQuote(" "+strings.Join(c.ValueFlags, " ")+" "))
		var fk []string
		for f, k := range c.FlagKinds {
			fk = append(fk, f+"="+k)
		}
		sort.Strings(fk)
		fmt.Fprintf(w, "_stockade_flagkinds[%s]=%s\n", c.Key, shellQuote(" "+strings.Join(fk, " ")+" "))
		args := strings.Join(c.Args, " ")
		if c.Repeat {
			args += "..."
		}
		fmt.Fprintf(w, "_stockade_args[%s]=%s\n", c.Key, shellQuote(args))
	}
	fmt.Fprint(w, bashFunctions)
}

// bashFunctions walk the words before the cursor to find the command and
// the argument's position, then complete a subcommand, a flag, a flag's
// value or the argument.
const bashFunctions = `
# _stockade_names KIND... prints the names of those kinds, asking stockade
# with the global flags of the line being completed.
_stockade_names()
{
	local k
	for k in "$@"; do
		"${_stockade_cmd}" "${_stockade_globals[@]}" __complete "$k" 2>/dev/null
	done
}

_stockade_complete_kind()
{
	local kind=$1 cur=$2
	case $kind in
	file) COMPREPLY=($(compgen -f -- "$cur")) ;;
	container|image|network|volume|container\|image)
		local IFS=$'\n'
		COMPREPLY=($(compgen -W "$(_stockade_names ${kind//|/ })" -- "$cur")) ;;
	*) COMPREPLY=() ;;
	esac
}

_stockade()
{
	[ -n "${ZSH_VERSION:-}" ] && setopt localoptions ksharrays
	# bash splits words at the colons of COMP_WORDBREAKS: an image
	# reference such as registry:5000/app:1.2 comes as several words.
	# Join them again (a colon is taken to belong to its neighbours).
	local -a words=()
	local cword=0 i w
	for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
		w=${COMP_WORDS[i]}
		if ((i > 1)) && [[ $w == : || ${COMP_WORDS[i-1]} == : ]]; then
			words[${#words[@]}-1]+=$w
		else
			words+=("$w")
		fi
		((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
	done
	local cur=${words[cword]} prev=""
	local path=stockade pos=0
	local _stockade_cmd=${words[0]}
	local -a _stockade_globals=()
	_stockade_reply "$cur"
	# bash replaces only what follows the last colon: trim the replies.
	if [[ -z ${ZSH_VERSION:-} && $cur == *:* && ${COMP_WORDBREAKS:-:} == *:* ]]; then
		local colon=${cur%"${cur##*:}"}
		COMPREPLY=("${COMPREPLY[@]#"$colon"}")
	fi
	return 0
}

# _stockade_reply CUR fills COMPREPLY from words and cword.
_stockade_reply()
{
	local cur=$1 i w
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		-*)
			if [[ $w != *=* && ${_stockade_valflags[$path]} == *" $w "* ]]; then
				[[ $path == stockade ]] && _stockade_globals+=("$w" "${words[i+1]}")
				((i++))
			elif [[ $path == stockade ]]; then
				_stockade_globals+=("$w")
			fi
			;;
		*)
			if ((pos == 0)) && [[ " ${_stockade_subs[$path]} " == *" $w "* ]]; then
				path=${path}_$w
			else
				((pos++))
			fi
			;;
		esac
	done
	((cword > 0)) && prev=${words[cword-1]}
	if [[ $prev == -* && $prev != *=* && ${_stockade_valflags[$path]} == *" $prev "* ]]; then
		local fk=${_stockade_flagkinds[$path]}
		if [[ $fk == *" $prev="* ]]; then
			fk=${fk#*" $prev="}
			_stockade_complete_kind "${fk%% *}" "$cur"
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return 0
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "${_stockade_flags[$path]}" -- "$cur"))
		return 0
	fi
	if ((pos == 0)) && [[ -n ${_stockade_subs[$path]} ]]; then
		COMPREPLY=($(compgen -W "${_stockade_subs[$path]}" -- "$cur"))
		return 0
	fi
	local -a kinds=(${_stockade_args[$path]})
	local n=${#kinds[@]} kind=-
	if ((pos < n)); then
		kind=${kinds[pos]}
	elif ((n > 0)) && [[ ${kinds[n-1]} == *... ]]; then
		kind=${kinds[n-1]}
	fi
	_stockade_complete_kind "${kind%...}" "$cur"
	return 0
}

complete -F _stockade stockade
`

// writeFishCompletion writes the fish script: one complete line per
// subcommand and flag, the arguments' names from __stockade_names.
func writeFishCompletion(w io.Writer, tree []compCommand) {
	fmt.Fprint(w, `# fish completion for stockade: install it as
# share/fish/vendor_completions.d/stockade.fish.

# __stockade_path prints the command path of the line being completed.
function __stockade_path
    set -l words (commandline -opc)
    set -l path stockade
    set -e words[1]
    set -l skip 0
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case '-*'
                if contains -- $w (__stockade_valflags $path)
                    set skip 1
                end
            case '*'
                if contains -- $w (__stockade_subs $path)
                    set path $path\_$w
                else
                    break
                end
        end
    end
    echo $path
end

# __stockade_names KIND... asks stockade, with the line's global flags.
function __stockade_names
    set -l words (commandline -opc)
    set -l globals
    set -l i 2
    while test $i -le (count $words)
        switch $words[$i]
            case --root --state --config --snapshotter
                set -a globals $words[$i] $words[(math $i + 1)]
                set i (math $i + 1)
            case '--root=*' '--state=*' '--config=*' '--snapshotter=*'
                set -a globals $words[$i]
            case '-*'
            case '*'
                break
        end
        set i (math $i + 1)
    end
    for k in $argv
        $words[1] $globals __complete $k 2>/dev/null
    end
end

`)
	fmt.Fprint(w, "function __stockade_subs\n    switch $argv[1]\n")
	for _, c := range tree {
		if len(c.Subs) > 0 {
			fmt.Fprintf(w, "        case %s\n            printf '%%s\\n' %s\n", c.Key, strings.Join(c.Subs, " "))
		}
	}
	fmt.Fprint(w, "    end\nend\n\nfunction __stockade_valflags\n    switch $argv[1]\n")
	for _, c := range tree {
		if len(c.ValueFlags) > 0 {
			fmt.Fprintf(w, "        case %s\n            printf '%%s\\n' -- %s\n", c.Key, strings.Join(c.ValueFlags, " "))
		}
	}
	fmt.Fprint(w, "    end\nend\n\ncomplete -c stockade -f\n")
	for _, c := range tree {
		cond := fmt.Sprintf("'test (__stockade_path) = %s'", c.Key)
		for _, s := range tree {
			if len(s.Path) == len(c.Path)+1 && strings.HasPrefix(s.Key, c.Key+"_") {
				fmt.Fprintf(w, "complete -c stockade -n %s -a %s -d %s\n", cond, s.Path[len(s.Path)-1], shellQuote(s.Usage))
			}
		}
		for _, f := range c.Flags {
			opt := "-l " + strings.TrimPrefix(f, "--")
			if !strings.HasPrefix(f, "--") {
				opt = "-s " + strings.TrimPrefix(f, "-")
			}
			line := fmt.Sprintf("complete -c stockade -n %s %s", cond, opt)
			if k, ok := c.FlagKinds[f]; ok {
				line += fmt.Sprintf(" -r -a '(__stockade_names %s)'", k)
			} else if slices.Contains(c.ValueFlags, f) {
				line += " -r"
			}
			fmt.Fprintln(w, line)
		}
		kinds := map[string]bool{}
		for _, k := range c.Args {
			switch k {
			case kindNone:
			case kindFile:
				fmt.Fprintf(w, "complete -c stockade -n %s -F\n", cond)
			default:
				for _, part := range strings.Split(k, "|") {
					kinds[part] = true
				}
			}
		}
		if len(kinds) > 0 {
			var ks []string
			for k := range kinds {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			fmt.Fprintf(w, "complete -c stockade -n %s -a '(__stockade_names %s)'\n", cond, strings.Join(ks, " "))
		}
	}
}

// shellQuote quotes s in single quotes for bash, zsh and fish alike,
// which read single quotes differently inside single quotes: none is
// written, an apostrophe becomes ’.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "’") + "'"
}
