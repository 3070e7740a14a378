package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
)

func (a *app) imageCommands() []*cli.Command {
	quiet := &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bars"}
	plain := &cli.BoolFlag{Name: "plain-http", Usage: "reach the registry over plain HTTP (loopback registries always may)"}
	pull := &cli.Command{
		Name:      "pull",
		Usage:     "pull an image from a registry and unpack it",
		ArgsUsage: "REF",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] to pull (default: this host's)"},
			plain, quiet,
		},
		Action: a.pull,
	}
	push := &cli.Command{
		Name:      "push",
		Usage:     "push an image to a registry",
		ArgsUsage: "IMAGE [DEST]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "compression", Usage: "recompress layers: zstd or gzip"},
			plain, quiet,
		},
		Action: a.push,
	}
	images := &cli.Command{
		Name:  "images",
		Usage: "list images",
		Flags: []cli.Flag{formatFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only image names"},
		},
		Action: a.listImages,
	}
	rmi := &cli.Command{
		Name:      "rmi",
		Usage:     "remove images and the content and layers no other image uses",
		ArgsUsage: "IMAGE...",
		Action:    a.rmi,
	}
	tag := &cli.Command{
		Name:      "tag",
		Usage:     "give an image another name",
		ArgsUsage: "SRC DST",
		Action:    a.tag,
	}
	inspect := &cli.Command{
		Name:      "inspect",
		Usage:     "print the records of containers or images as JSON",
		ArgsUsage: "CONTAINER|IMAGE...",
		Action:    a.inspect,
	}
	imageCmd := &cli.Command{
		Name:  "image",
		Usage: "image subcommands",
		Subcommands: []*cli.Command{
			{
				Name: "import", Usage: "import an OCI layout tar (as `skopeo copy ... oci-archive:F` writes)",
				ArgsUsage: "FILE.tar", Flags: []cli.Flag{quiet}, Action: a.importImage,
			},
			{
				Name: "export", Usage: "export an image as an OCI layout tar",
				ArgsUsage: "IMAGE FILE.tar", Action: a.exportImage,
			},
			{Name: "ls", Usage: "list images", Flags: images.Flags, Action: a.listImages},
			{Name: "rm", Usage: rmi.Usage, ArgsUsage: rmi.ArgsUsage, Action: a.rmi},
			{Name: "inspect", Usage: "print image records as JSON", ArgsUsage: "IMAGE...", Action: a.inspectImages},
		},
	}
	return []*cli.Command{pull, push, images, rmi, tag, inspect, imageCmd}
}

// args checks the number of positional arguments.
func args(c *cli.Context, min, max int) error {
	n := c.NArg()
	if n < min || (max >= 0 && n > max) {
		return fmt.Errorf("%s: wrong number of arguments (usage: %s %s)", c.Command.FullName(), c.Command.FullName(), c.Command.ArgsUsage)
	}
	return nil
}

func (a *app) pull(c *cli.Context) error {
	if err := args(c, 1, 1); err != nil {
		return err
	}
	svc, done, err := a.images(c)
	if err != nil {
		return err
	}
	defer done()
	rec, err := svc.Pull(c.Context, c.Args().First(), image.PullOptions{
		Platform:  c.String("platform"),
		PlainHTTP: c.Bool("plain-http"),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, rec.ID)
	return nil
}

func (a *app) push(c *cli.Context) error {
	if err := args(c, 1, 2); err != nil {
		return err
	}
	svc, done, err := a.images(c)
	if err != nil {
		return err
	}
	defer done()
	dest := c.Args().Get(1)
	if dest == "" {
		dest = c.Args().First()
	}
	return svc.Push(c.Context, c.Args().First(), dest, image.PushOptions{
		Compression: c.String("compression"),
		PlainHTTP:   c.Bool("plain-http"),
	})
}

func (a *app) listImages(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	svc, done, err := a.images(c)
	if err != nil {
		return err
	}
	defer done()
	recs, err := svc.List(c.Context)
	if err != nil {
		return err
	}
	if asJSON {
		if recs == nil {
			recs = []image.Record{}
		}
		return writeJSON(a.stdout, recs)
	}
	if c.Bool("quiet") {
		for _, r := range recs {
			fmt.Fprintln(a.stdout, r.Name)
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tIMAGE ID\tPLATFORM\tLAYERS\tSIZE\tPULLED")
	for _, r := range recs {
		enc := ""
		if r.Encrypted {
			enc = " (encrypted)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Name, r.ShortID(), image.FormatPlatform(r.Platform), len(r.Layers), humanSize(r.Size)+enc, since(r.Pulled))
	}
	return tw.Flush()
}

func (a *app) rmi(c *cli.Context) error {
	if err := args(c, 1, -1); err != nil {
		return err
	}
	svc, done, err := a.images(c)
	if err != nil {
		return err
	}
	defer done()
	if err := svc.Remove(c.Context, c.Args().Slice()...); err != nil {
		return err
	}
	for _, n := range c.Args().Slice() {
		fmt.Fprintf(a.stdout, "Untagged: %s\n", n)
	}
	return nil
}

func (a *app) tag(c *cli.Context) error {
	if err := args(c, 2, 2); err != nil {
		return err
	}
	svc, done, err := a.images(c)
	if err != nil {
		return err
	}
	defer done()
	return svc.Tag(c.Context, c.Args().Get(0), c.Args().Get(1))
}

func (a *app) inspectImages(c *cli.Context) error {
	if err := args(c, 1, -1); err != nil {
		return err
	}
	svc, done, err := a.images(c)
	if err != nil {
		return err
	}
	defer done()
	var out []*image.Record
	for _, n := range c.Args().Slice() {
		r, err := svc.Get(c.Context, n)
		if err != nil {
			return err
		}
		out = append(out, r)
	}
	return writeJSON(a.stdout, out)
}

// inspect prints containers' records, or images' when no container has
// the name, as docker inspect does.
func (a *app) inspect(c *cli.Context) error {
	if err := args(c, 1, -1); err != nil {
		return err
	}
	e, done, err := a.newEngine(c)
	if err != nil {
		return err
	}
	defer done()
	var out []any
	for _, n := range c.Args().Slice() {
		if ctr, err := e.Get(c.Context, n); err == nil {
			out = append(out, ctr)
			continue
		} else if !errors.Is(err, engine.ErrNoSuchContainer) {
			return err
		}
		r, err := e.Images.Get(c.Context, n)
		if err != nil {
			return fmt.Errorf("inspect %s: no such container or image", n)
		}
		out = append(out, r)
	}
	return writeJSON(a.stdout, out)
}

func (a *app) importImage(c *cli.Context) error {
	if err := args(c, 1, 1); err != nil {
		return err
	}
	svc, done, err := a.images(c)
	if err != nil {
		return err
	}
	defer done()
	recs, err := svc.Import(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	for _, r := range recs {
		fmt.Fprintf(a.stdout, "%s %s\n", r.ID, r.Name)
	}
	return nil
}

func (a *app) exportImage(c *cli.Context) error {
	if err := args(c, 2, 2); err != nil {
		return err
	}
	svc, done, err := a.images(c)
	if err != nil {
		return err
	}
	defer done()
	return svc.Export(c.Context, c.Args().Get(0), c.Args().Get(1))
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

func since(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
	return strings.TrimSpace(fmt.Sprintf("%d days ago", int(d.Hours()/24)))
}
