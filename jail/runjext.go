package jail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RunjExtensionFile is runj's extension file in a bundle. runj's
// containerd shim copies the file given with ctr's --runtime-config-path
// there (it must be named so), and runj merges it into config.json.
const RunjExtensionFile = "runj.ext.json"

// runjExtension is the schema of runj.ext.json: a network section with
// IPv4 and vnet settings, nothing else.
type runjExtension struct {
	Network *struct {
		IPv4 *struct {
			Mode string   `json:"mode,omitempty"`
			Addr []string `json:"addr,omitempty"`
		} `json:"ipv4,omitempty"`
		VNet *struct {
			Mode       string   `json:"mode,omitempty"`
			Interfaces []string `json:"interfaces,omitempty"`
		} `json:"vnet,omitempty"`
	} `json:"network,omitempty"`
}

// MergeRunjExtension merges the bundle's runj.ext.json, when there is
// one, into spec as runj does: network.ipv4.mode replaces
// freebsd.jail.ip4, network.ipv4.addr is appended to ip4Addr,
// network.vnet.mode replaces freebsd.jail.vnet, and
// network.vnet.interfaces is appended to vnetInterfaces. The result is
// checked with the rest of the spec (JailParams). Unlike runj, which
// ignores what it does not know, a field outside that schema (an "ipv6"
// section, a misspelt name) is an error naming it, so that no setting is
// silently dropped.
func MergeRunjExtension(spec *specs.Spec, bundle string) error {
	path := filepath.Join(bundle, RunjExtensionFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", RunjExtensionFile, err)
	}
	var ext runjExtension
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ext); err != nil {
		return fmt.Errorf("%w: %s: %v (runj's schema: network.ipv4.mode, network.ipv4.addr, network.vnet.mode, network.vnet.interfaces)", ErrInvalidSpec, path, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: %s: more than one JSON value", ErrInvalidSpec, path)
	}
	n := ext.Network
	if n == nil {
		return nil
	}
	if spec.FreeBSD == nil {
		spec.FreeBSD = &specs.FreeBSD{}
	}
	if spec.FreeBSD.Jail == nil {
		spec.FreeBSD.Jail = &specs.FreeBSDJail{}
	}
	j := spec.FreeBSD.Jail
	if n.IPv4 != nil {
		if n.IPv4.Mode != "" {
			j.Ip4 = specs.FreeBSDSharing(n.IPv4.Mode)
		}
		j.Ip4Addr = append(j.Ip4Addr, n.IPv4.Addr...)
	}
	if n.VNet != nil {
		if n.VNet.Mode != "" {
			j.Vnet = specs.FreeBSDSharing(n.VNet.Mode)
		}
		j.VnetInterfaces = append(j.VnetInterfaces, n.VNet.Interfaces...)
	}
	return nil
}
