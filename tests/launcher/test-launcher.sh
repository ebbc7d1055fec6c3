#!/bin/sh
# The xl launcher (systemd/ioreqd-guest) against a fake xl, systemctl and
# xenstore-watch (fake/): the order of what it does to a guest's domains
# and to ioreqd@GUEST, for each way a guest can end.
#   test-launcher.sh LAUNCHER
set -u
LAUNCHER=$1
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PATH=$HERE/fake:$PATH
export PATH
failures=0

# A fresh fake host with guest g1 whose cfg has the lines given.
setup() {
	FAKE=$TMP/$1
	shift
	mkdir -p "$FAKE/etc" "$FAKE/run"
	: >"$FAKE/log"
	: >"$FAKE/fates"
	echo inactive >"$FAKE/ioreqd"
	{
		echo 'name = "g1"'
		echo 'type = "pvh"'
		for l in "$@"; do echo "$l"; done
	} >"$FAKE/etc/g1.cfg"
	IOREQD_XEN_CFGDIR=$FAKE/etc
	IOREQD_RUNDIR=$FAKE/run
	IOREQD_GUEST_SHUTDOWN_TIMEOUT=1
	IOREQD_GUEST_DUMPDIR=$FAKE/dump
	export FAKE IOREQD_XEN_CFGDIR IOREQD_RUNDIR \
		IOREQD_GUEST_SHUTDOWN_TIMEOUT IOREQD_GUEST_DUMPDIR
}

fates() {
	for f in "$@"; do echo "$f"; done >"$FAKE/fates"
}

fail() {
	echo "FAIL: $name: $*"
	failures=$((failures + 1))
}

# The log must be exactly the expected lines (given as arguments).
expect_log() {
	for l in "$@"; do echo "$l"; done >"$FAKE/expected"
	if ! diff -u "$FAKE/expected" "$FAKE/log" >"$FAKE/diff"; then
		fail "calls differ from the expected ones:"
		cat "$FAKE/diff"
	fi
	if grep -q UNSERVED "$FAKE/log"; then
		fail "a domain was unpaused before ioreqd served it"
	fi
}

expect_status() {
	[ "$1" = "$2" ] || fail "exit status $2, expected $1"
}

expect_no_env() {
	[ ! -e "$FAKE/run/g1.env" ] || fail "g1.env left behind"
}

CFG() { echo "xl create -p -e $FAKE/etc/g1.cfg"; }

name=reboot-then-poweroff
setup $name
fates reboot poweroff
"$LAUNCHER" run g1 2>"$FAKE/stderr"
expect_status 0 $?
expect_log "$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=5" \
	"xl unpause 5" \
	"xl destroy 5" \
	"systemctl stop ioreqd@g1.service" \
	"$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=6" \
	"xl unpause 6" \
	"xl destroy 6" \
	"systemctl stop ioreqd@g1.service"
expect_no_env

name=crash-restart
setup $name 'on_crash = "restart"'
fates crash poweroff
"$LAUNCHER" run g1 2>"$FAKE/stderr"
expect_status 0 $?
expect_log "$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=5" \
	"xl unpause 5" \
	"xl destroy 5" \
	"systemctl stop ioreqd@g1.service" \
	"$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=6" \
	"xl unpause 6" \
	"xl destroy 6" \
	"systemctl stop ioreqd@g1.service"

name=crash-coredump-restart
setup $name "on_crash='coredump-restart'"
fates crash poweroff
"$LAUNCHER" run g1 2>"$FAKE/stderr"
expect_status 0 $?
expect_log "$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=5" \
	"xl unpause 5" \
	"xl dump-core 5 $FAKE/dump/g1" \
	"xl destroy 5" \
	"systemctl stop ioreqd@g1.service" \
	"$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=6" \
	"xl unpause 6" \
	"xl destroy 6" \
	"systemctl stop ioreqd@g1.service"

name=crash-default-destroy
setup $name
fates crash
"$LAUNCHER" run g1 2>"$FAKE/stderr"
expect_status 0 $?
expect_log "$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=5" \
	"xl unpause 5" \
	"xl destroy 5" \
	"systemctl stop ioreqd@g1.service"

name=crash-preserve
setup $name 'on_crash = "preserve"'
fates crash
"$LAUNCHER" run g1 2>"$FAKE/stderr"
expect_status 0 $?
expect_log "$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=5" \
	"xl unpause 5" \
	"systemctl stop ioreqd@g1.service"
[ -e "$FAKE/dom/5" ] || fail "the preserved domain was destroyed"
expect_no_env
# ExecStop after the launcher ended: the preserved domain stays.
"$LAUNCHER" stop g1 2>>"$FAKE/stderr"
[ -e "$FAKE/dom/5" ] || fail "stop destroyed the preserved domain"

name=reboot-destroy
setup $name 'on_reboot = "destroy"'
fates reboot
"$LAUNCHER" run g1 2>"$FAKE/stderr"
expect_status 0 $?
expect_log "$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=5" \
	"xl unpause 5" \
	"xl destroy 5" \
	"systemctl stop ioreqd@g1.service"

name=ioreqd-fails
setup $name
fates poweroff
: >"$FAKE/ioreqd-fails"
"$LAUNCHER" run g1 2>"$FAKE/stderr"
expect_status 1 $?
expect_log "$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=5" \
	"xl destroy 5" \
	"systemctl stop ioreqd@g1.service"
expect_no_env

name=create-fails
setup $name
: >"$FAKE/create-fails"
"$LAUNCHER" run g1 2>"$FAKE/stderr"
expect_status 1 $?
expect_log

name=name-mismatch
setup $name
sed -i 's/^name = .*/name = "other"/' "$FAKE/etc/g1.cfg"
"$LAUNCHER" run g1 2>"$FAKE/stderr"
expect_status 1 $?
expect_log
grep -q 'must have name = "g1"' "$FAKE/stderr" ||
	fail "no word on the name mismatch"

name=bad-guest-name
setup $name
"$LAUNCHER" run "../g1" 2>"$FAKE/stderr"
expect_status 2 $?
expect_log

# systemctl stop ioreqd-guest@g1: ExecStop shuts the running guest down;
# the launcher, woken by the shutdown, sees it is stopping and ends
# without creating another domain.
stop_case() {
	"$LAUNCHER" run g1 2>"$FAKE/stderr" &
	pid=$!
	i=0
	while ! grep -q "xl unpause 5" "$FAKE/log" && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	"$LAUNCHER" stop g1 2>>"$FAKE/stderr"
	expect_status 0 $?
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	if kill -0 $pid 2>/dev/null; then
		fail "the launcher did not end after stop"
		kill $pid
	fi
	wait $pid
	expect_status 0 $?
}

name=stop
setup $name
fates run
stop_case
expect_log "$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=5" \
	"xl unpause 5" \
	"xl shutdown -w -F 5" \
	"xl destroy 5" \
	"systemctl stop --no-block ioreqd@g1.service"
expect_no_env

name=stop-deaf-guest
setup $name
fates deaf
stop_case
expect_log "$(CFG)" \
	"systemctl start ioreqd@g1.service IOREQD_DOMID=5" \
	"xl unpause 5" \
	"xl shutdown -w -F 5" \
	"xl destroy 5" \
	"systemctl stop --no-block ioreqd@g1.service"
grep -q "no clean shutdown of domain 5 in time" "$FAKE/stderr" ||
	fail "no word on the timeout"

if [ $failures -ne 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
echo "all launcher cases passed"
