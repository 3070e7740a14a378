// Package config loads stockade's configuration: built-in defaults for the
// operating system, then the TOML file, then the environment, then command
// line flags, each layer overriding the one before.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is stockade's effective configuration. The TOML keys are the
// struct tags; every key is optional.
type Config struct {
	// Root is the data root: metadata, content store, snapshots.
	Root string `toml:"root" json:"root"`
	// State is the run-state directory: runtime state, monitor sockets.
	State string `toml:"state" json:"state"`
	// Snapshotter names the storage backend: overlay, zfs, unionfs, copy.
	// Empty picks the OS default.
	Snapshotter string `toml:"snapshotter" json:"snapshotter"`
	// Runtime names the container runtime: jail, runc or crun.
	Runtime string `toml:"runtime" json:"runtime"`
	// DecryptionKeysPath is the directory whose keys are always tried on
	// encrypted layers.
	DecryptionKeysPath string `toml:"decryption_keys_path" json:"decryption_keys_path"`
	// DefaultRegistry is the registry of references without a host.
	DefaultRegistry string `toml:"default_registry" json:"default_registry"`
	// InsecureRegistries may be reached over plain HTTP.
	InsecureRegistries []string `toml:"insecure_registries" json:"insecure_registries"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level" json:"log_level"`
	// LogFormat is text or json.
	LogFormat string `toml:"log_format" json:"log_format"`
	// ZFS configures the zfs snapshotter.
	ZFS ZFS `toml:"zfs" json:"zfs"`
	// NRI configures Node Resource Interface plugins.
	NRI NRI `toml:"nri" json:"nri"`
	// Runc configures the Linux runtime.
	Runc Runc `toml:"runc" json:"runc"`
	// Monitor configures the containers' monitors.
	Monitor Monitor `toml:"monitor" json:"monitor"`
}

// Monitor is the [monitor] table.
type Monitor struct {
	// IdleAfter is how long a container runs before its monitor hands
	// over to the small idle monitor (stockade-monitor), when no attach
	// client is connected; 0 never hands over.
	IdleAfter Duration `toml:"idle_after" json:"idle_after"`
	// Binary is the small monitor's path; empty means stockade-monitor
	// next to the stockade executable.
	Binary string `toml:"binary" json:"binary"`
}

// DefaultMonitorIdleAfter is the default of [monitor] idle_after: a
// container still running after it is taken for a service that will run
// long, while `run --rm` jobs and short tests end before and never pay
// for the handover's two execs.
const DefaultMonitorIdleAfter = 5 * time.Second

// ZFS is the [zfs] table.
type ZFS struct {
	// Dataset is the parent dataset of every layer and container root,
	// for example zroot/stockade.
	Dataset string `toml:"dataset" json:"dataset"`
}

// NRI is the [nri] table: current NRI (github.com/containerd/nri) under
// containerd's key names, and NRI 0.1 in its own sub-table.
type NRI struct {
	// Enable turns current NRI on: pre-installed plugins, and external
	// plugins through `stockade system service`.
	Enable bool `toml:"enable" json:"enable"`
	// SocketPath is where external plugins connect (to the service).
	SocketPath string `toml:"socket_path" json:"socket_path"`
	// PluginPath holds pre-installed plugins, named NN-NAME.
	PluginPath string `toml:"plugin_path" json:"plugin_path"`
	// PluginConfigPath holds the pre-installed plugins' configurations
	// (NN-NAME.conf or NAME.conf).
	PluginConfigPath string `toml:"plugin_config_path" json:"plugin_config_path"`
	// PluginRegistrationTimeout bounds a plugin's registration.
	PluginRegistrationTimeout Duration `toml:"plugin_registration_timeout" json:"plugin_registration_timeout"`
	// PluginRequestTimeout bounds each request to a plugin; it also bounds
	// each run of an NRI 0.1 plugin binary.
	PluginRequestTimeout Duration `toml:"plugin_request_timeout" json:"plugin_request_timeout"`
	// V010 is the [nri.v010] table.
	V010 NRIV010 `toml:"v010" json:"v010"`
}

// On tells whether either NRI is on: current NRI or NRI 0.1.
func (n NRI) On() bool { return n.Enable || n.V010.Enable }

// NRIV010 is the [nri.v010] table: NRI 0.1 plugin binaries, as
// containerd 1.5 ran them.
type NRIV010 struct {
	// Enable turns NRI 0.1 plugin calls on.
	Enable bool `toml:"enable" json:"enable"`
	// PluginPath holds the plugin binaries.
	PluginPath string `toml:"plugin_path" json:"plugin_path"`
	// ConfigFile is the plugin list (conf.json).
	ConfigFile string `toml:"config_file" json:"config_file"`
	// ConfigDir holds one more plugin per *.conf file, after ConfigFile's.
	ConfigDir string `toml:"config_dir" json:"config_dir"`
}

