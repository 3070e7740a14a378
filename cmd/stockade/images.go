package main

import (
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
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] to pull (default: this host's)"},
			plain, quiet,
		}, keyFlags()...),
		Action: arity(1, 1, a.pull),
	}
	push := &cli.Command{
		Name:      "push",
		Usage:     "push an image to a registry",
		ArgsUsage: "IMAGE [DEST]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "compression", Usage: "recompress layers: zstd or gzip"},
			&cli.StringSliceFlag{Name: "encrypt", Usage: "encrypt the layers for `RECIPIENT`: jwe:PUBKEY, pkcs7:CERT, pgp:NAME|FILE, pkcs11:FILE or provider:NAME (repeatable)"},
			layerFlag(),
			plain, quiet,
		},
		Action: arity(1, 2, a.push),
	}
	images := &cli.Command{
		Name:  "images",
		Usage: "list images",
		Flags: []cli.Flag{templateFormatFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only image ids"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "all images (stockade keeps no intermediate images: the same list)"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "full image ids (sha256:...)"},
		},
		Action: a.listImages,
	}
	rmi := &cli.Command{
		Name:      "rmi",
		Usage:     "remove images and the content and layers no other image uses",
		ArgsUsage: "IMAGE...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove an image used by stopped containers, or every name of an id (never one a running container uses)"},
		},
		Action: arity(1, -1, a.rmi),
	}
	tag := &cli.Command{
		Name:      "tag",
		Usage:     "give an image another name",
		ArgsUsage: "SRC DST",
		Action:    arity(2, 2, a.tag),
	}
	inspect := &cli.Command{
		Name:      "inspect",
		Usage:     "print the records of containers or images as JSON",
		ArgsUsage: "CONTAINER|IMAGE...",
		Flags:     []cli.Flag{inspectFormatFlag()},
		Action:    arity(1, -1, a.inspect),
	}
	imageCmd := &cli.Command{
		Name:  "image",
		Usage: "image subcommands",
		Subcommands: []*cli.Command{
			{
				Name: "import", Usage: "import an OCI layout tar (as `skopeo copy ... oci-archive:F` writes)",
				ArgsUsage: "FILE.tar", Flags: append([]cli.Flag{quiet}, keyFlags()...), Action: arity(1, 1, a.importImage),
			},
			{
				Name: "encrypt", Usage: "make DST, a copy of the local image SRC with encrypted layers",
				ArgsUsage: "SRC DST",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "recipient", Aliases: []string{"encrypt"}, Usage: "encrypt for `RECIPIENT`: jwe:PUBKEY, pkcs7:CERT, pgp:NAME|FILE, pkcs11:FILE or provider:NAME (repeatable)"},
					layerFlag(),
				},
				Action: arity(2, 2, a.encryptImage),
			},
			{
				Name: "decrypt", Usage: "make DST, a copy of the local image SRC with its layers decrypted",
				ArgsUsage: "SRC DST", Flags: keyFlags(), Action: arity(2, 2, a.decryptImage),
			},
			{
				Name: "layerinfo", Usage: "show, per layer, whether it is encrypted and which keys can open it",
				ArgsUsage: "IMAGE", Flags: []cli.Flag{formatFlag()}, Action: arity(1, 1, a.layerInfo),
			},
			{
				Name: "export", Usage: "export an image as an OCI layout tar",
				ArgsUsage: "IMAGE FILE.tar", Action: arity(2, 2, a.exportImage),
			},
			{Name: "ls", Usage: "list images", Flags: images.Flags, Action: a.listImages},
			{Name: "rm", Usage: rmi.Usage, ArgsUsage: rmi.ArgsUsage, Flags: rmi.Flags, Action: arity(1, -1, a.rmi)},
			{Name: "inspect", Usage: "print image records as JSON", ArgsUsage: "IMAGE...", Flags: []cli.Flag{inspectFormatFlag()}, Action: arity(1, -1, a.inspectImages)},
		},
	}
	return []*cli.Command{pull, push, images, rmi, tag, inspect, imageCmd}
}

// layerFlag chooses the layers to encrypt.
func layerFlag() cli.Flag {
	return &cli.IntSliceFlag{Name: "layer", Usage: "encrypt only layer `N` (0 is the base layer, -1 the top one; repeatable; default: all)"}
}

