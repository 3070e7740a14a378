package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/image/content"
	"github.com/stockade/stockade/image/local"
	"github.com/stockade/stockade/internal/phase"
	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/ociruntime"
	"github.com/stockade/stockade/snapshot"
)

// Engine runs containers. Its fields are set once before use.
type Engine struct {
	// Root is the data root: container bundles and logs live under
	// Root/containers.
	Root string
	// StateDir is the run-state directory: mount points, monitor locks and
	// sockets live under StateDir/c.
	StateDir string
	// DB is the metadata store.
	DB *metadata.DB
	// Images reads image configs and holds the content store (an
	// image.Service in the command line, image/local's Store in a
	// monitor).
	Images ImageStore
	// Snapshotter holds container roots; SnapshotterName is recorded.
	Snapshotter     snapshot.Snapshotter
	SnapshotterName string
	// Runtime runs the containers.
	Runtime ociruntime.Runtime
	// GOOS is the host OS the bundles are made for.
	GOOS string
	// Log receives the engine's own messages.
	Log *slog.Logger
	// MonitorCommand returns the command that runs the monitor of id (a
	// re-exec of stockade). waitAttach asks the monitor to wait for its
	// first client before it starts the container.
	MonitorCommand func(id string, waitAttach bool) *exec.Cmd
	// Hooks take part in every container's lifecycle (network, NRI), in
	// this order; see Hook.
	Hooks []Hook
	// HealthCommand returns the command that runs the health checker of
	// id (a re-exec of stockade running RunHealthLoop); nil runs none.
	HealthCommand func(id string) *exec.Cmd
	// MonitorIdleAfter is how long a container runs before its monitor
	// hands over to the small idle monitor (handover.go); 0 never hands
	// over. SmallMonitor is that monitor's path; empty means
	// stockade-monitor next to the running executable.
	MonitorIdleAfter time.Duration
	SmallMonitor     string

	// updateHook is a test seam, nil outside tests: update calls it inside
	// its transaction, after the change and before the write, so that a
	// test can hold one updater there and race another against it.
	updateHook func(c *Container)
}

func (e *Engine) containerDir(id string) string { return filepath.Join(e.Root, "containers", id) }

// runRoot holds one run directory per container, named by short id: unix
// socket paths under it are limited to 104 bytes.
func (e *Engine) runRoot() string            { return filepath.Join(e.StateDir, "c") }
func (e *Engine) runDir(id string) string    { return filepath.Join(e.runRoot(), shortID(id)) }
func (e *Engine) rootfsDir(id string) string { return filepath.Join(e.runDir(id), "rootfs") }
func (e *Engine) socketPath(id string) string {
	return filepath.Join(e.runDir(id), "attach.sock")
}
func (e *Engine) lockPath(id string) string { return filepath.Join(e.runDir(id), "monitor.lock") }

// LogPath returns the path of the container's JSON log.
func (e *Engine) LogPath(id string) string {
	return filepath.Join(e.containerDir(id), id+"-json.log")
}

func (e *Engine) logger() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ImageStore is what the engine needs of the image store: image configs
// and the content store, with its lease. image.Service has it, and
// image/local's Store, without the registry client, for a monitor.
type ImageStore interface {
	// ConfigBytes reads the image's config blob.
	ConfigBytes(ctx context.Context, img *local.Record) ([]byte, error)
	Content(ctx context.Context) (*content.Store, error)
	Lease(ctx context.Context) (func(), error)
}

// CreateOptions are the options of Create.
type CreateOptions struct {
	// Name is the container's name; empty generates one.
	Name string
	// Image is the image record to run.
	Image *local.Record
	// Spec are the bundle options (command, env, volumes, limits...).
	Spec bundle.Options
	// Restart is the restart policy.
	Restart RestartPolicy
	// AutoRemove removes the container when it exits for good.
	AutoRemove bool
	// Interactive keeps the container's stdin open for attach clients.
	Interactive bool
	// Labels annotate the container record.
	Labels map[string]string
	// StorageLabels go on the container's root snapshot, for example
	// LabelStorageSize for a quota (--storage-opt size=).
	StorageLabels map[string]string
	// Extensions are the hooks' requests, by hook name (see Hook).
	Extensions map[string]json.RawMessage
	// Boot is the boot order (--boot-priority, --depends-on).
	Boot BootOrder
	// Healthcheck overrides the image's HEALTHCHECK field by field (see
	// MergeHealthConfig); StopSignal and StopTimeout (seconds) are
	// --stop-signal and --stop-timeout.
	Healthcheck *HealthConfig
	StopSignal  string
	StopTimeout *int
	// KeepRootMounted leaves the root mounted, as its monitor mounts it,
	// for a start that follows at once (run): the monitor then takes
	// that mount over instead of mounting the root again, and create
	// need not unmount it. The command is checked against it then (a
	// *StartError, as a start's), and the monitor does not check again.
	KeepRootMounted bool
	// Monitor is the monitor spawned ahead for this container (run,
	// SpawnMonitor): it is sent the id as soon as the name is reserved
	// (PendingMonitor.Reserved), and closed before the undo of a create
	// that fails after that.
	Monitor *PendingMonitor
}

