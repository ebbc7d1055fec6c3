/*
 * Generic PCI function: type 0 configuration header, BARs and decode,
 * capability list, INTx, MSI and MSI-X (see pci.h for the model and what is
 * left out).
 *
 * Every config write goes through the per-byte masks first; side effects
 * come afterwards from comparing the registers before and after, so a
 * guest gets the same result whatever width or alignment it uses (a 1-byte
 * write to the high byte of MSI-X message control enables MSI-X exactly as
 * a 2-byte write does).
 *
 * Three deliberate choices:
 * - I/O BARs have a 32-bit writable address, as QEMU's do, so the sizing
 *   handshake (all ones) produces an address above 64 KiB that is simply
 *   not decoded, instead of claiming the top of port space.
 * - A 64-bit BAR decodes only below 2^52 (x86's widest physical address),
 *   so a half-programmed BAR (high dword all ones during sizing) is not
 *   decoded rather than claiming ranges at the top of the space.
 * - MSI/MSI-X messages do not check COMMAND.MASTER: firmware and test
 *   scripts in the field enable MSI without it, and the message is what the
 *   guest asked for either way.
 */
#include "devices/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* MSI capability (PCIe 4.0 §7.7.1): offsets from the capability start. */
#define MSI_CTRL	   2
#define MSI_CTRL_ENABLE	   0x0001u /* RW */
#define MSI_CTRL_MMC_SHIFT 1	   /* RO, 3 bits */
#define MSI_CTRL_MME_SHIFT 4	   /* RW, 3 bits */
#define MSI_CTRL_MME_MASK  0x0070u
#define MSI_CTRL_64BIT	   0x0080u /* RO */
#define MSI_CTRL_MASKABLE  0x0100u /* RO */
#define MSI_ADDR_LO	   4	   /* RW, bits 1:0 RO 0 */
#define MSI_ADDR_HI	   8	   /* 64-bit only */

/* MSI-X capability (§7.7.2) and table entry layout. */
#define MSIX_CTRL	   2
#define MSIX_CTRL_FMASK	   0x4000u /* RW: function mask */
#define MSIX_CTRL_ENABLE   0x8000u /* RW */
#define MSIX_TABLE	   4	   /* RO: offset | BIR */
#define MSIX_PBA	   8	   /* RO: offset | BIR */
#define MSIX_CAP_LEN	   12
#define MSIX_ENTRY_ADDR_LO 0
#define MSIX_ENTRY_ADDR_HI 1
#define MSIX_ENTRY_DATA	   2
#define MSIX_ENTRY_CTRL	   3 /* bit 0: vector masked */
#define MSIX_ENTRY_DWORDS  4

/*
 * Highest byte a 64-bit BAR may decode: x86's architectural maximum
 * physical address (52 bits).  A guest cannot reach anything above it, and
 * the halves of a 64-bit BAR being sized or reprogrammed one dword at a
 * time (high dword all ones) would otherwise claim ranges near the top.
 */
#define PCI_MEM64_LIMIT ((UINT64_C(1) << 52) - 1)

/* ---- image helpers ---- */

static void
set_byte(uint8_t *a, unsigned off, uint8_t v)
{
	a[off] = v;
}

static void
set_word(uint8_t *a, unsigned off, uint16_t v)
{
	a[off] = (uint8_t)v;
	a[off + 1] = (uint8_t)(v >> 8);
}

static void
set_long(uint8_t *a, unsigned off, uint32_t v)
{
	set_word(a, off, (uint16_t)v);
	set_word(a, off + 2, (uint16_t)(v >> 16));
}

static bool
is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* Does the access [offset, offset + size) touch [base, base + len)? */
static bool
touches(unsigned offset, unsigned size, unsigned base, unsigned len)
{
	return offset < base + len && base < offset + size;
}

static void
warn(struct pci_function *pf, const char *what, int r)
{
	log_ratelimited(&pf->rl, LOG_LEVEL_WARNING, "%s: %s failed: %s",
			pf->dev->id, what, strerror(-r));
}

/* ---- set-up ---- */

