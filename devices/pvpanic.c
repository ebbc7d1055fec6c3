/*
 * pvpanic, the paravirtual panic notifier that Linux's drivers/misc/pvpanic
 * drives (pvpanic-mmio / pvpanic-pci) and QEMU implements (hw/misc/
 * pvpanic*.c).  One byte-wide register: reading it returns the events the
 * device supports (PANICKED | CRASH_LOADED), writing it reports events.
 *
 *   pvpanic      ISA: one I/O port, default 0x505.
 *   pvpanic-pci  PCI 1b36:0011 revision 1, class 08 80 00 (other system
 *                peripheral), subsystem 1af4:1100 as QEMU's default; the
 *                register is at offset 0 of BAR0, a 32-bit memory BAR.
 *                QEMU's window is 2 bytes (both bytes are the register);
 *                ours is a 4 KiB BAR so it never shares a guest page, with
 *                offsets 0 and 1 the register and the rest reading 0.
 *
 * A PANICKED event is logged ("guest panicked"), counted and reported to
 * the operator (DEVICE_EVENT_GUEST_PANICKED, before any shutdown), and with
 * `on-panic: crash` the core is asked to shut the guest down with Xen's
 * crash reason so the toolstack's on_crash policy applies.  CRASH_LOADED
 * (a panic with a kdump kernel about to run) is logged and counted only:
 * stopping the guest would defeat the dump.  Unknown bits are counted and
 * otherwise ignored.  The event log lines are rate-limited because the
 * guest controls how often they happen.  No PVPANIC_SHUTDOWN (bit 2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "devices/pci.h"
#include "devices/pvpanic.h"
#include "devices/registry.h"
#include "lib/container.h"
#include "lib/log.h"
#include "lib/range.h"

#define PVPANIC_DEFAULT_PORT  0x505
#define PVPANIC_PCI_VENDOR_ID 0x1b36 /* Red Hat, Inc. (QEMU devices) */
#define PVPANIC_PCI_DEVICE_ID 0x0011 /* QEMU pvpanic */
#define PVPANIC_PCI_REVISION  1
#define PVPANIC_PCI_CLASS     0x088000 /* system peripheral, other */
#define PVPANIC_PCI_SUBVENDOR 0x1af4   /* QEMU's default subsystem ids */
#define PVPANIC_PCI_SUBSYSTEM 0x1100
#define PVPANIC_PCI_BAR_SIZE  4096
#define PVPANIC_PCI_REG_SIZE  2 /* bytes decoded as the register */

/* Events the guest reported, for the stats hook. */
struct pvpanic_stats {
	uint64_t panicked;     /* PVPANIC_PANICKED writes */
	uint64_t crash_loaded; /* PVPANIC_CRASH_LOADED writes */
	uint64_t unknown;      /* writes carrying unsupported bits */
	uint64_t shutdowns;    /* shutdown requests made (on-panic: crash) */
};

struct pvpanic {
	struct device dev;
	struct pvpanic_stats stats;
	enum pvpanic_action action;
	struct log_ratelimit rl;
	struct pci_function pf; /* pvpanic-pci only */
};

/* Indexed by enum pvpanic_action. */
static const char *const on_panic_choices[] = {
	[PVPANIC_ACTION_LOG] = "log",
	[PVPANIC_ACTION_CRASH] = "crash",
	[_PVPANIC_ACTION_COUNT] = NULL,
};

static const struct cfg_extra_key pvpanic_extra_keys[] = {
	{
		.name = "on-panic",
		.type = CFG_EXTRA_ENUM,
		.choices = on_panic_choices,
		.required = false,
		.default_value = "log",
	},
	{ .name = NULL },
};

static struct pvpanic *
to_pvpanic(struct device *dev)
{
	return container_of(dev, struct pvpanic, dev);
}

/* `on-panic`, as config/ resolved it (absent: the default, log). */
static int
parse_action(const struct cfg_device *cfg, enum pvpanic_action *ret)
{
	int i = cfg_device_extra_enum(cfg, "on-panic");

	if (i == -ENOENT)
		i = PVPANIC_ACTION_LOG;
	if (i < 0 || i >= _PVPANIC_ACTION_COUNT)
		return -EINVAL;
	*ret = (enum pvpanic_action)i;
	return 0;
}

