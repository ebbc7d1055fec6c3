/*
 * pci-scan and pci-setup play the firmware: they enumerate bus 0 through
 * 0xcf8/0xcfc and, for pci-setup, size and place BARs the way Xen's
 * hvmloader does (tools/firmware/hvmloader/pci.c, learnt from, not
 * copied): BARs sorted by size, largest first; memory from the hole
 * [0xf0000000, 0xfc000000), grown downwards by doubling while it stays
 * above guest RAM (xensim never relocates RAM); 64-bit BARs above 4 GiB
 * only when the hole is too small; I/O from 0xc000 to 0xffff; interrupt
 * line from hvmloader's default link routing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "script-internal.h"

#define PCI_MAX_FUNCS  256
#define PCI_MAX_BARS   (PCI_MAX_FUNCS * 6)
#define PCI_HOLE_START 0xf0000000ull /* HVM_BELOW_4G_MMIO_START */
#define PCI_HOLE_END   0xfc000000ull /* PCI_MEM_END */
#define PCI_IO_START   0xc000ull
#define PCI_IO_END     0x10000ull
#define PCI_HIGH_START (1ull << 32)
#define PCI_HIGH_END   (1ull << 46)
#define PCI_CMD_IO     0x1u
#define PCI_CMD_MEM    0x2u
#define PCI_CMD_MASTER 0x4u

/*
 * hvmloader routes PCI-ISA links 0-3 to the IRQs of PCI_ISA_IRQ_MASK
 * (0x0c20: 5, 10, 11) in turn, and INTx pin P (1-4) of slot S to link
 * (P - 1 + S) & 3.
 */
static const uint8_t pci_link_irq[4] = { 5, 10, 11, 5 };

struct pci_func {
	uint32_t sbdf;
	uint16_t vendor, device;
	uint32_t class_code; /* class << 16 | subclass << 8 | prog-if */
	uint8_t decode;	     /* PCI_CMD_* to enable */
};

enum pci_bar_kind { PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
	unsigned func;	/* index into the function list */
	unsigned index; /* BAR 0-5 */
	enum pci_bar_kind kind;
	bool prefetchable;
	uint64_t size;
	uint64_t base;
	bool placed;
};

struct pci_state {
	struct pci_func funcs[PCI_MAX_FUNCS];
	unsigned nfuncs;
	struct pci_bar bars[PCI_MAX_BARS];
	unsigned nbars;
};

/* One config access through 0xcf8/0xcfc; false if the script aborted. */
static bool
pci_cfg(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	uint32_t sbdf, unsigned off, unsigned size, bool is_read, uint64_t *val)
{
	uint64_t cf8 = 0x80000000u | (uint64_t)sbdf << 8 | (off & 0xfc);

	if (!check_status(s, cmd, hv_pio(hv, s->vcpu, 0xcf8, 4, false, &cf8)))
		return false;
	if (!check_status(s, cmd,
			  hv_pio(hv, s->vcpu, (uint16_t)(0xcfc + (off & 3)),
				 size, is_read, val)))
		return false;
	*val &= size_mask(size);
	return true;
}

bool
script_pci_read(struct script *s, struct hv *hv, const struct script_cmd *cmd,
		uint32_t sbdf, unsigned off, unsigned size, uint64_t *val)
{
	*val = 0;
	return pci_cfg(s, hv, cmd, sbdf, off, size, true, val);
}

bool
script_pci_write(struct script *s, struct hv *hv, const struct script_cmd *cmd,
		 uint32_t sbdf, unsigned off, unsigned size, uint64_t val)
{
	return pci_cfg(s, hv, cmd, sbdf, off, size, false, &val);
}

#define pci_read  script_pci_read
#define pci_write script_pci_write

/*
 * Probe one function: present unless vendor:device reads all ones or all
 * zeros in either half (what Linux treats as "no device").
 */
