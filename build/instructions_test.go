package build

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// applyAll parses a stage's instructions and applies them with applyMeta.
func applyAll(t *testing.T, s *stage, lines string) {
	t.Helper()
	f, err := Parse("Containerfile", []byte("FROM x\n"+lines))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range f.Stages[0].Commands {
		expand := p.expandWith(envMap(s.env()))
		if e, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			if err := e.Expand(expand); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.applyMeta(cmd, expand); err != nil || !ok {
			t.Fatalf("%s: %v %v", codeOf(cmd), ok, err)
		}
	}
}

func TestApplyMeta(t *testing.T) {
	s := &stage{args: map[string]string{"V": "1", "PATH": "argpath"}}
	s.cfg.Config.Env = []string{"PATH=/bin", "KEEP=k"}
	s.cfg.Config.Cmd = []string{"inherited"}
	applyAll(t, s, `ENV PATH=/usr/bin:$PATH A=$V
LABEL version=$V "two words"="x y"
EXPOSE 80 8000-8002/udp
VOLUME /data ["/logs"]
ENTRYPOINT ["/bin/app"]
USER app:staff
SHELL ["/bin/bash", "-c"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s CMD curl -f http://localhost/
ONBUILD COPY . /src
`)
	c := s.cfg.Config
	if want := []string{"PATH=/usr/bin:/bin", "KEEP=k", "A=1"}; !reflect.DeepEqual(c.Env, want) {
		t.Errorf("Env %v, want %v (ENV over ARG, replaced in place)", c.Env, want)
	}
	if want := map[string]string{"version": "1", "two words": "x y"}; !reflect.DeepEqual(c.Labels, want) {
		t.Errorf("Labels %v", c.Labels)
	}
	if len(c.ExposedPorts) != 4 {
		t.Errorf("ExposedPorts %v", c.ExposedPorts)
	}
	for _, p := range []string{"80/tcp", "8000/udp", "8002/udp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("ExposedPorts lack %s: %v", p, c.ExposedPorts)
		}
	}
	if len(c.Volumes) != 2 {
		t.Errorf("Volumes %v", c.Volumes)
	}
	if c.Cmd != nil || !reflect.DeepEqual(c.Entrypoint, []string{"/bin/app"}) {
		t.Errorf("ENTRYPOINT after an inherited CMD: Entrypoint %v Cmd %v (the CMD must go)", c.Entrypoint, c.Cmd)
	}
	if c.User != "app:staff" || c.StopSignal != "SIGQUIT" || !reflect.DeepEqual(c.Shell, []string{"/bin/bash", "-c"}) {
		t.Errorf("User %q StopSignal %q Shell %v", c.User, c.StopSignal, c.Shell)
	}
	if c.Healthcheck == nil || c.Healthcheck.Test[0] != "CMD-SHELL" || c.Healthcheck.Interval.Seconds() != 5 {
		t.Errorf("Healthcheck %+v", c.Healthcheck)
	}
	if !reflect.DeepEqual(c.OnBuild, []string{"COPY . /src"}) {
		t.Errorf("OnBuild %q", c.OnBuild)
	}
	// The shell form goes through SHELL; CMD set in the stage survives a
	// later ENTRYPOINT.
	applyAll(t, s, "CMD echo hi\nENTRYPOINT [\"/e\"]\n")
	if want := []string{"/bin/bash", "-c", "echo hi"}; !reflect.DeepEqual(s.cfg.Config.Cmd, want) {
		t.Errorf("Cmd %v, want %v", s.cfg.Config.Cmd, want)
	}
	if got := s.runEnv(); !reflect.DeepEqual(got, []string{"V=1"}) {
		t.Errorf("runEnv %v: the ARGs no ENV overrides", got)
	}
}

func TestExposedPortsErrors(t *testing.T) {
	for _, in := range []string{"abc", "80/xyz", "0", "90-80", "70000"} {
		if _, err := exposedPorts(in); err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("EXPOSE %s: %v", in, err)
		}
	}
}
