//go:build freebsd

package freebsd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildStk is the shared stockade installation (the base image imported)
// without the network tests' pf set-up: builds run with no network.
func buildStk(t *testing.T) *stk {
	t.Helper()
	setup(t)
	netSuite.once.Do(func() { netSuite.err = prepareNetSuite() })
	if netSuite.err != nil {
		t.Fatal(netSuite.err)
	}
	s := &stk{t: t, pfx: "b"}
	t.Cleanup(func() {
		for _, id := range strings.Fields(s.run("ps", "-a", "-q").stdout) {
			s.run("rm", "-f", id)
		}
	})
	return s
}

// TestBuild builds a small image from the FreeBSD base: each RUN in a
// jail of the stage so far, its changes (a new file, a deletion: a
// whiteout) committed as layers; the image runs and reads back what the
// steps made; an unchanged rebuild gives the same id; a failing RUN names
// its step and leaves no container (no jail) behind.
func TestBuild(t *testing.T) {
	s := buildStk(t)
	ctx := t.TempDir()
	containerfile := "FROM " + netSuite.ref + `
ARG MSG=hello
ENV GREETING=$MSG
WORKDIR /app
COPY hello.txt ./
RUN echo "$GREETING from a jail" > made.txt && rm -f /etc/motd.template && mkdir /var/db/built
CMD ["/bin/sh", "-c", "cat /app/hello.txt /app/made.txt; test -e /etc/motd.template || echo motd-gone; test -d /var/db/built && echo dir-made"]
`
	for name, data := range map[string]string{"Containerfile": containerfile, "hello.txt": "copied\n"} {
		if err := os.WriteFile(filepath.Join(ctx, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := s.must("build", "--format", "json", "-t", "localhost/stockade-it/built:1", "--build-arg", "MSG=hi", ctx).stdout
	var res struct {
		ID    string `json:"id"`
		Steps []struct {
			Instruction string `json:"instruction"`
			Cached      bool   `json:"cached"`
			Layer       bool   `json:"layer"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("build --format json: %v\n%s", err, out)
	}
	layers := 0
	for _, st := range res.Steps {
		if st.Layer {
			layers++
		}
	}
	if len(res.Steps) != 7 || layers != 3 {
		t.Errorf("steps %+v: want 7 steps, 3 of them layers (WORKDIR, COPY, RUN)", res.Steps)
	}
	got := s.must("run", "--rm", "--network", "none", "localhost/stockade-it/built:1").stdout
	if want := "copied\nhi from a jail\nmotd-gone\ndir-made\n"; got != want {
		t.Errorf("the built image printed %q, want %q", got, want)
	}
	again := strings.TrimSpace(s.must("build", "-q", "-t", "localhost/stockade-it/built:1", "--build-arg", "MSG=hi", ctx).stdout)
	if again != res.ID {
		t.Errorf("unchanged rebuild: %s, first %s", again, res.ID)
	}

	if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte("FROM "+netSuite.ref+"\nRUN exit 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := s.run("build", ctx)
	if r.err == nil || !strings.Contains(r.stderr, "step 2/2 RUN exit 4: exit code 4") {
		t.Errorf("failing RUN: %v", r)
	}
	if ids := strings.TrimSpace(s.must("ps", "-a", "-q").stdout); ids != "" {
		t.Errorf("containers left by the failed build: %s", ids)
	}
	if r := s.run("system", "check"); r.err != nil {
		t.Errorf("system check after the failed build: %v", r)
	}
}
