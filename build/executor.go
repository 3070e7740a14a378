package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/mount"
)

// state is a stage's image so far: the record of the last step (nil for
// FROM scratch before any step) and the config it carries.
type state struct {
	rec *image.Record
	st  stage
}

// id is what a cache key names as the parent.
func (s *state) id() digest.Digest {
	if s.rec == nil {
		return digest.FromString("scratch")
	}
	return s.rec.ID
}

// run is one build in progress.
type run struct {
	b      *Builder
	svc    *image.Service
	opts   Options
	plan   *plan
	ctx    *Context
	cache  *cache
	out    io.Writer
	step   int
	result Result
	stages map[int]*state
}

// Build builds the image opts describe. A step's error names the step;
// a failing RUN's error wraps an *ExitError. Whatever the outcome, no
// build container and no view of a root stays behind.
func (b *Builder) Build(ctx context.Context, opts Options) (*Result, error) {
	bctx, err := OpenContext(opts.ContextDir)
	if err != nil {
		return nil, err
	}
	opts.ContextDir = bctx.Dir
	name, data, err := readFile(opts)
	if err != nil {
		return nil, err
	}
	f, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	p, err := newPlan(f, opts)
	if err != nil {
		return nil, err
	}
	if opts.Compression == "" {
		opts.Compression = image.Gzip
	}
	switch opts.Network {
	case "", "none":
		opts.Network = bundle.NetworkNone
	case "host":
		opts.Network = bundle.NetworkHost
	default:
		return nil, fmt.Errorf("--network %s: a build runs with none or host", opts.Network)
	}
	svc := b.Images
	if svc == nil {
		svc, _ = b.Engine.Images.(*image.Service)
	}
	if svc == nil {
		return nil, errors.New("build: no image service")
	}
	store, err := svc.Content(ctx)
	if err != nil {
		return nil, err
	}
	// The lease keeps garbage collection off the blobs and snapshots this
	// build makes until an image names them.
	release, err := store.Lease(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	r := &run{
		b: b, svc: svc, opts: opts, plan: p, ctx: bctx, cache: &cache{db: svc.DB},
		out: opts.Output, stages: map[int]*state{},
	}
	if r.out == nil {
		r.out = io.Discard
	}
	var last *state
	for _, i := range p.needed {
		if last, err = r.stage(ctx, i); err != nil {
			return nil, err
		}
		r.stages[i] = last
	}
	if unused := p.unusedArgs(); len(unused) > 0 && opts.Warn != nil {
		fmt.Fprintf(opts.Warn, "warning: build arguments not used by any ARG: %s\n", strings.Join(unused, ", "))
	}
	rec, err := r.final(ctx, last)
	if err != nil {
		return nil, err
	}
	r.result.ID = rec.ID
	return &r.result, nil
}

// final records the target stage's image under the tags (or untagged),
// with the --label labels.
func (r *run) final(ctx context.Context, s *state) (*image.Record, error) {
	cfg := s.st.cfg
	if len(r.opts.Labels) > 0 {
		cfg.Config.Labels = maps.Clone(cfg.Config.Labels)
		if cfg.Config.Labels == nil {
			cfg.Config.Labels = map[string]string{}
		}
		maps.Copy(cfg.Config.Labels, r.opts.Labels)
	}
	rec, err := r.newImage(ctx, s.rec, nil, nil, cfg, r.opts.Tags, false)
	if err != nil {
		return nil, err
	}
	r.result.Names = append(r.result.Names, r.opts.Tags...)
	return rec, nil
}

// newImage writes config and manifest and records the image: base's
// layers and then layers.
func (r *run) newImage(ctx context.Context, base *image.Record, layers []ocispec.Descriptor, diffIDs []digest.Digest, cfg dockerspec.DockerOCIImage, names []string, intermediate bool) (*image.Record, error) {
	// DockerOCIImage's own Config shadows the embedded one.
	img := cfg.Image
	img.Config = cfg.Config.ImageConfig
	return r.svc.NewImage(ctx, image.NewImageOptions{
		Base: base, Layers: layers, DiffIDs: diffIDs, Config: img, ConfigExtra: configExtra(cfg), Names: names, Intermediate: intermediate,
	})
}

// configExtra is the config's Docker extension (Healthcheck, OnBuild,
// Shell) as members of its "config" object.
func configExtra(cfg dockerspec.DockerOCIImage) map[string]json.RawMessage {
	ext := cfg.Config.DockerOCIImageConfigExt
	out := map[string]json.RawMessage{}
	if ext.Healthcheck != nil {
		out["Healthcheck"], _ = json.Marshal(ext.Healthcheck)
	}
	if len(ext.OnBuild) > 0 {
		out["OnBuild"], _ = json.Marshal(ext.OnBuild)
	}
	if len(ext.Shell) > 0 {
		out["Shell"], _ = json.Marshal(ext.Shell)
	}
	return out
}

// stageName is how messages name stage i.
func (r *run) stageName(i int) string {
	if n := r.plan.file.Stages[i].Name; n != "" {
		return n
	}
	return strconv.Itoa(i)
}

// stage builds stage i.
func (r *run) stage(ctx context.Context, i int) (*state, error) {
	st := r.plan.file.Stages[i]
	r.step++
	code := st.SourceCode
	fmt.Fprintf(r.out, "STEP %d/%d: %s\n", r.step, r.plan.steps, code)
	s, err := r.from(ctx, i)
	if err != nil {
		return nil, &stepError{step: r.step, total: r.plan.steps, code: code, err: err}
	}
	r.record(Step{Stage: r.stageName(i), Instruction: code, Cached: s.rec != nil, Image: idOf(s.rec)})
	// ONBUILD triggers of the base run first, then leave the config.
	triggers := s.st.cfg.Config.OnBuild
	s.st.cfg.Config.OnBuild = nil
	for _, t := range triggers {
		cmd, err := parseTrigger(t, r.plan.file.Escape)
		if err != nil {
			return nil, &stepError{step: r.step, total: r.plan.steps, code: "ONBUILD " + t, err: err}
		}
		if err := r.command(ctx, i, s, cmd, "ONBUILD "+t, false); err != nil {
			return nil, err
		}
	}
	for _, cmd := range st.Commands {
		r.step++
		if err := r.command(ctx, i, s, cmd, codeOf(cmd), true); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func idOf(rec *image.Record) digest.Digest {
	if rec == nil {
		return ""
	}
	return rec.ID
}

func (r *run) record(s Step) {
	s.Number = r.step
	r.result.Steps = append(r.result.Steps, s)
}

// codeOf is an instruction as written.
func codeOf(cmd instructions.Command) string {
	if s, ok := cmd.(fmt.Stringer); ok {
		return s.String()
	}
	return strings.ToUpper(cmd.Name())
}

// parseTrigger parses one ONBUILD trigger.
func parseTrigger(expr string, escape rune) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(expr))
	if err != nil || len(res.AST.Children) != 1 {
		return nil, fmt.Errorf("bad ONBUILD trigger %q", expr)
	}
	v, err := instructions.ParseInstruction(res.AST.Children[0])
	if err != nil {
		return nil, err
	}
	cmd, ok := v.(instructions.Command)
	if !ok {
		return nil, fmt.Errorf("ONBUILD %s: not allowed", expr)
	}
	if err := supported(cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

// from starts stage i: from an earlier stage, scratch, or an image.
func (r *run) from(ctx context.Context, i int) (*state, error) {
	base := r.plan.bases[i]
	s := &state{st: stage{args: map[string]string{}}}
	if j, ok := r.plan.stageIndex(base, i); ok && r.plan.file.Stages[j].Name != "" {
		prev := r.stages[j]
		s.rec = prev.rec
		s.st.cfg = prev.st.cfg
		s.st.cfg.Config.Env = append([]string{}, prev.st.cfg.Config.Env...)
		return s, nil
	}
	if strings.EqualFold(base, "scratch") {
		s.st.cfg.OS, s.st.cfg.Architecture = platformOf(r.plan.meta)
		s.st.cfg.Config.Env = []string{}
		return s, nil
	}
	rec, err := r.image(ctx, base)
	if err != nil {
		return nil, err
	}
	s.rec = rec
	data, err := r.rawConfig(ctx, rec)
	if err != nil {
		return nil, err
	}
	if s.st.cfg, err = configOf(data); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", base, err)
	}
	return s, nil
}

func platformOf(meta map[string]string) (string, string) {
	return meta["TARGETOS"], meta["TARGETARCH"]
}

// image finds or pulls a FROM or COPY --from image.
func (r *run) image(ctx context.Context, ref string) (*image.Record, error) {
	if !r.opts.Pull {
		rec, err := r.svc.Get(ctx, ref)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, image.ErrNotFound) {
			return nil, err
		}
	}
	return r.svc.Pull(ctx, ref, image.PullOptions{Platform: r.opts.Platform})
}

// rawConfig reads an image's config bytes.
func (r *run) rawConfig(ctx context.Context, rec *image.Record) ([]byte, error) {
	store, err := r.svc.Content(ctx)
	if err != nil {
		return nil, err
	}
	size, err := store.Info(ctx, rec.ID)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", rec.Name, err)
	}
	return store.ReadAll(ctx, ocispec.Descriptor{Digest: rec.ID, MediaType: ocispec.MediaTypeImageConfig, Size: size}, 8<<20)
}

