package layer

import "golang.org/x/sys/unix"

// errNoAttr is the error of reading an xattr that is not there.
const errNoAttr = unix.ENOATTR
