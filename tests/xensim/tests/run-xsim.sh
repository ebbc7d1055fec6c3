#!/bin/sh
# Run one test script of xensim's own suite.
#
#   run-xsim.sh XENSIM XENSIM_FLOOR SCRIPT.xsim
#
# Directives are comment lines of the script starting with "#!":
#   #! floor: ARGS          arguments of xensim-floor (may repeat)
#   #! xensim: ARGS         extra xensim options (may repeat)
#   #! model: COMMAND       device model command instead of xensim-floor
#                           (shell words; $XSIM_FLOOR and $XSIM_TMP usable)
#   #! stdin                pass the script on standard input (SCRIPT "-")
#   #! expect-status: N     xensim must exit with N (default 0, or 1 when
#                           expect-fail is given)
#   #! expect-fail: TEXT    stderr must contain TEXT (may repeat)
#   #! expect-stdout: TEXT  stdout must contain TEXT (may repeat)
#   #! expect-not-started   the model must never have run
#   #! expect-trace: TEXT   the --trace file must contain TEXT
#   #! needs: PROGRAM       skip (77) unless PROGRAM is installed
# "@TMP@" in the script and in directives is replaced by a fresh
# temporary directory.  Exit 0 pass, 1 fail, 77 skip.
set -u

abspath() {
	case $1 in
	/*) echo "$1" ;;
	*) echo "$(pwd)/$1" ;;
	esac
}
XENSIM=$(abspath "$1")
XSIM_FLOOR=$(abspath "$2")
SCRIPT=$(abspath "$3")
NAME=$(basename "$SCRIPT")
XSIM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/xsim.XXXXXX") || exit 1
XSIM_SRC=$(cd "$(dirname "$SCRIPT")" && pwd)
export XSIM_FLOOR XSIM_TMP XSIM_SRC
trap 'rm -rf "$XSIM_TMP"' EXIT

directive() {
	sed -n "s|^#! $1:[[:space:]]*||p" "$SCRIPT" | sed "s|@TMP@|$XSIM_TMP|g"
}
has() {
	grep -q "^#! $1\$" "$SCRIPT"
}

for prog in $(directive needs); do
	command -v "$prog" >/dev/null 2>&1 || { echo "SKIP: no $prog"; exit 77; }
done

# the script keeps its name (messages say NAME:LINE) in the temp dir
mkdir "$XSIM_TMP/s"
sed "s|@TMP@|$XSIM_TMP|g" "$SCRIPT" > "$XSIM_TMP/s/$NAME"
RUN_SCRIPT=$XSIM_TMP/s/$NAME

FLOOR_ARGS=$(directive floor | tr '\n' ' ')
XENSIM_ARGS=$(directive xensim | tr '\n' ' ')
MODEL=$(directive model)
[ -n "$MODEL" ] || MODEL="\"\$XSIM_FLOOR\" $FLOOR_ARGS"
if has expect-not-started; then
	MODEL="sh -c 'touch \"\$XSIM_TMP/started\"; exec \"\$XSIM_FLOOR\"'"
fi

expect_fail=$(directive expect-fail)
want_status=$(directive expect-status)
if [ -z "$want_status" ]; then
	if [ -n "$expect_fail" ]; then want_status=1; else want_status=0; fi
fi

cd "$XSIM_TMP/s" || exit 1
if has stdin; then
	eval "\"\$XENSIM\" $XENSIM_ARGS - -- $MODEL" \
		< "$RUN_SCRIPT" > "$XSIM_TMP/xensim.stdout" 2> "$XSIM_TMP/xensim.stderr"
else
	eval "\"\$XENSIM\" $XENSIM_ARGS \"\$NAME\" -- $MODEL" \
		< /dev/null > "$XSIM_TMP/xensim.stdout" 2> "$XSIM_TMP/xensim.stderr"
fi
status=$?

ok=true
complain() {
	echo "FAIL: $*"
	ok=false
}
[ "$status" = "$want_status" ] ||
	complain "xensim exited with $status, expected $want_status"
directive expect-fail > "$XSIM_TMP/want-err"
while IFS= read -r text; do
	[ -n "$text" ] || continue
	grep -qF -- "$text" "$XSIM_TMP/xensim.stderr" ||
		complain "stderr lacks: $text"
done < "$XSIM_TMP/want-err"
directive expect-stdout > "$XSIM_TMP/want-out"
while IFS= read -r text; do
	[ -n "$text" ] || continue
	grep -qF -- "$text" "$XSIM_TMP/xensim.stdout" ||
		complain "stdout lacks: $text"
done < "$XSIM_TMP/want-out"
# sanitizer reports from xensim or the model fail the test even when
# the sanitizer was told not to abort
if grep -qE "runtime error:|(Address|Leak|Undefined)Sanitizer" \
	"$XSIM_TMP/xensim.stderr"; then
	complain "sanitizer report on stderr"
fi
if has expect-not-started && [ -e "$XSIM_TMP/started" ]; then
	complain "the device model was started"
fi
trace_want=$(directive expect-trace)
if [ -n "$trace_want" ]; then
	grep -qF -- "$trace_want" "$XSIM_TMP/trace" 2>/dev/null ||
		complain "trace lacks: $trace_want"
fi
if ! $ok; then
	echo "--- command: xensim $XENSIM_ARGS $NAME -- $MODEL"
	echo "--- stdout:"; cat "$XSIM_TMP/xensim.stdout"
	echo "--- stderr:"; cat "$XSIM_TMP/xensim.stderr"
	exit 1
fi
cat "$XSIM_TMP/xensim.stdout"
echo "PASS: $NAME"
exit 0
