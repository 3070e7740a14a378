//go:build freebsd

package freebsd

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
)

// NewHost returns the Host that execs the base system's tools by their
// absolute paths, so that PATH does not matter.
func NewHost() Host { return execHost{} }

type execHost struct{}

var toolPaths = map[string]string{
	"ifconfig": "/sbin/ifconfig",
	"route":    "/sbin/route",
	"pfctl":    "/sbin/pfctl",
	"sysctl":   "/sbin/sysctl",
	"ps":       "/bin/ps",
}

func (execHost) Run(ctx context.Context, stdin string, argv ...string) (string, error) {
	path := argv[0]
	if p, ok := toolPaths[path]; ok {
		path = p
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), &RunError{Args: argv, Stderr: errb.String(), Err: err}
	}
	return out.String(), nil
}