// command builds one instruction of stage i on s.
func (r *run) command(ctx context.Context, i int, s *state, cmd instructions.Command, code string, count bool) error {
	fail := func(err error) error {
		return &stepError{step: r.step, total: r.plan.steps, code: code, err: err}
	}
	fmt.Fprintf(r.out, "STEP %d/%d: %s\n", r.step, r.plan.steps, code)
	if a, ok := cmd.(*instructions.ArgCommand); ok {
		if err := r.arg(s, a); err != nil {
			return fail(err)
		}
		r.record(Step{Stage: r.stageName(i), Instruction: code, Cached: true, Image: idOf(s.rec)})
		return nil
	}
	expand := r.plan.expandWith(envMap(s.st.env()))
	if e, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if _, isRun := cmd.(*instructions.RunCommand); !isRun {
			if err := e.Expand(expand); err != nil {
				return fail(err)
			}
		}
	}
	cmdJSON, _ := json.Marshal(cmd)
	key := cacheKey{Parent: s.id(), Code: code, Command: cmdJSON, Args: s.st.args}
	switch c := cmd.(type) {
	case *instructions.CopyCommand, *instructions.AddCommand:
		files, err := r.filesDigest(ctx, i, c)
		if err != nil {
			return fail(err)
		}
		key.Files = files
	case *instructions.WorkdirCommand:
		key.Extra = "workdir"
	case *instructions.RunCommand:
		key.Extra = "network=" + r.opts.Network
		if net := instructions.GetNetwork(c); net != "" && net != "default" {
			key.Extra = "network=" + net
		}
	}
	k := key.String()
	if !r.opts.NoCache {
		if rec, ok := r.cached(ctx, k); ok {
			data, err := r.rawConfig(ctx, rec)
			if err != nil {
				return fail(err)
			}
			cfg, err := configOf(data)
			if err != nil {
				return fail(err)
			}
			layer := s.rec == nil && len(rec.Layers) > 0 || s.rec != nil && len(rec.Layers) > len(s.rec.Layers)
			s.rec, s.st.cfg = rec, cfg
			if _, ok := cmd.(*instructions.CmdCommand); ok {
				s.st.cmdSet = true
			}
			fmt.Fprintf(r.out, "--> Using cache %s\n", rec.ID.Encoded()[:12])
			r.record(Step{Stage: r.stageName(i), Instruction: code, Cached: true, Layer: layer, Image: rec.ID})
			return nil
		}
	}
	var cp *copyPlan
	var view rootView
	var closeView = func() {}
	switch c := cmd.(type) {
	case *instructions.CopyCommand, *instructions.AddCommand:
		var err error
		if view, closeView, err = r.view(ctx, s.rec); err != nil {
			return fail(err)
		}
		var closeFrom func()
		if cp, closeFrom, err = r.copyPlan(ctx, i, s, c, view); err != nil {
			closeView()
			return fail(err)
		}
		closeV := closeView
		closeView = func() { closeFrom(); closeV() }
	case *instructions.WorkdirCommand:
		var err error
		if view, closeView, err = r.view(ctx, s.rec); err != nil {
			return fail(err)
		}
	}
	layer, err := r.execute(ctx, s, cmd, code, cp, view)
	closeView()
	if err != nil {
		return fail(err)
	}
	if err := r.cache.put(ctx, k, s.rec.ID); err != nil {
		return fail(err)
	}
	fmt.Fprintf(r.out, "--> %s\n", s.rec.ID.Encoded()[:12])
	r.record(Step{Stage: r.stageName(i), Instruction: code, Layer: layer, Image: s.rec.ID})
	return nil
}