// Duration is a time.Duration written as text ("5s") in TOML and JSON.
type Duration time.Duration

// UnmarshalText parses a Go duration such as "2s" or "500ms".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 2s or 500ms", text)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// oldNRIKeys are the NRI 0.1 keys that [nri] held before current NRI took
// the table over; a file using them gets an error that says where they went.
var oldNRIKeys = map[string]string{"nri.config_file": "config_file", "nri.config_dir": "config_dir"}

// Runc is the [runc] table.
type Runc struct {
	// Binary is the runc or crun executable, looked up in PATH when bare.
	Binary string `toml:"binary" json:"binary"`
}

// DefaultPath returns the configuration file's default path on goos.
func DefaultPath(goos string) string {
	if goos == "freebsd" {
		return "/usr/local/etc/stockade/stockade.toml"
	}
	return "/etc/stockade/stockade.toml"
}

// Defaults returns the built-in configuration for goos.
func Defaults(goos string) Config {
	c := Config{
		DefaultRegistry: "docker.io",
		LogLevel:        "info",
		LogFormat:       "text",
		Monitor:         Monitor{IdleAfter: Duration(DefaultMonitorIdleAfter)},
		NRI: NRI{
			SocketPath:                "/var/run/nri/nri.sock",
			PluginPath:                "/opt/nri/plugins",
			PluginConfigPath:          "/etc/nri/conf.d",
			PluginRegistrationTimeout: Duration(5 * time.Second),
			PluginRequestTimeout:      Duration(2 * time.Second),
			V010: NRIV010{
				PluginPath: "/opt/nri/bin",
				ConfigFile: "/etc/nri/conf.json",
				ConfigDir:  "/etc/nri/resource.d",
			},
		},
	}
	switch goos {
	case "freebsd":
		c.Root = "/var/db/stockade"
		c.State = "/var/run/stockade"
		c.Runtime = "jail"
		c.DecryptionKeysPath = "/usr/local/etc/stockade/keys"
	default:
		c.Root = "/var/lib/stockade"
		c.State = "/run/stockade"
		c.Runtime = "runc"
		c.Runc.Binary = "runc"
		c.DecryptionKeysPath = "/etc/stockade/keys"
	}
	return c
}

// Env lists the environment variables Load reads and the keys they set.
var Env = map[string]string{
	"STOCKADE_ROOT":                 "root",
	"STOCKADE_STATE":                "state",
	"STOCKADE_SNAPSHOTTER":          "snapshotter",
	"STOCKADE_RUNTIME":              "runtime",
	"STOCKADE_DECRYPTION_KEYS_PATH": "decryption_keys_path",
	"STOCKADE_DEFAULT_REGISTRY":     "default_registry",
	"STOCKADE_INSECURE_REGISTRIES":  "insecure_registries",
	"STOCKADE_LOG_LEVEL":            "log_level",
	"STOCKADE_LOG_FORMAT":           "log_format",
	"STOCKADE_ZFS_DATASET":          "zfs.dataset",
	"STOCKADE_MONITOR_IDLE_AFTER":   "monitor.idle_after",
}

// Load returns the configuration for goos: defaults, then the file at path,
// then the variables of Env found by getenv. A missing file is an error only
// when required is set (the path was given explicitly).
func Load(goos, path string, required bool, getenv func(string) string) (Config, error) {
	c := Defaults(goos)
	if err := c.mergeFile(path, required); err != nil {
		return Config{}, err
	}
	if getenv != nil {
		keys := make([]string, 0, len(Env))
		for k := range Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if v := getenv(k); v != "" {
				if err := c.Set(Env[k], v); err != nil {
					return Config{}, fmt.Errorf("environment %s: %w", k, err)
				}
			}
		}
	}
	return c, c.Validate()
}

// LoadHost is Load for the running OS and environment.
func LoadHost(path string, required bool) (Config, error) {
	return Load(runtime.GOOS, path, required, os.Getenv)
}

// FlagKeys are the global command-line flags that set a key, as stockade
// and stockade-supervisor take them (the flag's name is the key's with
// "-" for "_").
var FlagKeys = []string{"root", "state", "snapshotter", "log-level", "log-format"}

