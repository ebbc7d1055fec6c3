#!/bin/sh
# The device model command of an e2e test: writes the test's YAML (with
# @TMP@ replaced by the test's temporary directory) and execs the real
# ioreqd on it, so that xensim's SIGTERM reaches ioreqd itself.
#   ioreqd-model.sh CONFIG.yaml [extra ioreqd options]
# Environment: IOREQD (the binary), XSIM_SRC, XSIM_TMP (from run-xsim.sh).
set -eu
cfg=$XSIM_TMP/$(basename "$1")
sed "s|@TMP@|$XSIM_TMP|g" "$XSIM_SRC/$1" > "$cfg"
shift
exec "$IOREQD" --domid "${XSIM_DOMID:-1}" --config "$cfg" "$@"
