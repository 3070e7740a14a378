// Package deps pins modules that packages in progress import, so that
// concurrent work does not race on go.mod. It is removed once they do.
package deps

import (
	_ "github.com/cyphar/filepath-securejoin"
	_ "github.com/moby/buildkit/frontend/dockerfile/instructions"
	_ "github.com/moby/buildkit/frontend/dockerfile/parser"
	_ "github.com/moby/buildkit/frontend/dockerfile/shell"
	_ "github.com/moby/patternmatcher"
	_ "github.com/moby/profiles/seccomp"
)
