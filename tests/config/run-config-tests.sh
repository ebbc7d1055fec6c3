#!/bin/sh
# Golden tests for configuration checking.
#   run-config-tests.sh CHECKER [ARGS...]
# runs "CHECKER ARGS FILE" from this directory for
#   - every pass-*.yaml: must exit 0 and print exactly "configuration OK";
#   - every fail-*.err: FILE is the matching fail-*.yaml (it may not exist,
#     or be a directory, on purpose); must exit non-zero with stderr
#     byte-identical to the .err file.
# Prints one line per failure, then "N passed, N failed"; exits 1 on any
# failure.
set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 CHECKER [ARGS...]" >&2
	exit 2
fi
checker=$1
shift
case $checker in
/*) ;;
*/*) checker=$(pwd)/$checker ;;
esac

cd "$(dirname "$0")" || exit 2
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0

fail() {
	echo "FAIL: $1: $2"
	failed=$((failed + 1))
}

for f in pass-*.yaml; do
	[ -e "$f" ] || continue
	"$checker" "$@" "$f" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$f" "exit status $rc, expected 0; stderr:"
		sed 's/^/    /' "$tmp/err"
	elif [ "$(cat "$tmp/out")" != "configuration OK" ]; then
		fail "$f" "stdout is not \"configuration OK\":"
		sed 's/^/    /' "$tmp/out"
	else
		passed=$((passed + 1))
	fi
done

for e in fail-*.err; do
	[ -e "$e" ] || continue
	f=${e%.err}.yaml
	"$checker" "$@" "$f" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -eq 0 ]; then
		fail "$f" "exit status 0, expected failure"
	elif ! cmp -s "$e" "$tmp/err"; then
		fail "$f" "stderr differs from $e (- expected, + actual):"
		diff -u "$e" "$tmp/err" | tail -n +3 | sed 's/^/    /'
	else
		passed=$((passed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