// Labels on a container's root snapshot. The zfs snapshotter reads them:
// LabelContainer marks a root as a container's (so its check never takes
// it for an abandoned snapshot), LabelStorageSize sets its quota.
const (
	LabelContainer   = "stockade.io/container"
	LabelStorageSize = "stockade.io/size"
)

// Create makes a container: its record, its root (a writable snapshot of
// the image's top layer) and its bundle. Nothing of it stays on failure.
func (e *Engine) Create(ctx context.Context, opts CreateOptions) (_ *Container, retErr error) {
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = GenerateName(id)
	} else if err := ValidateName(name); err != nil {
		return nil, err
	}
	// Errors name the container only when the user named it: a generated
	// name would be news to them.
	what := "create"
	if opts.Name != "" {
		what += " " + name
	}
	img := opts.Image
	if len(img.ChainIDs) == 0 {
		return nil, fmt.Errorf("image %s has no layers", img.Name)
	}
	c := &Container{
		ID: id, Name: name, Image: img.Name, ImageID: img.ID.String(),
		Snapshotter: e.SnapshotterName, SnapshotKey: "ctr-" + id,
		Created: time.Now().UTC(), Restart: opts.Restart, AutoRemove: opts.AutoRemove,
		Interactive: opts.Interactive, Terminal: opts.Spec.Terminal, Labels: opts.Labels,
		Extensions: maps.Clone(opts.Extensions),
		State:      State{Status: StatusCreated},
	}
	parent := img.ChainIDs[len(img.ChainIDs)-1].String()
	// What the record says of the image's config comes with the name's
	// reservation: a create that adds nothing to it later (no hook
	// changed an extension, no user was looked up) commits once, not
	// twice (2 fdatasyncs less), and a config that cannot run reserves
	// nothing. The blob is read once, for the OCI fields and docker's
	// HEALTHCHECK beside them.
	data, err := e.Images.ConfigBytes(ctx, img)
	if err != nil {
		return nil, err
	}
	cfg := new(ocispec.Image)
	if err := json.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.Name, err)
	}
	if err := applyRunDefaults(c, data, cfg, opts); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if c.Command, err = bundle.Command(cfg.Config, opts.Spec); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	phase.Mark(ctx, "image config")
	// What user specs resolved to in this image's root before, read in
	// the same transaction (see userLookups).
	var users userLookups
	// Reserve the name first, so two creates of one name cannot both win.
	err = e.DB.Update(ctx, func(tx *bolt.Tx) error {
		if err := reserveName(tx, name, id); err != nil {
			return err
		}
		users = readUserLookups(tx, parent)
		// Only dependencies need the other records (names and id prefixes
		// to resolve).
		var all []*Container
		if len(opts.Boot.DependsOn) > 0 {
			var err error
			if all, err = loadAll(tx); err != nil {
				return err
			}
		}
		if err := declareBootOrder(all, c, opts.Boot); err != nil {
			return err
		}
		return metadata.PutJSON(tx, metadata.BucketContainers, id, c)
	})
	if err != nil {
		return nil, err
	}
	phase.Mark(ctx, "metadata: reserve name")
	opts.Monitor.Reserved(id)
	defer func() {
		if retErr != nil {
			// The monitor undoes what it made for the container (its
			// lock, socket and log) and exits before the files go.
			opts.Monitor.Close()
			if err := e.destroy(context.WithoutCancel(ctx), c); err != nil {
				e.logger().Warn("undo a failed create", "container", c.Name, "error", err)
			}
		}
	}()
	labels := map[string]string{LabelContainer: name}
	for k, v := range opts.StorageLabels {
		labels[k] = v
	}
	mounts, err := e.Snapshotter.Prepare(ctx, c.SnapshotKey, parent, snapshot.WithLabels(labels))
	if err != nil {
		return nil, fmt.Errorf("%s: root file system: %w", what, err)
	}
	phase.Mark(ctx, "snapshot prepare")
	if err := os.MkdirAll(e.containerDir(id), 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	specOpts := opts.Spec
	specOpts.Rootfs = e.rootfsDir(id)
	if specOpts.GOOS == "" {
		specOpts.GOOS = e.GOOS
	}
	if specOpts.Hostname == "" {
		specOpts.Hostname = shortID(id) // as docker does
	}
	if specOpts.ImageOS == "" {
		specOpts.ImageOS = img.Platform.OS
	}
	userSpec := bundle.UserSpec(cfg.Config, specOpts)
	specOpts.ResolvedUser = users.get(userSpec)
	// The image's /etc/passwd is read through a mount of the new root
	// unless this image and user were looked up before: a look, or the
	// root as the monitor runs it (KeepRootMounted). That mount takes
	// 1.5-2 ms (an overlay's checks of its upper directory): when the
	// user is known, it is made while the bundle is generated and
	// written, and a create that does not keep the root mounted makes
	// none.
	mode := rootLook
	if opts.KeepRootMounted {
		mode = c.runMode()
	}
	var rootfs string
	var unmount func()
	var mounted func() error
	if specOpts.ResolvedUser == nil {
		rootfs, unmount, err = e.mountRootfsAdopt(ctx, c, mode, false, mounts)
		if err != nil {
			return nil, err
		}
		phase.Mark(ctx, "rootfs mount")
	} else if opts.KeepRootMounted {
		mounted = e.mountRootfsAsync(ctx, c, mode, mounts)
		// Every return waits for the mount: a failure's destroy
		// (deferred before) unmounts it.
		defer mounted()
	}
	spec, user, err := bundle.GenerateUser(cfg.Config, rootfs, specOpts)
	if unmount != nil && !opts.KeepRootMounted { // else the monitor's; a failure's destroy unmounts it
		unmount()
		phase.Mark(ctx, "rootfs unmount")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	phase.Mark(ctx, "bundle generate")
	reserved := maps.Clone(c.Extensions)
	if err := e.hooksCreate(ctx, c, spec); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	phase.Mark(ctx, "hooks create")
	write := bundle.Write
	if c.AutoRemove {
		// Its root cannot run again after a crash of the host (volatile),
		// and its bundle need not outlive one: no syncs to wait for.
		write = bundle.WriteUnsynced
	}
	if err := write(e.containerDir(id), spec); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	phase.Mark(ctx, "bundle write")
	exts := c.Extensions
	// A user looked up now is kept with the record.
	var keepUser func(tx *bolt.Tx) error
	if specOpts.ResolvedUser == nil {
		keepUser = func(tx *bolt.Tx) error { return putUserLookup(tx, parent, userSpec, user) }
	}
	rec := c
	if keepUser != nil || !slices.Equal(c.Command, spec.Process.Args) ||
		!maps.EqualFunc(reserved, exts, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
		// rec, not c: the deferred undo of a failure needs c.
		rec, err = e.updateWith(ctx, id, func(rec *Container) error {
			rec.Command = spec.Process.Args
			rec.Extensions = exts
			return nil
		}, keepUser)
		if err != nil {
			return nil, err
		}
		phase.Mark(ctx, "metadata: record")
	}
	if opts.KeepRootMounted {
		if mounted != nil {
			if err := mounted(); err != nil {
				return nil, err
			}
			phase.Mark(ctx, "rootfs mount (wait)")
		}
		// The root is mounted as the monitor will run it: the command is
		// checked here, once, and the monitor is told (MonitorStart).
		if serr := checkCommand(c.Name, e.rootfsDir(id), spec); serr != nil {
			return nil, serr
		}
		phase.Mark(ctx, "check command")
	}
	c = rec
	c.commandChecked = opts.KeepRootMounted
	if opts.KeepRootMounted {
		c.rootMounts = mounts
	}
	e.Event(ctx, c, "create", nil)
	phase.Mark(ctx, "event create")
	return c, nil
}

// rootMode is how mountRootfs mounts a container's root.
type rootMode int

const (
	// rootWritable is the root as it lasts: cp, and the monitor of a
	// container that is kept after its exit.
	rootWritable rootMode = iota
	// rootLook is a look at the root that writes nothing (create reads
	// the image's /etc/passwd): an overlay is mounted read-only, so its
	// unmount does not sync the file system of its upper directory,
	// which is the host's (1.2-1.6 ms in a run, far more when other
	// writes are pending).
	rootLook
	// rootScratch is the root of a --rm container, removed at its exit:
	// an overlay is "volatile" (Linux 5.10), with no sync at all.
	rootScratch
)

// runMode is how the monitor mounts c's root: scratch for a container
// removed at its exit, writable otherwise.
func (c *Container) runMode() rootMode {
	if c.AutoRemove {
		return rootScratch
	}
	return rootWritable
}

// rootMounts returns mounts adapted to mode (see rootMode); only overlay
// mounts change.
func rootMounts(mounts []snapshot.Mount, mode rootMode) []snapshot.Mount {
	var opt string
	switch mode {
	case rootLook:
		opt = "ro"
	case rootScratch:
		opt = "volatile"
	default:
		return mounts
	}
	out := make([]snapshot.Mount, len(mounts))
	for i, m := range mounts {
		out[i] = m
		if m.Type == "overlay" && !slices.Contains(m.Options, opt) {
			out[i].Options = append(slices.Clip(m.Options), opt)
		}
	}
	return out
}

// volatileMarks are the directories a volatile overlay of mounts leaves
// in its work directory: the kernel refuses to mount that root again
// while one exists, so a clean unmount removes them. One that is still
// there marks a root whose volatile mount the host went down with.
func volatileMarks(mounts []snapshot.Mount) []string {
	var dirs []string
	for _, m := range mounts {
		if m.Type != "overlay" {
			continue
		}
		for _, o := range m.Options {
			if w, ok := strings.CutPrefix(o, "workdir="); ok {
				dirs = append(dirs, filepath.Join(w, "work", "incompat"))
			}
		}
	}
	return dirs
}

// mountRootfs mounts the container's root at its rootfs directory, as
// mode says, and returns a function that unmounts it.
func (e *Engine) mountRootfs(ctx context.Context, c *Container, mode rootMode) (string, func(), error) {
	return e.mountRootfsAdopt(ctx, c, mode, false, nil)
}

// mountRootfsAsync mounts c's root from mounts as mountRootfsAdopt does,
// in the background. The function it returns waits for the mount and
// returns its error; it may be called more than once. The root is left
// mounted for the monitor (KeepRootMounted), or for destroy to unmount.
func (e *Engine) mountRootfsAsync(ctx context.Context, c *Container, mode rootMode, mounts []snapshot.Mount) func() error {
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		_, _, err = e.mountRootfsAdopt(ctx, c, mode, false, mounts)
	}()
	return func() error {
		<-done
		return err
	}
}

