package nri

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/engine"
)

// SyncFunc returns a HostConfig.Sync that presents the containers list
// returns (the engine's records) as pods and containers, with the specs
// spec reads. A container whose spec cannot be read (one being created)
// is left out.
func SyncFunc(goos string, list func(context.Context) ([]*engine.Container, error), spec func(id string) (*specs.Spec, error)) func(context.Context) ([]*api.PodSandbox, []*api.Container, error) {
	return func(ctx context.Context) ([]*api.PodSandbox, []*api.Container, error) {
		all, err := list(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("nri: synchronize: %w", err)
		}
		var pods []*api.PodSandbox
		var ctrs []*api.Container
		for _, c := range all {
			s, err := spec(c.ID)
			if err != nil {
				continue
			}
			pods = append(pods, Pod(c))
			ctrs = append(ctrs, Container(goos, c, s, ContainerState(c.State.Status), c.State.Pid))
		}
		return pods, ctrs, nil
	}
}

// ContainerState maps a record's status to NRI's.
func ContainerState(s engine.Status) api.ContainerState {
	switch s {
	case engine.StatusCreated:
		return api.ContainerState_CONTAINER_CREATED
	case engine.StatusRunning, engine.StatusRestarting:
		return api.ContainerState_CONTAINER_RUNNING
	case engine.StatusExited, engine.StatusRemoving:
		return api.ContainerState_CONTAINER_STOPPED
	}
	return api.ContainerState_CONTAINER_UNKNOWN
}

// Updater changes a running container's resources.
type Updater func(ctx context.Context, id string, res *api.LinuxResources) error

// UpdateFunc returns a HostConfig.Update that applies each update with u
// and returns those that failed (with the first failure) unless they may
// fail (IgnoreFailure).
func UpdateFunc(u Updater) func(context.Context, []*api.ContainerUpdate) ([]*api.ContainerUpdate, error) {
	return func(ctx context.Context, updates []*api.ContainerUpdate) ([]*api.ContainerUpdate, error) {
		var failed []*api.ContainerUpdate
		var errs []error
		for _, up := range updates {
			res := up.GetLinux().GetResources()
			if res == nil {
				continue
			}
			if err := u(ctx, up.ContainerId, res); err != nil {
				if !up.IgnoreFailure {
					failed = append(failed, up)
					errs = append(errs, fmt.Errorf("update %s: %w", up.ContainerId, err))
				}
			}
		}
		return failed, errors.Join(errs...)
	}
}

// RuncUpdater updates resources with `runc update --resources -`, the
// runc (or crun) binary with state under root.
func RuncUpdater(binary, root string) Updater {
	return func(ctx context.Context, id string, res *api.LinuxResources) error {
		data, err := json.Marshal(res.ToOCI())
		if err != nil {
			return err
		}
		var args []string
		if root != "" {
			args = append(args, "--root", root)
		}
		cmd := exec.CommandContext(ctx, binary, append(args, "update", "--resources", "-", id)...)
		cmd.Stdin = bytes.NewReader(data)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s update: %v: %s", binary, err, strings.TrimSpace(out.String()))
		}
		return nil
	}
}

// Refuse returns an Updater that refuses every update with reason.
func Refuse(reason string) Updater {
	return func(context.Context, string, *api.LinuxResources) error { return errors.New(reason) }
}