// filesDigest is the cache key's part for what a COPY or ADD takes:
// for the context, every name, type, mode, link target and content of
// the sources; for another stage or an image, its id (which fixes its
// files) and the sources' names.
func (r *run) filesDigest(ctx context.Context, i int, cmd instructions.Command) (string, error) {
	var sources []string
	switch c := cmd.(type) {
	case *instructions.CopyCommand:
		sources = c.SourcePaths
		if c.From != "" {
			if j, ok := r.plan.stageIndex(c.From, i); ok {
				return "stage " + r.stages[j].id().String(), nil
			}
			rec, err := r.image(ctx, c.From)
			if err != nil {
				return "", fmt.Errorf("--from=%s: %w", c.From, err)
			}
			return "image " + rec.ID.String(), nil
		}
	case *instructions.AddCommand:
		sources = c.SourcePaths
	}
	return r.ctx.tree().digest(sources)
}

// cached returns the image a step key made, when it still exists.
func (r *run) cached(ctx context.Context, key string) (*image.Record, bool) {
	id, ok, err := r.cache.get(ctx, key)
	if err != nil || !ok {
		return nil, false
	}
	rec, err := r.svc.Get(ctx, id.String())
	if err != nil {
		r.cache.forget(ctx, key)
		return nil, false
	}
	return rec, true
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// arg declares an ARG in the stage: a --build-arg value wins, then the
// default, then a global ARG of the same name or a predefined one.
func (r *run) arg(s *state, a *instructions.ArgCommand) error {
	for _, kv := range a.Args {
		if v, ok := r.opts.BuildArgs[kv.Key]; ok {
			s.st.args[kv.Key] = v
			r.plan.used[kv.Key] = true
			continue
		}
		if kv.Value != nil {
			v, err := r.plan.expandWith(envMap(s.st.env()))(*kv.Value)
			if err != nil {
				return err
			}
			s.st.args[kv.Key] = v
			continue
		}
		if v, ok := r.plan.meta[kv.Key]; ok {
			s.st.args[kv.Key] = v
			continue
		}
		s.st.args[kv.Key] = ""
	}
	return nil
}

// view mounts a read-only view of rec's root file system, for COPY's
// destination and --chown's names. The function returned unmounts it.
func (r *run) view(ctx context.Context, rec *image.Record) (rootView, func(), error) {
	if rec == nil || len(rec.ChainIDs) == 0 {
		return rootView{}, func() {}, nil
	}
	e := r.b.Engine
	key := "extract-build-" + randomHex(8)
	// An active snapshot under the extract- prefix: one a crash leaves is
	// collected by image GC (system check, system prune); the build's
	// lease keeps GC off it meanwhile.
	mounts, err := e.Snapshotter.Prepare(ctx, key, rec.TopChainID())
	if err != nil {
		return rootView{}, nil, fmt.Errorf("view of the stage's root: %w", err)
	}
	dir := filepath.Join(e.StateDir, "build", key)
	cleanup := func() {
		c := context.WithoutCancel(ctx)
		mount.UnmountAll(dir)
		os.Remove(dir)
		if err := e.Snapshotter.Remove(c, key); err != nil {
			r.b.logger().Warn("remove build view", "key", key, "error", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		cleanup()
		return rootView{}, nil, err
	}
	if err := mount.All(mounts, dir); err != nil {
		cleanup()
		return rootView{}, nil, fmt.Errorf("mount the stage's root: %w", err)
	}
	return rootView{dir: dir}, cleanup, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// copyPlan resolves a COPY or ADD.
// The function returned releases the --from tree the plan reads.
func (r *run) copyPlan(ctx context.Context, i int, s *state, cmd instructions.Command, view rootView) (*copyPlan, func(), error) {
	spec := copySpec{workdir: s.st.cfg.Config.WorkingDir, from: r.ctx.tree()}
	switch c := cmd.(type) {
	case *instructions.CopyCommand:
		spec.sources, spec.dest, spec.chown, spec.chmod = c.SourcePaths, c.DestPath, c.Chown, c.Chmod
		if c.From != "" {
			tree, closeTree, err := r.fromTree(ctx, i, c.From)
			if err != nil {
				return nil, nil, err
			}
			spec.from, spec.keepOwner = tree, true
			p, err := spec.plan(view, now())
			if err != nil {
				closeTree()
				return nil, nil, err
			}
			return p, closeTree, nil
		}
	case *instructions.AddCommand:
		spec.sources, spec.dest, spec.chown, spec.chmod, spec.add = c.SourcePaths, c.DestPath, c.Chown, c.Chmod, true
	}
	p, err := spec.plan(view, now())
	return p, func() {}, err
}

// fromTree mounts the root of COPY --from's stage or image.
func (r *run) fromTree(ctx context.Context, i int, from string) (*tree, func(), error) {
	if j, ok := r.plan.stageIndex(from, i); ok {
		st := r.stages[j]
		if st == nil {
			return nil, nil, fmt.Errorf("--from=%s: stage not built", from)
		}
		v, closeView, err := r.view(ctx, st.rec)
		if err != nil {
			return nil, nil, err
		}
		if v.dir == "" {
			dir, err := os.MkdirTemp("", "stockade-empty-")
			if err != nil {
				return nil, nil, err
			}
			return rootTree(dir), func() { os.Remove(dir) }, nil
		}
		return rootTree(v.dir), closeView, nil
	}
	rec, err := r.image(ctx, from)
	if err != nil {
		return nil, nil, fmt.Errorf("--from=%s: %w", from, err)
	}
	v, closeView, err := r.view(ctx, rec)
	if err != nil {
		return nil, nil, err
	}
	return rootTree(v.dir), closeView, nil
}