// mountRootfsAdopt is mountRootfs; with adopt, a root mounted already
// (by a create with KeepRootMounted, or a monitor that was killed) is
// taken as it is. mounts are the root snapshot's when the caller has
// them (Prepare's, a create's through MonitorStart); nil asks the
// snapshotter (a read of its store).
func (e *Engine) mountRootfsAdopt(ctx context.Context, c *Container, mode rootMode, adopt bool, mounts []snapshot.Mount) (string, func(), error) {
	dir := e.rootfsDir(c.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	if mounts == nil {
		var err error
		if mounts, err = e.Snapshotter.Mounts(ctx, c.SnapshotKey); err != nil {
			return "", nil, fmt.Errorf("container %s: root file system: %w", c.Name, err)
		}
	}
	if adopt {
		if mounted, _ := mount.IsMountPoint(dir); mounted {
			return dir, e.rootUnmounter(c, dir, mounts, mode), nil
		}
	}
	err := mount.All(rootMounts(mounts, mode), dir)
	if err != nil && mode == rootScratch {
		// A kernel before 5.10 knows no "volatile".
		mode = rootWritable
		err = mount.All(mounts, dir)
	}
	if err != nil {
		for _, d := range volatileMarks(mounts) {
			if _, serr := os.Stat(filepath.Join(d, "volatile")); serr == nil {
				err = fmt.Errorf("%w (its root was mounted volatile, as --rm does, when the host went down: its writes may be lost; remove the container)", err)
				break
			}
		}
		return "", nil, fmt.Errorf("container %s: mount root file system: %w", c.Name, err)
	}
	return dir, e.rootUnmounter(c, dir, mounts, mode), nil
}

// rootUnmounter returns the function that unmounts c's root at dir,
// mounted from mounts as mode says.
func (e *Engine) rootUnmounter(c *Container, dir string, mounts []snapshot.Mount, mode rootMode) func() {
	return func() {
		if err := mount.UnmountAll(dir); err != nil {
			e.logger().Warn("unmount container root", "container", c.Name, "error", err)
			return
		}
		if mode == rootScratch {
			for _, d := range volatileMarks(mounts) {
				os.RemoveAll(d)
			}
		}
	}
}

// destroy removes everything of c that exists: runtime state, mounts,
// snapshot, files, record. It is used by Remove and to roll back Create.
func (e *Engine) destroy(ctx context.Context, c *Container) error {
	return e.destroyWith(ctx, c, false)
}

// destroyWith is destroy; runtimeDeleted skips the runtime's delete, which
// the monitor of a --rm container made right after the exit.
func (e *Engine) destroyWith(ctx context.Context, c *Container, runtimeDeleted bool) error {
	finish, err := e.destroyDeferred(ctx, c, runtimeDeleted)
	finish()
	return err
}

// destroyDeferred is destroyWith but for the deletion of the root's and
// the container's files, which finish does (always call it): when it
// returns, the container is gone (record, name, mounts, snapshot record)
// and what is left is files nothing refers to, which a crash leaves for
// system check (run and bundle directories of no container) and the
// snapshotter's Cleanup (its trash). The monitor of a --rm container
// tells the exit first.
func (e *Engine) destroyDeferred(ctx context.Context, c *Container, runtimeDeleted bool) (finish func(), err error) {
	var later []func() error
	finish = func() {
		for _, f := range later {
			if err := f(); err != nil {
				e.logger().Warn("remove container files", "container", c.Name, "error", err)
			}
		}
	}
	var errs []error
	if !runtimeDeleted {
		if err := e.Runtime.Delete(ctx, c.ID, true); err != nil && !errors.Is(err, ociruntime.ErrNotFound) {
			errs = append(errs, fmt.Errorf("runtime: %w", err))
		}
	}
	if err := e.hooksRemove(ctx, c); err != nil {
		errs = append(errs, err)
	}
	phase.Mark(ctx, "remove: hooks")
	if err := mount.UnmountAll(e.rootfsDir(c.ID)); err != nil && !errors.Is(err, mount.ErrNotMounted) && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("unmount: %w", err))
	}
	phase.Mark(ctx, "remove: unmount")
	if dr, ok := e.Snapshotter.(snapshot.DeferredRemover); ok {
		rootFiles, err := dr.RemoveDeferred(ctx, c.SnapshotKey)
		switch {
		case err == nil:
			later = append(later, rootFiles)
		case !errors.Is(err, snapshot.ErrNotFound):
			errs = append(errs, fmt.Errorf("root file system: %w", err))
		}
	} else if err := e.Snapshotter.Remove(ctx, c.SnapshotKey); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
		errs = append(errs, fmt.Errorf("root file system: %w", err))
	}
	phase.Mark(ctx, "remove: snapshot")
	removeFiles := func() error {
		return errors.Join(os.RemoveAll(e.runDir(c.ID)), os.RemoveAll(e.containerDir(c.ID)))
	}
	if len(errs) > 0 {
		// The record stays, and with it what the next rm retries.
		if err := removeFiles(); err != nil {
			errs = append(errs, err)
		}
		return finish, fmt.Errorf("remove %s: %w", c.Name, errors.Join(errs...))
	}
	later = append(later, removeFiles)
	if err := e.DB.Update(ctx, func(tx *bolt.Tx) error {
		// The name is the record's as it is now (a rename may have come
		// since c was read).
		var cur Container
		if err := metadata.GetJSON(tx, metadata.BucketContainers, c.ID, &cur); err == nil {
			if err := releaseName(tx, cur.Name, c.ID); err != nil {
				return err
			}
		}
		if err := releaseName(tx, c.Name, c.ID); err != nil {
			return err
		}
		return metadata.Delete(tx, metadata.BucketContainers, c.ID)
	}); err != nil {
		return finish, err
	}
	phase.Mark(ctx, "remove: record")
	e.Event(ctx, c, "destroy", nil)
	return finish, nil
}

