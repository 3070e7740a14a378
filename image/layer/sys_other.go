//go:build !linux && !freebsd

package layer

import "errors"

var errUnsupported = errors.New("layer: not supported on this operating system")

func lstat(string) (meta, error)                        { return meta{}, errUnsupported }
func fstat(int) (meta, error)                           { return meta{}, errUnsupported }
func major(uint64) uint32                               { return 0 }
func minor(uint64) uint32                               { return 0 }
func readXattrs(string, int) (map[string]string, error) { return nil, nil }
func overlayRedirect(string) string                     { return "" }
func overlayOpaque(string) bool                         { return false }

func isNotDir(error) bool { return false }

func fstatat(int, string) (meta, error)      { return meta{}, errUnsupported }
func openRootDir(string) (int, error)        { return -1, errUnsupported }
func openDirAt(int, string) (int, error)     { return -1, errUnsupported }
func openFileAt(int, string) (int, error)    { return -1, errUnsupported }
func readlinkAt(int, string) (string, error) { return "", errUnsupported }
func readFd(int, []byte) (int, error)        { return 0, errUnsupported }
func closeFd(int) error                      { return nil }
