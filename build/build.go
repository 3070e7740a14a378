package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
)

// DefaultFiles are the Containerfile names looked for in the context, in
// order, when none is given.
var DefaultFiles = []string{"Containerfile", "Dockerfile"}

// Options are the options of a build.
type Options struct {
	// ContextDir is the build context.
	ContextDir string
	// File is the Containerfile; empty looks for DefaultFiles in the
	// context.
	File string
	// Tags name the final image; none leaves it untagged.
	Tags []string
	// BuildArgs are --build-arg values.
	BuildArgs map[string]string
	// Target is the stage to build; empty builds the last.
	Target string
	// NoCache rebuilds every step.
	NoCache bool
	// Pull pulls every FROM image even when it is present.
	Pull bool
	// Platform is the platform FROM images are pulled for.
	Platform string
	// Labels are added to the final image's config.
	Labels map[string]string
	// Compression compresses new layers; empty means gzip.
	Compression image.Compression
	// Network is RUN's network: "" or "none" (none), or "host".
	Network string
	// Output receives the step lines and RUN's output; nil discards them.
	Output io.Writer
	// Warn receives warnings (unused build arguments); nil discards them.
	Warn io.Writer
}

// Step is what a build did at one instruction.
type Step struct {
	// Number counts the instructions built, from 1.
	Number int `json:"number"`
	// Stage is the stage's name or index.
	Stage string `json:"stage"`
	// Instruction is the instruction as written.
	Instruction string `json:"instruction"`
	// Cached is true when the step was taken from the cache.
	Cached bool `json:"cached"`
	// Layer is true when the step added a layer.
	Layer bool `json:"layer"`
	// Image is the (intermediate) image after the step.
	Image digest.Digest `json:"image,omitempty"`
}

// Result is the outcome of a build.
type Result struct {
	// ID is the final image's id.
	ID digest.Digest `json:"id"`
	// Names are the names it was recorded under.
	Names []string `json:"names"`
	// Steps are the steps, in order.
	Steps []Step `json:"steps"`
}

// Builder builds images with an engine (RUN's containers) and its image
// service (layers, images).
type Builder struct {
	Engine *engine.Engine
	// Images is the image service (pulls of FROM images, new layers and
	// images); the engine's Images when nil and it is one.
	Images *image.Service
	Log    *slog.Logger
}

func (b *Builder) logger() *slog.Logger {
	if b.Log != nil {
		return b.Log
	}
	return slog.New(slog.DiscardHandler)
}

// readFile finds and reads the Containerfile.
func readFile(opts Options) (name string, data []byte, err error) {
	if opts.File != "" {
		data, err := os.ReadFile(opts.File)
		if err != nil {
			return "", nil, fmt.Errorf("-f %s: %w", opts.File, unwrapPathError(err))
		}
		return opts.File, data, nil
	}
	for _, n := range DefaultFiles {
		data, err := os.ReadFile(filepath.Join(opts.ContextDir, n))
		if err == nil {
			return n, data, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, err
		}
	}
	return "", nil, fmt.Errorf("build context %s: no Containerfile or Dockerfile (use -f)", opts.ContextDir)
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// predefinedArgs are the ARGs every build knows without a declaration of
// a default: the platform ones (values) and the proxy ones (from
// --build-arg only, and left out of the cache key, as docker does).
func predefinedArgs(platform string) map[string]string {
	osName, arch, variant := runtime.GOOS, runtime.GOARCH, ""
	if platform != "" {
		parts := strings.Split(platform, "/")
		osName = parts[0]
		if len(parts) > 1 {
			arch = parts[1]
		}
		if len(parts) > 2 {
			variant = parts[2]
		}
	}
	target := osName + "/" + arch
	if variant != "" {
		target += "/" + variant
	}
	return map[string]string{
		"TARGETPLATFORM": target, "TARGETOS": osName, "TARGETARCH": arch, "TARGETVARIANT": variant,
		"BUILDPLATFORM": runtime.GOOS + "/" + runtime.GOARCH, "BUILDOS": runtime.GOOS, "BUILDARCH": runtime.GOARCH, "BUILDVARIANT": "",
	}
}

var proxyArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true, "ALL_PROXY": true, "all_proxy": true,
}

// plan is a parsed file with what the build needs of it: the stages to
// build and the global ARGs.
type plan struct {
	file    *File
	lex     *shell.Lex
	meta    map[string]string // global ARGs, valued
	needed  []int             // stage indexes to build, in order
	target  int
	bases   []string // each stage's base, expanded
	steps   int      // instructions to build, FROM included
	used    map[string]bool
	options Options
}