static void
pvpanic_crash(struct pvpanic *s)
{
	const struct device_services *svc = s->dev.svc;
	int r = -EOPNOTSUPP;

	s->stats.shutdowns++;
	if (svc && svc->shutdown)
		r = svc->shutdown(svc->opaque, DEVICE_SHUTDOWN_CRASH);
	if (r < 0)
		log_ratelimited(&s->rl, LOG_LEVEL_ERROR,
				"%s: crashing the guest (on-panic: crash) "
				"failed: %s",
				s->dev.id, strerror(-r));
}

static void
pvpanic_event(struct pvpanic *s, uint8_t events)
{
	if (events & ~PVPANIC_EVENTS) {
		s->stats.unknown++;
		log_ratelimited(&s->rl, LOG_LEVEL_WARNING,
				"%s: unknown pvpanic event bits %#x, ignoring",
				s->dev.id, events & ~PVPANIC_EVENTS);
	}
	if (events & PVPANIC_PANICKED) {
		s->stats.panicked++;
		log_ratelimited(&s->rl, LOG_LEVEL_ERROR, "%s: guest panicked",
				s->dev.id);
		device_report(&s->dev, DEVICE_EVENT_GUEST_PANICKED,
			      "guest panicked");
		if (s->action == PVPANIC_ACTION_CRASH)
			pvpanic_crash(s);
	}
	if (events & PVPANIC_CRASH_LOADED) {
		s->stats.crash_loaded++;
		log_ratelimited(&s->rl, LOG_LEVEL_ERROR,
				"%s: guest crash kernel loaded", s->dev.id);
	}
}

static void
pvpanic_destroy(struct device *dev)
{
	struct pvpanic *s;

	if (!dev)
		return;
	s = to_pvpanic(dev);
	pci_function_fini(&s->pf);
	free(s);
}

static const struct device_ops pvpanic_ops;

/* Common part of both types: allocation and on-panic. */
static int
pvpanic_alloc(const struct cfg_device *cfg, const struct device_services *svc,
	      const struct device_type *type, struct pvpanic **ret)
{
	enum pvpanic_action action;
	struct pvpanic *s;
	int r;

	if (!cfg || !svc)
		return -EINVAL;
	r = parse_action(cfg, &action);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	device_init(&s->dev, type, &pvpanic_ops, cfg->id, svc);
	s->action = action;
	*ret = s;
	return 0;
}

static int
pvpanic_isa_create(const struct cfg_device *cfg,
		   const struct device_services *svc, struct device **ret_dev)
{
	struct pvpanic *s;
	int r;

	/* config/ has put the default port in when `port` was absent. */
	if (!ret_dev || !cfg || !(cfg->keys & CFG_KEY_PORT) ||
	    !range_within(cfg->port, 1, RANGE_PORT_SPACE_SIZE))
		return -EINVAL;
	r = pvpanic_alloc(cfg, svc, &pvpanic_type, &s);
	if (r < 0)
		return r;
	s->dev.regions[0] = (struct device_region){
		.space = BUS_SPACE_PORT,
		.base = cfg->port,
		.size = 1,
		.access_sizes = DEVICE_ACCESS_1,
	};
	s->dev.region_count = 1;
	*ret_dev = &s->dev;
	return 0;
}

