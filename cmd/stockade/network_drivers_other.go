//go:build !linux && !freebsd

package main

// networkDrivers is empty: this OS has no network driver.
func networkDrivers() []namedNetworkDriver { return nil }
