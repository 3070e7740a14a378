package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stockade.toml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsPerOS(t *testing.T) {
	tests := []struct {
		goos, root, state, runtime, keys, path string
	}{
		{"freebsd", "/var/db/stockade", "/var/run/stockade", "jail", "/usr/local/etc/stockade/keys", "/usr/local/etc/stockade/stockade.toml"},
		{"linux", "/var/lib/stockade", "/run/stockade", "runc", "/etc/stockade/keys", "/etc/stockade/stockade.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.goos, func(t *testing.T) {
			c := Defaults(tt.goos)
			got := []string{c.Root, c.State, c.Runtime, c.DecryptionKeysPath, DefaultPath(tt.goos)}
			want := []string{tt.root, tt.state, tt.runtime, tt.keys, tt.path}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("defaults do not validate: %v", err)
			}
		})
	}
}

func TestLoadLayers(t *testing.T) {
	path := writeFile(t, `
root = "/srv/stockade"
snapshotter = "copy"
insecure_registries = ["reg.lan:5000"]
default_registry = "reg.lan:5000"
[zfs]
dataset = "zroot/stockade"
[nri]
enable = true
plugin_path = "/usr/local/libexec/nri"
[runc]
binary = "crun"
`)
	env := map[string]string{"STOCKADE_SNAPSHOTTER": "overlay", "STOCKADE_INSECURE_REGISTRIES": "a:1, b:2"}
	c, err := Load("linux", path, true, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Root != "/srv/stockade" || c.State != "/run/stockade" {
		t.Errorf("root/state = %q/%q: file must override root, default must stay for state", c.Root, c.State)
	}
	if c.Snapshotter != "overlay" {
		t.Errorf("snapshotter = %q, environment must override the file", c.Snapshotter)
	}
	if !reflect.DeepEqual(c.InsecureRegistries, []string{"a:1", "b:2"}) {
		t.Errorf("insecure_registries = %q", c.InsecureRegistries)
	}
	if c.ZFS.Dataset != "zroot/stockade" || !c.NRI.Enable || c.NRI.PluginPath != "/usr/local/libexec/nri" || c.Runc.Binary != "crun" {
		t.Errorf("tables not read: %+v", c)
	}
	if c.NRI.V010.ConfigFile != "/etc/nri/conf.json" {
		t.Errorf("nri.v010.config_file default lost: %q", c.NRI.V010.ConfigFile)
	}
}

func TestNRI(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		for _, goos := range []string{"linux", "freebsd"} {
			n := Defaults(goos).NRI
			want := NRI{
				SocketPath: "/var/run/nri/nri.sock", PluginPath: "/opt/nri/plugins", PluginConfigPath: "/etc/nri/conf.d",
				PluginRegistrationTimeout: Duration(5 * time.Second), PluginRequestTimeout: Duration(2 * time.Second),
				V010: NRIV010{PluginPath: "/opt/nri/bin", ConfigFile: "/etc/nri/conf.json", ConfigDir: "/etc/nri/resource.d"},
			}
			if !reflect.DeepEqual(n, want) {
				t.Errorf("%s: %+v, want %+v", goos, n, want)
			}
		}
	})
	t.Run("file", func(t *testing.T) {
		path := writeFile(t, `
[nri]
enable = true
socket_path = "/run/x/nri.sock"
plugin_path = "/p"
plugin_config_path = "/pc"
plugin_registration_timeout = "1500ms"
plugin_request_timeout = "3s"
[nri.v010]
enable = true
plugin_path = "/b"
config_file = "/c.json"
config_dir = "/d"
`)
		c, err := Load("linux", path, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := NRI{
			Enable: true, SocketPath: "/run/x/nri.sock", PluginPath: "/p", PluginConfigPath: "/pc",
			PluginRegistrationTimeout: Duration(1500 * time.Millisecond), PluginRequestTimeout: Duration(3 * time.Second),
			V010: NRIV010{Enable: true, PluginPath: "/b", ConfigFile: "/c.json", ConfigDir: "/d"},
		}
		if !reflect.DeepEqual(c.NRI, want) {
			t.Errorf("got %+v, want %+v", c.NRI, want)
		}
		js, err := json.Marshal(c.NRI)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(js), `"plugin_request_timeout":"3s"`) {
			t.Errorf("durations must print as text in JSON: %s", js)
		}
	})
	for _, tt := range []struct{ name, file, want string }{
		{"old config_file", "[nri]\nenable = true\nconfig_file = \"/etc/nri/conf.json\"\n", "[nri] config_file is an NRI 0.1 key: move it to [nri.v010]"},
		{"old config_dir", "[nri]\nconfig_dir = \"/etc/nri/resource.d\"\n", "[nri] config_dir is an NRI 0.1 key: move it to [nri.v010]"},
		{"bad duration", "[nri]\nplugin_request_timeout = \"soon\"\n", `"soon" is not a duration`},
		{"zero timeout", "[nri]\nplugin_request_timeout = \"0s\"\n", "nri.plugin_request_timeout: 0s must be positive"},
		{"zero registration", "[nri]\nplugin_registration_timeout = \"0s\"\n", "nri.plugin_registration_timeout: 0s must be positive"},
		{"unknown v010 key", "[nri.v010]\nsocket_path = \"/x\"\n", `unknown key "nri.v010.socket_path"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("linux", writeFile(t, tt.file), true, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")
	if _, err := Load("linux", missing, false, nil); err != nil {
		t.Errorf("missing default file must be fine, got %v", err)
	}
	_, err := Load("linux", missing, true, nil)
	if err == nil || err.Error() != "config "+missing+": no such file or directory" {
		t.Errorf("explicit missing file: got %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, content string
		want          string // the error must be exactly "config <path>: " + want
	}{
		{"unknown key", "root = \"/x\"\nsnapshoter = \"zfs\"\n", `unknown key "snapshoter"`},
		{"unknown nested key", "[zfs]\ndatset = \"z/s\"\n", `unknown key "zfs.datset"`},
		{"unknown table", "[zsf]\ndataset = \"z/s\"\n", `unknown key "zsf", "zsf.dataset"`},
		{"wrong type string", "root = 5\n", `line 1 (last key "root"): incompatible types: TOML value has type int64; destination has type string`},
		{"wrong type list", "insecure_registries = \"reg:5000\"\n", `line 1 (last key "insecure_registries"): incompatible types: TOML value has type string; destination has type slice`},
		{"wrong type nested", "[nri]\nenable = \"yes\"\n", `line 2 (last key "nri.enable"): incompatible types: TOML value has type string; destination has type boolean`},
		{"syntax", "root = \n", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content)
			_, err := Load("linux", path, true, nil)
			if err == nil {
				t.Fatal("no error")
			}
			prefix := "config " + path + ": "
			if !strings.HasPrefix(err.Error(), prefix+tt.want) {
				t.Errorf("error\n got %q\nwant %q", err.Error(), prefix+tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory cannot be read as a file, even by root.
	_, err := Load("linux", dir, true, nil)
	if err == nil || err.Error() != "config "+dir+": read "+dir+": is a directory" && err.Error() != "config "+dir+": is a directory" {
		t.Errorf("got %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{"snapshotter", "btrfs", `snapshotter: "btrfs" is not one of overlay, zfs, unionfs, copy`},
		{"runtime", "kata", `runtime: "kata" is not one of jail, runc, crun`},
		{"log_level", "loud", `log_level: "loud" is not one of debug, info, warn, error`},
		{"log_format", "xml", `log_format: "xml" is not one of text, json`},
		{"root", "", "root: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := Defaults("linux")
			if err := c.Set(tt.key, tt.value); err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	c := Defaults("linux")
	if err := c.Set("nope", "x"); err == nil || err.Error() != `unknown key "nope"` {
		t.Errorf("Set unknown key: %v", err)
	}
}

func TestEnvError(t *testing.T) {
	// A path that surely does not exist (a machine may have /nonexistent).
	missing := filepath.Join(t.TempDir(), "none.toml")
	_, err := Load("freebsd", missing, false, func(k string) string {
		if k == "STOCKADE_LOG_FORMAT" {
			return "xml"
		}
		return ""
	})
	if err == nil || err.Error() != `log_format: "xml" is not one of text, json` {
		t.Errorf("got %v", err)
	}
}

func TestMonitorIdleAfter(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.toml")
	c, err := Load("linux", writeFile(t, "[monitor]\nidle_after = \"250ms\"\nbinary = \"/opt/sm\"\n"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Monitor.IdleAfter) != 250*time.Millisecond || c.Monitor.Binary != "/opt/sm" {
		t.Errorf("got %+v", c.Monitor)
	}
	if d := Defaults("freebsd").Monitor.IdleAfter; time.Duration(d) != DefaultMonitorIdleAfter {
		t.Errorf("default idle_after %s", time.Duration(d))
	}
	c, err = Load("linux", missing, false, func(k string) string {
		if k == "STOCKADE_MONITOR_IDLE_AFTER" {
			return "0"
		}
		return ""
	})
	if err != nil || c.Monitor.IdleAfter != 0 {
		t.Errorf("environment 0: %v %v", c.Monitor.IdleAfter, err)
	}
	for value, want := range map[string]string{
		"soon": `environment STOCKADE_MONITOR_IDLE_AFTER: monitor.idle_after: "soon" is not a duration such as 2s or 500ms`,
		"-1s":  `monitor.idle_after: -1s must not be negative (0 never hands over)`,
	} {
		_, err := Load("linux", missing, false, func(k string) string {
			if k == "STOCKADE_MONITOR_IDLE_AFTER" {
				return value
			}
			return ""
		})
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", value, err, want)
		}
	}
}