// LoadHostFlags is LoadHost with the values of the global flags given
// (by FlagKeys name) set over the file and the environment, then
// validated: the effective configuration of a command line.
func LoadHostFlags(path string, required bool, flags map[string]string) (Config, error) {
	c, err := LoadHost(path, required)
	if err != nil {
		return c, err
	}
	for _, name := range FlagKeys {
		if v, ok := flags[name]; ok {
			if err := c.Set(strings.ReplaceAll(name, "-", "_"), v); err != nil {
				return c, err
			}
		}
	}
	return c, c.Validate()
}

func (c *Config) mergeFile(path string, required bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !required {
			return nil
		}
		return fmt.Errorf("config %s: %w", path, unwrapPathError(err))
	}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return fmt.Errorf("config %s: %s", path, describeTOMLError(err))
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		for _, k := range undecoded {
			if key, ok := oldNRIKeys[k.String()]; ok {
				return fmt.Errorf("config %s: [nri] %s is an NRI 0.1 key: move it to [nri.v010] (see docs/CONFIG.md)", path, key)
			}
		}
		names := make([]string, len(undecoded))
		for i, k := range undecoded {
			names[i] = fmt.Sprintf("%q", k.String())
		}
		return fmt.Errorf("config %s: unknown key %s", path, strings.Join(names, ", "))
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// describeTOMLError turns the toml package's errors into one line that names
// the key and the line.
func describeTOMLError(err error) string {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.LastKey != "" {
			return fmt.Sprintf("line %d: key %q: %s", pe.Position.Line, pe.LastKey, msg)
		}
		return fmt.Sprintf("line %d: %s", pe.Position.Line, msg)
	}
	return strings.TrimPrefix(err.Error(), "toml: ")
}

// Set assigns one key given in dotted form (as in the file) from a string,
// as flags and the environment do. Lists are comma-separated.
func (c *Config) Set(key, value string) error {
	switch key {
	case "root":
		c.Root = value
	case "state":
		c.State = value
	case "snapshotter":
		c.Snapshotter = value
	case "runtime":
		c.Runtime = value
	case "decryption_keys_path":
		c.DecryptionKeysPath = value
	case "default_registry":
		c.DefaultRegistry = value
	case "insecure_registries":
		c.InsecureRegistries = nil
		for _, r := range strings.Split(value, ",") {
			if r = strings.TrimSpace(r); r != "" {
				c.InsecureRegistries = append(c.InsecureRegistries, r)
			}
		}
	case "log_level":
		c.LogLevel = value
	case "log_format":
		c.LogFormat = value
	case "zfs.dataset":
		c.ZFS.Dataset = value
	case "monitor.idle_after":
		var d Duration
		if err := d.UnmarshalText([]byte(value)); err != nil {
			return fmt.Errorf("monitor.idle_after: %w", err)
		}
		c.Monitor.IdleAfter = d
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	return nil
}

// Snapshotters lists the snapshotter names stockade knows: the rows of
// backend.Snapshotters, in its order (backend's tests check that they
// agree). Which of them works on a system is the table's to say.
var Snapshotters = []string{"overlay", "zfs", "unionfs", "copy"}

// Runtimes lists the runtime names stockade knows: the rows of
// backend.Runtimes, in its order (backend's tests check that they agree).
var Runtimes = []string{"jail", "runc", "crun"}

// Validate checks values that have a fixed set of choices.
func (c *Config) Validate() error {
	if c.Root == "" {
		return errors.New("root: must not be empty")
	}
	if c.State == "" {
		return errors.New("state: must not be empty")
	}
	if c.Snapshotter != "" && !contains(Snapshotters, c.Snapshotter) {
		return fmt.Errorf("snapshotter: %q is not one of %s", c.Snapshotter, strings.Join(Snapshotters, ", "))
	}
	if !contains(Runtimes, c.Runtime) {
		return fmt.Errorf("runtime: %q is not one of %s", c.Runtime, strings.Join(Runtimes, ", "))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		return fmt.Errorf("log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log_format: %q is not one of text, json", c.LogFormat)
	}
	if c.Monitor.IdleAfter < 0 {
		return fmt.Errorf("monitor.idle_after: %s must not be negative (0 never hands over)", time.Duration(c.Monitor.IdleAfter))
	}
	if c.NRI.PluginRegistrationTimeout <= 0 {
		return fmt.Errorf("nri.plugin_registration_timeout: %s must be positive", time.Duration(c.NRI.PluginRegistrationTimeout))
	}
	if c.NRI.PluginRequestTimeout <= 0 {
		return fmt.Errorf("nri.plugin_request_timeout: %s must be positive", time.Duration(c.NRI.PluginRequestTimeout))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