// keyFlags are the flags giving decryption keys (see app.decrypter).
func keyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "key", Usage: "decrypt with the private key in `FILE[:PASSWORD]` (PEM, DER, JWK, GPG secret key, PKCS#11 key file) or provider:NAME (repeatable; the keys of decryption_keys_path are always tried)"},
		&cli.StringSliceFlag{Name: "dec-recipient", Usage: "pkcs7:`CERT`: the certificate PKCS7 decryption needs with its key (repeatable)"},
	}
}

func (a *app) pull(c *cli.Context) error {
	decrypt, err := a.decrypter(c)
	if err != nil {
		return fmt.Errorf("pull %s: %w", c.Args().First(), err)
	}
	svc, err := a.imageService(c)
	if err != nil {
		return err
	}
	rec, err := svc.Pull(c.Context, c.Args().First(), image.PullOptions{
		Platform:  c.String("platform"),
		PlainHTTP: c.Bool("plain-http"),
		Decrypt:   decrypt,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, rec.ID)
	return nil
}

func (a *app) push(c *cli.Context) error {
	encrypt, err := recipients(c, "encrypt")
	if err != nil {
		return fmt.Errorf("push %s: %w", c.Args().First(), err)
	}
	layers := c.IntSlice("layer")
	if encrypt == nil && len(layers) > 0 {
		return fmt.Errorf("push %s: --layer chooses the layers to encrypt: it needs --encrypt", c.Args().First())
	}
	svc, err := a.imageService(c)
	if err != nil {
		return err
	}
	dest := c.Args().Get(1)
	if dest == "" {
		dest = c.Args().First()
	}
	return svc.Push(c.Context, c.Args().First(), dest, image.PushOptions{
		Compression:   c.String("compression"),
		PlainHTTP:     c.Bool("plain-http"),
		Encrypt:       encrypt,
		EncryptLayers: layers,
	})
}

// encryptImage is `image encrypt --recipient R... [--layer N]... SRC DST`.
func (a *app) encryptImage(c *cli.Context) error {
	encrypt, err := recipients(c, "recipient")
	if err != nil {
		return fmt.Errorf("image encrypt %s: %w", c.Args().First(), err)
	}
	if encrypt == nil {
		return fmt.Errorf("image encrypt %s: no --recipient given", c.Args().First())
	}
	svc, err := a.imageService(c)
	if err != nil {
		return err
	}
	rec, err := svc.EncryptImage(c.Context, c.Args().Get(0), c.Args().Get(1), encrypt, c.IntSlice("layer"))
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s %s\n", rec.ID, rec.Name)
	return nil
}

// decryptImage is `image decrypt [--key K]... [--dec-recipient R]... SRC DST`.
func (a *app) decryptImage(c *cli.Context) error {
	decrypt, err := a.decrypter(c)
	if err != nil {
		return fmt.Errorf("image decrypt %s: %w", c.Args().First(), err)
	}
	svc, err := a.imageService(c)
	if err != nil {
		return err
	}
	rec, err := svc.DecryptImage(c.Context, c.Args().Get(0), c.Args().Get(1), decrypt)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s %s\n", rec.ID, rec.Name)
	return nil
}

func (a *app) listImages(c *cli.Context) error {
	format, err := parseOutputFormat(c.String("format"))
	if err != nil {
		return err
	}
	asJSON := format.JSON
	svc, err := a.imageService(c)
	if err != nil {
		return err
	}
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
	// Ids are 12 hex digits of the config digest, as docker shows them,
	// unless --no-trunc. -q prints one per name, as docker does.
	id := func(r *image.Record) string {
		if c.Bool("no-trunc") {
			return r.ID.String()
		}
		return r.ShortID()
	}
	if format.Tmpl != nil && !c.Bool("quiet") {
		return a.imagesTemplate(format, recs, c.Bool("no-trunc")) // images_format.go
	}
	if c.Bool("quiet") {
		for i := range recs {
			fmt.Fprintln(a.stdout, id(&recs[i]))
		}
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tIMAGE ID\tPLATFORM\tLAYERS\tSIZE\tPULLED")
	for i, r := range recs {
		enc := ""
		if r.Encrypted {
			enc = " (encrypted)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.DisplayName(), id(&recs[i]), image.FormatPlatform(r.Platform), len(r.Layers), humanSize(r.Size)+enc, ago(now, r.Pulled))
	}
	return tw.Flush()
}

// rmi is `rmi [-f] IMAGE...`, with docker's rules: a name of an image
// that has other names is only untagged; the last name, or an id, removes
// the image, which is refused while a container uses it, unless -f and
// the containers are all stopped (their root file systems keep the layers
// they need); an id of an image with several names needs -f, and then
// removes every name. An image a running container uses is never removed.
func (a *app) rmi(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	svc := a.svc
	ctrs, err := e.List(c.Context)
	if err != nil {
		return err
	}
	for _, arg := range c.Args().Slice() {
		if err := a.rmiOne(c, svc, ctrs, arg, c.Bool("force")); err != nil {
			return err
		}
	}
	return nil
}

// rmiOne removes one image name or id (see rmi).
func (a *app) rmiOne(c *cli.Context, svc *image.Service, ctrs []*engine.Container, arg string, force bool) error {
	rec, err := svc.Get(c.Context, arg)
	if errors.Is(err, image.ErrNotFound) {
		return fmt.Errorf("rmi %s: no such image", arg)
	}
	if err != nil {
		return fmt.Errorf("rmi %s: %w", arg, err)
	}
	all, err := svc.List(c.Context)
	if err != nil {
		return err
	}
	var names []string
	for _, r := range all {
		if r.ID == rec.ID {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		names = []string{rec.Name} // build cache, which List does not show
	}
	full, _ := image.NormalizeName(arg, svc.DefaultRegistry)
	byName := full == rec.Name
	if byName && len(names) > 1 {
		// Another name keeps the image: only this name goes.
		if err := svc.Remove(c.Context, rec.Name); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Untagged: %s\n", rec.Name)
		return nil
	}
	if !byName && len(names) > 1 && !force {
		return fmt.Errorf("rmi %s: the image has %d names (%s): remove them by name, or use -f to remove them all", arg, len(names), strings.Join(names, ", "))
	}
	var running, stopped []string
	for _, ctr := range ctrs {
		if ctr.ImageID != rec.ID.String() {
			continue
		}
		if ctr.State.Running() {
			running = append(running, ctr.Name)
		} else {
			stopped = append(stopped, ctr.Name)
		}
	}
	if len(running) > 0 {
		return fmt.Errorf("rmi %s: the image is used by running container %s (stop it first; -f does not override this)", arg, strings.Join(running, ", "))
	}
	if len(stopped) > 0 && !force {
		return fmt.Errorf("rmi %s: the image is used by stopped container %s (remove it first, or use -f)", arg, strings.Join(stopped, ", "))
	}
	if err := svc.Remove(c.Context, names...); err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintf(a.stdout, "Untagged: %s\n", n)
	}
	fmt.Fprintf(a.stdout, "Deleted: %s\n", rec.ID)
	return nil
}

func (a *app) tag(c *cli.Context) error {
	svc, err := a.imageService(c)
	if err != nil {
		return err
	}
	return svc.Tag(c.Context, c.Args().Get(0), c.Args().Get(1))
}

func (a *app) inspectImages(c *cli.Context) error {
	svc, err := a.imageService(c)
	if err != nil {
		return err
	}
	var out []*image.Record
	for _, n := range c.Args().Slice() {
		r, err := svc.Get(c.Context, n)
		if err != nil {
			return err
		}
		out = append(out, r)
	}
	return writeTemplated(a.stdout, c.String("format"), out)
}

// inspect prints containers' records, or images' when no container has
// the name, as docker inspect does.
func (a *app) inspect(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	var out []any
	for _, n := range c.Args().Slice() {
		if ctr, err := e.Get(c.Context, n); err == nil {
			out = append(out, ctr)
			continue
		} else if !errors.Is(err, engine.ErrNoSuchContainer) {
			return err
		}
		r, err := a.svc.Get(c.Context, n)
		if err != nil {
			return fmt.Errorf("inspect %s: no such container or image", n)
		}
		out = append(out, r)
	}
	return writeTemplated(a.stdout, c.String("format"), out)
}

func (a *app) importImage(c *cli.Context) error {
	decrypt, err := a.decrypter(c)
	if err != nil {
		return fmt.Errorf("import %s: %w", c.Args().First(), err)
	}
	svc, err := a.imageService(c)
	if err != nil {
		return err
	}
	svc.Decrypt = decrypt
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
	svc, err := a.imageService(c)
	if err != nil {
		return err
	}
	return svc.Export(c.Context, c.Args().Get(0), c.Args().Get(1))
}
