package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/image/layer"
)

// commitCommands are `diff` and `commit`: a container's changes to its
// image, listed or made into a new image.
func (a *app) commitCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "diff",
			Usage:     "list the files a container added (A), changed (C) and deleted (D)",
			ArgsUsage: "CONTAINER",
			Flags:     []cli.Flag{formatFlag()},
			Action:    arity(1, 1, a.diff),
		},
		{
			Name:      "commit",
			Usage:     "make an image of a container's changes",
			ArgsUsage: "CONTAINER [IMAGE]",
			Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR or STOPSIGNAL (repeatable)"},
				&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "commit message, recorded in the image's history"},
				&cli.StringFlag{Name: "author", Aliases: []string{"a"}, Usage: "author of the image (e.g. \"Name <mail>\")"},
				&cli.BoolFlag{Name: "pause", Aliases: []string{"p"}, Value: true, Usage: "pause a running container while its changes are read (--pause=false to not)"},
				&cli.StringFlag{Name: "compression", Value: "gzip", Usage: "layer compression: gzip, zstd or none"},
			},
			Action: arity(1, 2, a.commit),
		},
	}
}

// diff is `diff CONTAINER`: one "A|C|D /path" line per change, as docker
// prints them.
func (a *app) diff(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ref := c.Args().First()
	changes, err := e.Changes(c.Context, ref)
	if errors.Is(err, engine.ErrNoSuchContainer) {
		return fmt.Errorf("diff %s: no such container", ref)
	}
	if err != nil {
		return err
	}
	if asJSON {
		if changes == nil {
			changes = []layer.Change{}
		}
		return writeJSON(a.stdout, changes)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 1, ' ', 0)
	for _, ch := range changes {
		fmt.Fprintf(tw, "%s %s\n", ch.Kind, ch.Path)
	}
	return tw.Flush()
}

// commit is `commit CONTAINER [IMAGE]`: a new image of the container's
// image plus one layer of its changes (none when it changed nothing),
// with --change applied to the config, and a history entry. It prints the
// new image's id. Everything the user typed is checked before anything is
// read or stored.
func (a *app) commit(c *cli.Context) (err error) {
	if leanBuild {
		return errNeedsFull // the layer pipeline (image.ErrNotInBuild), before the container is paused
	}
	ref := c.Args().Get(0)
	what := "commit " + ref
	comp, err := image.ParseCompression(c.String("compression"))
	if err != nil {
		return fmt.Errorf("%s: --compression: %w", what, err)
	}
	changes, err := parseChanges(c.StringSlice("change"))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var names []string
	if n := c.Args().Get(1); n != "" {
		if _, err := image.NormalizeName(n, a.cfg.DefaultRegistry); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		names = []string{n}
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ctr, err := e.Get(c.Context, ref)
	if errors.Is(err, engine.ErrNoSuchContainer) {
		return fmt.Errorf("%s: no such container", what)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	base, err := a.svc.Get(c.Context, ctr.ImageID)
	if err != nil {
		return fmt.Errorf("%s: the container's image %s: %w", what, ctr.Image, err)
	}
	cfg, err := a.svc.Config(c.Context, base)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := applyChanges(&cfg.Config, changes); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// Docker's members of the config (Healthcheck, OnBuild, Shell) stay.
	extra, err := a.svc.ConfigExtra(c.Context, base)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if c.Bool("pause") && ctr.State.Status == engine.StatusRunning && !ctr.State.Paused {
		if err := e.Pause(c.Context, ctr.ID); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer func() {
			if uerr := e.Unpause(context.WithoutCancel(c.Context), ctr.ID); uerr != nil && err == nil {
				err = fmt.Errorf("%s: %w", what, uerr)
			}
		}()
	}
	release, err := a.svc.Lease(c.Context)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer release()
	desc, diffID, n, err := exportLayer(c.Context, e, a.svc, ctr.ID, comp)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	now := time.Now().UTC()
	cfg.Created = &now
	if au := c.String("author"); au != "" {
		cfg.Author = au
	}
	h := ocispec.History{
		Created:    &now,
		CreatedBy:  strings.Join(ctr.Command, " "),
		Comment:    c.String("message"),
		Author:     c.String("author"),
		EmptyLayer: n == 0,
	}
	cfg.History = append(cfg.History, h)
	opts := image.NewImageOptions{Base: base, Config: *cfg, ConfigExtra: extra, Names: names}
	if n > 0 {
		opts.Layers, opts.DiffIDs = []ocispec.Descriptor{desc}, []digest.Digest{diffID}
	}
	rec, err := a.svc.NewImage(c.Context, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintln(a.stdout, rec.ID)
	return nil
}

// exportLayer stores the changes of container id as a layer compressed
// with comp, and returns it and how many changes it holds.
func exportLayer(ctx context.Context, e *engine.Engine, svc *image.Service, id string, comp image.Compression) (ocispec.Descriptor, digest.Digest, int, error) {
	pr, pw := io.Pipe()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		ch, err := e.ExportChanges(ctx, id, pw)
		pw.CloseWithError(err)
		done <- result{len(ch), err}
	}()
	desc, diffID, err := svc.AddLayer(ctx, pr, comp)
	pr.CloseWithError(errors.New("layer not stored"))
	r := <-done
	if r.err != nil {
		return desc, "", 0, r.err
	}
	if err != nil {
		return desc, "", 0, err
	}
	return desc, diffID, r.n, nil
}
