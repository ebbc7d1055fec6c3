#!/bin/sh
# Deep-nesting test: run-deep-nest.sh CHECKER [ARGS...]
# writes "devices: " and 80,000 "[" then 80,000 "]" (160 kB, within the
# 1 MB size cap) to a temporary file and runs "CHECKER ARGS FILE".  It must
# fail with exactly the nesting error at the 64th "[" (column 73: level 65,
# the top-level mapping being level 1).  Reading the whole nest costs
# libyaml time quadratic in its depth (tens of seconds here), so the meson
# timeout is what catches a checker that does not stop at the limit.
set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 CHECKER [ARGS...]" >&2
	exit 2
fi
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
f=$tmp/deep.yaml
levels=80000

{
	printf 'devices: '
	head -c $levels /dev/zero | tr '\0' '['
	head -c $levels /dev/zero | tr '\0' ']'
	printf '\n'
} >"$f" || exit 2

"$@" "$f" >"$tmp/out" 2>"$tmp/err"
rc=$?
expected="$f:1:73: lists and mappings nested more than 64 deep"
if [ $rc -eq 0 ]; then
	echo "FAIL: exit status 0, expected failure"
	exit 1
fi
if [ "$(cat "$tmp/err")" != "$expected" ]; then
	echo "FAIL: stderr is not \"$expected\":"
	sed 's/^/    /' "$tmp/err" | head -n 5
	exit 1
fi
echo "PASS: $levels levels rejected at level 65"
