// Package assemble builds stockade's engine from a configuration: the
// metadata store, the snapshotter and the image service, the runtime, the
// network and volume hooks, and the commands the engine re-executes (the
// container's monitor, its health checker, a network's name server).
//
// The stockade command and stockade-supervisor, the lean monitor, share
// it. What only the command links (NRI, with gRPC, protobuf and wazero)
// comes in through Parts.MoreHooks; a container whose engine has such
// hooks gets `stockade monitor` as its monitor, the others
// stockade-supervisor, which starts in about half the time (see
// docs/ARCHITECTURE.md, Start path).
package assemble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/stockade/stockade/backend"
	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image/local"
	"github.com/stockade/stockade/internal/monitorio"
	"github.com/stockade/stockade/internal/phase"
	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/ociruntime"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/volume"
	"github.com/stockade/stockade/zfs"
)

// SupervisorName is the lean monitor's binary, looked for next to the
// stockade binary.
const SupervisorName = "stockade-supervisor"

// FullName is the full build of stockade (NRI, OCI-crypt, the image
// builder), next to the lean stockade, which runs it for what it leaves
// out; the lean monitor hands itself to it when NRI is on.
const FullName = "stockade-full"

// Parts is one command's engine and what it is built from, each part
// opened when first needed.
type Parts struct {
	// Config is the effective configuration.
	Config config.Config
	// ConfigFile is the configuration file the command line named, ""
	// when it named none: re-executions get it again.
	ConfigFile string
	// Log is the command's logger.
	Log *slog.Logger
	// Stockade is the path of the stockade binary, which the engine
	// re-executes (the name server; the monitor when the lean one cannot
	// serve); the lean monitor is looked for in its directory.
	Stockade string
	// Images is the engine's image store: the command line's
	// image.Service, set before Engine; nil gives image/local's Store,
	// which is all a monitor needs, and keeps package image (the
	// registry client) out of the programs that only monitor.
	Images engine.ImageStore
	// MoreHooks returns the hooks that run after the network's and the
	// volumes' (NRI's). A container whose engine has any is monitored by
	// stockade itself, which links them.
	MoreHooks func(e *engine.Engine) ([]engine.Hook, error)
	// NeedsStockade says, before the engine is opened, that MoreHooks
	// will return hooks (the configuration turns them on): the monitor
	// is then stockade from the start (MonitorCommand).
	NeedsStockade bool

	db      *metadata.DB
	sn      snapshot.Snapshotter
	snName  string
	eng     *engine.Engine
	closers []func()
}

// Close releases what was opened, last first.
func (p *Parts) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// OnClose adds f to what Close runs.
func (p *Parts) OnClose(f func()) { p.closers = append(p.closers, f) }

// GlobalArgs repeats the effective global settings for a re-execution of
// stockade or of the lean monitor, which take the same global flags.
func (p *Parts) GlobalArgs() []string {
	args := []string{"--root", p.Config.Root, "--state", p.Config.State, "--log-level", p.Config.LogLevel, "--log-format", p.Config.LogFormat}
	if p.Config.Snapshotter != "" {
		args = append(args, "--snapshotter", p.Config.Snapshotter)
	}
	if p.ConfigFile != "" {
		args = append(args, "--config", p.ConfigFile)
	}
	return args
}

// Stores opens, once, the metadata store and the snapshotter (closed by
// Close), and returns them with the snapshotter's name.
func (p *Parts) Stores(ctx context.Context) (*metadata.DB, snapshot.Snapshotter, string, error) {
	if p.db != nil {
		return p.db, p.sn, p.snName, nil
	}
	db, err := metadata.Open(ctx, filepath.Join(p.Config.Root, metadata.FileName))
	if err != nil {
		return nil, nil, "", err
	}
	snapshotters := backend.Snapshotters(backend.SystemHost())
	name := snapshotters.Choose(p.Config, runtime.GOOS)
	sn, err := snapshotters.Open(ctx, name, p.Config)
	if err != nil {
		return nil, nil, "", err
	}
	p.OnClose(func() { sn.Close() })
	p.db, p.sn, p.snName = db, sn, name
	return db, sn, name, nil
}

