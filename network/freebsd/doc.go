// Package freebsd is the FreeBSD network driver: one if_bridge per
// network, one epair per container with one end moved into the
// container's vnet jail, outbound NAT, published ports and isolation as
// pf rules in stockade's own anchors (stockade/*), and a userland proxy
// for published ports reached from the host itself (127.0.0.1, ::1 and
// the host's own addresses), which pf's rdr cannot serve. A second mode,
// the "alias" driver, gives a jail without vnet an address aliased on a
// host interface, as Bastille's shared-IP jails have.
//
// Everything but the Host that runs ifconfig(8), route(8), pfctl(8),
// sysctl(8) and ps(1) is portable and tested on Linux over a recording
// fake of that Host; the FreeBSD Host (host_freebsd.go) only execs the
// tools.
package freebsd
