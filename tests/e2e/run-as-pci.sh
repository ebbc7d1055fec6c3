#!/bin/sh
# Runs an ISA UART e2e script against a pci-serial function instead: the
# same 16550 expectations, with the UART behind BAR0 (placed at 0xc000 by
# pci-setup) and its interrupt on INTx A of 00:05.0 instead of ISA IRQ 4.
#   run-as-pci.sh RUN_XSIM XENSIM XENSIM_FLOOR SCRIPT.xsim
# The script's config X.yaml is replaced by pci-X.yaml.
set -eu
runner=$1 xensim=$2 floor=$3 script=$4
src=$(cd "$(dirname "$script")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/e2e-pci.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$src/ioreqd-model.sh" "$src"/pci-*.yaml "$work/"
name=pci-$(basename "$script")
# COM1's ports 0x3f8-0x3ff become 0xc000-0xc007 (through 0xc008-0xc00f)
sed -e 's/0x3f\([89a-f]\)/0xc00\1/g' \
    -e 's/expect-irq isa 4/expect-intx 00:05.0 A/' \
    -e 's/\([a-z-]*\)\.yaml$/pci-\1.yaml/' \
    -e '0,/^[a-z]/s/^\([a-z]\)/pci-setup\n\1/' \
    "$script" |
sed -e 's/0xc008/0xc000/g; s/0xc009/0xc001/g; s/0xc00a/0xc002/g' \
    -e 's/0xc00b/0xc003/g; s/0xc00c/0xc004/g; s/0xc00d/0xc005/g' \
    -e 's/0xc00e/0xc006/g; s/0xc00f/0xc007/g' > "$work/$name"
sh "$runner" "$xensim" "$floor" "$work/$name"
