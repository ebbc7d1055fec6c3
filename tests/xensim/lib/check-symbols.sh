#!/bin/sh
# Compare the exported symbol@version set (and the version nodes) of each
# drop-in library with the real Debian one.  Skips (77) when the real
# libraries are not installed.
objdump=$1
dir=$2
real=/usr/lib/x86_64-linux-gnu
status=0
checked=0
for l in xendevicemodel xenevtchn xenforeignmemory xengnttab xentoolcore \
	xenstore; do
	case $l in
	xenstore) so=lib$l.so.4 ;;
	*) so=lib$l.so.1 ;;
	esac
	if [ ! -e "$real/$so" ]; then
		continue
	fi
	checked=$((checked + 1))
	syms() {
		"$objdump" -T "$1" | awk 'NF >= 3 && $0 !~ /\*UND\*/ && $NF !~ /^_/ &&
			($(NF-1) ~ /^VERS_/ || $(NF-1) ~ /^\(VERS_/) {
			v = $(NF-1); gsub(/[()]/, "", v); print $NF "@" v }' |
			sort -u
	}
	syms "$real/$so" > "${TMPDIR:-/tmp}/real.$$"
	syms "$dir/$so" > "${TMPDIR:-/tmp}/sim.$$"
	if ! [ -s "${TMPDIR:-/tmp}/real.$$" ]; then
		echo "lib$l: no symbols read from the real library" >&2
		status=1
	elif ! diff -u "${TMPDIR:-/tmp}/real.$$" "${TMPDIR:-/tmp}/sim.$$"; then
		echo "lib$l: exported symbols differ (- real, + drop-in)" >&2
		status=1
	fi
	soname_real=$("$objdump" -p "$real/$so" | awk '/SONAME/ {print $2}')
	soname_sim=$("$objdump" -p "$dir/$so" | awk '/SONAME/ {print $2}')
	if [ "$soname_real" != "$soname_sim" ]; then
		echo "lib$l: soname $soname_sim, want $soname_real" >&2
		status=1
	fi
	if "$objdump" -p "$dir/$so" | grep -q 'NEEDED.*libxen\(call\|toollog\|ctrl\)'; then
		echo "lib$l: links a real Xen library" >&2
		status=1
	fi
done
rm -f "${TMPDIR:-/tmp}/real.$$" "${TMPDIR:-/tmp}/sim.$$"
[ "$checked" -eq 0 ] && exit 77
exit $status
