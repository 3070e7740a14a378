package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/stockade/stockade/backend"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/storage"
	"github.com/stockade/stockade/version"
)

func (a *app) systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "information about and maintenance of stockade's own state",
		Subcommands: []*cli.Command{
			{
				Name:    "info",
				Aliases: []string{},
				Usage:   "print the version and the effective configuration",
				Flags:   []cli.Flag{formatFlag()},
				Action:  a.systemInfo,
			},
			{
				Name:  "check",
				Usage: "find and repair what interrupted commands left behind",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only report"},
					formatFlag(),
				},
				Action: a.systemCheck,
			},
			{
				Name:  "df",
				Usage: "space used by images and containers: a summary, or per image and container with -v",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "one line per image and per container"},
					formatFlag(),
				},
				Action: a.systemDF,
			},
			{
				Name:  "prune",
				Usage: "remove stopped containers, unused networks and unused content (asks first unless -f)",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
					&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also remove every image no container uses"},
				},
				Action: a.systemPrune,
			},
			a.serviceCommand(),
		},
	}
}

// versionCommand is `version [--format json]`: what --version prints, as
// a command, as docker has it.
func (a *app) versionCommand() *cli.Command {
	return &cli.Command{
		Name:   "version",
		Usage:  "print the version, commit, OCI runtime spec, Go version and platform (as --version)",
		Flags:  []cli.Flag{formatFlag()},
		Action: arity(0, 0, a.version),
	}
}

// infoCommand is `info`, docker's name for `system info`.
func (a *app) infoCommand() *cli.Command {
	return &cli.Command{
		Name:   "info",
		Usage:  "the same as system info",
		Flags:  []cli.Flag{formatFlag()},
		Action: arity(0, 0, a.systemInfo),
	}
}

