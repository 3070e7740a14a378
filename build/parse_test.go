package build

import (
	"errors"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		line       int
		reason     string
	}{
		{"unknown instruction", "FROM busybox\nRUN true\nFOO bar\n", 3, "unknown instruction: FOO"},
		{"before FROM", "ENV A=1\nFROM busybox\n", 1, "ENV before the first FROM"},
		{"empty", "# nothing\n", 1, "file with no instructions"},
		{"no FROM", "ARG X=1\n", 0, "no FROM instruction"},
		{"bad FROM", "FROM a b\n", 1, "FROM requires either one or three arguments"},
		{"RUN --mount", "FROM a\nRUN --mount=type=cache,target=/x true\n", 2, "RUN --mount is not supported"},
		{"COPY no dest", "FROM a\nCOPY x\n", 2, "COPY requires at least two arguments"},
		{"heredoc", "FROM a\nRUN <<EOF\necho hi\nEOF\n", 2, "here-document"},
		{"bad EXPOSE flag", "FROM a\nEXPOSE --x 80\n", 2, "unknown flag: --x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("Containerfile", []byte(tc.file))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want a *ParseError", err, err)
			}
			if pe.Line != tc.line || !strings.Contains(pe.Reason, tc.reason) {
				t.Fatalf("got line %d reason %q, want line %d and %q", pe.Line, pe.Reason, tc.line, tc.reason)
			}
			if pe.File != "Containerfile" || !strings.HasPrefix(err.Error(), "Containerfile:") {
				t.Fatalf("error %q does not start with the file", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is more than one line", err)
			}
		})
	}
}

func TestParseStages(t *testing.T) {
	f, err := Parse("Dockerfile", []byte(`ARG BASE=busybox
FROM $BASE AS one
ARG X
RUN echo $X
FROM scratch
COPY --from=one /bin/sh /sh
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.MetaArgs) != 1 || len(f.Stages) != 2 || f.Stages[0].Name != "one" || len(f.Stages[0].Commands) != 2 {
		t.Fatalf("parsed %+v", f)
	}
	if _, ok := f.Stages[1].Commands[0].(*instructions.CopyCommand); !ok {
		t.Fatalf("stage 1 command 0 is %T", f.Stages[1].Commands[0])
	}
}

func TestPlanTargetAndArgs(t *testing.T) {
	f, err := Parse("Containerfile", []byte(`ARG V=1
ARG IMG=img:$V
FROM $IMG AS a
RUN a
FROM scratch AS unused
RUN b
FROM a AS b
COPY --from=a / /
FROM scratch AS last
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(f, Options{Target: "b", BuildArgs: map[string]string{"V": "2", "NOPE": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.bases[0]; got != "img:2" {
		t.Errorf("FROM expanded to %q, want img:2 (--build-arg over the default)", got)
	}
	if len(p.needed) != 2 || p.needed[0] != 0 || p.needed[1] != 2 {
		t.Errorf("needed stages %v, want [0 2]", p.needed)
	}
	if p.steps != 4 {
		t.Errorf("steps %d, want 4", p.steps)
	}
	if u := p.unusedArgs(); len(u) != 1 || u[0] != "NOPE" {
		t.Errorf("unused args %v, want [NOPE]", u)
	}
	if _, err := newPlan(f, Options{Target: "nosuch"}); err == nil || !strings.Contains(err.Error(), "--target nosuch") {
		t.Errorf("unknown target: %v", err)
	}
}
