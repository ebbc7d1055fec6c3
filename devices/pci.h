/*
 * Generic PCI function model (PCI Local Bus 3.0 ch. 6, PCI Express Base
 * 4.0 §7.5.1 type 0 header, §7.7 MSI and MSI-X), embedded by every PCI
 * device model as a `struct pci_function` inside its state.
 *
 * Configuration space is a 4096-byte image with a per-byte writable mask
 * and a per-byte write-1-to-clear mask.  Every write is applied byte by
 * byte through the masks whatever its width, then side effects are derived
 * by comparing old and new values: command decode bits and BARs (the
 * device's regions are updated and svc->region_changed asks the core to
 * move the claim), MSI and MSI-X control (INTx is not used while either is
 * enabled), the MSI mask register (pending vectors are delivered on
 * unmask).  Read-only fields a guest cannot change: ids, class, revision,
 * header type, interrupt pin, capability pointers and structure, BAR type
 * bits, MSI-X table location.
 *
 * BARs and regions: BAR n is the device's region n (struct device
 * regions[n]); a 64-bit BAR uses regions[n] and leaves regions[n + 1]
 * unused.  A region has size 0 while the BAR is not decoded: decode bit off
 * in COMMAND, address 0, or a range that would wrap or leave its space
 * (reach the last byte below 4 GiB for a 32-bit BAR, as QEMU's "unmapped"
 * rule; pass 2^52 for a 64-bit BAR; pass 64 KiB for I/O).  Each dword
 * write to a BAR takes effect at once, so a 64-bit BAR moved with decode
 * on is seen by the core as two moves (as on real hardware).
 *
 * Deliberately left out: expansion ROM (reads 0), PCIe and
 * extended capabilities (extended space reads 0 unless a device writes its
 * own bytes into cfg[]), power management, BIST, type 1 (bridge) headers,
 * MSI extended message data.
 *
 * Threading: the event-loop thread; nothing here blocks, and guest-driven
 * paths (config access, MSI-X table access, interrupts) do not allocate.
 */
#ifndef IOREQD_DEVICES_PCI_H
#define IOREQD_DEVICES_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "lib/log.h"
#include "lib/range.h"

/* Type 0 header offsets. */
#define PCI_VENDOR_ID		0x00 /* 16, RO */
#define PCI_DEVICE_ID		0x02 /* 16, RO */
#define PCI_COMMAND		0x04 /* 16 */
#define PCI_STATUS		0x06 /* 16 */
#define PCI_REVISION_ID		0x08 /* 8, RO */
#define PCI_CLASS_PROG		0x09 /* 24-bit class code at 0x09..0x0b */
#define PCI_CACHE_LINE_SIZE	0x0c /* 8, RW */
#define PCI_LATENCY_TIMER	0x0d /* 8, RO 0 here */
#define PCI_HEADER_TYPE		0x0e /* 8, RO */
#define PCI_BAR0		0x10 /* 6 dwords */
#define PCI_CARDBUS_CIS		0x28
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c /* 16, RO */
#define PCI_SUBSYSTEM_ID	0x2e /* 16, RO */
#define PCI_ROM_ADDRESS		0x30 /* RO 0: no expansion ROM */
#define PCI_CAPABILITY_LIST	0x34 /* 8, RO */
#define PCI_INTERRUPT_LINE	0x3c /* 8, RW */
#define PCI_INTERRUPT_PIN	0x3d /* 8, RO: 0 none, 1-4 INTA-INTD */
#define PCI_HEADER_SIZE		0x40
#define PCI_CONFIG_SPACE_SIZE	256 /* conventional space */

#define PCI_COMMAND_IO		 (1u << 0)
#define PCI_COMMAND_MEMORY	 (1u << 1)
#define PCI_COMMAND_MASTER	 (1u << 2)
#define PCI_COMMAND_INTX_DISABLE (1u << 10)

#define PCI_STATUS_INTERRUPT (1u << 3) /* RO: INTx pending */
#define PCI_STATUS_CAP_LIST  (1u << 4) /* RO */
#define PCI_STATUS_ERRORS    0xf900u   /* bits 8, 11-15: W1C */

#define PCI_HEADER_TYPE_MULTI 0x80

#define PCI_BAR_COUNT	     6
#define PCI_BAR_IO_BIT	     0x1u
#define PCI_BAR_MEM_64	     0x4u
#define PCI_BAR_MEM_PREFETCH 0x8u

#define PCI_CAP_ID_MSI	0x05
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_FIRST	0x40 /* first byte after the header */

#define PCI_MSI_MAX_VECTORS  32
#define PCI_MSIX_MAX_VECTORS 2048
#define PCI_MSIX_ENTRY_SIZE  16

