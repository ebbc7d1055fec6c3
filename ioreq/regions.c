/*
 * What this server claims: port and MMIO ranges and PCI functions, each
 * claimed with Xen (map_io_range_to_ioreq_server, map_pcidev_to_ioreq_server)
 * and on the bus together, by the one pair of functions used for device
 * add/remove (server.c) and for guest-driven BAR moves (region-batch.c).
 *
 * Order: Xen first, then the bus, so that a failed dm_op leaves nothing
 * to undo but the bus entry we have not made yet, and the bus (which a
 * claim cannot fail on after the overlap check, bar an allocation) is
 * undone-able without a hypercall.  Release runs in reverse: Xen, then
 * the bus.  The bus entry goes even when the dm_op fails: the device is
 * about to move or be freed, and Xen still routing the old window to us
 * then gets the answer of an unclaimed range.
 *
 * Every claim and release logs one debug line, rate-limited: a guest moves
 * BARs as often as it likes (every probe of a BAR's size is two moves), so
 * this is guest-driven traffic, kept out of the info level.
 */
#include "ioreq/server-internal.h"

#include <errno.h>

#include "lib/range.h"

/* [base, base + size) -> Xen's inclusive [base, *ret_last]. */
static int
range_last(enum bus_space space, uint64_t base, uint64_t size,
	   uint64_t *ret_last)
{
	if (!range_fits(base, size))
		return -EINVAL;
	if (space == BUS_SPACE_PORT &&
	    !range_within(base, size, RANGE_PORT_SPACE_SIZE))
		return -EINVAL;
	if (space != BUS_SPACE_PORT && space != BUS_SPACE_MMIO)
		return -EINVAL;
	*ret_last = base + (size - 1);
	return 0;
}

int
ioreq_range_check(enum bus_space space, uint64_t base, uint64_t size)
{
	uint64_t last;

	return range_last(space, base, size, &last);
}

int
ioreq_map_range(struct ioreq_server *s, enum bus_space space, uint64_t base,
		uint64_t size)
{
	uint64_t last;
	int r = range_last(space, base, size, &last);

	if (r < 0)
		return r;
	if (xendevicemodel_map_io_range_to_ioreq_server(s->dmod, s->domid,
							s->id,
							space == BUS_SPACE_MMIO,
							base, last) < 0)
		return ioreq_server_dmop_error(s);
	return 0;
}

int
ioreq_unmap_range(struct ioreq_server *s, enum bus_space space, uint64_t base,
		  uint64_t size)
{
	uint64_t last;
	int r = range_last(space, base, size, &last);

	if (r < 0)
		return r;
	if (xendevicemodel_unmap_io_range_from_ioreq_server(
		    s->dmod, s->domid, s->id, space == BUS_SPACE_MMIO, base,
		    last) < 0)
		return ioreq_server_dmop_error(s);
	return 0;
}

static const char *
space_name(enum bus_space space)
{
	return space == BUS_SPACE_PORT ? "ports" : "MMIO";
}

void
ioreq_region_log(struct ioreq_server *s, const struct device *dev,
		 const char *what, const struct device_region *win,
		 unsigned region)
{
	log_ratelimited(&s->region_ratelimit, LOG_LEVEL_DEBUG,
			"device %s: %s %s 0x%llx-0x%llx (region %u)", dev->id,
			what, space_name(win->space),
			(unsigned long long)win->base,
			(unsigned long long)(win->base + win->size - 1),
			region);
}

bool
ioreq_region_claimed(const struct ioreq_server *s, const struct device *dev,
		     unsigned region, const struct device_region *win)
{
	const struct bus_entry *e;

	if (ioreq_range_check(win->space, win->base, win->size) < 0)
		return false;
	e = bus_find(s->bus, win->space, win->base, win->size);
	return e && e->dev == dev && e->region == region &&
	       e->base == win->base && e->size == win->size;
}

int
ioreq_region_claim(struct ioreq_server *s, struct device *dev, unsigned region)
{
	const struct device_region *reg = &dev->regions[region];
	int r;

	r = ioreq_range_check(reg->space, reg->base, reg->size);
	if (r < 0)
		return r;
	/* Checked first: a refused window costs no hypercall. */
	if (bus_overlaps(s->bus, reg->space, reg->base, reg->size))
		return -EEXIST;
	r = ioreq_map_range(s, reg->space, reg->base, reg->size);
	if (r < 0)
		return r;
	r = bus_add(s->bus, dev, region);
	if (r < 0) {
		(void)ioreq_unmap_range(s, reg->space, reg->base, reg->size);
		return r;
	}
	ioreq_region_log(s, dev, "claimed", reg, region);
	return 0;
}

int
ioreq_region_release(struct ioreq_server *s, struct device *dev,
		     unsigned region, const struct device_region *win)
{
	int r;

	if (!ioreq_region_claimed(s, dev, region, win))
		return 0;
	r = ioreq_unmap_range(s, win->space, win->base, win->size);
	(void)bus_remove(s->bus, win->space, win->base, dev, region);
	ioreq_region_log(s, dev, "released", win, region);
	return r;
}

static int
pci_unmap(struct ioreq_server *s, uint32_t sbdf)
{
	if (xendevicemodel_unmap_pcidev_from_ioreq_server(
		    s->dmod, s->domid, s->id, 0, (uint8_t)(sbdf >> 8),
		    (uint8_t)DEVICE_PCI_SLOT(sbdf),
		    (uint8_t)DEVICE_PCI_FUNC(sbdf)) < 0)
		return ioreq_server_dmop_error(s);
	return 0;
}

int
ioreq_pci_claim(struct ioreq_server *s, struct device *dev)
{
	uint32_t sbdf = dev->pci_sbdf;
	int r;

	if (bus_find_pci(s->bus, sbdf))
		return -EEXIST;
	if (xendevicemodel_map_pcidev_to_ioreq_server(
		    s->dmod, s->domid, s->id, 0, (uint8_t)(sbdf >> 8),
		    (uint8_t)DEVICE_PCI_SLOT(sbdf),
		    (uint8_t)DEVICE_PCI_FUNC(sbdf)) < 0)
		return ioreq_server_dmop_error(s);
	r = bus_add_pci(s->bus, dev);
	if (r < 0)
		(void)pci_unmap(s, sbdf);
	return r;
}

void
ioreq_pci_release(struct ioreq_server *s, struct device *dev)
{
	if (bus_find_pci(s->bus, dev->pci_sbdf) != dev)
		return;
	(void)pci_unmap(s, dev->pci_sbdf);
	(void)bus_remove_pci(s->bus, dev);
}
