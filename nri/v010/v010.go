// Package v010 runs NRI 0.1 plugins as containerd 1.5 ran them: one
// binary per plugin, given a request as JSON on stdin and answering with a
// result as JSON on stdout.
//
// The plugins are listed in a configuration file (conf.json,
// {"version":"0.1","plugins":[{"type":"NAME","conf":{...}}]}) and in every
// *.conf file of a directory (resource.d, one {"type","conf"} object per
// file, in file-name order, after conf.json's). The binary of a plugin is
// PLUGIN_PATH/TYPE, run as `TYPE invoke`. Plugins run one after the other;
// each request carries the results of the plugins before it. A result with
// an error, a non-zero exit, garbage on stdout or no answer within the
// timeout fails the whole invocation with a *PluginError.
//
// The request and result types are those of github.com/containerd/nri's
// types/v1.
package v010

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	types "github.com/containerd/nri/types/v1" //nolint:staticcheck // NRI 0.1 is what this package speaks
)

// Version is the protocol version written in requests when the
// configuration file does not name one.
const Version = "0.1"

// DefaultTimeout bounds one plugin run when Config.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// Config locates the plugins.
type Config struct {
	// PluginPath is the directory of the plugin binaries.
	PluginPath string
	// ConfigFile is the plugin list (conf.json); a missing file is an
	// empty list.
	ConfigFile string
	// ConfigDir holds more plugins, one per *.conf file; a missing
	// directory holds none.
	ConfigDir string
	// Timeout bounds each plugin run; the plugin is killed after it.
	Timeout time.Duration
}

// Client invokes the configured plugins.
type Client struct {
	cfg     Config
	version string
	plugins []*types.Plugin
}

// Load reads the plugin list of cfg.
func Load(cfg Config) (*Client, error) {
	c := &Client{cfg: cfg, version: Version}
	if cfg.Timeout <= 0 {
		c.cfg.Timeout = DefaultTimeout
	}
	if cfg.ConfigFile != "" {
		data, err := os.ReadFile(cfg.ConfigFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("nri 0.1: %w", err)
		default:
			var list types.ConfigList
			if err := json.Unmarshal(data, &list); err != nil {
				return nil, fmt.Errorf("nri 0.1: %s: %w", cfg.ConfigFile, err)
			}
			if list.Version != "" {
				c.version = list.Version
			}
			for i, p := range list.Plugins {
				if p == nil {
					return nil, fmt.Errorf("nri 0.1: %s: plugin %d is null", cfg.ConfigFile, i)
				}
				if err := checkType(p.Type); err != nil {
					return nil, fmt.Errorf("nri 0.1: %s: plugin %d: %w", cfg.ConfigFile, i, err)
				}
				c.plugins = append(c.plugins, p)
			}
		}
	}
	if cfg.ConfigDir != "" {
		entries, err := os.ReadDir(cfg.ConfigDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("nri 0.1: %w", err)
		}
		// os.ReadDir sorts by file name.
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".conf") {
				continue
			}
			path := filepath.Join(cfg.ConfigDir, e.Name())
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("nri 0.1: %w", err)
			}
			var p types.Plugin
			if err := json.Unmarshal(data, &p); err != nil {
				return nil, fmt.Errorf("nri 0.1: %s: %w", path, err)
			}
			if err := checkType(p.Type); err != nil {
				return nil, fmt.Errorf("nri 0.1: %s: %w", path, err)
			}
			c.plugins = append(c.plugins, &p)
		}
	}
	return c, nil
}

// checkType accepts a plugin type that names a file in the plugin
// directory.
func checkType(t string) error {
	if t == "" || t == "." || t == ".." || strings.ContainsAny(t, "/\x00") {
		return fmt.Errorf("plugin type %q is not a file name", t)
	}
	return nil
}

// Plugins returns the configured plugin types, in invocation order.
func (c *Client) Plugins() []string {
	names := make([]string, len(c.plugins))
	for i, p := range c.plugins {
		names[i] = p.Type
	}
	return names
}

// Version is the protocol version sent in requests.
func (c *Client) Version() string { return c.version }

// PluginError is a plugin's failure: its result's error, its exit
// status, an unreadable result, or no answer in time.
type PluginError struct {
	// Plugin is the plugin's type.
	Plugin string
	// Msg says what went wrong.
	Msg string
}

func (e *PluginError) Error() string { return "nri plugin " + e.Plugin + ": " + e.Msg }

// Invoke runs every plugin in order with r (its Version, Conf and Results
// are set here) and returns their results. The first failure stops it
// and is returned as a *PluginError.
func (c *Client) Invoke(ctx context.Context, r *types.Request) ([]*types.Result, error) {
	r.Version = c.version
	r.Results = nil
	for _, p := range c.plugins {
		r.Conf = p.Conf
		res, err := c.invoke(ctx, p.Type, r)
		if err != nil {
			return r.Results, err
		}
		r.Results = append(r.Results, res)
	}
	return r.Results, nil
}

// maxOutput bounds what is kept of a plugin's stdout and stderr.
const maxOutput = 1 << 20

func (c *Client) invoke(ctx context.Context, name string, r *types.Request) (*types.Result, error) {
	fail := func(format string, args ...any) error {
		return &PluginError{Plugin: name, Msg: fmt.Sprintf(format, args...)}
	}
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, fail("request: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.cfg.PluginPath, name), "invoke")
	cmd.Stdin = bytes.NewReader(payload)
	var stdout, stderr limitedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The plugin gets its own process group, so that a timeout kills
	// whatever it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fail("no answer within %s (killed)", c.cfg.Timeout)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			msg := ee.String()
			if line := lastLine(stderr.Bytes()); line != "" {
				msg += ": " + line
			}
			return nil, fail("%s", msg)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fail("no binary %s", filepath.Join(c.cfg.PluginPath, name))
		}
		return nil, fail("%v", err)
	}
	var res types.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fail("result is not JSON (%v): %q", err, truncate(stdout.Bytes(), 120))
	}
	if res.Error != "" {
		return nil, fail("%s", res.Error)
	}
	return &res, nil
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func truncate(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