enum pci_bar_type {
	PCI_BAR_NONE,  /* unused slot: reads 0, RO */
	PCI_BAR_IO,    /* I/O space; decodes only below 64 KiB */
	PCI_BAR_MEM32, /* 32-bit memory */
	PCI_BAR_MEM64, /* 64-bit memory: this slot and the next */
	_PCI_BAR_TYPE_COUNT,
};

struct pci_bar {
	enum pci_bar_type type;
	bool prefetchable;
	uint64_t size; /* bytes, power of two */
};

/* MSI capability state (the registers themselves live in cfg[]). */
struct pci_msi {
	unsigned cap;	  /* capability offset; 0 = absent */
	unsigned vectors; /* vectors the device has: 1, 2, 4, ... 32 */
	bool is64;	  /* 64-bit message address */
	bool maskable;	  /* per-vector mask and pending bits */
};

/* MSI-X capability state; table and PBA live in memory BAR `bar`. */
struct pci_msix {
	unsigned cap;	       /* capability offset; 0 = absent */
	unsigned vectors;      /* table entries, 1..2048 */
	unsigned bar;	       /* BIR: BAR (= region) holding both */
	uint32_t table_offset; /* bytes into the BAR, 8-byte aligned */
	uint32_t pba_offset;   /* bytes into the BAR, 8-byte aligned */
	uint32_t *table;       /* vectors * 4 dwords: addr lo/hi, data, ctrl */
	uint64_t *pba;	       /* pending bits, (vectors + 63) / 64 qwords */
};

/* Counters for the control socket. */
struct pci_stats {
	uint64_t msi_sent;     /* MSI and MSI-X messages delivered */
	uint64_t msi_masked;   /* raised while masked (pending set) */
	uint64_t msi_dropped;  /* raised with no vector to use */
	uint64_t intx_changes; /* set_pci_intx calls */
	uint64_t bar_refused;  /* region_changed refused a BAR */
};

struct pci_function {
	struct device *dev;			 /* the device embedding us */
	uint8_t cfg[DEVICE_PCI_CONFIG_SIZE];	 /* config image */
	uint8_t wmask[DEVICE_PCI_CONFIG_SIZE];	 /* 1 = guest-writable bit */
	uint8_t w1cmask[DEVICE_PCI_CONFIG_SIZE]; /* 1 = write-1-to-clear */
	struct pci_bar bars[PCI_BAR_COUNT];
	struct pci_msi msi;
	struct pci_msix msix;
	unsigned cap_next; /* first free byte for the next capability */
	unsigned cap_last; /* offset of the last capability, 0 = none */
	bool irq_pending;  /* device's condition (pci_irq_update) */
	bool intx_pending; /* INTx condition (pci_set_irq) */
	bool intx_level;   /* level last given to set_pci_intx */
	struct pci_stats stats;
	struct log_ratelimit rl;
};

/* Identity of a function, written once into the read-only header. */
struct pci_ids {
	uint16_t vendor_id;
	uint16_t device_id;
	uint8_t revision;
	uint32_t class_code; /* 24 bits: base << 16 | sub << 8 | prog-if */
	uint16_t subsystem_vendor_id;
	uint16_t subsystem_id;
	uint8_t interrupt_pin; /* 0 none, 1-4 = INTA-INTD */
	bool multi_function;   /* header type bit 7 */
};

/*
 * Initialise `pf` for `dev` (which must have is_pci and pci_sbdf set by
 * the caller): power-on header with `ids`, no BARs, no capabilities,
 * decode off.  Cannot fail.  Call pci_function_fini before freeing.
 */
void pci_function_init(struct pci_function *pf, struct device *dev,
		       const struct pci_ids *ids);

/* Free what the MSI-X helper allocated.  Accepts a zeroed pf.  No calls
 * to the services (the core releases regions itself on removal). */
void pci_function_fini(struct pci_function *pf);

/*
 * Declare BAR `index` (0-5; 0-4 for MEM64) of `type` and `size` bytes (a
 * power of two: I/O 4..256, memory >= 16; 4 KiB or more recommended for
 * memory so no two devices share a page), `prefetchable` for memory BARs.
 * Sets up dev->regions[index] (size 0 until decoded) with `access_sizes`
 * (DEVICE_ACCESS_*) and raises dev->region_count to cover it.  Returns 0,
 * or -EINVAL (bad index/size/type, slot already used).
 */
int pci_add_bar(struct pci_function *pf, unsigned index, enum pci_bar_type type,
		uint64_t size, bool prefetchable, unsigned access_sizes);

/*
 * Reserve `len` bytes (>= 2) of conventional config space for a
 * capability with `id` and chain it at the end of the list (status
 * CAP_LIST set).  The bytes are read-only 0 except id and next; the caller
 * sets values and masks.  Returns the dword-aligned offset (>= 0x40), or
 * -ENOSPC when it does not fit below 256, -EINVAL for len < 2.
 */
