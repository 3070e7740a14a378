package jail

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// plainBundle is a bundle without mounts, network settings or
// annotations.
func plainBundle(t *testing.T) (bundle, rootfs string) {
	bundle, rootfs, _ = testBundle(t, func(s *specs.Spec) {
		s.Mounts = nil
		s.FreeBSD = nil
		s.Annotations = map[string]string{}
		s.Hostname = ""
	})
	return bundle, rootfs
}

const jailTail = " enforce_statfs=2 allow.noset_hostname allow.noraw_sockets allow.nochflags allow.noquotas allow.nosocket_af allow.nomlock allow.nomount"

// runj's containerd shim copies ctr's --runtime-config-path to
// BUNDLE/runj.ext.json; runj merges its network section into the jail.
// So does Create: the vnet mode and interfaces, the IPv4 mode and
// addresses.
func TestRunjExtension(t *testing.T) {
	for _, tc := range []struct {
		name, ext string
		want      []string
	}{
		{"vnet", `{"network":{"vnet":{"mode":"new","interfaces":["epair0b"]}}}`, []string{
			"jail_set create name=c1 path=ROOT persist vnet=1" + jailTail,
			"ifconfig epair0b vnet 7",
			"start_init jid=7 args=[/bin/sh] fifo=true",
		}},
		{"ipv4 inherit (runj's README example)", `{"network":{"ipv4":{"mode":"inherit"}}}`, []string{
			"jail_set create name=c1 path=ROOT persist ip4=2" + jailTail,
			"start_init jid=7 args=[/bin/sh] fifo=true",
		}},
		{"ipv4 addresses", `{"network":{"ipv4":{"mode":"new","addr":["127.0.0.2"]}}}`, []string{
			"jail_set create name=c1 path=ROOT persist ip4=1 ip4.addr=127.0.0.2" + jailTail,
			"start_init jid=7 args=[/bin/sh] fifo=true",
		}},
		{"empty", `{}`, []string{
			"jail_set create name=c1 path=ROOT persist" + jailTail,
			"start_init jid=7 args=[/bin/sh] fifo=true",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle, rootfs := plainBundle(t)
			if err := os.WriteFile(filepath.Join(bundle, RunjExtensionFile), []byte(tc.ext), 0o600); err != nil {
				t.Fatal(err)
			}
			k := newFake()
			if err := create(t, New(t.TempDir(), k, nil), bundle); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, strings.ReplaceAll(w, "ROOT", rootfs))
			}
			if got := k.log(); !slices.Equal(got, want) {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// What runj's schema does not have, and values the jail cannot take, are
// refused before anything is made, naming the file.
func TestRunjExtensionRefused(t *testing.T) {
	for name, tc := range map[string]struct{ ext, want string }{
		"ipv6 section":  {`{"network":{"ipv6":{"mode":"new"}}}`, `unknown field "ipv6"`},
		"misspelt":      {`{"network":{"vnet":{"interface":["epair0b"]}}}`, `unknown field "interface"`},
		"not json":      {`{"network":`, "runj.ext.json"},
		"bad vnet mode": {`{"network":{"vnet":{"mode":"disable"}}}`, `freebsd.jail.vnet: "disable" is not allowed here`},
		"two values":    {`{} {}`, "more than one JSON value"},
	} {
		t.Run(name, func(t *testing.T) {
			bundle, _ := plainBundle(t)
			if err := os.WriteFile(filepath.Join(bundle, RunjExtensionFile), []byte(tc.ext), 0o600); err != nil {
				t.Fatal(err)
			}
			k := newFake()
			r := New(t.TempDir(), k, nil)
			err := create(t, r, bundle)
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
			if len(k.log()) != 0 {
				t.Errorf("calls %q", k.log())
			}
			if ids, _ := r.store.ids(); len(ids) != 0 {
				t.Errorf("state left: %v", ids)
			}
		})
	}
}

// runj's merge: modes replace the config's, lists are appended to it.
func TestMergeRunjExtension(t *testing.T) {
	bundle := t.TempDir()
	ext := `{"network":{"ipv4":{"mode":"new","addr":["10.0.0.2"]},"vnet":{"interfaces":["epair1b"]}}}`
	if err := os.WriteFile(filepath.Join(bundle, RunjExtensionFile), []byte(ext), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{FreeBSD: &specs.FreeBSD{Jail: &specs.FreeBSDJail{Ip4: "inherit", Ip4Addr: []string{"10.0.0.1"}, Vnet: "new", VnetInterfaces: []string{"epair0b"}}}}
	if err := MergeRunjExtension(spec, bundle); err != nil {
		t.Fatal(err)
	}
	j := spec.FreeBSD.Jail
	if j.Ip4 != "new" || !slices.Equal(j.Ip4Addr, []string{"10.0.0.1", "10.0.0.2"}) || j.Vnet != "new" || !slices.Equal(j.VnetInterfaces, []string{"epair0b", "epair1b"}) {
		t.Errorf("merged %+v", j)
	}
	// No file: nothing changes.
	spec = &specs.Spec{}
	if err := MergeRunjExtension(spec, t.TempDir()); err != nil || spec.FreeBSD != nil {
		t.Errorf("without the file: %+v, %v", spec.FreeBSD, err)
	}
}
