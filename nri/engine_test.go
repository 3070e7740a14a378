package nri

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/engine"
)

func TestUpdateFunc(t *testing.T) {
	var calls []string
	u := UpdateFunc(func(_ context.Context, id string, res *api.LinuxResources) error {
		calls = append(calls, id)
		if id == "bad" || id == "bad-ignored" {
			return errors.New("no such container")
		}
		return nil
	})
	mk := func(id string, ignore bool) *api.ContainerUpdate {
		x := &api.ContainerUpdate{}
		x.SetContainerId(id)
		x.SetLinuxMemoryLimit(1 << 20)
		if ignore {
			x.SetIgnoreFailure()
		}
		return x
	}
	failed, err := u(context.Background(), []*api.ContainerUpdate{mk("ok", false), mk("bad", false), mk("bad-ignored", true), {ContainerId: "no-resources"}})
	if len(calls) != 3 {
		t.Errorf("calls %q: want the three updates with resources", calls)
	}
	if len(failed) != 1 || failed[0].ContainerId != "bad" || err == nil || !strings.Contains(err.Error(), "update bad: no such container") {
		t.Errorf("failed %v, err %v", failed, err)
	}

	refused, err := UpdateFunc(Refuse("the jail runtime cannot change a running container's resources"))(context.Background(), []*api.ContainerUpdate{mk("x", false)})
	if len(refused) != 1 || err == nil || !strings.Contains(err.Error(), "update x: the jail runtime cannot change") {
		t.Errorf("refused %v, err %v", refused, err)
	}
}

func TestSyncFunc(t *testing.T) {
	ctrs := []*engine.Container{
		{ID: "a", Name: "run", State: engine.State{Status: engine.StatusRunning, Pid: 10}},
		{ID: "b", Name: "new", State: engine.State{Status: engine.StatusCreated}},
		{ID: "c", Name: "done", State: engine.State{Status: engine.StatusExited, ExitCode: 2}},
	}
	sync := SyncFunc("linux", func(context.Context) ([]*engine.Container, error) { return ctrs, nil }, func(id string) (*specs.Spec, error) {
		if id == "b" {
			return nil, errors.New("no bundle yet")
		}
		return &specs.Spec{Process: &specs.Process{Args: []string{id}}}, nil
	})
	pods, got, err := sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, c := range got {
		desc = append(desc, c.Name+" "+c.State.String()+" "+c.Args[0])
	}
	if want := []string{"run CONTAINER_RUNNING a", "done CONTAINER_STOPPED c"}; !reflect.DeepEqual(desc, want) || len(pods) != 2 {
		t.Errorf("synchronized %q (%d pods), want %q: a container being created is left out", desc, len(pods), want)
	}
}