int pci_add_capability(struct pci_function *pf, uint8_t id, unsigned len);

/*
 * MSI capability with `vectors` (power of two, 1..32) messages, 64-bit
 * address if is64, per-vector mask/pending bits if maskable.  Multiple
 * Message Capable is log2(vectors).  Returns the offset or -errno.
 * At most one per function (-EEXIST).
 */
int pci_msi_init(struct pci_function *pf, unsigned vectors, bool is64,
		 bool maskable);

/*
 * MSI-X capability with `vectors` (1..2048) entries; the table sits at
 * table_offset and the PBA at pba_offset in memory BAR `bar`, which must
 * already be declared and large enough, both 8-byte aligned and not
 * overlapping.  The device routes that BAR's accesses through
 * pci_msix_mmio_read/write.  Returns the offset or -errno (-ENOMEM).
 */
int pci_msix_init(struct pci_function *pf, unsigned vectors, unsigned bar,
		  uint32_t table_offset, uint32_t pba_offset);

/*
 * The rule for a configuration access, wherever it arrives (the bus, the
 * generic model, the ioreq dispatcher): size 1, 2 or 4, wholly inside the
 * 4096-byte space.  Anything else reads all-ones and is dropped on write.
 */
static inline bool
pci_config_access_valid(unsigned offset, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) &&
	       range_within(offset, size, DEVICE_PCI_CONFIG_SIZE);
}

/*
 * Configuration access from the device's config_read/config_write ops
 * hooks: offset 0..4095, size 1, 2 or 4, offset + size <= 4096 (others
 * read all-ones / are dropped).  Little-endian; may cross a dword.
 */
uint32_t pci_config_read(struct pci_function *pf, unsigned offset,
			 unsigned size);
void pci_config_write(struct pci_function *pf, unsigned offset, unsigned size,
		      uint32_t value);

/*
 * MSI-X table and PBA accesses within BAR region `region`.  Return false
 * when [offset, offset + size) does not touch the table or the PBA (the
 * device handles it); true when it does, in which case the access has been
 * handled: aligned 4- and 8-byte accesses work (8 = both dwords, low
 * first), anything else reads 0 / is ignored; the PBA is read-only.
 */
bool pci_msix_mmio_read(struct pci_function *pf, unsigned region,
			uint64_t offset, unsigned size, uint64_t *ret_value);
bool pci_msix_mmio_write(struct pci_function *pf, unsigned region,
			 uint64_t offset, unsigned size, uint64_t value);

/*
 * INTx condition of the function (pin from ids.interrupt_pin).  The line
 * given to svc->set_pci_intx is condition && !COMMAND.INTX_DISABLE &&
 * neither MSI nor MSI-X enabled, and is driven only when it changes.
 * STATUS.INTERRUPT mirrors condition && no MSI/MSI-X.
 */
void pci_set_irq(struct pci_function *pf, bool level);

/*
 * Deliver MSI vector `vector` (< the enabled count) or MSI-X entry
 * `vector`.  Masked: the pending bit is set and the message goes out on
 * unmask.  Returns 0, -ENODEV when that mechanism is not enabled, -EINVAL
 * for a vector out of range, or the error of svc->send_msi.
 */
int pci_msi_notify(struct pci_function *pf, unsigned vector);
int pci_msix_notify(struct pci_function *pf, unsigned vector);

/* Whether the guest enabled MSI / MSI-X. */
bool pci_msi_enabled(const struct pci_function *pf);
bool pci_msix_enabled(const struct pci_function *pf);

/*
 * The interrupt the guest has enabled now, for the operator: "msix",
 * "msi", "intx" (a pin, COMMAND.INTX_DISABLE clear) or "none".
 */
const char *pci_interrupt_mode(const struct pci_function *pf);

/*
 * For devices with one interrupt condition (a UART): the INTx level while
 * neither MSI nor MSI-X is enabled; otherwise one message (vector 0) on
 * each rising edge of `pending`.
 */
void pci_irq_update(struct pci_function *pf, bool pending);

/*
 * Power-on state: every writable and W1C bit cleared (decode off, BARs at
 * 0, MSI/MSI-X disabled and their registers cleared, MSI-X entries masked,
 * pending bits cleared), decoded regions released through
 * svc->region_changed, INTx deasserted.
 */
void pci_function_reset(struct pci_function *pf);

/* Little helpers on the image, for device code and tests. */
static inline uint16_t
pci_get_word(const struct pci_function *pf, unsigned off)
{
	return (uint16_t)(pf->cfg[off] | pf->cfg[off + 1] << 8);
}

static inline uint32_t
pci_get_long(const struct pci_function *pf, unsigned off)
{
	return (uint32_t)pci_get_word(pf, off) |
	       (uint32_t)pci_get_word(pf, off + 2) << 16;
}

#endif