// Get returns the container that ref names, with its state reconciled
// against the monitor's and the runtime's view.
func (e *Engine) Get(ctx context.Context, ref string) (*Container, error) {
	c, err := e.find(ctx, ref)
	if err != nil {
		return nil, err
	}
	e.reconcile(ctx, c)
	return c, nil
}

// List returns all containers in id order, their states reconciled: the
// records decoded in one read transaction, then each one's monitor
// checked after it, both over the processors when there are many
// (inParallel): `ps` over 1,000 containers is mostly this.
func (e *Engine) List(ctx context.Context) ([]*Container, error) {
	all, err := e.records(ctx)
	if err != nil {
		return nil, err
	}
	inParallel(len(all), func(i int) { e.reconcile(ctx, all[i]) })
	return all, nil
}

// reconcile corrects c.State when its monitor is gone: a host reboot or a
// kill -9 of the monitor leaves a record that still says running. Only a
// record that says running or restarting can be wrong, so only those cost
// a probe of the monitor's lock (a created one stays created, with a
// monitor or without: State.Reconcile). It is safe for concurrent use.
func (e *Engine) reconcile(ctx context.Context, c *Container) {
	if !c.State.Running() || monitorAlive(e.lockPath(c.ID)) {
		return
	}
	processAlive := false
	if st, err := e.Runtime.State(ctx, c.ID); err == nil && st.Status == "running" {
		processAlive = true
		c.State.Pid = st.Pid
	}
	c.State = c.State.Reconcile(false, processAlive, time.Now().UTC())
}

