#!/bin/sh
# The README's test command: installs what is missing, then runs lint,
# cross builds and every test (make test), and ends with the counts:
# the last line reads "N passed, N failed, N skipped".
#
# test/run.sh --summary DIR: the summary alone, from the test2json files
# (*.json) and the failed-steps file that `make test` leaves in DIR.
set -eu
cd "$(dirname "$0")/.."

summary() {
	dir=$1
	set -- "$dir"/*.json
	[ -e "$1" ] || set --
	{
		# The steps of make test that failed (lint, a build, a VM that did not boot).
		[ ! -s "$dir/failed-steps" ] || sed 's/^/STEP /' "$dir/failed-steps"
		[ $# -eq 0 ] || cat "$@"
	} | awk '
	function field(name,    m) {
		if (!match($0, "\"" name "\":\"([^\"\\\\]|\\\\.)*\"")) return ""
		m = substr($0, RSTART + length(name) + 4, RLENGTH - length(name) - 5)
		gsub(/\\n/, " ", m); gsub(/\\t/, " ", m); gsub(/\\"/, "\"", m); gsub(/\\\\/, "\\", m)
		gsub(/\\u003c/, "<", m); gsub(/\\u003e/, ">", m); gsub(/\\u0026/, "\\&", m)
		return m
	}
	function short(p) { sub(/^github\.com\/stockade\/stockade\//, "", p); return p }
	/^STEP / { steps[++nsteps] = substr($0, 6); next }
	{
		action = field("Action"); pkg = short(field("Package")); test = field("Test")
		key = pkg " " test
		if (action == "output" && test != "") {
			out = field("Output"); sub(/^ +/, "", out); sub(/ +$/, "", out)
			if (length(out) > 110) out = substr(out, 1, 107) "..."
			if (out != "" && out !~ /^(=== |--- )/) why[key] = out
			next
		}
		if (test == "") {
			if (action == "fail") pkgfail[pkg] = 1
			if (action == "fail" || action == "pass" || action == "skip") seen[pkg] = 1
			next
		}
		seen[pkg] = 1
		if (action == "pass") { pass++; npass[pkg]++ }
		else if (action == "fail") { fail++; nfail[pkg]++; failed[++nf] = pkg "." test }
		else if (action == "skip") { skip++; nskip[pkg]++; skipped[++ns] = pkg "." test (why[key] != "" ? ": " why[key] : "") }
	}
	END {
		for (p in pkgfail) if (!nfail[p]) { fail++; failed[++nf] = p " (the package failed outside any test: build, TestMain, panic or VM)" }
		print ""
		print "==================== test summary ===================="
		if (ns) {
			print "Skipped tests:"
			for (i = 1; i <= ns; i++) print "  SKIP " skipped[i]
		}
		n = 0
		for (p in seen) if (nskip[p] && !npass[p] && !nfail[p] && !pkgfail[p]) allskip[++n] = p " (" nskip[p] " tests)"
		if (n) {
			print "Packages whose every test was skipped (they did NOT pass):"
			for (i = 1; i <= n; i++) print "  SKIP " allskip[i]
		}
		for (i = 1; i <= nsteps; i++) { fail++; failed[++nf] = "step " steps[i] }
		if (pass + fail + skip == 0) { fail++; failed[++nf] = "no test results were recorded" }
		if (nf) {
			print "FAILED:"
			for (i = 1; i <= nf; i++) print "  FAIL " failed[i]
		}
		printf "%d passed, %d failed, %d skipped\n", pass, fail, skip
		exit (fail > 0)
	}'
}

if [ "${1:-}" = --summary ]; then
	summary "${2:?usage: test/run.sh --summary DIR}"
	exit $?
fi

if ! ./test/install-deps.sh; then
	echo "FAILED: test/install-deps.sh; no test ran" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
MAKE=make
[ "$(uname -s)" = FreeBSD ] && MAKE=gmake
results="$PWD/dist/test-results"
rc=0
$MAKE test RESULTS="$results" TEST_SUMMARY=no || rc=$?
summary "$results" || [ "$rc" -ne 0 ] || rc=1
exit "$rc"