static bool
pci_probe(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	  uint32_t sbdf, struct pci_state *ps, bool *ret_present)
{
	struct pci_func *f = &ps->funcs[ps->nfuncs];
	uint64_t id, cls;

	*ret_present = false;
	if (!pci_read(s, hv, cmd, sbdf, 0x00, 4, &id))
		return false;
	if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0 ||
	    (id >> 16) == 0xffff || (id >> 16) == 0)
		return true;
	if (!pci_read(s, hv, cmd, sbdf, 0x08, 4, &cls))
		return false;
	*f = (struct pci_func){
		.sbdf = sbdf,
		.vendor = (uint16_t)id,
		.device = (uint16_t)(id >> 16),
		.class_code = (uint32_t)(cls >> 8),
	};
	ps->nfuncs++;
	*ret_present = true;
	return true;
}

/* Bus 0, devices 0-31; functions 1-7 only behind a multi-function fn 0. */
static bool
pci_enumerate(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	      struct pci_state *ps)
{
	ps->nfuncs = 0;
	for (unsigned dev = 0; dev < 32; dev++) {
		uint32_t sbdf0 = dev << 3;
		uint64_t hdr;
		bool present;

		if (!pci_probe(s, hv, cmd, sbdf0, ps, &present))
			return false;
		if (!present)
			continue;
		if (!pci_read(s, hv, cmd, sbdf0, 0x0e, 1, &hdr))
			return false;
		if (!(hdr & 0x80))
			continue;
		for (unsigned fn = 1; fn < 8; fn++)
			if (!pci_probe(s, hv, cmd, sbdf0 | fn, ps, &present))
				return false;
	}
	return true;
}

static char *
pci_bdf(uint32_t sbdf, char buf[static 16])
{
	snprintf(buf, 16, "%02x:%02x.%u", (unsigned)(sbdf >> 8) & 0xff,
		 (unsigned)(sbdf >> 3) & 0x1f, (unsigned)sbdf & 7);
	return buf;
}

void
run_pci_scan(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	static struct pci_state ps;
	char list[PCI_MAX_FUNCS * 19 + 1] = "", b[16];
	size_t o = 0;

	if (!pci_enumerate(s, hv, cmd, &ps))
		return;
	for (unsigned i = 0; i < ps.nfuncs; i++) {
		const struct pci_func *f = &ps.funcs[i];

		printf("%s %04x:%04x class %06x\n", pci_bdf(f->sbdf, b),
		       f->vendor, f->device, f->class_code);
		o += (size_t)snprintf(list + o, sizeof(list) - o,
				      "%s%s %04x:%04x", i ? " " : "", b,
				      f->vendor, f->device);
	}
	fflush(stdout);
	if (cmd->has_expect && strcmp(list, cmd->str) != 0)
		fail(s, cmd, "pci-scan == \"%s\", got \"%s\"", cmd->str, list);
}

/*
 * Size BAR `index` of function fi the way firmware does: decode is off
 * (pci-setup cleared it), write all ones, read back, restore.  Adds the
 * BAR to ps->bars in size order (largest first, stable); *ret_skip is
 * true when it used the next register too (64-bit).
 */