// Start starts a created or exited container by spawning its monitor,
// and returns once the container runs (or, with waitAttach, once it is
// created and waits for the first attach). Errors of the container's
// creation, such as a command that does not exist, come back here.
func (e *Engine) Start(ctx context.Context, ref string, waitAttach bool) (*Container, error) {
	c, err := e.StartWith(ctx, ref, waitAttach, nil)
	if err != nil {
		return nil, err
	}
	defer phase.Mark(ctx, "metadata: get")
	return e.Get(ctx, c.ID)
}

// StartWith is Start with a monitor started beforehand (SpawnMonitor),
// which it sends the container's id; with nil, or a pending monitor
// spawned without the attach that waitAttach needs, it spawns one (and
// closes pending). A pending monitor that can wait for an attach also
// serves a start that does not (MonitorStart.Detach). It returns the
// record it started, as it was before the start: a caller that needs the
// state of the running container reads it (Start does; run, which only
// attaches, does not).
func (e *Engine) StartWith(ctx context.Context, ref string, waitAttach bool, pending *PendingMonitor) (_ *Container, retErr error) {
	defer func() {
		// A monitor not handed the container exits (having undone what
		// it made for a reserved one, see Reserved) before the caller
		// removes the container.
		if retErr != nil && pending != nil && !pending.taken {
			pending.Close()
		}
	}()
	if pending != nil && waitAttach && !pending.waitAttach {
		pending.Close()
		pending = nil
	}
	var c *Container
	var err error
	if pending != nil && pending.created != nil && pending.created.ID == ref {
		// What the command line's create has just written (run): the
		// monitor locks it and reads no more than that either.
		c = pending.created
	} else if c, err = e.Get(ctx, ref); err != nil {
		return nil, err
	}
	if c.State.Running() {
		return nil, fmt.Errorf("start %s: %w", c.Name, ociruntime.ErrRunning)
	}
	phase.Mark(ctx, "metadata: get")
	// A pending monitor sent the id ahead holds the lock already.
	if (pending == nil || pending.reserved != c.ID) && monitorAlive(e.lockPath(c.ID)) {
		return nil, fmt.Errorf("start %s: its monitor is still running", c.Name)
	}
	if err := os.MkdirAll(e.runDir(c.ID), 0o700); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	reset := func(s *State) {
		s.StoppedByUser = false
		s.RestartCount = 0
		s.Error = ""
		s.Paused = false
	}
	// A container just created (run) has nothing to reset: no write
	// transaction, whose two fdatasyncs the start would wait for.
	next := c.State
	reset(&next)
	if next != c.State {
		if err := e.setState(ctx, c.ID, reset); err != nil {
			return nil, err
		}
		phase.Mark(ctx, "metadata: state")
	}
	var mon *monitorProcess
	if pending != nil {
		// The attach that follows sends the input of an interactive
		// container (cmd/stockade's attach does so).
		mon, err = pending.take(c, AttachHello{Stdin: c.Interactive, Start: true}, waitAttach)
	} else {
		mon, err = spawnMonitor(ctx, e.MonitorCommand, c.ID, waitAttach)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	defer mon.sync.Close()
	phase.Mark(ctx, "monitor spawn")
	// The monitor reports one line on the pipe: "ok" or the error.
	msgc := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		n, _ := mon.sync.Read(buf)
		msgc <- strings.TrimSpace(string(buf[:n]))
	}()
	waitc := make(chan error, 1)
	go func() { waitc <- mon.cmd.Wait() }()
	var msg string
	select {
	case msg = <-msgc:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if msg != "ok" {
		if msg == "" {
			msg = "monitor exited without a word"
			if err := <-waitc; err != nil {
				msg += ": " + err.Error()
			}
		}
		return nil, parseSyncLine(c.Name, msg)
	}
	phase.Mark(ctx, "wait for the monitor's ok")
	return c, nil
}

// StartError is a failure to start a container's process. Code is the
// exit code a CLI reports for it, as docker does: ExitNotFound for a
// command that does not exist, ExitNotExecutable for one that cannot be
// executed, ExitRefused (the default) for everything stockade or the
// runtime refused. It is set from what failed, never from message text.
type StartError struct {
	// Op is what failed to start: "start" (the default) or "exec".
	Op        string
	Container string
	Msg       string
	Code      int
}

func (e *StartError) Error() string {
	op := e.Op
	if op == "" {
		op = "start"
	}
	return fmt.Sprintf("%s %s: %s", op, e.Container, e.Msg)
}

// syncLine is the error as the monitor reports it to Start: "error CODE
// MESSAGE" on one line.
func (e *StartError) syncLine() string {
	return fmt.Sprintf("error %d %s", e.ExitCode(), strings.ReplaceAll(e.Msg, "\n", " "))
}

// parseSyncLine reads a monitor's report back into a StartError; a line
// of another shape is a message with ExitRefused.
func parseSyncLine(container, line string) *StartError {
	if rest, ok := strings.CutPrefix(line, "error "); ok {
		code, msg, _ := strings.Cut(rest, " ")
		if n, err := strconv.Atoi(code); err == nil {
			return &StartError{Container: container, Msg: msg, Code: n}
		}
	}
	return &StartError{Container: container, Msg: line}
}

// ExitCode is the exit code a CLI reports for the error.
func (e *StartError) ExitCode() int {
	if e.Code == 0 {
		return ExitRefused
	}
	return e.Code
}

// Kill sends sig to the container's process and marks the container
// stopped by the user, so its restart policy leaves it alone.
func (e *Engine) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return err
	}
	if !c.State.Running() {
		return fmt.Errorf("kill %s: %w", c.Name, ociruntime.ErrNotRunning)
	}
	if err := e.setState(ctx, c.ID, func(s *State) { s.StoppedByUser = true }); err != nil {
		return err
	}
	if err := e.Runtime.Kill(ctx, c.ID, sig, false); err != nil && !errors.Is(err, ociruntime.ErrNotFound) && !errors.Is(err, ociruntime.ErrNotRunning) {
		return fmt.Errorf("kill %s: %w", c.Name, err)
	}
	e.Event(ctx, c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	return nil
}

