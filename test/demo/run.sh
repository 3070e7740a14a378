#!/bin/sh
# The README's demo command: installs what is missing, builds stockade and
# runs the whole pipeline against a registry on loopback.
set -eu
cd "$(dirname "$0")/../.."
./test/install-deps.sh
MAKE=make; [ "$(uname -s)" = FreeBSD ] && MAKE=gmake
$MAKE build
exec go run ./test/demo -stockade bin/stockade "$@"
