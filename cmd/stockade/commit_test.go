package main

import (
	"reflect"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestApplyChanges(t *testing.T) {
	base := func() ocispec.ImageConfig {
		return ocispec.ImageConfig{
			Env:        []string{"PATH=/bin", "HOME=/root"},
			Cmd:        []string{"sh"},
			WorkingDir: "/srv",
			Labels:     map[string]string{"old": "1"},
		}
	}
	for _, tc := range []struct {
		name    string
		changes []string
		check   func(c ocispec.ImageConfig) bool
	}{
		{"cmd exec form", []string{`CMD ["echo", "hi"]`}, func(c ocispec.ImageConfig) bool {
			return reflect.DeepEqual(c.Cmd, []string{"echo", "hi"})
		}},
		{"cmd shell form", []string{`CMD echo $HOME`}, func(c ocispec.ImageConfig) bool {
			return reflect.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", "echo $HOME"})
		}},
		{"entrypoint drops the inherited cmd", []string{`ENTRYPOINT ["/bin/app"]`}, func(c ocispec.ImageConfig) bool {
			return reflect.DeepEqual(c.Entrypoint, []string{"/bin/app"}) && c.Cmd == nil
		}},
		{"entrypoint keeps a cmd of the changes", []string{`CMD ["-v"]`, `ENTRYPOINT ["/bin/app"]`}, func(c ocispec.ImageConfig) bool {
			return reflect.DeepEqual(c.Cmd, []string{"-v"}) && reflect.DeepEqual(c.Entrypoint, []string{"/bin/app"})
		}},
		{"env expands and replaces", []string{`ENV PATH=$PATH:/opt NEW="a b"`}, func(c ocispec.ImageConfig) bool {
			return reflect.DeepEqual(c.Env, []string{"PATH=/bin:/opt", "HOME=/root", "NEW=a b"})
		}},
		{"label", []string{`LABEL a=b "c d"=e`}, func(c ocispec.ImageConfig) bool {
			return reflect.DeepEqual(c.Labels, map[string]string{"old": "1", "a": "b", "c d": "e"})
		}},
		{"expose", []string{`EXPOSE 80 53/udp`}, func(c ocispec.ImageConfig) bool {
			return reflect.DeepEqual(c.ExposedPorts, map[string]struct{}{"80/tcp": {}, "53/udp": {}})
		}},
		{"volume", []string{`VOLUME ["/data", "/logs"]`}, func(c ocispec.ImageConfig) bool {
			return reflect.DeepEqual(c.Volumes, map[string]struct{}{"/data": {}, "/logs": {}})
		}},
		{"workdir relative", []string{`WORKDIR app`, `WORKDIR ../x`}, func(c ocispec.ImageConfig) bool {
			return c.WorkingDir == "/srv/x"
		}},
		{"workdir expands", []string{`WORKDIR $HOME/w`}, func(c ocispec.ImageConfig) bool {
			return c.WorkingDir == "/root/w"
		}},
		{"user and stopsignal", []string{`USER 1000:1000`, `STOPSIGNAL SIGINT`}, func(c ocispec.ImageConfig) bool {
			return c.User == "1000:1000" && c.StopSignal == "SIGINT"
		}},
		{"lower-case instruction", []string{`cmd ["x"]`}, func(c ocispec.ImageConfig) bool {
			return reflect.DeepEqual(c.Cmd, []string{"x"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmds, err := parseChanges(tc.changes)
			if err != nil {
				t.Fatal(err)
			}
			cfg := base()
			before := base()
			if err := applyChanges(&cfg, cmds); err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Errorf("%q gave %+v", tc.changes, cfg)
			}
			if b := base(); !reflect.DeepEqual(b.Labels, before.Labels) {
				t.Errorf("the base config's labels changed: %v", b.Labels)
			}
		})
	}
}

func TestParseChangesErrors(t *testing.T) {
	for _, tc := range []struct{ change, want string }{
		{"RUN echo hi", "RUN is not supported"},
		{"FROM busybox", "FROM is not supported"},
		{"COPY a b", "COPY is not supported"},
		{"HEALTHCHECK NONE", "HEALTHCHECK is not supported"},
		{"NOPE x", "NOPE is not supported"},
		{"", `--change ""`},
		{"CMD a\nCMD b", "want exactly one instruction"},
		{"ENV", `"ENV"`},
		{"STOPSIGNAL", `"STOPSIGNAL"`},
	} {
		_, err := parseChanges([]string{tc.change})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("parseChanges(%q) = %v, want one line with %q", tc.change, err, tc.want)
		}
	}
	cmds, err := parseChanges([]string{"EXPOSE eighty"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ocispec.ImageConfig{}
	if err := applyChanges(&cfg, cmds); err == nil || !strings.Contains(err.Error(), "EXPOSE eighty") {
		t.Errorf("EXPOSE eighty: %v", err)
	}
}