// Runtime returns the configured container runtime. A runtime whose
// program is missing is stockade's own error, found before anything is
// created.
func (p *Parts) Runtime() (ociruntime.Runtime, error) {
	be, err := backend.Runtimes().Lookup(p.Config.Runtime, runtime.GOOS)
	if err != nil {
		return nil, err
	}
	opts := backend.RuntimeOptions{Dir: filepath.Join(p.Config.State, be.StateDir), Binary: p.Config.Runc.Binary, Log: p.Log}
	if be.Probe != nil {
		if err := be.Probe(opts); err != nil {
			return nil, err
		}
	}
	return be.Open(opts)
}

// NetworkStateDir holds the network layer's run state: network
// namespaces, the drivers' locks and the name servers' pid files.
func (p *Parts) NetworkStateDir() string { return filepath.Join(p.Config.State, "network") }

// NetworkManager builds the network hook over the metadata store db.
func (p *Parts) NetworkManager(db *metadata.DB) (*network.Manager, error) {
	dir := p.NetworkStateDir()
	drv, err := backend.NetworkDrivers().Open("", runtime.GOOS, backend.NetworkOptions{Dir: dir, Log: p.Log})
	if err != nil {
		return nil, err
	}
	return &network.Manager{
		Store: &network.Store{DB: db}, Driver: drv, Routes: network.HostRoutes{},
		DataDir: filepath.Join(p.Config.Root, "network", "containers"), StateDir: dir,
		GOOS: runtime.GOOS, Log: p.Log, StartDNS: p.dnsStarter(),
	}, nil
}