static int
pvpanic_pci_create(const struct cfg_device *cfg,
		   const struct device_services *svc, struct device **ret_dev)
{
	static const struct pci_ids ids = {
		.vendor_id = PVPANIC_PCI_VENDOR_ID,
		.device_id = PVPANIC_PCI_DEVICE_ID,
		.revision = PVPANIC_PCI_REVISION,
		.class_code = PVPANIC_PCI_CLASS,
		.subsystem_vendor_id = PVPANIC_PCI_SUBVENDOR,
		.subsystem_id = PVPANIC_PCI_SUBSYSTEM,
		.interrupt_pin = 0,
	};
	struct pvpanic *s;
	int r;

	if (!ret_dev || !cfg || !(cfg->keys & CFG_KEY_PCI))
		return -EINVAL;
	r = pvpanic_alloc(cfg, svc, &pvpanic_pci_type, &s);
	if (r < 0)
		return r;
	s->dev.is_pci = true;
	s->dev.pci_sbdf = cfg->pci_sbdf;
	pci_function_init(&s->pf, &s->dev, &ids);
	r = pci_add_bar(&s->pf, 0, PCI_BAR_MEM32, PVPANIC_PCI_BAR_SIZE, false,
			DEVICE_ACCESS_1);
	if (r < 0) {
		pvpanic_destroy(&s->dev);
		return r;
	}
	*ret_dev = &s->dev;
	return 0;
}

static void
pvpanic_reset(struct device *dev)
{
	struct pvpanic *s = to_pvpanic(dev);

	if (dev->is_pci)
		pci_function_reset(&s->pf);
}

static uint64_t
pvpanic_read(struct device *dev, unsigned region, uint64_t offset,
	     unsigned size)
{
	uint64_t reg_size = dev->is_pci ? PVPANIC_PCI_REG_SIZE : 1;
	uint64_t win_size = dev->is_pci ? PVPANIC_PCI_BAR_SIZE : 1;

	if (region != 0 || size != 1 || offset >= win_size) {
		dev->stats.bad_accesses++;
		return 0xff;
	}
	return offset < reg_size ? PVPANIC_EVENTS : 0;
}

static void
pvpanic_write(struct device *dev, unsigned region, uint64_t offset,
	      unsigned size, uint64_t value)
{
	uint64_t reg_size = dev->is_pci ? PVPANIC_PCI_REG_SIZE : 1;
	uint64_t win_size = dev->is_pci ? PVPANIC_PCI_BAR_SIZE : 1;

	if (region != 0 || size != 1 || offset >= win_size) {
		dev->stats.bad_accesses++;
		return;
	}
	if (offset < reg_size)
		pvpanic_event(to_pvpanic(dev), (uint8_t)value);
}


static void
pvpanic_stats(const struct device *dev, const struct device_stats_writer *w)
{
	const struct pvpanic_stats *st =
		&container_of(dev, const struct pvpanic, dev)->stats;

	device_stats_emit(w, "panicked", st->panicked);
	device_stats_emit(w, "crash_loaded", st->crash_loaded);
	device_stats_emit(w, "unknown", st->unknown);
	device_stats_emit(w, "shutdowns", st->shutdowns);
}
/* No backend; the register raises no interrupt. */
static void
pvpanic_describe(const struct device *dev, const struct device_info_writer *w)
{
	(void)dev;
	device_info_str(w, "interrupt", "none");
}

/* One table for both types: the register is the same byte. */
static const struct device_ops pvpanic_ops = {
	.destroy = pvpanic_destroy,
	.reset = pvpanic_reset,
	.read = pvpanic_read,
	.write = pvpanic_write,
	.stats = pvpanic_stats,
	.describe = pvpanic_describe,
};

static const struct cfg_type_desc pvpanic_cfg = {
	.name = "pvpanic",
	.keys = CFG_KEY_PORT,
	.placement = CFG_KEY_PORT,
	.default_port = PVPANIC_DEFAULT_PORT,
	.port_size = 1,
	.extra_keys = pvpanic_extra_keys,
};

const struct device_type pvpanic_type = {
	.name = "pvpanic",
	.cfg = &pvpanic_cfg,
	.create = pvpanic_isa_create,
};

static const struct cfg_type_desc pvpanic_pci_cfg = {
	.name = "pvpanic-pci",
	.keys = CFG_KEY_PCI,
	.placement = CFG_KEY_PCI,
	.extra_keys = pvpanic_extra_keys,
};

const struct device_type pvpanic_pci_type = {
	.name = "pvpanic-pci",
	.cfg = &pvpanic_pci_cfg,
	.create = pvpanic_pci_create,
};