// Stop sends the stop signal (SIGTERM), waits up to timeout for the
// container to exit, then kills every process in it with SIGKILL. A
// negative timeout is the container's own (StopTimeoutOr). A paused
// container is resumed first.
func (e *Engine) Stop(ctx context.Context, ref string, timeout time.Duration) error {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return err
	}
	if !c.State.Running() {
		return nil
	}
	if timeout < 0 {
		timeout = c.StopTimeoutOr(DefaultStopTimeout)
	}
	e.thawForStop(ctx, c)
	sig := syscall.SIGTERM
	if c.StopSignal != "" {
		if s, err := ociruntime.ParseSignal(c.StopSignal); err == nil {
			sig = s
		}
	}
	if err := e.Kill(ctx, c.ID, sig); err != nil && !errors.Is(err, ociruntime.ErrNotRunning) {
		return err
	}
	if e.waitStopped(ctx, c.ID, timeout) {
		return nil
	}
	e.logger().Info("container did not stop in time, killing it", "container", c.Name, "timeout", timeout)
	if err := e.Runtime.Kill(ctx, c.ID, syscall.SIGKILL, true); err != nil && !errors.Is(err, ociruntime.ErrNotFound) && !errors.Is(err, ociruntime.ErrNotRunning) {
		return fmt.Errorf("stop %s: %w", c.Name, err)
	}
	if !e.waitStopped(ctx, c.ID, 10*time.Second) {
		return fmt.Errorf("stop %s: still running 10s after SIGKILL", c.Name)
	}
	return nil
}

