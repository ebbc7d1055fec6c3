/*
 * Debug console port (type `debugcon`): one write-only byte port whose
 * bytes go to a character back-end.  Default port 0x402, where OVMF writes
 * its debug log; 0xe9 is not usable on Xen (the hypervisor keeps it).
 * Reads return 0xe9, the value firmware probes for to detect the port.
 *
 * There is no flow control towards the guest (the port has no status
 * register): bytes the back-end cannot take (a slow socket client with a
 * full buffer) are dropped and counted.  Wider writes are split into bytes
 * by the bus, lowest address first.
 */
#include <errno.h>
#include <stdlib.h>

#include "config/cfg.h"
#include "devices/chardev.h"
#include "devices/device.h"
#include "devices/registry.h"
#include "lib/container.h"
#include "lib/log.h"
#include "lib/range.h"

#define DEBUGCON_DEFAULT_PORT 0x402
#define DEBUGCON_READ_VALUE   0xe9

struct debugcon {
	struct device dev;
	struct chardev *cd;
	uint64_t dropped; /* bytes the back-end had no room for */
	struct log_ratelimit rl;
};

static struct debugcon *
to_debugcon(struct device *dev)
{
	return container_of(dev, struct debugcon, dev);
}

static void
debugcon_destroy(struct device *dev)
{
	struct debugcon *s;

	if (!dev)
		return;
	s = to_debugcon(dev);
	chardev_close(s->cd);
	free(s);
}

static const struct device_ops debugcon_ops;

/* config/ has put the default port in when `port` was absent. */
static int
debugcon_create(const struct cfg_device *cfg, const struct device_services *svc,
		struct device **ret_dev)
{
	struct debugcon *s;
	int r;

	if (!cfg || !svc || !ret_dev || !(cfg->keys & CFG_KEY_PORT) ||
	    !range_within(cfg->port, 1, RANGE_PORT_SPACE_SIZE))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	device_init(&s->dev, &debugcon_type, &debugcon_ops, cfg->id, svc);
	s->dev.regions[0] = (struct device_region){
		.space = BUS_SPACE_PORT,
		.base = cfg->port,
		.size = 1,
		.access_sizes = DEVICE_ACCESS_1,
	};
	s->dev.region_count = 1;
	r = chardev_open((cfg->keys & CFG_KEY_BACKEND) ? &cfg->backend : NULL,
			 svc->events, cfg->id, &s->cd);
	if (r < 0) {
		debugcon_destroy(&s->dev);
		return r;
	}
	*ret_dev = &s->dev;
	return 0;
}

static uint64_t
debugcon_read(struct device *dev, unsigned region, uint64_t offset,
	      unsigned size)
{
	if (region != 0 || offset != 0 || size != 1) {
		dev->stats.bad_accesses++;
		return 0xff;
	}
	return DEBUGCON_READ_VALUE;
}

static void
debugcon_write(struct device *dev, unsigned region, uint64_t offset,
	       unsigned size, uint64_t value)
{
	struct debugcon *s = to_debugcon(dev);
	uint8_t b = (uint8_t)value;

	if (region != 0 || offset != 0 || size != 1) {
		dev->stats.bad_accesses++;
		return;
	}
	if (chardev_write(s->cd, &b, 1) == 0) {
		s->dropped++;
		log_ratelimited(&s->rl, LOG_LEVEL_WARNING,
				"%s: back-end full, debug output byte lost",
				dev->id);
	}
}

static void
debugcon_stats(const struct device *dev, const struct device_stats_writer *w)
{
	device_stats_emit(w, "dropped",
			  container_of(dev, const struct debugcon, dev)
				  ->dropped);
}

/* No interrupt: only the back-end to tell. */
static void
debugcon_describe(const struct device *dev, const struct device_info_writer *w)
{
	chardev_describe(container_of(dev, const struct debugcon, dev)->cd, w);
}

/*
 * New back-end open first, then swapped in.  Output the old one still
 * buffers is flushed by its close as far as that can without blocking;
 * debugcon has no FIFO of its own, so nothing is carried over.
 */
static int
debugcon_chardev_attach(struct device *dev, const struct cfg_backend *backend)
{
	struct debugcon *s = to_debugcon(dev);
	struct chardev *cd, *old = s->cd;
	int r;

	r = chardev_open(backend, dev->svc->events, dev->id, &cd);
	if (r < 0)
		return r;
	s->cd = cd;
	chardev_close(old);
	return 0;
}

static const struct device_ops debugcon_ops = {
	.destroy = debugcon_destroy,
	.reset = NULL,
	.read = debugcon_read,
	.write = debugcon_write,
	.stats = debugcon_stats,
	.describe = debugcon_describe,
	.chardev_attach = debugcon_chardev_attach,
};

static const struct cfg_type_desc debugcon_cfg = {
	.name = "debugcon",
	.keys = CFG_KEY_PORT | CFG_KEY_BACKEND,
	.placement = CFG_KEY_PORT,
	.default_port = DEBUGCON_DEFAULT_PORT,
	.port_size = 1,
};

const struct device_type debugcon_type = {
	.name = "debugcon",
	.cfg = &debugcon_cfg,
	.create = debugcon_create,
};
