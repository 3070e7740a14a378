//go:build tools

// Package deps pins the modules this round's subsystems are about to use
// (network, nri), so that go mod tidy keeps them while the code lands. It is
// removed once every module here is imported by real code.
package deps

import (
	_ "github.com/google/nftables"
	_ "github.com/miekg/dns"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
)