void
pci_function_init(struct pci_function *pf, struct device *dev,
		  const struct pci_ids *ids)
{
	memset(pf, 0, sizeof(*pf));
	pf->dev = dev;
	dev->pci = pf;
	pf->cap_next = PCI_CAP_FIRST;

	set_word(pf->cfg, PCI_VENDOR_ID, ids->vendor_id);
	set_word(pf->cfg, PCI_DEVICE_ID, ids->device_id);
	set_byte(pf->cfg, PCI_REVISION_ID, ids->revision);
	set_byte(pf->cfg, PCI_CLASS_PROG, (uint8_t)ids->class_code);
	set_word(pf->cfg, PCI_CLASS_PROG + 1, (uint16_t)(ids->class_code >> 8));
	set_byte(pf->cfg, PCI_HEADER_TYPE,
		 ids->multi_function ? PCI_HEADER_TYPE_MULTI : 0);
	set_word(pf->cfg, PCI_SUBSYSTEM_VENDOR_ID, ids->subsystem_vendor_id);
	set_word(pf->cfg, PCI_SUBSYSTEM_ID, ids->subsystem_id);
	set_byte(pf->cfg, PCI_INTERRUPT_PIN,
		 ids->interrupt_pin <= 4 ? ids->interrupt_pin : 0);

	set_word(pf->wmask, PCI_COMMAND,
		 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			 PCI_COMMAND_INTX_DISABLE);
	set_word(pf->w1cmask, PCI_STATUS, PCI_STATUS_ERRORS);
	set_byte(pf->wmask, PCI_CACHE_LINE_SIZE, 0xff);
	set_byte(pf->wmask, PCI_INTERRUPT_LINE, 0xff);
}

void
pci_function_fini(struct pci_function *pf)
{
	if (!pf)
		return;
	free(pf->msix.table);
	free(pf->msix.pba);
	pf->msix.table = NULL;
	pf->msix.pba = NULL;
	pf->msix.cap = 0;
}

static bool
bar_size_valid(enum pci_bar_type type, uint64_t size)
{
	if (!is_pow2(size))
		return false;
	switch (type) {
	case PCI_BAR_IO:
		return size >= 4 && size <= 256;
	case PCI_BAR_MEM32:
		return size >= 16 && size <= (UINT64_C(1) << 31);
	case PCI_BAR_MEM64:
		return size >= 16 && size <= (UINT64_C(1) << 63);
	default:
		return false;
	}
}

int
pci_add_bar(struct pci_function *pf, unsigned index, enum pci_bar_type type,
	    uint64_t size, bool prefetchable, unsigned access_sizes)
{
	struct device *dev = pf->dev;
	unsigned off = PCI_BAR0 + 4 * index;
	uint64_t addr_mask = ~(size - 1);
	uint32_t low = 0;

	if (index >= PCI_BAR_COUNT || !bar_size_valid(type, size) ||
	    pf->bars[index].type != PCI_BAR_NONE ||
	    (index > 0 && pf->bars[index - 1].type == PCI_BAR_MEM64) ||
	    (type == PCI_BAR_MEM64 &&
	     (index + 1 >= PCI_BAR_COUNT ||
	      pf->bars[index + 1].type != PCI_BAR_NONE)) ||
	    (type == PCI_BAR_IO && prefetchable))
		return -EINVAL;

	if (type == PCI_BAR_IO) {
		low = PCI_BAR_IO_BIT;
		set_long(pf->wmask, off, (uint32_t)addr_mask & ~UINT32_C(3));
	} else {
		low = (type == PCI_BAR_MEM64 ? PCI_BAR_MEM_64 : 0) |
		      (prefetchable ? PCI_BAR_MEM_PREFETCH : 0);
		set_long(pf->wmask, off, (uint32_t)addr_mask & ~UINT32_C(0xf));
		if (type == PCI_BAR_MEM64)
			set_long(pf->wmask, off + 4,
				 (uint32_t)(addr_mask >> 32));
	}
	set_long(pf->cfg, off, low);
	pf->bars[index] = (struct pci_bar){
		.type = type,
		.prefetchable = prefetchable,
		.size = size,
	};
	dev->regions[index] = (struct device_region){
		.space = type == PCI_BAR_IO ? BUS_SPACE_PORT : BUS_SPACE_MMIO,
		.base = 0,
		.size = 0,
		.access_sizes = access_sizes,
	};
	if (dev->region_count < index + 1)
		dev->region_count = index + 1;
	return 0;
}