func (p *plan) expandWith(env map[string]string) func(string) (string, error) {
	getter := shell.EnvsFromSlice(sortedEnv(env))
	return func(w string) (string, error) {
		out, _, err := p.lex.ProcessWord(w, getter)
		return out, err
	}
}

// stageIndex finds a stage by name (or number) among the first n.
func (p *plan) stageIndex(name string, n int) (int, bool) {
	for i := 0; i < n; i++ {
		if p.file.Stages[i].Name != "" && strings.EqualFold(p.file.Stages[i].Name, name) {
			return i, true
		}
	}
	if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < n {
		return i, true
	}
	return 0, false
}

// newPlan resolves the global ARGs, the target and the stages it needs.
func newPlan(f *File, opts Options) (*plan, error) {
	p := &plan{file: f, lex: shell.NewLex(f.Escape), meta: map[string]string{}, used: map[string]bool{}, options: opts}
	for k, v := range predefinedArgs(opts.Platform) {
		p.meta[k] = v
	}
	for _, a := range f.MetaArgs {
		for _, kv := range a.Args {
			if v, ok := opts.BuildArgs[kv.Key]; ok {
				p.meta[kv.Key] = v
				p.used[kv.Key] = true
				continue
			}
			if kv.Value != nil {
				v, err := p.expandWith(p.meta)(*kv.Value)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: ARG %s: %w", f.Name, line(a.Location()), kv.Key, err)
				}
				p.meta[kv.Key] = v
			} else if _, ok := p.meta[kv.Key]; !ok {
				p.meta[kv.Key] = ""
			}
		}
	}
	p.target = len(f.Stages) - 1
	if opts.Target != "" {
		i, ok := p.stageIndex(opts.Target, len(f.Stages))
		if !ok || f.Stages[i].Name == "" && opts.Target != strconv.Itoa(i) {
			return nil, fmt.Errorf("--target %s: %s has no stage of that name", opts.Target, f.Name)
		}
		p.target = i
	}
	p.bases = make([]string, len(f.Stages))
	deps := make([][]int, len(f.Stages))
	for i, st := range f.Stages {
		base, err := p.expandWith(p.meta)(st.BaseName)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: FROM %s: %w", f.Name, line(st.Location), st.BaseName, err)
		}
		if base == "" {
			return nil, fmt.Errorf("%s:%d: FROM %s: the image name is empty", f.Name, line(st.Location), st.BaseName)
		}
		p.bases[i] = base
		if j, ok := p.stageIndex(base, i); ok && f.Stages[j].Name != "" {
			deps[i] = append(deps[i], j)
		}
		for _, c := range st.Commands {
			if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
				from, err := p.expandWith(p.meta)(cp.From)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: COPY --from=%s: %w", f.Name, line(cp.Location()), cp.From, err)
				}
				if j, ok := p.stageIndex(from, i); ok {
					deps[i] = append(deps[i], j)
				}
			}
		}
	}
	need := make([]bool, len(f.Stages))
	var mark func(int)
	mark = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		for _, d := range deps[i] {
			mark(d)
		}
	}
	mark(p.target)
	for i, n := range need {
		if n {
			p.needed = append(p.needed, i)
			p.steps += 1 + len(f.Stages[i].Commands)
		}
	}
	return p, nil
}

func line(r []parser.Range) int {
	if len(r) == 0 {
		return 0
	}
	return r[0].Start.Line
}

// unusedArgs lists the --build-arg names no ARG took.
func (p *plan) unusedArgs() []string {
	var out []string
	for k := range p.options.BuildArgs {
		if !p.used[k] && !proxyArgs[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// stepError names the step that failed: "step 3/7 RUN make: reason".
type stepError struct {
	step, total int
	code        string
	err         error
}

func (e *stepError) Error() string {
	return fmt.Sprintf("step %d/%d %s: %v", e.step, e.total, e.code, e.err)
}

func (e *stepError) Unwrap() error { return e.err }

// ExitError is a RUN whose command failed.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return "exit code " + strconv.Itoa(e.Code) }

// configOf decodes an image config with the Docker extensions.
func configOf(data []byte) (dockerspec.DockerOCIImage, error) {
	var c dockerspec.DockerOCIImage
	err := json.Unmarshal(data, &c)
	return c, err
}

// now is the time new configs and history entries carry.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }
