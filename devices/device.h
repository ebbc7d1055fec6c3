/*
 * The device model interface: what every emulated device type provides
 * (struct device_type: a name, the description of its config keys and a
 * create function), what each instance implements (struct device_ops) and
 * what the core offers it (struct device_services).
 *
 * A device never includes a Xen header.  It declares its guest-visible
 * regions as data; the core (ioreq/) claims them with Xen, routes accesses
 * through the bus (devices/bus.h) and implements the services with dm_ops.
 * Unit tests implement the same services in memory (tests/unit/fake-*.c).
 *
 * Threading: everything here runs on the event-loop thread.
 */
#ifndef IOREQD_DEVICE_H
#define IOREQD_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

struct device_events;
struct device;
struct guest_sg;
struct pci_function;

/* Address spaces a region can live in. */
enum bus_space {
	BUS_SPACE_PORT, /* x86 port I/O, 16-bit addresses */
	BUS_SPACE_MMIO, /* guest-physical memory-mapped I/O */
	_BUS_SPACE_COUNT,
};

/* Access-size bits for struct device_region.access_sizes. */
#define DEVICE_ACCESS_1	  (1u << 0)
#define DEVICE_ACCESS_2	  (1u << 1)
#define DEVICE_ACCESS_4	  (1u << 2)
#define DEVICE_ACCESS_8	  (1u << 3)
#define DEVICE_ACCESS_ALL 0xfu

#define DEVICE_MAX_REGIONS 8

/*
 * One guest-visible window of a device: half-open [base, base + size).
 * access_sizes is the set of widths the device implements; the bus splits a
 * wider access into the smallest implemented width (little-endian order, as
 * an ISA bus does) and answers a narrower one with all-ones / drops it.
 */
struct device_region {
	enum bus_space space;
	uint64_t base;
	uint64_t size;	       /* bytes; 0 means "not in use" */
	unsigned access_sizes; /* DEVICE_ACCESS_* */
};

/* Counters every device has; shown by the daemon and the control socket. */
struct device_stats {
	uint64_t reads;
	uint64_t writes;
	uint64_t bad_accesses; /* wrong width, outside region, ... */
	uint64_t irq_raises;
};

/*
 * Where a device's own counters go (device_ops.stats): one emit() per
 * counter, with a name that is a constant string of [a-z0-9_].
 */
struct device_stats_writer {
	void (*emit)(void *ctx, const char *name, uint64_t value);
	void *ctx;
};

static inline void
device_stats_emit(const struct device_stats_writer *w, const char *name,
		  uint64_t value)
{
	if (w && w->emit)
		w->emit(w->ctx, name, value);
}

/*
 * What a device tells the operator about itself (device_ops.describe, the
 * control socket's `devices`): one str() per fact.  Keys used today:
 * "backend" ("socket:/run/x.sock", "file:/var/lib/x.img", "pty:/dev/pts/3",
 * "stdio", "null") and "interrupt" (what the guest has enabled now: "isa 4",
 * "intx", "msi", "msix", "spi 40", "none").
 */
struct device_info_writer {
	void (*str)(void *ctx, const char *key, const char *value);
	void *ctx;
};

static inline void
device_info_str(const struct device_info_writer *w, const char *key,
		const char *value)
{
	if (w && w->str)
		w->str(w->ctx, key, value);
}

/*
 * Conditions a device reports to the operator (device_services.report;
 * the control socket turns them into events).  Rare by nature; the core
 * rate-limits them per device, so a guest cannot flood anyone with them.
 */
enum device_event {
	DEVICE_EVENT_GUEST_PANICKED, /* pvpanic: the guest said it panicked */
	DEVICE_EVENT_NEEDS_RESET,    /* virtio DEVICE_NEEDS_RESET was set */
	DEVICE_EVENT_IO_ERROR,	     /* a backend I/O error reached the guest */
};

/* Why a device asks for the guest to be shut down. */
enum device_shutdown {
	DEVICE_SHUTDOWN_POWEROFF,
	DEVICE_SHUTDOWN_REBOOT,
	DEVICE_SHUTDOWN_CRASH, /* the guest told a device it crashed */
};

/*
 * Services the core provides.  Every callback returns 0 or -errno and never
 * blocks.  opaque is passed back unchanged.
 */
struct device_services {
	void *opaque;
	/* timers, fd watches, deferred work, completions (devices/events.h) */
	const struct device_events *events;

	/* ISA IRQ line 0-15 as a level (true = asserted). */
	int (*set_isa_irq)(void *opaque, unsigned irq, bool level);
	/* PCI INTx: slot 0-31 on bus 0, pin 0-3 (A-D). */
	int (*set_pci_intx)(void *opaque, unsigned slot, unsigned pin,
			    bool level);
	/*
	 * Any platform line as a level: an Arm SPI (32 and up), or on x86 a
	 * GSI; Xen 4.17 x86 has no dm_op for an arbitrary GSI, so there only
	 * GSIs 1 and 3-15 work (as ISA IRQs), others give -EOPNOTSUPP.
	 */
	int (*set_irq_level)(void *opaque, unsigned irq, bool level);
	/* Deliver one MSI (address, data as programmed by the guest). */
	int (*send_msi)(void *opaque, uint64_t addr, uint32_t data);

	/*
	 * Guest-physical memory, copied through the core's mapping cache.
	 * Fails with -EFAULT where guest memory cannot be mapped.
	 */
	int (*guest_read)(void *opaque, uint64_t gpa, void *buf, size_t len);
	int (*guest_write)(void *opaque, uint64_t gpa, const void *buf,
			   size_t len);
	/*
	 * Guest memory in place (devices/guest-mem.h): map [gpa, gpa + len)
	 * read-only or writable into *sg, and release it.  -E2BIG when the
	 * range needs more than GUEST_SG_MAX segments, -EFAULT where it
	 * cannot be mapped, -EBUSY when the core's pins are used up; on
	 * failure sg is empty.  The address is whatever the device was given
	 * (a guest-physical address or a grant DMA address); the core knows
	 * which.  Optional (NULL: the device copies with guest_read/write).
	 */
	int (*guest_map)(void *opaque, uint64_t gpa, size_t len, bool writable,
			 struct guest_sg *sg);
	void (*guest_unmap)(void *opaque, struct guest_sg *sg);

	/*
	 * For a device whose DMA addresses are grant references (virtio's
	 * `dma: grant`, Linux's xen-grant-dma: bit 63 set, the reference in
	 * bits 12-62): the same services, except that guest_read, write,
	 * map and unmap take such addresses and map the granted pages.  The
	 * table lives as long as the core.  NULL when grants cannot be
	 * mapped here (no grant device); optional (NULL: no grant DMA).
	 */
	const struct device_services *(*grant_services)(void *opaque);

	/*
	 * Ask the core to (re)claim region index `region` of `dev` after the
	 * device changed its base or size (PCI BAR moves), or to release it
	 * (size 0 in the region).  -EEXIST when it would overlap another claim.
	 * During a guest request the core may claim with the hypervisor only
	 * at the request's end; if that fails, it sets the region's size to 0.
	 */
	int (*region_changed)(void *opaque, struct device *dev, unsigned region,
			      const struct device_region *old);

	/*
	 * Ask for the guest to be shut down, e.g. pvpanic's on-panic: crash,
	 * so that the toolstack's on_crash policy applies.  The core turns
	 * the reason into the hypervisor's own code.
	 */
	int (*shutdown)(void *opaque, enum device_shutdown reason);

	/*
	 * Tell the operator of a condition (desc: a short text, may be NULL).
	 * Never fails, never blocks.  Optional (NULL: nobody listens).
	 */
	void (*report)(void *opaque, const struct device *dev,
		       enum device_event event, const char *desc);
};

/*
 * Xen's packing of a PCI function on segment 0 (XEN_DMOP_PCI_SBDF), the
 * one config/ hands over in cfg_device.pci_sbdf.
 */
#define DEVICE_PCI_SBDF(bus, dev, fn) CFG_PCI_SBDF(bus, dev, fn)
#define DEVICE_PCI_SLOT(sbdf)	      CFG_PCI_SLOT(sbdf)
#define DEVICE_PCI_FUNC(sbdf)	      CFG_PCI_FUNC(sbdf)
#define DEVICE_PCI_CONFIG_SIZE	      4096

/*
 * A device type: one `const` object per type, listed in devices/registry.c.
 * config/ checks an entry against cfg (keys, defaults, placement, windows)
 * before create ever sees it.
 */
struct device_type {
	const char *name; /* YAML `type:` value, == cfg->name */
	const struct cfg_type_desc *cfg;

	/*
	 * Build an instance from its validated config.  Fills regions from the
	 * config; the core claims them after create returns.  Returns 0 and
	 * *ret_dev, or -errno (the device logs nothing; the caller does).
	 */
	int (*create)(const struct cfg_device *cfg,
		      const struct device_services *svc,
		      struct device **ret_dev);
};

/*
 * What an instance does; `static const` in the model file and never
 * written to.  Instances of one type may use different tables.
 */
struct device_ops {
	/* Free an instance; must accept a half-built one. */
	void (*destroy)(struct device *dev);
	/* Power-on state. Optional. */
	void (*reset)(struct device *dev);
	/*
	 * Region access.  offset is within the region, size is one of the
	 * region's access_sizes, value is already masked to size.  read
	 * returns the value (only the low size bytes matter).
	 */
	uint64_t (*read)(struct device *dev, unsigned region, uint64_t offset,
			 unsigned size);
	void (*write)(struct device *dev, unsigned region, uint64_t offset,
		      unsigned size, uint64_t value);

	/*
	 * PCI functions only (dev->is_pci): configuration space.  offset is
	 * 0..4095, size 1, 2 or 4, and offset + size may cross a dword (a
	 * guest can do that through 0xcfc-0xcff) but never 4096.  Optional:
	 * without them the bus uses the generic model of dev->pci (the
	 * struct pci_function that pci_function_init() tied to the device).
	 * A table sets both or neither.
	 */
	uint32_t (*config_read)(struct device *dev, unsigned offset,
				unsigned size);
	void (*config_write)(struct device *dev, unsigned offset, unsigned size,
			     uint32_t value);

	/*
	 * Optional: the device's own counters, beyond struct device_stats,
	 * one device_stats_emit() each.  Never called on the fast path.
	 */
	void (*stats)(const struct device *dev,
		      const struct device_stats_writer *w);

	/*
	 * Optional: facts for the operator (struct device_info_writer's
	 * keys).  Never called on the fast path.
	 */
	void (*describe)(const struct device *dev,
			 const struct device_info_writer *w);

	/*
	 * Optional operator commands (the control socket); NULL means the
	 * device cannot (-EOPNOTSUPP to the operator).  Each returns 0 or
	 * -errno and on failure leaves the device exactly as it was.
	 *
	 * chardev_attach: replace the character backend (UART, console) with
	 * a new one opened from `backend`; the old one is closed only once
	 * the new one is open.
	 * blockdev_change: give a block device a new medium (`path`, NULL to
	 * keep the current one) and/or read-only state (`read_only` 0 or 1,
	 * -1 to keep), then tell the guest (config-change interrupt).
	 */
	int (*chardev_attach)(struct device *dev,
			      const struct cfg_backend *backend);
	int (*blockdev_change)(struct device *dev, const char *path,
			       int read_only);
};

/*
 * Common instance header, embedded as the first member of each model's
 * state; models get back with container_of() (lib/container.h).
 */
struct device {
	const struct device_type *type;
	const struct device_ops *ops;
	char id[64]; /* from config `id` */
	const struct device_services *svc;
	struct device_region regions[DEVICE_MAX_REGIONS];
	unsigned region_count;
	struct device_stats stats;
	bool is_pci;		  /* a PCI function ... */
	uint32_t pci_sbdf;	  /* ... at this SBDF */
	struct pci_function *pci; /* generic model, or NULL */
	struct device *next;	  /* daemon's device list */
};

/* Initialise the common header (zeroes stats, copies id). */
void device_init(struct device *dev, const struct device_type *type,
		 const struct device_ops *ops, const char *id,
		 const struct device_services *svc);

/*
 * dev->svc->report(), if the core has one (a device's one way to call it).
 * Never fails, never blocks.
 */
void device_report(const struct device *dev, enum device_event event,
		   const char *desc);

/*
 * Can the bus serve this PCI function's configuration space: both ops
 * hooks, or neither and the generic model?
 */
static inline bool
device_has_config(const struct device *dev)
{
	if (dev->ops->config_read && dev->ops->config_write)
		return true;
	return !dev->ops->config_read && !dev->ops->config_write && dev->pci;
}

/* The device's own counters through w; nothing when it has none. */
static inline void
device_emit_stats(const struct device *dev, const struct device_stats_writer *w)
{
	if (dev->ops->stats)
		dev->ops->stats(dev, w);
}

/* Look a type up by YAML type name; NULL if unknown. (registry.c) */
const struct device_type *device_type_find(const char *name);
/* The same for config/ (a cfg_type_find_fn): the type's key description. */
const struct cfg_type_desc *device_type_cfg_find(const char *name);
/* NULL-terminated list of all types, in registry order. */
extern const struct device_type *const device_types[];

#endif