// dnsStarter starts a network's name server (`stockade network dns NAME`,
// in a session of its own) unless one runs, and waits for it to serve.
func (p *Parts) dnsStarter() func(ctx context.Context, n *network.Network) error {
	return func(ctx context.Context, n *network.Network) error {
		pidFile := network.DNSPidFile(p.NetworkStateDir(), n.Name)
		if network.DNSReady(pidFile) {
			return nil
		}
		// One starter at a time: parallel starts of a network's first
		// containers spawn one server, not one each.
		if err := os.MkdirAll(filepath.Dir(pidFile), 0o755); err != nil {
			return err
		}
		lock, err := os.OpenFile(pidFile+".start", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return fmt.Errorf("lock %s: %w", lock.Name(), err)
		}
		if network.DNSReady(pidFile) {
			return nil
		}
		cmd := exec.Command(p.full(), append(slices.Clone(p.GlobalArgs()), "network", "dns", n.Name)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		logPath := filepath.Join(filepath.Dir(pidFile), n.Name+".log")
		if f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			cmd.Stderr = f
			defer f.Close()
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start the name server of network %s: %w", n.Name, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.After(3 * time.Second)
		for !network.DNSReady(pidFile) {
			select {
			case err := <-exited:
				if network.DNSReady(pidFile) {
					return nil // another one won the lock and serves
				}
				return fmt.Errorf("name server of network %s exited: %v (see %s)", n.Name, err, logPath)
			case <-deadline:
				return fmt.Errorf("name server of network %s: not serving after 3s", n.Name)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
		return nil
	}
}

// VolumeStore is the volume store over db: ZFS datasets under the zfs
// snapshotter, directories under ROOT/volumes otherwise.
func (p *Parts) VolumeStore(db *metadata.DB, sn snapshot.Snapshotter) *volume.Store {
	var d volume.Driver = &volume.Dir{Root: filepath.Join(p.Config.Root, "volumes")}
	if z, ok := sn.(*zfs.Snapshotter); ok {
		d = &volume.ZFS{Volumes: z.Volumes()}
	}
	return &volume.Store{DB: db, Driver: d}
}

// Engine opens, once, the engine over the image service, with its hooks
// in the order they run: the network first (NRI plugins see a container
// with its network), the volumes, then MoreHooks'.
func (p *Parts) Engine(ctx context.Context) (*engine.Engine, error) {
	if p.eng != nil {
		return p.eng, nil
	}
	if p.Stockade == "" {
		return nil, errStockadeUnknown
	}
	db, sn, snName, err := p.Stores(ctx)
	if err != nil {
		return nil, err
	}
	rt, err := p.Runtime()
	if err != nil {
		return nil, err
	}
	images := p.Images
	if images == nil {
		images = local.Store{DataRoot: p.Config.Root}
	}
	e := &engine.Engine{
		Root: p.Config.Root, StateDir: p.Config.State, DB: db, Images: images,
		Snapshotter: sn, SnapshotterName: snName,
		Runtime: rt, GOOS: runtime.GOOS, Log: p.Log,
		MonitorIdleAfter: time.Duration(p.Config.Monitor.IdleAfter), SmallMonitor: p.Config.Monitor.Binary,
	}
	net, err := p.NetworkManager(e.DB)
	if err != nil {
		return nil, err
	}
	e.Hooks = []engine.Hook{net, &volume.Manager{Store: p.VolumeStore(e.DB, e.Snapshotter), GOOS: e.GOOS, Log: p.Log}}
	if p.MoreHooks != nil {
		more, err := p.MoreHooks(e)
		if err != nil {
			return nil, err
		}
		e.Hooks = append(e.Hooks, more...)
		if len(more) > 0 {
			p.NeedsStockade = true
		}
	}
	e.MonitorCommand = p.MonitorCommand
	e.HealthCommand = func(id string) *exec.Cmd {
		return p.logged(exec.Command(p.monitorBinary(), append(p.GlobalArgs(), "healthcheck", "monitor", id)...))
	}
	p.eng = e
	return e, nil
}

// MonitorCommand is the engine's MonitorCommand, usable before the
// engine is opened (engine.SpawnMonitor): `monitor [--wait-attach] ID`
// of the lean monitor, or of stockade when NeedsStockade or when there is
// no lean monitor.
func (p *Parts) MonitorCommand(id string, waitAttach bool) *exec.Cmd {
	args := append(p.GlobalArgs(), "monitor")
	if waitAttach {
		args = append(args, "--wait-attach")
	}
	cmd := exec.Command(p.monitorBinary(), append(args, id)...)
	if p.Stockade == "" {
		cmd.Err = errStockadeUnknown // Start returns it
		return cmd
	}
	return p.logged(cmd)
}

var errStockadeUnknown = errors.New("find the stockade binary: its path is unknown (is /proc mounted?)")

// monitorBinary is the program of the monitor and the health checker.
func (p *Parts) monitorBinary() string {
	if !p.NeedsStockade {
		if sup := p.Supervisor(); sup != "" {
			return sup
		}
	}
	return p.Stockade
}

// full returns stockade-full next to the stockade binary, or the
// stockade binary when there is none: the program of what the lean build
// leaves out (the network name server), started without the lean one's
// hand-over.
func (p *Parts) full() string {
	if path := p.sibling(FullName); path != "" {
		return path
	}
	return p.Stockade
}

// Supervisor returns the path of the lean monitor next to the stockade
// binary, or "" when there is none (stockade then monitors itself).
func (p *Parts) Supervisor() string {
	path := p.sibling(SupervisorName)
	if path == "" && p.Stockade != "" && p.Log != nil {
		p.Log.Debug("no lean monitor: stockade monitors", "path", filepath.Join(filepath.Dir(p.Stockade), SupervisorName))
	}
	return path
}

// sibling returns the path of the executable name next to the stockade
// binary, or "" when there is none.
func (p *Parts) sibling(name string) string {
	if p.Stockade == "" {
		return ""
	}
	path := filepath.Join(filepath.Dir(p.Stockade), name)
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return ""
	}
	return path
}

// logged sends cmd's standard error to the state directory's
// monitor.log.
func (p *Parts) logged(cmd *exec.Cmd) *exec.Cmd {
	if f, err := os.OpenFile(filepath.Join(p.Config.State, "monitor.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
		cmd.Stderr = f
	}
	return cmd
}

// RunMonitor is `monitor [--wait-attach] ID`, the container's monitor the
// engine starts (Engine.MonitorCommand), with the sync pipe as descriptor
// 3. The small idle monitor (stockade-monitor) execs it back, in the same
// process, with the description of the exit in $STOCKADE_RESUME (then
// descriptor 3 is not a sync pipe).
func (p *Parts) RunMonitor(ctx context.Context, id string, waitAttach bool) error {
	// A pending monitor times itself from here (--debug-timing): the
	// wait for the id is the command line's, not this program's start.
	var timer *phase.Timer
	if id == engine.PendingMonitorID {
		timer = phase.FromEnv("monitor")
		timer.Mark("exec and init")
		ctx = phase.With(ctx, timer)
	}
	e, err := p.Engine(ctx)
	if err != nil {
		return err
	}
	timer.Mark("engine: config, stores, hooks")
	ctx = context.WithoutCancel(ctx)
	if desc, ok := os.LookupEnv(monitorio.ResumeEnv); ok {
		os.Unsetenv(monitorio.ResumeEnv)
		return e.ResumeMonitor(ctx, desc)
	}
	syncFile := os.NewFile(3, "sync")
	var start engine.MonitorStart
	if id == engine.PendingMonitorID {
		// Started before its container existed (run): the id and the
		// record come on descriptor 4, or nothing does when the create
		// failed; one that waits for its attach has its first client on 5.
		go engine.PrewarmMonitor() // while the command line creates the container
		pr := engine.NewPendingReader(os.NewFile(4, "id"))
		var ok bool
		if id, ok = pr.ID(); !ok {
			return nil
		}
		timer.Mark("wait for the id")
		// The lock, the socket and the log while the create goes on.
		prep := e.PrepareMonitor(ctx, id)
		if start, ok = pr.Start(); !ok {
			prep.Close() // the create failed: it removes the files
			return nil
		}
		start.Prepared = prep
		timer.Mark("wait for the record")
		if waitAttach { // spawned with its first client on descriptor 5
			client := engine.PendingClient()
			switch {
			case !start.Detach:
				start.Client = client
			case client != nil:
				// Spawned before the command line knew that it would
				// not attach (run -d).
				client.Close()
			}
			waitAttach = !start.Detach
		}
	}
	start.WaitAttach = waitAttach
	return e.RunMonitor(ctx, id, start, syncFile)
}

// RunHealthMonitor is `healthcheck monitor [--after-sleep] [--run-started
// T] ID`, a container's health checker, started by its monitor
// (Engine.HealthCommand); SIGTERM ends it. runStarted ("" for none) is an
// RFC 3339 time. Between checks of an interval of at least `[monitor]
// idle_after` it sleeps as the small monitor (engine.HealthLoopOptions),
// which execs it back with --after-sleep and --run-started.
func (p *Parts) RunHealthMonitor(ctx context.Context, id string, afterSleep bool, runStarted string) error {
	var started time.Time
	if runStarted != "" {
		t, err := time.Parse(time.RFC3339Nano, runStarted)
		if err != nil {
			return fmt.Errorf("healthcheck monitor: --run-started %q: %w", runStarted, err)
		}
		started = t
	}
	e, err := p.Engine(ctx)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.WithoutCancel(ctx), syscall.SIGTERM)
	defer stop()
	return e.RunHealthLoop(ctx, id, engine.HealthLoopOptions{
		RunStarted: started, AfterSleep: afterSleep,
		Resume: func(t time.Time) []string {
			return append(append([]string{p.monitorBinary()}, p.GlobalArgs()...),
				"healthcheck", "monitor", "--after-sleep", "--run-started", t.Format(time.RFC3339Nano), id)
		},
	})
}
