package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/ociruntime"
)

// LabelBuild marks the containers a build runs its RUN steps in.
const LabelBuild = "stockade.io/build"

// execute builds one instruction that the cache did not have, and
// commits its result to s. It tells whether a layer was added.
func (r *run) execute(ctx context.Context, s *state, cmd instructions.Command, code string, cp *copyPlan, view rootView) (bool, error) {
	switch c := cmd.(type) {
	case *instructions.CopyCommand, *instructions.AddCommand:
		return true, r.commit(ctx, s, code, cp.write)
	case *instructions.WorkdirCommand:
		wd := s.st.workdir(c.Path)
		s.st.cfg.Config.WorkingDir = wd
		if view.isDir(wd) {
			return false, r.commit(ctx, s, code, nil)
		}
		// WORKDIR makes its directory, as docker does.
		p := &copyPlan{isDir: view.isDir}
		for _, d := range append(parents(wd), wd) {
			if !view.isDir(d) {
				p.entries = append(p.entries, entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: now()}})
			}
		}
		return true, r.commit(ctx, s, code, p.write)
	case *instructions.RunCommand:
		return true, r.runStep(ctx, s, c, code)
	}
	ok, err := s.st.applyMeta(cmd, r.plan.expandWith(envMap(s.st.env())))
	if err != nil {
		return false, err
	}
	if !ok {
		return false, fmt.Errorf("%s is not supported", cmd.Name())
	}
	return false, r.commit(ctx, s, code, nil)
}

// commit adds the layer write makes (none when write is nil) and a
// history entry to s, and records the result as an intermediate image.
func (r *run) commit(ctx context.Context, s *state, code string, write func(context.Context, io.Writer) error) error {
	var layers []ocispec.Descriptor
	var diffIDs []digest.Digest
	if write != nil {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(write(ctx, pw)) }()
		desc, diffID, err := r.svc.AddLayer(ctx, pr, r.opts.Compression)
		pr.CloseWithError(err)
		if err != nil {
			return fmt.Errorf("commit layer: %w", err)
		}
		layers = append(layers, desc)
		diffIDs = append(diffIDs, diffID)
	}
	cfg := s.st.cfg
	t := now()
	cfg.Created = &t
	cfg.History = append(append([]ocispec.History{}, cfg.History...), ocispec.History{
		Created: &t, CreatedBy: code, Comment: "stockade build", EmptyLayer: write == nil,
	})
	rec, err := r.newImage(ctx, s.rec, layers, diffIDs, cfg, nil, true)
	if err != nil {
		return err
	}
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: rec.DiffIDs}
	s.rec, s.st.cfg = rec, cfg
	return nil
}

// runStep runs a RUN in a container of the stage so far, streams its
// output, checks its exit code and commits what it changed. The
// container is removed whatever happens.
func (r *run) runStep(ctx context.Context, s *state, c *instructions.RunCommand, code string) error {
	if s.rec == nil || len(s.rec.ChainIDs) == 0 {
		return fmt.Errorf("nothing to run in: the stage has no files yet (FROM scratch)")
	}
	network := r.opts.Network
	switch n := instructions.GetNetwork(c); n {
	case "", "default":
	case "none":
		network = bundle.NetworkNone
	case "host":
		network = bundle.NetworkHost
	default:
		return fmt.Errorf("RUN --network=%s: only none, host or default", n)
	}
	e := r.b.Engine
	ctr, err := e.Create(ctx, engine.CreateOptions{
		Image: s.rec,
		Spec: bundle.Options{
			Entrypoint: s.st.commandLine(c.ShellDependantCmdLine), EntrypointSet: true,
			Env: s.st.runEnv(), Network: network,
		},
		Labels: map[string]string{LabelBuild: "run"},
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := e.Remove(context.WithoutCancel(ctx), ctr.ID, true); err != nil && !errors.Is(err, engine.ErrNoSuchContainer) {
			r.b.logger().Warn("remove build container", "container", ctr.Name, "error", err)
		}
	}()
	// Start is not cut short by an interrupt: a monitor left half-started
	// could outlive the container's removal. The interrupt is seen just
	// after, and the deferred removal then finds a monitor waiting.
	if _, err := e.Start(context.WithoutCancel(ctx), ctr.ID, true); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	type attached struct {
		code int
		err  error
	}
	done := make(chan attached, 1)
	go func() {
		code, err := e.Attach(context.WithoutCancel(ctx), ctr.ID, engine.AttachOptions{Stdout: r.out, Stderr: r.out, Start: true})
		done <- attached{code, err}
	}()
	var res attached
	select {
	case res = <-done:
	case <-ctx.Done():
		// Until the attach has started the process the record says
		// created, which Kill refuses; the attach then starts it. So the
		// kill is retried until it lands or the attach returns.
		killUntilDone(context.WithoutCancel(ctx), e, ctr.ID, done)
		<-done
		return ctx.Err()
	}
	if res.err != nil {
		return res.err
	}
	if res.code != 0 {
		return &ExitError{Code: res.code}
	}
	return r.commit(ctx, s, code, func(ctx context.Context, w io.Writer) error {
		_, err := e.ExportChanges(ctx, ctr.ID, w)
		return err
	})
}

// killUntilDone sends SIGKILL to the container id until the kill is taken
// (the container runs) or done has a value, which it leaves there.
func killUntilDone[T any](ctx context.Context, e *engine.Engine, id string, done chan T) {
	for {
		err := e.Kill(ctx, id, syscall.SIGKILL)
		if err == nil || !errors.Is(err, ociruntime.ErrNotRunning) {
			return
		}
		select {
		case v := <-done:
			done <- v
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}