static bool
pci_size_bar(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	     struct pci_state *ps, unsigned fi, unsigned index, bool *ret_skip)
{
	uint32_t sbdf = ps->funcs[fi].sbdf;
	unsigned reg = 0x10 + 4 * index;
	uint64_t orig, mask, orig_hi = 0, mask_hi = 0, size;
	struct pci_bar bar = { .func = fi, .index = index };
	unsigned k;

	*ret_skip = false;
	if (!pci_read(s, hv, cmd, sbdf, reg, 4, &orig) ||
	    !pci_write(s, hv, cmd, sbdf, reg, 4, 0xffffffff) ||
	    !pci_read(s, hv, cmd, sbdf, reg, 4, &mask) ||
	    !pci_write(s, hv, cmd, sbdf, reg, 4, orig))
		return false;
	if (orig & 1) {
		bar.kind = PCI_BAR_IO;
		mask &= 0xfffc;
	} else {
		bar.kind = (orig & 6) == 4 ? PCI_BAR_MEM64 : PCI_BAR_MEM32;
		bar.prefetchable = orig & 8;
		mask &= ~0xfull;
	}
	if (bar.kind == PCI_BAR_MEM64 && index < 5) {
		if (!pci_read(s, hv, cmd, sbdf, reg + 4, 4, &orig_hi) ||
		    !pci_write(s, hv, cmd, sbdf, reg + 4, 4, 0xffffffff) ||
		    !pci_read(s, hv, cmd, sbdf, reg + 4, 4, &mask_hi) ||
		    !pci_write(s, hv, cmd, sbdf, reg + 4, 4, orig_hi))
			return false;
		mask |= mask_hi << 32;
		*ret_skip = true;
	} else if (bar.kind == PCI_BAR_MEM64) {
		bar.kind = PCI_BAR_MEM32; /* no room for the upper half */
	}
	size = mask & (~mask + 1); /* lowest writable address bit */
	if (size == 0)
		return true;
	bar.size = size;
	for (k = 0; k < ps->nbars && ps->bars[k].size >= size; k++)
		;
	memmove(&ps->bars[k + 1], &ps->bars[k],
		(ps->nbars - k) * sizeof(ps->bars[0]));
	ps->bars[k] = bar;
	ps->nbars++;
	return true;
}

/* Size every BAR of every function; set the interrupt line. */
static bool
pci_collect(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	    struct pci_state *ps)
{
	ps->nbars = 0;
	for (unsigned fi = 0; fi < ps->nfuncs; fi++) {
		uint32_t sbdf = ps->funcs[fi].sbdf;
		uint64_t command, pin;
		bool skip;

		if (!pci_read(s, hv, cmd, sbdf, 0x04, 2, &command) ||
		    !pci_write(s, hv, cmd, sbdf, 0x04, 2,
			       command & ~(uint64_t)(PCI_CMD_IO | PCI_CMD_MEM)))
			return false;
		for (unsigned index = 0; index < 6; index++) {
			if (!pci_size_bar(s, hv, cmd, ps, fi, index, &skip))
				return false;
			index += skip;
		}
		if (!pci_read(s, hv, cmd, sbdf, 0x3d, 1, &pin))
			return false;
		if (pin >= 1 && pin <= 4 &&
		    !pci_write(s, hv, cmd, sbdf, 0x3c, 1,
			       pci_link_irq[(pin - 1 + (sbdf >> 3)) & 3]))
			return false;
		ps->funcs[fi].decode = PCI_CMD_MASTER;
	}
	return true;
}

struct pci_window {
	uint64_t base, end; /* next free address, first address past */
};

/* Place one BAR at the next aligned address of w; false if it is full. */
static bool
pci_place(struct pci_window *w, struct pci_bar *bar)
{
	uint64_t base = (w->base + bar->size - 1) & ~(bar->size - 1);

	if (base < w->base || base > w->end || bar->size > w->end - base)
		return false;
	bar->base = base;
	w->base = base + bar->size;
	return true;
}

/*
 * First address past guest RAM: RAM is [0, memory) minus the VGA hole,
 * so binary-search the last RAM page above 1 MiB.
 */
