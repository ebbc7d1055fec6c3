/*
 * Table of the ranges Xen 4.17 handles itself (see xen-reserved.h).  Each
 * entry names the file whose register_portio_handler() or
 * register_mmio_handler() call claims it, so the table can be re-checked
 * against a newer Xen.  Deliberately absent:
 *  - 0xcf8: Xen snoops 4-byte writes to the PCI address latch but still
 *    forwards them, so an IOREQ server does see the accesses;
 *  - the VGA sequencer/graphics ports (0x3c4, 0x3ce): stdvga.c watches them
 *    but forwards every access to the device model;
 *  - the ACPI PM1a control block (+4 from the event block): pmtimer.c
 *    registers two handlers around it precisely because the device model
 *    (QEMU) handles it; GPE0 likewise.
 * The ACPI blocks exist at two addresses: V0 (0x1f40, Xen's historical
 * default) and V1 (0xb000, what current firmware selects through
 * HVM_PARAM_ACPI_IOPORTS_LOCATION); Xen moves its handlers between them, so
 * both are rejected.  Addresses: xen/include/public/hvm/ioreq.h.
 */
#include "config/xen-reserved.h"

#include "lib/range.h"

#define PORT(b, s, n, src)                                         \
	{                                                          \
		.space = CFG_SPACE_PORT, .base = (b), .size = (s), \
		.name = (n), .source = (src)                       \
	}
#define MMIO(b, s, n, src)                                         \
	{                                                          \
		.space = CFG_SPACE_MMIO, .base = (b), .size = (s), \
		.name = (n), .source = (src)                       \
	}

const struct xen_reserved xen_reserved_ranges[] = {
	PORT(0x20, 2, "PIC master", "xen/arch/x86/hvm/vpic.c"),
	PORT(0x40, 4, "PIT", "xen/arch/x86/emul-i8254.c"),
	PORT(0x61, 1, "PC speaker port", "xen/arch/x86/emul-i8254.c"),
	PORT(0x70, 2, "RTC", "xen/arch/x86/hvm/rtc.c"),
	PORT(0xa0, 2, "PIC slave", "xen/arch/x86/hvm/vpic.c"),
	PORT(0xe9, 1, "debug console", "xen/arch/x86/hvm/hvm.c"),
	PORT(0x4d0, 2, "ELCR", "xen/arch/x86/hvm/vpic.c"),
	/* PM1a_STS + PM1a_EN (2 + 2 bytes), then the 4-byte PM timer. */
	PORT(0x1f40, 4, "ACPI PM1a event block, V0",
	     "xen/arch/x86/hvm/pmtimer.c"),
	PORT(0x1f48, 4, "ACPI PM timer, V0", "xen/arch/x86/hvm/pmtimer.c"),
	PORT(0xb000, 4, "ACPI PM1a event block, V1",
	     "xen/arch/x86/hvm/pmtimer.c"),
	PORT(0xb008, 4, "ACPI PM timer, V1", "xen/arch/x86/hvm/pmtimer.c"),
	/* VIOAPIC_MEM_LENGTH */
	MMIO(0xfec00000, 0x100, "IOAPIC", "xen/arch/x86/hvm/vioapic.c"),
	/* HPET_MMAP_SIZE */
	MMIO(0xfed00000, 0x400, "HPET", "xen/arch/x86/hvm/hpet.c"),
	/* One page at the default APIC base (guests may move it; rare). */
	MMIO(0xfee00000, 0x1000, "LAPIC", "xen/arch/x86/hvm/vlapic.c"),
};

const size_t xen_reserved_count = sizeof(xen_reserved_ranges) /
				  sizeof(xen_reserved_ranges[0]);

const struct xen_reserved *
xen_reserved_next(enum cfg_space space, uint64_t base, uint64_t size,
		  const struct xen_reserved *prev)
{
	size_t i = prev ? (size_t)(prev - xen_reserved_ranges) + 1 : 0;
	/* Inclusive last address, saturated, so 2^64 wrap cannot hide one. */
	uint64_t last = range_fits(base, size) ? base + (size - 1) : UINT64_MAX;

	if (size == 0)
		return NULL;
	for (; i < xen_reserved_count; i++) {
		const struct xen_reserved *x = &xen_reserved_ranges[i];

		if (x->space != space)
			continue;
		if (base <= x->base + (x->size - 1) && x->base <= last)
			return x;
	}
	return NULL;
}