int
pci_add_capability(struct pci_function *pf, uint8_t id, unsigned len)
{
	unsigned off = (pf->cap_next + 3) & ~3u;

	if (len < 2)
		return -EINVAL;
	if (off >= PCI_CONFIG_SPACE_SIZE || len > PCI_CONFIG_SPACE_SIZE - off)
		return -ENOSPC;
	pf->cfg[off] = id;
	pf->cfg[off + 1] = 0;
	if (pf->cap_last)
		pf->cfg[pf->cap_last + 1] = (uint8_t)off;
	else
		pf->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	set_word(pf->cfg, PCI_STATUS,
		 pci_get_word(pf, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	pf->cap_last = off;
	pf->cap_next = off + len;
	return (int)off;
}

/* ---- MSI ---- */

static unsigned
msi_data_off(const struct pci_function *pf)
{
	return pf->msi.cap + (pf->msi.is64 ? 12 : 8);
}

static unsigned
msi_mask_off(const struct pci_function *pf)
{
	return pf->msi.cap + (pf->msi.is64 ? 16 : 12);
}

static unsigned
msi_pending_off(const struct pci_function *pf)
{
	return msi_mask_off(pf) + 4;
}

static unsigned
log2_u(unsigned v)
{
	unsigned r = 0;

	while (v > 1) {
		v >>= 1;
		r++;
	}
	return r;
}

int
pci_msi_init(struct pci_function *pf, unsigned vectors, bool is64,
	     bool maskable)
{
	unsigned len = is64 ? (maskable ? 24 : 14) : (maskable ? 20 : 10);
	uint16_t ctrl;
	int off;

	if (!is_pow2(vectors) || vectors > PCI_MSI_MAX_VECTORS)
		return -EINVAL;
	if (pf->msi.cap)
		return -EEXIST;
	off = pci_add_capability(pf, PCI_CAP_ID_MSI, len);
	if (off < 0)
		return off;
	pf->msi = (struct pci_msi){
		.cap = (unsigned)off,
		.vectors = vectors,
		.is64 = is64,
		.maskable = maskable,
	};
	ctrl = (uint16_t)(log2_u(vectors) << MSI_CTRL_MMC_SHIFT);
	if (is64)
		ctrl |= MSI_CTRL_64BIT;
	if (maskable)
		ctrl |= MSI_CTRL_MASKABLE;
	set_word(pf->cfg, off + MSI_CTRL, ctrl);
	set_word(pf->wmask, off + MSI_CTRL,
		 MSI_CTRL_ENABLE | MSI_CTRL_MME_MASK);
	set_long(pf->wmask, off + MSI_ADDR_LO, ~UINT32_C(3));
	if (is64)
		set_long(pf->wmask, off + MSI_ADDR_HI, UINT32_MAX);
	set_word(pf->wmask, msi_data_off(pf), 0xffff);
	if (maskable)
		set_long(pf->wmask, msi_mask_off(pf),
			 vectors == 32 ? UINT32_MAX :
					 (UINT32_C(1) << vectors) - 1);
	return off;
}

bool
pci_msi_enabled(const struct pci_function *pf)
{
	return pf->msi.cap &&
	       (pci_get_word(pf, pf->msi.cap + MSI_CTRL) & MSI_CTRL_ENABLE);
}

/* Vectors the guest enabled (Multiple Message Enable, clamped on write). */
static unsigned
msi_enabled_count(const struct pci_function *pf)
{
	uint16_t ctrl = pci_get_word(pf, pf->msi.cap + MSI_CTRL);

	return 1u << ((ctrl & MSI_CTRL_MME_MASK) >> MSI_CTRL_MME_SHIFT);
}

static int
send_msi(struct pci_function *pf, uint64_t addr, uint32_t data)
{
	const struct device_services *svc = pf->dev->svc;
	int r;

	pf->stats.msi_sent++;
	if (!svc || !svc->send_msi)
		return 0;
	r = svc->send_msi(svc->opaque, addr, data);
	if (r < 0)
		warn(pf, "sending an MSI", r);
	return r;
}

static int
msi_send_vector(struct pci_function *pf, unsigned vector)
{
	unsigned cap = pf->msi.cap;
	unsigned count = msi_enabled_count(pf);
	uint64_t addr = pci_get_long(pf, cap + MSI_ADDR_LO);
	uint32_t data = pci_get_word(pf, msi_data_off(pf));

	if (pf->msi.is64)
		addr |= (uint64_t)pci_get_long(pf, cap + MSI_ADDR_HI) << 32;
	/* the low log2(count) bits of the data carry the vector number */
	data = (data & ~(count - 1)) | vector;
	return send_msi(pf, addr, data);
}

int
pci_msi_notify(struct pci_function *pf, unsigned vector)
{
	uint32_t mask, pending;

	if (!pci_msi_enabled(pf))
		return -ENODEV;
	if (vector >= msi_enabled_count(pf)) {
		pf->stats.msi_dropped++;
		return -EINVAL;
	}
	if (pf->msi.maskable) {
		mask = pci_get_long(pf, msi_mask_off(pf));
		if (mask & (UINT32_C(1) << vector)) {
			pending = pci_get_long(pf, msi_pending_off(pf));
			set_long(pf->cfg, msi_pending_off(pf),
				 pending | UINT32_C(1) << vector);
			pf->stats.msi_masked++;
			return 0;
		}
	}
	return msi_send_vector(pf, vector);
}

/* After a control write: keep MME within what the device has. */
static void
msi_ctrl_written(struct pci_function *pf)
{
	unsigned off = pf->msi.cap + MSI_CTRL;
	uint16_t ctrl = pci_get_word(pf, off);
	unsigned mme = (ctrl & MSI_CTRL_MME_MASK) >> MSI_CTRL_MME_SHIFT;
	unsigned mmc = log2_u(pf->msi.vectors);

	if (mme > mmc) {
		ctrl = (uint16_t)((ctrl & ~MSI_CTRL_MME_MASK) |
				  mmc << MSI_CTRL_MME_SHIFT);
		set_word(pf->cfg, off, ctrl);
	}
}

/* Vectors unmasked by a mask-register write go out if pending. */
static void
msi_deliver_pending(struct pci_function *pf)
{
	uint32_t mask, pending;
	unsigned count;

	if (!pf->msi.maskable || !pci_msi_enabled(pf))
		return;
	mask = pci_get_long(pf, msi_mask_off(pf));
	pending = pci_get_long(pf, msi_pending_off(pf));
	count = msi_enabled_count(pf);
	for (unsigned v = 0; v < count; v++) {
		uint32_t bit = UINT32_C(1) << v;

		if ((pending & bit) && !(mask & bit)) {
			pending &= ~bit;
			set_long(pf->cfg, msi_pending_off(pf), pending);
			(void)msi_send_vector(pf, v);
		}
	}
}

/* ---- MSI-X ---- */

static uint32_t
msix_pba_size(const struct pci_msix *m)
{
	return ((m->vectors + 63) / 64) * 8;
}

int
pci_msix_init(struct pci_function *pf, unsigned vectors, unsigned bar,
	      uint32_t table_offset, uint32_t pba_offset)
{
	struct pci_msix *m = &pf->msix;
	uint64_t table_size = (uint64_t)vectors * PCI_MSIX_ENTRY_SIZE;
	uint64_t pba_size = ((vectors + 63) / 64) * 8;
	uint64_t bar_size;
	int off;

	if (vectors == 0 || vectors > PCI_MSIX_MAX_VECTORS ||
	    bar >= PCI_BAR_COUNT ||
	    (pf->bars[bar].type != PCI_BAR_MEM32 &&
	     pf->bars[bar].type != PCI_BAR_MEM64) ||
	    (table_offset & 7) || (pba_offset & 7))
		return -EINVAL;
	if (m->cap)
		return -EEXIST;
	bar_size = pf->bars[bar].size;
	if (table_offset > bar_size || table_size > bar_size - table_offset ||
	    pba_offset > bar_size || pba_size > bar_size - pba_offset ||
	    (pba_offset < table_offset + table_size &&
	     table_offset < pba_offset + pba_size))
		return -EINVAL;
	m->table = calloc((size_t)vectors * MSIX_ENTRY_DWORDS,
			  sizeof(m->table[0]));
	m->pba = calloc((vectors + 63) / 64, sizeof(m->pba[0]));
	if (!m->table || !m->pba) {
		pci_function_fini(pf);
		return -ENOMEM;
	}
	off = pci_add_capability(pf, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
	if (off < 0) {
		pci_function_fini(pf);
		return off;
	}
	m->cap = (unsigned)off;
	m->vectors = vectors;
	m->bar = bar;
	m->table_offset = table_offset;
	m->pba_offset = pba_offset;
	for (unsigned v = 0; v < vectors; v++)
		m->table[v * MSIX_ENTRY_DWORDS + MSIX_ENTRY_CTRL] = 1;
	set_word(pf->cfg, off + MSIX_CTRL, (uint16_t)(vectors - 1));
	set_word(pf->wmask, off + MSIX_CTRL,
		 MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
	set_long(pf->cfg, off + MSIX_TABLE, table_offset | bar);
	set_long(pf->cfg, off + MSIX_PBA, pba_offset | bar);
	return off;
}

static uint16_t
msix_ctrl(const struct pci_function *pf)
{
	return pci_get_word(pf, pf->msix.cap + MSIX_CTRL);
}

bool
pci_msix_enabled(const struct pci_function *pf)
{
	return pf->msix.cap && (msix_ctrl(pf) & MSIX_CTRL_ENABLE);
}

const char *
pci_interrupt_mode(const struct pci_function *pf)
{
	if (pci_msix_enabled(pf))
		return "msix";
	if (pci_msi_enabled(pf))
		return "msi";
	if (pf->cfg[PCI_INTERRUPT_PIN] == 0 ||
	    (pci_get_word(pf, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE))
		return "none";
	return "intx";
}

/*
 * An MSI message whose vector (data bits 0-7) is 0 is a Xen pirq: Linux in
 * an HVM guest (arch/x86/pci/xen.c) gets a pirq from Xen, writes its
 * number into the address's destination id with vector 0, and masks it
 * through the pirq's event channel only (pci_msi_ignore_mask): it never
 * clears the entry's mask bit, which stays at its reset value, masked.
 * Xen's hvm_inject_msi takes vector 0 for such a pirq.  Honouring the bit
 * would hold every interrupt of such a guest in the PBA for ever, so it is
 * not looked at for these entries (QEMU under Xen does the same).  The
 * function mask still applies: Linux clears it once set up.
 */
static bool
msi_is_xen_pirq(uint64_t addr, uint32_t data)
{
	/* Xen's reading: the pirq is address bits 32-63 (but the low 8)
	 * and the destination id, bits 12-19; 0 is no pirq. */
	uint64_t pirq = ((addr >> 32) & 0xffffff00u) | ((addr >> 12) & 0xffu);

	return (addr & 0xfff00000u) == 0xfee00000u && !(data & 0xffu) && pirq;
}

static bool
msix_masked(const struct pci_function *pf, unsigned v)
{
	const uint32_t *e = &pf->msix.table[v * MSIX_ENTRY_DWORDS];
	uint64_t addr = e[MSIX_ENTRY_ADDR_LO] | (uint64_t)e[MSIX_ENTRY_ADDR_HI]
							<< 32;

	if (msix_ctrl(pf) & MSIX_CTRL_FMASK)
		return true;
	if (msi_is_xen_pirq(addr, e[MSIX_ENTRY_DATA]))
		return false;
	return e[MSIX_ENTRY_CTRL] & 1;
}

static int
msix_send_vector(struct pci_function *pf, unsigned v)
{
	const uint32_t *e = &pf->msix.table[v * MSIX_ENTRY_DWORDS];

	return send_msi(pf,
			e[MSIX_ENTRY_ADDR_LO] | (uint64_t)e[MSIX_ENTRY_ADDR_HI]
							<< 32,
			e[MSIX_ENTRY_DATA]);
}

int
pci_msix_notify(struct pci_function *pf, unsigned vector)
{
	struct pci_msix *m = &pf->msix;

	if (!pci_msix_enabled(pf))
		return -ENODEV;
	if (vector >= m->vectors) {
		pf->stats.msi_dropped++;
		return -EINVAL;
	}
	if (msix_masked(pf, vector)) {
		m->pba[vector / 64] |= UINT64_C(1) << (vector % 64);
		pf->stats.msi_masked++;
		return 0;
	}
	return msix_send_vector(pf, vector);
}

/* Pending vectors that are now unmasked go out (enable, masks cleared). */
static void
msix_deliver_pending(struct pci_function *pf)
{
	struct pci_msix *m = &pf->msix;

	if (!pci_msix_enabled(pf) || (msix_ctrl(pf) & MSIX_CTRL_FMASK))
		return;
	for (unsigned w = 0; w < (m->vectors + 63) / 64; w++) {
		/* walk a snapshot: bits of still-masked vectors stay set */
		for (uint64_t bits = m->pba[w]; bits; bits &= bits - 1) {
			unsigned v = w * 64 + (unsigned)__builtin_ctzll(bits);

			if (msix_masked(pf, v))
				continue;
			m->pba[w] &= ~(bits & -bits);
			(void)msix_send_vector(pf, v);
		}
	}
}

/*
 * Which structure [offset, offset + size) touches: 1 table, 2 PBA, 0
 * neither.  *ret_whole says whether it lies wholly inside that structure.
 */
static int
msix_locate(const struct pci_msix *m, uint64_t offset, unsigned size,
	    bool *ret_whole)
{
	uint64_t tsize = (uint64_t)m->vectors * PCI_MSIX_ENTRY_SIZE;
	uint64_t psize = msix_pba_size(m);
	uint64_t end = offset + size;

	if (offset < m->table_offset + tsize && m->table_offset < end) {
		*ret_whole = offset >= m->table_offset &&
			     end <= m->table_offset + tsize;
		return 1;
	}
	if (offset < m->pba_offset + psize && m->pba_offset < end) {
		*ret_whole = offset >= m->pba_offset &&
			     end <= m->pba_offset + psize;
		return 2;
	}
	return 0;
}

static bool
msix_access_ok(uint64_t offset, unsigned size, bool whole)
{
	return whole && (size == 4 || size == 8) && (offset % size) == 0;
}

bool
pci_msix_mmio_read(struct pci_function *pf, unsigned region, uint64_t offset,
		   unsigned size, uint64_t *ret_value)
{
	struct pci_msix *m = &pf->msix;
	bool whole = false;
	int where;

	if (!m->cap || region != m->bar || size == 0 ||
	    offset > UINT64_MAX - size)
		return false;
	where = msix_locate(m, offset, size, &whole);
	if (!where)
		return false;
	*ret_value = 0;
	if (!msix_access_ok(offset, size, whole)) {
		pf->dev->stats.bad_accesses++;
		return true;
	}
	if (where == 1) {
		uint64_t idx = (offset - m->table_offset) / 4;

		*ret_value = m->table[idx];
		if (size == 8)
			*ret_value |= (uint64_t)m->table[idx + 1] << 32;
	} else {
		uint64_t rel = offset - m->pba_offset;
		uint64_t q = m->pba[rel / 8];

		*ret_value = size == 8 ? q : (uint32_t)(q >> (8 * (rel % 8)));
	}
	return true;
}

static void
msix_entry_write(struct pci_function *pf, uint64_t idx, uint32_t value)
{
	struct pci_msix *m = &pf->msix;
	unsigned v = (unsigned)(idx / MSIX_ENTRY_DWORDS);

	if (idx % MSIX_ENTRY_DWORDS != MSIX_ENTRY_CTRL) {
		m->table[idx] = value;
		return;
	}
	/* vector control: only the mask bit is implemented */
	m->table[idx] = value & 1;
	if (!(value & 1) && (m->pba[v / 64] & (UINT64_C(1) << (v % 64))))
		msix_deliver_pending(pf);
}

bool
pci_msix_mmio_write(struct pci_function *pf, unsigned region, uint64_t offset,
		    unsigned size, uint64_t value)
{
	struct pci_msix *m = &pf->msix;
	bool whole = false;
	uint64_t idx;
	int where;

	if (!m->cap || region != m->bar || size == 0 ||
	    offset > UINT64_MAX - size)
		return false;
	where = msix_locate(m, offset, size, &whole);
	if (!where)
		return false;
	if (!msix_access_ok(offset, size, whole)) {
		pf->dev->stats.bad_accesses++;
		return true;
	}
	if (where == 2)
		return true; /* PBA is read-only */
	idx = (offset - m->table_offset) / 4;
	msix_entry_write(pf, idx, (uint32_t)value);
	if (size == 8)
		msix_entry_write(pf, idx + 1, (uint32_t)(value >> 32));
	return true;
}

/* ---- INTx ---- */

static void
intx_refresh(struct pci_function *pf)
{
	const struct device_services *svc = pf->dev->svc;
	bool msi_on = pci_msi_enabled(pf) || pci_msix_enabled(pf);
	bool status = pf->intx_pending && !msi_on;
	uint16_t st = pci_get_word(pf, PCI_STATUS);
	unsigned pin = pf->cfg[PCI_INTERRUPT_PIN];
	bool level;
	int r;

	st = status ? (st | PCI_STATUS_INTERRUPT) :
		      (uint16_t)(st & ~PCI_STATUS_INTERRUPT);
	set_word(pf->cfg, PCI_STATUS, st);
	level = status && pin >= 1 && pin <= 4 &&
		!(pci_get_word(pf, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	if (level == pf->intx_level)
		return;
	pf->intx_level = level;
	pf->stats.intx_changes++;
	if (!svc || !svc->set_pci_intx)
		return;
	r = svc->set_pci_intx(svc->opaque, DEVICE_PCI_SLOT(pf->dev->pci_sbdf),
			      pin - 1, level);
	if (r < 0)
		warn(pf, "setting the INTx level", r);
}

void
pci_set_irq(struct pci_function *pf, bool level)
{
	pf->intx_pending = level;
	intx_refresh(pf);
}

void
pci_irq_update(struct pci_function *pf, bool pending)
{
	bool rising = pending && !pf->irq_pending;

	pf->irq_pending = pending;
	if (rising)
		pf->dev->stats.irq_raises++;
	if (rising && pci_msix_enabled(pf))
		(void)pci_msix_notify(pf, 0);
	else if (rising && pci_msi_enabled(pf))
		(void)pci_msi_notify(pf, 0);
	pci_set_irq(pf, pending);
}

/* ---- BARs and decode ---- */

/*
 * Where BAR i decodes right now: *ret_base and the size, or 0 when it does
 * not decode (decode off, address 0, wrapping or out of its address space).
 */
static uint64_t
bar_decoded(const struct pci_function *pf, unsigned i, uint64_t *ret_base)
{
	const struct pci_bar *bar = &pf->bars[i];
	uint16_t cmd = pci_get_word(pf, PCI_COMMAND);
	uint32_t low = pci_get_long(pf, PCI_BAR0 + 4 * i);
	uint64_t addr, limit;

	switch (bar->type) {
	case PCI_BAR_IO:
		if (!(cmd & PCI_COMMAND_IO))
			return 0;
		addr = low & ~UINT32_C(3);
		limit = RANGE_PORT_SPACE_SIZE - 1; /* x86 port space */
		break;
	case PCI_BAR_MEM32:
		if (!(cmd & PCI_COMMAND_MEMORY))
			return 0;
		addr = low & ~UINT32_C(0xf);
		limit = UINT32_MAX - 1; /* QEMU: last < 4 GiB - 1 */
		break;
	case PCI_BAR_MEM64:
		if (!(cmd & PCI_COMMAND_MEMORY))
			return 0;
		addr = (low & ~UINT32_C(0xf)) |
		       (uint64_t)pci_get_long(pf, PCI_BAR0 + 4 * i + 4) << 32;
		limit = PCI_MEM64_LIMIT;
		break;
	default:
		return 0;
	}
	addr &= ~(bar->size - 1);
	if (addr == 0 || addr > limit || bar->size - 1 > limit - addr)
		return 0;
	*ret_base = addr;
	return bar->size;
}

static void
bar_sync(struct pci_function *pf, unsigned i)
{
	struct device *dev = pf->dev;
	struct device_region *reg = &dev->regions[i];
	const struct device_services *svc = dev->svc;
	struct device_region old = *reg;
	uint64_t base = 0, size = bar_decoded(pf, i, &base);
	int r;

	if (size == reg->size && (size == 0 || base == reg->base))
		return;
	reg->base = size ? base : 0;
	reg->size = size;
	if (!svc || !svc->region_changed)
		return;
	r = svc->region_changed(svc->opaque, dev, i, &old);
	if (r < 0) {
		pf->stats.bar_refused++;
		if (size)
			log_ratelimited(&pf->rl, LOG_LEVEL_WARNING,
					"%s: BAR%u at %#llx (%llu bytes) "
					"refused: %s, leaving it undecoded",
					dev->id, i, (unsigned long long)base,
					(unsigned long long)size, strerror(-r));
		else
			warn(pf, "releasing a BAR", r);
		reg->size = 0;
	}
}

static void
bars_sync(struct pci_function *pf)
{
	for (unsigned i = 0; i < PCI_BAR_COUNT; i++) {
		if (pf->bars[i].type != PCI_BAR_NONE)
			bar_sync(pf, i);
	}
}

/* ---- configuration access ---- */

uint32_t
pci_config_read(struct pci_function *pf, unsigned offset, unsigned size)
{
	uint32_t v = 0;

	if (!pci_config_access_valid(offset, size)) {
		pf->dev->stats.bad_accesses++;
		return (uint32_t)range_all_ones(size);
	}
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)pf->cfg[offset + i] << (8 * i);
	return v;
}

/* Side effects of a write that touched [offset, offset + size). */
static void
config_side_effects(struct pci_function *pf, unsigned offset, unsigned size,
		    uint16_t old_msi_ctrl, uint16_t old_msix_ctrl)
{
	bool irq_mode = false;

	if (touches(offset, size, PCI_COMMAND, 2)) {
		bars_sync(pf);
		irq_mode = true;
	} else if (touches(offset, size, PCI_BAR0, 4 * PCI_BAR_COUNT)) {
		bars_sync(pf);
	}
	if (pf->msi.cap) {
		if (touches(offset, size, pf->msi.cap + MSI_CTRL, 2)) {
			msi_ctrl_written(pf);
			if (pci_get_word(pf, pf->msi.cap + MSI_CTRL) !=
			    old_msi_ctrl)
				irq_mode = true;
		}
		if (pf->msi.maskable &&
		    touches(offset, size, msi_mask_off(pf), 4))
			msi_deliver_pending(pf);
	}
	if (pf->msix.cap &&
	    touches(offset, size, pf->msix.cap + MSIX_CTRL, 2) &&
	    msix_ctrl(pf) != old_msix_ctrl) {
		irq_mode = true;
		msix_deliver_pending(pf);
	}
	if (irq_mode)
		intx_refresh(pf);
}

void
pci_config_write(struct pci_function *pf, unsigned offset, unsigned size,
		 uint32_t value)
{
	uint16_t old_msi_ctrl = 0, old_msix_ctrl = 0;

	if (!pci_config_access_valid(offset, size)) {
		pf->dev->stats.bad_accesses++;
		return;
	}
	if (pf->msi.cap)
		old_msi_ctrl = pci_get_word(pf, pf->msi.cap + MSI_CTRL);
	if (pf->msix.cap)
		old_msix_ctrl = msix_ctrl(pf);
	for (unsigned i = 0; i < size; i++) {
		unsigned o = offset + i;
		uint8_t b = (uint8_t)(value >> (8 * i));
		uint8_t v = (uint8_t)((pf->cfg[o] & ~pf->wmask[o]) |
				      (b & pf->wmask[o]));

		pf->cfg[o] = (uint8_t)(v & ~(b & pf->w1cmask[o]));
	}
	config_side_effects(pf, offset, size, old_msi_ctrl, old_msix_ctrl);
}

/* ---- reset ---- */

void
pci_function_reset(struct pci_function *pf)
{
	struct pci_msix *m = &pf->msix;

	for (unsigned i = 0; i < DEVICE_PCI_CONFIG_SIZE; i++)
		pf->cfg[i] &= (uint8_t) ~(pf->wmask[i] | pf->w1cmask[i]);
	if (pf->msi.cap && pf->msi.maskable)
		set_long(pf->cfg, msi_pending_off(pf), 0);
	if (m->cap) {
		memset(m->table, 0,
		       (size_t)m->vectors * MSIX_ENTRY_DWORDS *
			       sizeof(m->table[0]));
		for (unsigned v = 0; v < m->vectors; v++)
			m->table[v * MSIX_ENTRY_DWORDS + MSIX_ENTRY_CTRL] = 1;
		memset(m->pba, 0, msix_pba_size(m));
	}
	pf->irq_pending = false;
	pf->intx_pending = false;
	bars_sync(pf);
	intx_refresh(pf);
}
