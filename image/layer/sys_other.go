//go:build !linux && !freebsd

package layer

import (
	"errors"
	"io/fs"
)

var errUnsupported = errors.New("layer: not supported on this operating system")

func lstat(string) (meta, error)                        { return meta{}, errUnsupported }
func fstat(int) (meta, error)                           { return meta{}, errUnsupported }
func major(uint64) uint32                               { return 0 }
func minor(uint64) uint32                               { return 0 }
func readXattrs(string, int) (map[string]string, error) { return nil, nil }
func overlayOpaque(string) bool                         { return false }

func isNotDir(error) bool { return false }

const oNoFollow = 0

func fileMeta(fs.FileInfo) (meta, error) { return meta{}, errUnsupported }
