package jail

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/ociruntime"
)

// roContainer creates c1 with a read-only root and nothing else mounted.
func roContainer(t *testing.T) (*Runtime, *fakeKernel, string) {
	t.Helper()
	bundle, rootfs, _ := testBundle(t, func(s *specs.Spec) {
		s.Root.Readonly = true
		s.Mounts = nil
		s.FreeBSD = nil
		s.Annotations = map[string]string{}
	})
	k := newFake()
	r := New(t.TempDir(), k, nil)
	r.KillWait = 0
	if err := create(t, r, bundle); err != nil {
		t.Fatal(err)
	}
	return r, k, rootfs
}

// Delete waits for the removed jail to be gone (it stays dying while a
// socket in TIME_WAIT refers to it, and pins the root's nullfs) before it
// unmounts.
func TestDeleteWaitsForDyingJail(t *testing.T) {
	r, k, rootfs := roContainer(t)
	r.DyingWait = 10 * time.Second
	k.dyingLookups = 3
	k.reset()
	if err := r.Delete(context.Background(), "c1", true); err != nil {
		t.Fatal(err)
	}
	want := []string{"kill 1000 9", "jail_remove 7", "jail_get 7", "jail_get 7", "jail_get 7", "jail_get 7", "unmount " + rootfs}
	if got := k.log(); !slices.Equal(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A jail still dying after DyingWait: Delete unmounts with MNT_FORCE
// rather than fail with EBUSY and leave the container behind.
func TestDeleteForceUnmountsAfterDyingWait(t *testing.T) {
	r, k, rootfs := roContainer(t)
	r.DyingWait = 300 * time.Millisecond
	k.dyingLookups = 1 << 20
	k.reset()
	start := time.Now()
	if err := r.Delete(context.Background(), "c1", true); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("delete took %s with DyingWait %s", took, r.DyingWait)
	}
	got := k.log()
	if last := got[len(got)-1]; last != "unmount "+rootfs+" flags=0x80000" {
		t.Errorf("last call %q, want a forced unmount (MNT_FORCE 0x80000)", last)
	}
	if _, err := r.State(context.Background(), "c1"); !errors.Is(err, ociruntime.ErrNotFound) {
		t.Errorf("state after delete: %v", err)
	}
}

// A jail id given to another jail since is not the container's dying
// jail: no wait.
func TestDeleteJidReused(t *testing.T) {
	r, k, rootfs := roContainer(t)
	r.DyingWait = time.Hour
	k.reuseJID = "someone-else"
	k.reset()
	done := make(chan error, 1)
	go func() { done <- r.Delete(context.Background(), "c1", true) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("delete waited for a jail that is not the container's")
	}
	if got := k.log(); got[len(got)-1] != "unmount "+rootfs {
		t.Errorf("calls %q", got)
	}
}

// Once the jail is removed, ifconfig's undo steps fail: the interface came
// back to the host with the vnet, the jail is gone or dying, the address
// or its interface is gone. Those count as done, so that Delete finishes
// instead of failing for ever; other failures stay in the journal.
func TestDeleteIfconfigAlreadyUndone(t *testing.T) {
	vnet := func(s *specs.Spec) {
		s.Mounts = nil
		s.FreeBSD = &specs.FreeBSD{Jail: &specs.FreeBSDJail{Vnet: "new", VnetInterfaces: []string{"epair0b"}}}
		s.Annotations = map[string]string{}
		s.Hostname = ""
	}
	alias := func(s *specs.Spec) {
		s.Mounts = nil
		s.FreeBSD.Devices = nil
		s.Annotations = map[string]string{}
	}
	for _, tc := range []struct {
		name, call string
		edit       func(*specs.Spec)
		err        error
		done       bool
	}{
		{"vnet: jail not found", "ifconfig epair0b -vnet 7", vnet,
			errors.New(`/sbin/ifconfig epair0b -vnet 7: exit status 1: ifconfig: jail "7" not found`), true},
		{"vnet: jail dying", "ifconfig epair0b -vnet 7", vnet,
			errors.New(`/sbin/ifconfig epair0b -vnet 7: exit status 1: ifconfig: jail 7 is dying`), true},
		{"vnet: ENXIO", "ifconfig epair0b -vnet 7", vnet,
			errors.New(`/sbin/ifconfig epair0b -vnet 7: exit status 1: ifconfig: SIOCSIFRVNET(7, epair0b): Device not configured`), true},
		{"vnet: permission", "ifconfig epair0b -vnet 7", vnet,
			errors.New(`/sbin/ifconfig epair0b -vnet 7: exit status 1: ifconfig: SIOCSIFRVNET(7, epair0b): Operation not permitted`), false},
		{"alias: EADDRNOTAVAIL", "ifconfig lo1 inet 10.0.0.5 -alias", alias,
			errors.New(`/sbin/ifconfig lo1 inet 10.0.0.5 -alias: exit status 1: ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address`), true},
		{"alias: interface gone", "ifconfig lo1 inet 10.0.0.5 -alias", alias,
			errors.New(`/sbin/ifconfig lo1 inet 10.0.0.5 -alias: exit status 1: ifconfig: interface lo1 does not exist`), true},
		{"alias: other", "ifconfig lo1 inet 10.0.0.5 -alias", alias,
			errors.New(`/sbin/ifconfig lo1 inet 10.0.0.5 -alias: exit status 1: ifconfig: ioctl (SIOCDIFADDR): Operation not permitted`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle, _, _ := testBundle(t, tc.edit)
			k := newFake()
			r := New(t.TempDir(), k, nil)
			r.KillWait = 0
			if err := create(t, r, bundle); err != nil {
				t.Fatal(err)
			}
			k.failOn[tc.call] = tc.err
			err := r.Delete(context.Background(), "c1", true)
			if tc.done {
				if err != nil {
					t.Fatalf("delete: %v", err)
				}
				if _, err := r.State(context.Background(), "c1"); !errors.Is(err, ociruntime.ErrNotFound) {
					t.Errorf("state left: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "Operation not permitted") {
				t.Fatalf("delete: %v, want the failure", err)
			}
			rec, rerr := r.store.read("c1")
			if rerr != nil || len(rec.Undo) != 1 || fmt.Sprint(rec.Undo[0].Args) != fmt.Sprint(strings.Fields(tc.call)[1:]) {
				t.Errorf("journal %+v (%v), want the failed step alone", rec, rerr)
			}
		})
	}
}
