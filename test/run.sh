#!/bin/sh
# The README's test command: installs what is missing, then runs lint,
# cross builds and every test (make test).
set -eu
cd "$(dirname "$0")/.."
./test/install-deps.sh
MAKE=make
[ "$(uname -s)" = FreeBSD ] && MAKE=gmake
exec $MAKE test
