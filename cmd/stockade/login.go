package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/stockade/stockade/image"
)

// loginCommands are login and logout (docs/SECURITY.md, "Registry
// credentials").
func (a *app) loginCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "login",
			Usage:     "check credentials against a registry and store them for pulls and pushes",
			ArgsUsage: "[REGISTRY]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "user name"},
				&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "password (insecure: it is seen in the process list; use --password-stdin)"},
				&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from standard input"},
			},
			Action: arity(0, 1, a.login),
		},
		{
			Name:      "logout",
			Usage:     "remove a registry's stored credentials",
			ArgsUsage: "[REGISTRY]",
			Action:    arity(0, 1, a.logout),
		},
	}
}

// loginRegistry is the registry argument, or the default registry.
func (a *app) loginRegistry(c *cli.Context) (string, error) {
	if c.NArg() > 0 {
		return c.Args().First(), nil
	}
	if r := a.cfg.DefaultRegistry; r != "" {
		return r, nil
	}
	return "docker.io", nil
}

// loginService is an image service for talking to registries only: no
// data root is opened.
func (a *app) loginService() *image.Service {
	return &image.Service{DefaultRegistry: a.cfg.DefaultRegistry, InsecureRegistries: a.cfg.InsecureRegistries, Log: a.log}
}

// login is `login [-u USER] [-p PASS | --password-stdin] [REGISTRY]`.
func (a *app) login(c *cli.Context) error {
	arg, err := a.loginRegistry(c)
	if err != nil {
		return err
	}
	reg, err := image.RegistryHost(arg)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	user, password := c.String("username"), c.String("password")
	fromStdin := c.Bool("password-stdin")
	switch {
	case fromStdin && c.IsSet("password"):
		return errors.New("login: --password and --password-stdin cannot be used together")
	case fromStdin && user == "":
		return errors.New("login: --password-stdin needs --username")
	case c.IsSet("password"):
		fmt.Fprintln(a.stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	}
	in, tty := a.stdin.(*os.File)
	tty = tty && term.IsTerminal(int(in.Fd()))
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(a.stdin, 1<<20))
		if err != nil {
			return fmt.Errorf("login: read the password: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	if user == "" {
		if !tty {
			return errors.New("login: give --username (no terminal to ask on)")
		}
		fmt.Fprint(a.stderr, "Username: ")
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("login: read the username: %w", err)
		}
		user = strings.TrimSpace(line)
	}
	if password == "" && !fromStdin && !c.IsSet("password") {
		if !tty {
			return errors.New("login: give --password-stdin (no terminal to ask on)")
		}
		fmt.Fprint(a.stderr, "Password: ")
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return fmt.Errorf("login: read the password: %w", err)
		}
		password = string(b)
	}
	if user == "" || password == "" {
		return errors.New("login: the username and the password must not be empty")
	}
	// Stored in a file, docker/cli's store warns on stderr that it is
	// unencrypted, as docker login does.
	if _, err := a.loginService().Login(c.Context, reg, user, password); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "Login Succeeded")
	return nil
}

// logout is `logout [REGISTRY]`.
func (a *app) logout(c *cli.Context) error {
	arg, err := a.loginRegistry(c)
	if err != nil {
		return err
	}
	reg, err := image.RegistryHost(arg)
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	if _, err := a.loginService().Logout(reg); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	fmt.Fprintf(a.stdout, "Removing login credentials for %s\n", reg.RegistryStr())
	return nil
}
