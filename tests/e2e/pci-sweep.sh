#!/bin/sh
# Hostile-guest sweep of PCI configuration space through the real daemon:
# writes of every size (1, 2, 4) with all-ones, zeros and a pattern to every
# offset 0-255 of every function (BARs, command, MSI and MSI-X included).
# ioreqd must keep serving, and read-only fields must not change.
#   pci-sweep.sh RUN_XSIM XENSIM XENSIM_FLOOR
# (IOREQD in the environment, as for every e2e test.)
set -eu
runner=$1 xensim=$2 floor=$3
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/e2e-sweep.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$src/ioreqd-model.sh" "$src/pci-irq.yaml" "$work/"
script=$work/pci-sweep.xsim

# fields a guest cannot change: offset, width, expected value
read_only() {	# sbdf
	cat <<RO
cfgreadl $1 0x00 == 0x00021b36
cfgreadl $1 0x08 == 0x07000201
cfgreadb $1 0x0e == 0x00
cfgreadl $1 0x2c == 0x11001af4
cfgreadl $1 0x30 == 0
cfgreadb $1 0x3d == 1
RO
}

{
	echo '#! model: "$XSIM_SRC/ioreqd-model.sh" pci-irq.yaml'
	echo 'pci-setup'
	for f in 00:04.0 00:05.0 00:06.0; do
		read_only $f
		for value in 0xffffffff 0 0xa5a5a5a5; do
			off=0
			while [ $off -lt 256 ]; do
				echo "cfgwriteb $f $off $((value & 0xff))"
				echo "cfgwritew $f $off $((value & 0xffff))"
				echo "cfgwritel $f $off $value"
				off=$((off + 1))
			done
		done
		read_only $f
	done
	# still serving: enumeration and a UART behind a BAR placed again
	echo 'pci-scan == "00:04.0 1b36:0002 00:05.0 1b36:0002 00:06.0 1b36:0002"'
	echo 'pci-setup'
	echo 'outb 0xc007 0x5a'
	echo 'inb 0xc007 == 0x5a'
	echo 'inb 0xc005 == 0x60'
} > "$script"
sh "$runner" "$xensim" "$floor" "$script"