// waitStopped waits until the container's monitor has recorded an exit and
// let go, or timeout passes. While the monitor lives it waits in the
// kernel for the monitor's lock, which the monitor holds until it has
// recorded the exit (it used to poll every 20 ms, 10 ms late on average).
func (e *Engine) waitStopped(ctx context.Context, id string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	lock := e.lockPath(id)
	for {
		c, err := e.Get(ctx, id)
		alive := monitorAlive(lock)
		if err != nil || !c.State.Running() && !alive {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return false
		}
		if alive {
			waitMonitorGone(ctx, lock, left)
		} else {
			// No monitor, and the record not yet reconciled.
			time.Sleep(min(20*time.Millisecond, left))
		}
	}
}

// Wait blocks until the container is not running and returns its exit code.
func (e *Engine) Wait(ctx context.Context, ref string) (int, error) {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return 0, err
	}
	for {
		c, err = e.Get(ctx, c.ID)
		if err != nil {
			return 0, err
		}
		if !c.State.Running() && !monitorAlive(e.lockPath(c.ID)) {
			return c.State.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dependents returns the names of the containers that depend on the
// container id (BootOrder.DependsOn), sorted. It reads the records only:
// whether their monitors live does not matter here.
func (e *Engine) dependents(ctx context.Context, id string) ([]string, error) {
	all, err := e.records(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range all {
		if o.ID != id && slices.Contains(o.DependsOn, id) {
			out = append(out, o.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// PruneStopped removes the containers that are not running (exited or
// created) and returns them, and all the containers that remain, from
// one read of the records: a stopped container that others depend on goes after them, and
// stays when one that stays depends on it. O(n + e): the dependency counts
// are kept in memory, not read again for each removal.
func (e *Engine) PruneStopped(ctx context.Context) (removed, remaining []*Container, err error) {
	all, err := e.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]*Container, len(all))
	stopped := map[string]bool{}
	for _, c := range all {
		byID[c.ID] = c
		if c.State.Status == StatusExited || c.State.Status == StatusCreated {
			stopped[c.ID] = true
		}
	}
	// needed[id]: how many containers that are still there depend on id.
	needed := map[string]int{}
	for _, c := range all {
		for _, d := range c.DependsOn {
			if byID[d] != nil {
				needed[d]++
			}
		}
	}
	var queue []*Container
	for _, c := range all {
		if stopped[c.ID] && needed[c.ID] == 0 {
			queue = append(queue, c)
		}
	}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		// Not forced: one started since the read is refused, not killed.
		if err := e.remove(ctx, c, false); err != nil {
			return removed, nil, err
		}
		removed = append(removed, c)
		delete(stopped, c.ID)
		for _, d := range c.DependsOn {
			if needed[d]--; needed[d] == 0 && stopped[d] {
				queue = append(queue, byID[d])
			}
		}
	}
	gone := make(map[string]bool, len(removed))
	for _, c := range removed {
		gone[c.ID] = true
	}
	for _, c := range all {
		if !gone[c.ID] {
			remaining = append(remaining, c)
		}
	}
	return removed, remaining, nil
}

// Remove deletes a container. A running one is refused unless force is
// set, which kills it first; so is one that other containers depend on
// (--depends-on), naming them (ErrHasDependents).
func (e *Engine) Remove(ctx context.Context, ref string, force bool) error {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return err
	}
	if !force {
		if deps, err := e.dependents(ctx, c.ID); err != nil {
			return err
		} else if len(deps) > 0 {
			return fmt.Errorf("remove %s: %w: %s (remove them first, clear their dependency with `stockade update --depends-on \"\" NAME`, or use rm -f)", c.Name, ErrHasDependents, strings.Join(deps, ", "))
		}
	}
	return e.remove(ctx, c, force)
}

// remove is Remove without the dependents check.
func (e *Engine) remove(ctx context.Context, c *Container, force bool) error {
	if !c.State.Running() && monitorAlive(e.lockPath(c.ID)) {
		// The exit is recorded and the monitor is finishing (the log,
		// the stop hooks, NRI's StopContainer; the removal of a --rm
		// container): the container is not running, so wait for it
		// rather than say it is.
		if waitMonitorGone(ctx, e.lockPath(c.ID), monitorFinishWait) {
			cur, err := e.Get(ctx, c.ID)
			if errors.Is(err, ErrNoSuchContainer) {
				return nil // its monitor removed it (--rm, a run that failed to start)
			}
			if err != nil {
				return err
			}
			c = cur
		}
	}
	if c.State.Running() || monitorAlive(e.lockPath(c.ID)) {
		if !force {
			return fmt.Errorf("remove %s: container is running: stop it first or use rm -f", c.Name)
		}
		e.setState(ctx, c.ID, func(s *State) { s.StoppedByUser = true })
		if err := e.Runtime.Kill(ctx, c.ID, syscall.SIGKILL, true); err != nil && !errors.Is(err, ociruntime.ErrNotFound) && !errors.Is(err, ociruntime.ErrNotRunning) {
			e.logger().Warn("kill before remove", "container", c.Name, "error", err)
		}
		e.waitStopped(ctx, c.ID, 10*time.Second)
	}
	return e.destroy(ctx, c)
}
