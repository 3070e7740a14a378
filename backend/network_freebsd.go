package backend

import "github.com/stockade/stockade/network/freebsd"

// freebsdNetHost runs ifconfig(8), route(8), pfctl(8) and sysctl(8).
func freebsdNetHost() (freebsd.Host, error) { return freebsd.NewHost(), nil }