// versionInfo is `version --format json`.
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Spec    string `json:"spec"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

func (a *app) version(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprint(a.stdout, version.String("stockade"))
		return nil
	}
	ver, commit := version.Get()
	return writeJSON(a.stdout, versionInfo{Version: ver, Commit: commit, Spec: specs.Version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH})
}

type systemInfo struct {
	Version  string  `json:"version"`
	Commit   string  `json:"commit"`
	GoOS     string  `json:"os"`
	GoArch   string  `json:"arch"`
	GoVer    string  `json:"go"`
	Config   any     `json:"config"`
	ConfFile string  `json:"config_file"`
	NRI      nriInfo `json:"nri"`
	// Snapshotter is the one commands will use: the configured one, or
	// the automatic choice, "overlay (automatic)".
	Snapshotter string `json:"snapshotter"`
}

func (a *app) systemInfo(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	ver, commit := version.Get()
	info := systemInfo{
		Version: ver, Commit: commit, GoOS: runtime.GOOS, GoArch: runtime.GOARCH,
		GoVer: runtime.Version(), Config: a.cfg, ConfFile: c.String("config"), NRI: a.nriInfo(c.Context),
		Snapshotter: a.cfg.Snapshotter,
	}
	if info.Snapshotter == "" {
		info.Snapshotter = backend.Snapshotters(backend.SystemHost()).Choose(a.cfg, runtime.GOOS) + " (automatic)"
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	cfg := a.cfg
	rows := [][2]string{
		{"version", ver + " (" + commit + ")"},
		{"platform", runtime.GOOS + "/" + runtime.GOARCH},
		{"config file", info.ConfFile},
		{"root", cfg.Root},
		{"state", cfg.State},
		{"snapshotter", info.Snapshotter},
		{"runtime", cfg.Runtime},
		{"decryption keys", cfg.DecryptionKeysPath},
		{"default registry", cfg.DefaultRegistry},
		{"insecure registries", strings.Join(cfg.InsecureRegistries, ", ")},
		{"zfs dataset", cfg.ZFS.Dataset},
		{"log", cfg.LogLevel + ", " + cfg.LogFormat},
	}
	rows = append(rows, info.NRI.rows(cfg.NRI)...)
	for _, r := range rows {
		fmt.Fprintf(a.stdout, "%-20s %s\n", r[0]+":", r[1])
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (a *app) systemCheck(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	problems, err := e.Check(c.Context, !c.Bool("dry-run"))
	if err != nil {
		return err
	}
	// A snapshotter that keeps records of its own (zfs, in the pool's
	// properties) checks them itself.
	if ck, ok := e.Snapshotter.(snapshot.Checker); ok {
		sp, err := ck.CheckSnapshots(c.Context, !c.Bool("dry-run"))
		if err != nil {
			return err
		}
		for _, p := range sp {
			problems = append(problems, engine.Problem{What: p.What, Issue: p.Issue, Repaired: p.Repaired})
		}
	}
	if asJSON {
		if problems == nil {
			problems = []engine.Problem{}
		}
		return writeJSON(a.stdout, problems)
	}
	unrepaired := 0
	for _, p := range problems {
		state := "found"
		if p.Repaired {
			state = "repaired"
		} else {
			unrepaired++
		}
		if p.Error != "" {
			state = "repair failed: " + p.Error
		}
		fmt.Fprintf(a.stdout, "%s: %s (%s)\n", p.What, p.Issue, state)
	}
	if len(problems) == 0 {
		fmt.Fprintln(a.stdout, "no problems found")
	}
	if unrepaired > 0 && !c.Bool("dry-run") {
		return fmt.Errorf("system check: %d problems left unrepaired", unrepaired)
	}
	return nil
}

// dfRow is one image or container of `system df -v`.
type dfRow struct {
	Type string `json:"type"`
	Name string `json:"name"`
	// ID is the image's config digest or the container's id.
	ID     string `json:"id"`
	Size   int64  `json:"size"`
	Unique int64  `json:"unique"`
	Inodes int64  `json:"inodes"`
	// Containers counts the containers using an image or a volume;
	// Status is a container's, as ps shows it.
	Containers int    `json:"containers"`
	Status     string `json:"status,omitempty"`
	// Driver is a volume's.
	Driver string `json:"driver,omitempty"`
}

// dfSummary is one line of `system df`: images or containers.
type dfSummary struct {
	Type        string `json:"type"`
	Total       int    `json:"total"`
	Active      int    `json:"active"`
	Size        int64  `json:"size"`
	Reclaimable int64  `json:"reclaimable"`
}

// dfReport is what `system df --format json` prints, with or without -v.
type dfReport struct {
	Summary    []dfSummary `json:"summary"`
	Images     []dfRow     `json:"images"`
	Containers []dfRow     `json:"containers"`
	Volumes    []dfRow     `json:"volumes"`
}

// systemDF is `system df [-v] [--format json]`. As in docker, the table
// is a summary (images and containers: how many, how many in use, their
// size and what removing the unused ones would free) and -v lists each
// one. An image's SIZE is its content (compressed layers, manifest,
// config), UNIQUE its layer snapshots no other image shares; an image is
// active while a container uses it, a container while it runs. Stockade
// counts its volumes too (a volume is active while a container uses it);
// bind mounts are host directories, not counted.
func (a *app) systemDF(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	r, err := a.diskUsage(c, e)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, r)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	if !c.Bool("verbose") {
		fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
		for _, s := range r.Summary {
			pct := 0
			if s.Size > 0 {
				pct = int(s.Reclaimable * 100 / s.Size)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s (%d%%)\n", s.Type, s.Total, s.Active, humanSize(s.Size), humanSize(s.Reclaimable), pct)
		}
		return tw.Flush()
	}
	fmt.Fprintln(a.stdout, "Images space usage:")
	fmt.Fprintln(a.stdout)
	fmt.Fprintln(tw, "NAME\tIMAGE ID\tSIZE\tUNIQUE ON DISK\tINODES\tCONTAINERS")
	for _, r := range r.Images {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", r.Name, shortHex(r.ID), humanSize(r.Size), humanSize(r.Unique), r.Inodes, r.Containers)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	fmt.Fprintln(a.stdout, "Containers space usage:")
	fmt.Fprintln(a.stdout)
	fmt.Fprintln(tw, "CONTAINER ID\tNAME\tSIZE\tINODES\tSTATUS")
	for _, r := range r.Containers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", shortHex(r.ID), r.Name, humanSize(r.Size), r.Inodes, r.Status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	fmt.Fprintln(a.stdout, "Local Volumes space usage:")
	fmt.Fprintln(a.stdout)
	fmt.Fprintln(tw, "VOLUME NAME\tDRIVER\tLINKS\tSIZE")
	for _, r := range r.Volumes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", r.Name, r.Driver, r.Containers, humanSize(r.Size))
	}
	return tw.Flush()
}

// shortHex is the first 12 hex digits of an id or a digest.
func shortHex(id string) string {
	if _, hex, ok := strings.Cut(id, ":"); ok {
		id = hex
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// diskUsage measures images and containers for system df.
func (a *app) diskUsage(c *cli.Context, e *engine.Engine) (*dfReport, error) {
	imgs, err := a.svc.List(c.Context)
	if err != nil {
		return nil, err
	}
	ctrs, err := e.List(c.Context)
	if err != nil {
		return nil, err
	}
	users := map[string]int{}
	for _, img := range imgs {
		for _, ch := range img.ChainIDs {
			users[ch.String()]++
		}
	}
	byImage := map[string]int{}
	for _, ctr := range ctrs {
		byImage[ctr.ImageID]++
	}
	r := &dfReport{Images: []dfRow{}, Containers: []dfRow{}}
	imgSum := dfSummary{Type: "Images"}
	seen := map[string]bool{}
	for _, img := range imgs {
		row := dfRow{Type: "image", Name: img.Name, ID: img.ID.String(), Size: img.Size, Containers: byImage[img.ID.String()]}
		for _, ch := range img.ChainIDs {
			u, err := e.Snapshotter.Usage(c.Context, ch.String())
			if err != nil {
				continue
			}
			row.Inodes += u.Inodes
			if users[ch.String()] == 1 {
				row.Unique += u.Size
			}
		}
		r.Images = append(r.Images, row)
		if seen[row.ID] {
			continue // another name of the same image
		}
		seen[row.ID] = true
		imgSum.Total++
		imgSum.Size += row.Size
		if row.Containers > 0 {
			imgSum.Active++
		} else {
			imgSum.Reclaimable += row.Size
		}
	}
	ctrSum := dfSummary{Type: "Containers"}
	now := time.Now()
	for _, ctr := range ctrs {
		u, _ := e.Snapshotter.Usage(c.Context, ctr.SnapshotKey)
		r.Containers = append(r.Containers, dfRow{Type: "container", Name: ctr.Name, ID: ctr.ID, Size: u.Size, Unique: u.Size, Inodes: u.Inodes, Status: ctr.State.Describe(now)})
		ctrSum.Total++
		ctrSum.Size += u.Size
		if ctr.State.Running() {
			ctrSum.Active++
		} else {
			ctrSum.Reclaimable += u.Size
		}
	}
	volSum, err := a.volumeUsage(c, e, r)
	if err != nil {
		return nil, err
	}
	r.Summary = []dfSummary{imgSum, ctrSum, volSum}
	return r, nil
}

// volumeUsage adds a row per volume to r (Containers: how many containers
// use it) and returns their summary: a
// volume is active while a container uses it, reclaimable otherwise.
func (a *app) volumeUsage(c *cli.Context, e *engine.Engine, r *dfReport) (dfSummary, error) {
	sum := dfSummary{Type: "Local Volumes"}
	r.Volumes = []dfRow{}
	store := a.parts.VolumeStore(e.DB, e.Snapshotter)
	vols, err := store.List(c.Context)
	if err != nil {
		return sum, err
	}
	users, err := store.Users(c.Context)
	if err != nil {
		return sum, err
	}
	for _, v := range vols {
		u, _ := storage.DiskUsage(c.Context, v.Mountpoint)
		row := dfRow{Type: "volume", Name: v.Name, Size: u.Size, Unique: u.Size, Inodes: u.Inodes, Driver: v.Driver, Containers: len(users[v.Name])}
		r.Volumes = append(r.Volumes, row)
		sum.Total++
		sum.Size += u.Size
		if row.Containers > 0 {
			sum.Active++
		} else {
			sum.Reclaimable += u.Size
		}
	}
	return sum, nil
}

// systemPrune is `system prune [-f] [-a]`: stopped containers, unused
// networks (not the default one), content and layers no image uses, and
// with -a every image no container uses. Without -f it asks, as docker
// does, and refuses when stdin is not a terminal to ask on.
func (a *app) systemPrune(c *cli.Context) error {
	all := c.Bool("all")
	if !c.Bool("force") {
		ok, err := a.confirm(pruneWarning(all))
		if err != nil {
			return fmt.Errorf("system prune: %w", err)
		}
		if !ok {
			return errors.New("system prune: cancelled, nothing removed")
		}
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	removed, remaining, err := e.PruneStopped(c.Context)
	for _, ctr := range removed {
		fmt.Fprintf(a.stdout, "removed container %s\n", ctr.Name)
	}
	if err != nil {
		return err
	}
	// The images of what stays (running, or stopped and needed by a
	// container that stays) are in use.
	inUse := map[string]bool{}
	for _, ctr := range remaining {
		inUse[ctr.ImageID] = true
	}
	if err := a.networkPrune(c); err != nil {
		return err
	}
	if all {
		imgs, err := a.svc.List(c.Context)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			if inUse[img.ID.String()] {
				continue
			}
			if err := a.svc.Remove(c.Context, img.Name); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed image %s\n", img.Name)
		}
	}
	// Build cache and untagged images no container uses, as docker's
	// prune removes dangling images and build cache.
	pruned, err := a.svc.Prune(c.Context, true, func(id digest.Digest) bool { return inUse[id.String()] })
	if err != nil {
		return err
	}
	for _, img := range pruned {
		fmt.Fprintf(a.stdout, "removed image %s\n", img.ID)
	}
	return a.svc.GC(c.Context)
}

// pruneWarning is what system prune asks before it removes anything.
func pruneWarning(all bool) string {
	w := "WARNING! This will remove:\n" +
		"  - all stopped containers\n" +
		"  - all networks not used by at least one container (except the default network)\n"
	if all {
		w += "  - all images without at least one container associated to them\n"
	}
	return w + "  - all untagged images and build cache no container uses\n" +
		"  - all content and layer snapshots no image uses\n\nAre you sure you want to continue? [y/N] "
}

// confirm prints question and reads the answer from stdin: y or yes (any
// case) is a yes. It refuses to ask when stdin is not a terminal, so that
// a script never removes things by accident nor hangs on a question.
func (a *app) confirm(question string) (bool, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, errors.New("stdin is not a terminal to ask for confirmation: use -f to proceed without asking")
	}
	fmt.Fprint(a.stdout, question)
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(a.stdout)
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
