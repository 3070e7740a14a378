//go:build !freebsd

package backend

import (
	"fmt"
	"runtime"

	"github.com/stockade/stockade/network/freebsd"
)

// freebsdNetHost fails: the FreeBSD driver's tools exist only there.
func freebsdNetHost() (freebsd.Host, error) {
	return nil, fmt.Errorf("network driver freebsd: not available on %s", runtime.GOOS)
}
