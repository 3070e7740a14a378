// Package build builds OCI images from a Containerfile (Dockerfile syntax)
// for `stockade build`: the file is parsed with buildkit's Dockerfile
// parser, each RUN runs in a container of the stage so far through the
// engine, each step that changes files commits a layer, and a cache keyed
// by the parent image and the step's inputs lets an unchanged rebuild
// reuse every step.
package build

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// File is a parsed Containerfile.
type File struct {
	// Name is the file's name as the user gave it, for messages.
	Name string
	// Escape is the escape character (the `# escape=` directive).
	Escape rune
	// MetaArgs are the ARGs before the first FROM.
	MetaArgs []instructions.ArgCommand
	// Stages are the FROM sections in order.
	Stages []instructions.Stage
}

// ParseError is a Containerfile that cannot be built: the file, the line
// and the reason.
type ParseError struct {
	File   string
	Line   int
	Reason string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason)
}

// Parse parses a Containerfile. Errors are *ParseError.
func Parse(name string, data []byte) (*File, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, &ParseError{File: name, Line: errorLine(err), Reason: reason(err)}
	}
	f := &File{Name: name, Escape: res.EscapeToken}
	for _, n := range res.AST.Children {
		perr := func(err error) error {
			return &ParseError{File: name, Line: n.StartLine, Reason: reason(err)}
		}
		v, err := instructions.ParseInstruction(n)
		if err != nil {
			return nil, perr(err)
		}
		switch c := v.(type) {
		case *instructions.Stage:
			f.Stages = append(f.Stages, *c)
		case *instructions.ArgCommand:
			if len(f.Stages) == 0 {
				f.MetaArgs = append(f.MetaArgs, *c)
				continue
			}
			f.Stages[len(f.Stages)-1].AddCommand(c)
		case instructions.Command:
			if len(f.Stages) == 0 {
				return nil, perr(fmt.Errorf("%s before the first FROM", strings.ToUpper(c.Name())))
			}
			if err := supported(c); err != nil {
				return nil, perr(err)
			}
			f.Stages[len(f.Stages)-1].AddCommand(c)
		default:
			return nil, perr(fmt.Errorf("%T is not an instruction", v))
		}
	}
	if len(f.Stages) == 0 {
		return nil, &ParseError{File: name, Reason: "no FROM instruction"}
	}
	return f, nil
}

// supported refuses what parses but stockade does not build.
func supported(c instructions.Command) error {
	switch c := c.(type) {
	case *instructions.RunCommand:
		for _, fl := range c.FlagsUsed {
			if fl != "network" {
				return fmt.Errorf("RUN --%s is not supported", fl)
			}
		}
		if len(c.Files) > 0 {
			return errors.New("RUN with a here-document is not supported")
		}
	case *instructions.CopyCommand:
		if len(c.SourceContents) > 0 {
			return errors.New("COPY of a here-document is not supported")
		}
		if c.Link || c.Parents || len(c.ExcludePatterns) > 0 {
			return errors.New("COPY --link, --parents and --exclude are not supported")
		}
	case *instructions.AddCommand:
		if len(c.SourceContents) > 0 {
			return errors.New("ADD of a here-document is not supported")
		}
		if c.Link || c.Checksum != "" || len(c.ExcludePatterns) > 0 || c.KeepGitDir != nil {
			return errors.New("ADD --link, --checksum, --exclude and --keep-git-dir are not supported")
		}
	}
	return nil
}

// errorLine is the first line an error of the parser names, or 0.
func errorLine(err error) int {
	var le *parser.LocationError
	if errors.As(err, &le) {
		for _, loc := range le.Locations {
			for _, r := range loc {
				if r.Start.Line > 0 {
					return r.Start.Line
				}
			}
		}
	}
	return 0
}

// reason is the innermost message of a parser error, without the
// parser's own "line N" prefixes (the ParseError says where).
func reason(err error) string {
	for {
		var le *parser.LocationError
		if errors.As(err, &le) && le.Unwrap() != nil {
			err = le.Unwrap()
			continue
		}
		return err.Error()
	}
}
