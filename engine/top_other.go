//go:build !linux

package engine

import (
	"fmt"
	"runtime"
)

// containerProcesses is not implemented yet outside Linux (FreeBSD: the
// processes of the container's jail).
func containerProcesses(int) ([]Process, error) {
	return nil, fmt.Errorf("listing a container's processes is not supported on %s yet", runtime.GOOS)
}
