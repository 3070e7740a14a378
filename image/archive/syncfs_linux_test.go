package archive

import "golang.org/x/sys/unix"

func syncfs(fd int) { unix.Syncfs(fd) }