static uint64_t
pci_ram_top(struct hv *hv)
{
	uint64_t lo = 0x100000, hi = PCI_HIGH_START; /* lo RAM, hi not */

	if (!hv_guest_ptr(hv, lo, 1))
		return lo;
	while (hi - lo > 4096) {
		uint64_t mid = lo + (hi - lo) / 2;

		mid &= ~4095ull;
		if (hv_guest_ptr(hv, mid, 1))
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

static bool
pci_assign(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   struct pci_state *ps)
{
	struct pci_window low = { PCI_HOLE_START, PCI_HOLE_END };
	struct pci_window high = { PCI_HIGH_START, PCI_HIGH_END };
	struct pci_window io = { PCI_IO_START, PCI_IO_END };
	uint64_t ram_top = pci_ram_top(hv);
	uint64_t mmio_total = 0;
	bool relocate;

	for (unsigned k = 0; k < ps->nbars; k++)
		if (ps->bars[k].kind != PCI_BAR_IO)
			mmio_total += ps->bars[k].size;
	/*
	 * Grow the hole downwards as hvmloader does (its start shifted left
	 * in 32 bits: 0xf0000000, 0xe0000000, 0xc0000000, 0x80000000) while
	 * it stays above RAM.
	 */
	while (mmio_total > low.end - low.base) {
		uint64_t next = (low.base << 1) & 0xffffffffull;

		if (next == 0 || next >= low.base || next < ram_top)
			break;
		low.base = next;
	}
	relocate = mmio_total > low.end - low.base;
	for (unsigned k = 0; k < ps->nbars; k++) {
		struct pci_bar *bar = &ps->bars[k];
		struct pci_func *f = &ps->funcs[bar->func];
		struct pci_window *w = &io;
		unsigned reg = 0x10 + 4 * bar->index;
		uint64_t flags = bar->kind == PCI_BAR_IO ?
					 1 :
					 (bar->kind == PCI_BAR_MEM64 ? 4 : 0) |
						 (bar->prefetchable ? 8 : 0);

		if (bar->kind != PCI_BAR_IO) {
			w = bar->kind == PCI_BAR_MEM64 && relocate &&
					    mmio_total > low.end - low.base ?
				    &high :
				    &low;
			mmio_total -= bar->size;
		}
		if (!pci_place(w, bar))
			continue; /* no space: left unassigned */
		bar->placed = true;
		if (!pci_write(s, hv, cmd, f->sbdf, reg, 4,
			       (bar->base & 0xffffffffull) | flags))
			return false;
		if (bar->kind == PCI_BAR_MEM64 &&
		    !pci_write(s, hv, cmd, f->sbdf, reg + 4, 4,
			       bar->base >> 32))
			return false;
		f->decode |= bar->kind == PCI_BAR_IO ? PCI_CMD_IO : PCI_CMD_MEM;
	}
	return true;
}

static void
pci_print_bar(const struct pci_state *ps, const struct pci_bar *bar)
{
	static const char *const kinds[] = { "io", "mem32", "mem64" };
	char b[16];

	if (!bar->placed) {
		printf("%s BAR%u %s%s no space size 0x%" PRIx64 "\n",
		       pci_bdf(ps->funcs[bar->func].sbdf, b), bar->index,
		       kinds[bar->kind], bar->prefetchable ? ",pf" : "",
		       bar->size);
		return;
	}
	printf("%s BAR%u %s%s 0x%" PRIx64 " size 0x%" PRIx64 "\n",
	       pci_bdf(ps->funcs[bar->func].sbdf, b), bar->index,
	       kinds[bar->kind], bar->prefetchable ? ",pf" : "", bar->base,
	       bar->size);
}

void
run_pci_setup(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	static struct pci_state ps;

	if (!pci_enumerate(s, hv, cmd, &ps) || !pci_collect(s, hv, cmd, &ps) ||
	    !pci_assign(s, hv, cmd, &ps))
		return;
	/* Decode and bus mastering on, once every BAR is in place. */
	for (unsigned fi = 0; fi < ps.nfuncs; fi++) {
		uint64_t command;

		if (!pci_read(s, hv, cmd, ps.funcs[fi].sbdf, 0x04, 2,
			      &command) ||
		    !pci_write(s, hv, cmd, ps.funcs[fi].sbdf, 0x04, 2,
			       command | ps.funcs[fi].decode))
			return;
	}
	/* Report in function and BAR order. */
	for (unsigned fi = 0; fi < ps.nfuncs; fi++)
		for (unsigned index = 0; index < 6; index++)
			for (unsigned k = 0; k < ps.nbars; k++)
				if (ps.bars[k].func == fi &&
				    ps.bars[k].index == index)
					pci_print_bar(&ps, &ps.bars[k]);
	fflush(stdout);
}
