/*
 * Region changes (PCI BAR moves, decode bits) coalesced within one guest
 * request.  A REP OUTSW of 2048 words to 0xcfc can toggle COMMAND's decode
 * bits 2048 times in one request; claimed and released with Xen each time
 * that would be 2048 map/unmap dm_op pairs.  So while a request is being
 * dispatched (ioreq_regions_begin .. ioreq_regions_end, told by dispatch.c)
 * a change updates the bus at once and only records the region, with what
 * Xen had mapped for it before the request; at the end each recorded
 * region is reconciled with Xen once: unmapped if its window changed,
 * mapped at its final window.
 *
 * Why the bus still changes at once: it is what the device model and the
 * rest of the request see.  Overlap refusals (-EEXIST) reach the device
 * synchronously, as before, and a later element of the same request that
 * reached a moved window (say, a COPY rep crossing into it) is routed as
 * the guest just programmed it.  Xen lagging behind within the request is
 * invisible to the guest: Xen sends it nothing new until the request is
 * answered, which happens after the reconciliation.  (Xen only routes the
 * *next* accesses, and those see the final state.)
 *
 * A failure with Xen at the end can no longer be returned to the device:
 * the region is then taken off the bus and its size set to 0, which is
 * what a device does itself on a refused region_changed (the window is not
 * decoded; writing the same BAR again retries), and logged as a warning,
 * rate-limited.  Outside a request (device reset, tests) a change is
 * claimed and released with Xen at once, through the same two functions.
 *
 * Fast path: no allocation (a fixed table; a request that dirties more
 * regions than it holds has the rest done at once), no syscall beyond the
 * dm_ops of the end.
 */
#include "ioreq/server-internal.h"

#include <errno.h>
#include <string.h>

static bool
same_window(const struct device_region *a, const struct device_region *b)
{
	return a->space == b->space && a->base == b->base && a->size == b->size;
}

/* The entry for (dev, region), made on first sight; NULL when full. */
static struct ioreq_region_pending *
pending_get(struct ioreq_server *s, struct device *dev, unsigned region,
	    const struct device_region *old)
{
	struct ioreq_region_batch *b = &s->batch;
	struct ioreq_region_pending *p;

	for (unsigned i = 0; i < b->count; i++) {
		if (b->pending[i].dev == dev && b->pending[i].region == region)
			return &b->pending[i];
	}
	if (b->count == IOREQ_BATCH_MAX)
		return NULL;
	p = &b->pending[b->count++];
	*p = (struct ioreq_region_pending){ .dev = dev, .region = region };
	/* Not yet in the batch, so the bus still says what Xen has. */
	if (old && ioreq_region_claimed(s, dev, region, old)) {
		p->mapped = true;
		p->xen = *old;
	}
	return p;
}

/* The bus half of a change: drop `old` if held, add the new window. */
static int
bus_update(struct ioreq_server *s, struct device *dev, unsigned region,
	   const struct device_region *old)
{
	const struct device_region *reg = &dev->regions[region];
	int r;

	if (old && ioreq_region_claimed(s, dev, region, old))
		(void)bus_remove(s->bus, old->space, old->base, dev, region);
	if (reg->size == 0)
		return 0;
	r = ioreq_range_check(reg->space, reg->base, reg->size);
	if (r < 0)
		return r;
	if (bus_overlaps(s->bus, reg->space, reg->base, reg->size))
		return -EEXIST;
	return bus_add(s->bus, dev, region);
}

/* Release `old` if claimed, then claim the current window: at once. */
static int
change_now(struct ioreq_server *s, struct device *dev, unsigned region,
	   const struct device_region *old)
{
	int r;

	if (old && old->size != 0) {
		r = ioreq_region_release(s, dev, region, old);
		if (r < 0)
			return r;
	}
	if (dev->regions[region].size == 0)
		return 0;
	return ioreq_region_claim(s, dev, region);
}

int
ioreq_region_changed(struct ioreq_server *s, struct device *dev,
		     unsigned region, const struct device_region *old)
{
	struct ioreq_region_pending *p;

	if (!dev || region >= DEVICE_MAX_REGIONS || region >= dev->region_count)
		return -EINVAL;
	if (old && old->size == 0)
		old = NULL;
	if (!s->batch.open)
		return change_now(s, dev, region, old);
	p = pending_get(s, dev, region, old);
	if (!p)
		return change_now(s, dev, region, old);
	return bus_update(s, dev, region, old);
}

void
ioreq_regions_begin(struct ioreq_server *s)
{
	s->batch.open = true;
	s->batch.count = 0;
}

/* Is the final window of p what Xen already has? */
static bool
pending_unchanged(const struct ioreq_server *s,
		  const struct ioreq_region_pending *p)
{
	const struct device_region *reg = &p->dev->regions[p->region];

	return p->mapped && same_window(&p->xen, reg) &&
	       ioreq_region_claimed(s, p->dev, p->region, reg);
}

static void
pending_unmap(struct ioreq_server *s, const struct ioreq_region_pending *p)
{
	int r = ioreq_unmap_range(s, p->xen.space, p->xen.base, p->xen.size);

	if (r < 0)
		log_ratelimited(&s->region_ratelimit, LOG_LEVEL_WARNING,
				"device %s: releasing region %u with Xen: %s",
				p->dev->id, p->region, strerror(-r));
	else
		ioreq_region_log(s, p->dev, "released", &p->xen, p->region);
}

static void
pending_map(struct ioreq_server *s, const struct ioreq_region_pending *p)
{
	struct device_region *reg = &p->dev->regions[p->region];
	int r;

	if (!ioreq_region_claimed(s, p->dev, p->region, reg))
		return;
	r = ioreq_map_range(s, reg->space, reg->base, reg->size);
	if (r == 0) {
		ioreq_region_log(s, p->dev, "claimed", reg, p->region);
		return;
	}
	log_ratelimited(&s->region_ratelimit, LOG_LEVEL_WARNING,
			"device %s: claiming region %u at 0x%llx (%llu bytes) "
			"with Xen: %s, leaving it undecoded",
			p->dev->id, p->region, (unsigned long long)reg->base,
			(unsigned long long)reg->size, strerror(-r));
	(void)bus_remove(s->bus, reg->space, reg->base, p->dev, p->region);
	reg->size = 0;
}

/*
 * Every unmap before any map: a window one region left may be where
 * another one (or the same, resized) lands, and Xen refuses overlapping
 * ranges of one server.
 */
void
ioreq_regions_end(struct ioreq_server *s)
{
	struct ioreq_region_batch *b = &s->batch;

	b->open = false;
	for (unsigned i = 0; i < b->count; i++) {
		if (b->pending[i].mapped &&
		    !pending_unchanged(s, &b->pending[i]))
			pending_unmap(s, &b->pending[i]);
	}
	for (unsigned i = 0; i < b->count; i++) {
		if (!pending_unchanged(s, &b->pending[i]))
			pending_map(s, &b->pending[i]);
	}
	b->count = 0;
}
