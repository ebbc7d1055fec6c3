/*
 * Address-space dispatch (see bus.h): one sorted array of non-overlapping
 * half-open entries per space, binary-searched on every access.
 *
 * Width handling follows an ISA-style bus: an access wider than anything the
 * region implements is split into the region's smallest implemented width,
 * lowest address first, and the pieces are assembled little-endian.  An
 * access narrower than the smallest implemented width cannot be expressed
 * and is answered with all-ones / dropped.  An access that straddles a
 * region edge is refused as a whole (all-ones / dropped): it bumps
 * bus->unclaimed, as bus.h says, and also the device's bad_accesses, so the
 * operator can see which device the guest was poking at.
 *
 * bus_read/bus_write allocate nothing and make no syscalls.
 */
#include "devices/bus.h"
#include "devices/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/range.h"

void
bus_init(struct bus *bus)
{
	memset(bus, 0, sizeof(*bus));
}

void
bus_fini(struct bus *bus)
{
	for (unsigned s = 0; s < _BUS_SPACE_COUNT; s++)
		free(bus->spaces[s].entries);
	free(bus->pci.devs);
	memset(bus, 0, sizeof(*bus));
}

/* Number of entries whose base is <= addr (index of the first one above). */
static unsigned
table_upper_bound(const struct bus_space_table *t, uint64_t addr)
{
	unsigned lo = 0, hi = t->count;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (t->entries[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Last byte of [base, base + size); size != 0 and no overflow assumed. */
static inline uint64_t
range_last(uint64_t base, uint64_t size)
{
	return base + (size - 1);
}

/*
 * First entry overlapping [addr, addr + size), or NULL.  size != 0 and
 * addr + size - 1 must not overflow.
 */
static const struct bus_entry *
table_first_overlap(const struct bus_space_table *t, uint64_t addr,
		    uint64_t size)
{
	unsigned idx = table_upper_bound(t, addr);
	uint64_t last = range_last(addr, size);

	if (idx > 0) {
		const struct bus_entry *e = &t->entries[idx - 1];

		if (range_last(e->base, e->size) >= addr)
			return e;
	}
	if (idx < t->count && t->entries[idx].base <= last)
		return &t->entries[idx];
	return NULL;
}

static bool
range_valid(enum bus_space space, uint64_t base, uint64_t size)
{
	if (!range_fits(base, size))
		return false;
	/* x86 port space is 64 KiB; nothing may be claimed beyond it. */
	if (space == BUS_SPACE_PORT &&
	    !range_within(base, size, RANGE_PORT_SPACE_SIZE))
		return false;
	return true;
}

bool
bus_overlaps(const struct bus *bus, enum bus_space space, uint64_t base,
	     uint64_t size)
{
	if ((unsigned)space >= _BUS_SPACE_COUNT || size == 0)
		return false;
	if (!range_fits(base, size))
		size = UINT64_MAX - base + 1; /* clamp to the top */
	return table_first_overlap(&bus->spaces[space], base, size) != NULL;
}

int
bus_add(struct bus *bus, struct device *dev, unsigned region)
{
	const struct device_region *r;
	struct bus_space_table *t;
	unsigned idx;

	if (!dev || region >= DEVICE_MAX_REGIONS || region >= dev->region_count)
		return -EINVAL;
	r = &dev->regions[region];
	if ((unsigned)r->space >= _BUS_SPACE_COUNT ||
	    !range_valid(r->space, r->base, r->size))
		return -EINVAL;
	t = &bus->spaces[r->space];
	if (table_first_overlap(t, r->base, r->size))
		return -EEXIST;

	if (t->count == t->capacity) {
		unsigned cap = t->capacity ? t->capacity * 2 : 16;
		struct bus_entry *n;

		if (cap <= t->capacity)
			return -ENOMEM;
		n = reallocarray(t->entries, cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->entries = n;
		t->capacity = cap;
	}
	idx = table_upper_bound(t, r->base);
	memmove(&t->entries[idx + 1], &t->entries[idx],
		(t->count - idx) * sizeof(t->entries[0]));
	t->entries[idx] = (struct bus_entry){
		.base = r->base,
		.size = r->size,
		.dev = dev,
		.region = region,
	};
	t->count++;
	return 0;
}

int
bus_remove(struct bus *bus, enum bus_space space, uint64_t base,
	   struct device *dev, unsigned region)
{
	struct bus_space_table *t;
	unsigned idx;

	if ((unsigned)space >= _BUS_SPACE_COUNT)
		return -EINVAL;
	t = &bus->spaces[space];
	idx = table_upper_bound(t, base);
	if (idx == 0)
		return -ENOENT;
	idx--;
	if (t->entries[idx].base != base || t->entries[idx].dev != dev ||
	    t->entries[idx].region != region)
		return -ENOENT;
	memmove(&t->entries[idx], &t->entries[idx + 1],
		(t->count - idx - 1) * sizeof(t->entries[0]));
	t->count--;
	return 0;
}

const struct bus_entry *
bus_find(const struct bus *bus, enum bus_space space, uint64_t addr,
	 uint64_t size)
{
	const struct bus_space_table *t;
	const struct bus_entry *e;
	unsigned idx;

	if ((unsigned)space >= _BUS_SPACE_COUNT || !range_fits(addr, size))
		return NULL;
	t = &bus->spaces[space];
	idx = table_upper_bound(t, addr);
	if (idx == 0)
		return NULL;
	e = &t->entries[idx - 1];
	/* whole access inside [e->base, e->base + e->size) */
	if (addr - e->base > e->size - 1 ||
	    range_last(addr, size) - e->base > e->size - 1)
		return NULL;
	return e;
}

static bool
size_valid(unsigned size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

/*
 * Width the device is called with for an access of `size` bytes, or 0 when
 * the access cannot be served (narrower than anything implemented).
 */
static unsigned
access_width(const struct device_region *r, unsigned size)
{
	unsigned sizes = r->access_sizes & DEVICE_ACCESS_ALL;
	unsigned smallest;

	if (sizes & size) /* DEVICE_ACCESS_n == n for n = 1, 2, 4, 8 */
		return size;
	if (!sizes)
		return 0;
	smallest = sizes & -sizes;
	return smallest < size ? smallest : 0;
}

/*
 * Miss: either nothing is there (unclaimed) or the access straddles a
 * region edge (also charged to the device it touched).
 */
static void
bus_miss(struct bus *bus, enum bus_space space, uint64_t addr, unsigned size)
{
	const struct bus_entry *e = NULL;

	bus->unclaimed++;
	if ((unsigned)space < _BUS_SPACE_COUNT && size != 0) {
		uint64_t len = size;

		if (!range_fits(addr, len))
			len = UINT64_MAX - addr + 1;
		e = table_first_overlap(&bus->spaces[space], addr, len);
	}
	if (e)
		e->dev->stats.bad_accesses++;
}

uint64_t
bus_read(struct bus *bus, enum bus_space space, uint64_t addr, unsigned size)
{
	const struct bus_entry *e;
	const struct device_region *r;
	struct device *dev;
	uint64_t offset, value = 0;
	unsigned width;

	if (!size_valid(size)) {
		bus_miss(bus, space, addr, size);
		return range_all_ones(size);
	}
	e = bus_find(bus, space, addr, size);
	if (!e) {
		bus_miss(bus, space, addr, size);
		return range_all_ones(size);
	}
	dev = e->dev;
	r = &dev->regions[e->region];
	width = access_width(r, size);
	if (!width) {
		dev->stats.bad_accesses++;
		return range_all_ones(size);
	}
	dev->stats.reads++;
	if (!dev->ops->read)
		return 0; /* absent hook: reads as zero (style.md) */
	offset = addr - e->base;
	for (unsigned done = 0; done < size; done += width) {
		uint64_t piece = dev->ops->read(dev, e->region, offset + done,
						width);

		value |= (piece & range_all_ones(width)) << (done * 8);
	}
	return value;
}

void
bus_write(struct bus *bus, enum bus_space space, uint64_t addr, unsigned size,
	  uint64_t value)
{
	const struct bus_entry *e;
	const struct device_region *r;
	struct device *dev;
	uint64_t offset;
	unsigned width;

	if (!size_valid(size)) {
		bus_miss(bus, space, addr, size);
		return;
	}
	e = bus_find(bus, space, addr, size);
	if (!e) {
		bus_miss(bus, space, addr, size);
		return;
	}
	dev = e->dev;
	r = &dev->regions[e->region];
	width = access_width(r, size);
	if (!width) {
		dev->stats.bad_accesses++;
		return;
	}
	dev->stats.writes++;
	if (!dev->ops->write)
		return;
	value &= range_all_ones(size);
	offset = addr - e->base;
	for (unsigned done = 0; done < size; done += width)
		dev->ops->write(dev, e->region, offset + done, width,
				(value >> (done * 8)) & range_all_ones(width));
}

/*
 * PCI configuration space: one sorted array of functions keyed by SBDF.
 * The config hooks are only ever called with offset + size inside the
 * 4096-byte space and size 1, 2 or 4; everything else is answered here.
 */

/* Number of functions whose SBDF is < sbdf (insertion point). */
static unsigned
pci_lower_bound(const struct bus_pci_table *t, uint32_t sbdf)
{
	unsigned lo = 0, hi = t->count;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (t->devs[mid]->pci_sbdf < sbdf)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
bus_add_pci(struct bus *bus, struct device *dev)
{
	struct bus_pci_table *t = &bus->pci;
	unsigned idx;

	if (!dev || !dev->is_pci || !device_has_config(dev))
		return -EINVAL;
	idx = pci_lower_bound(t, dev->pci_sbdf);
	if (idx < t->count && t->devs[idx]->pci_sbdf == dev->pci_sbdf)
		return -EEXIST;
	if (t->count == t->capacity) {
		unsigned cap = t->capacity ? t->capacity * 2 : 8;
		struct device **n;

		if (cap <= t->capacity)
			return -ENOMEM;
		n = reallocarray(t->devs, cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->devs = n;
		t->capacity = cap;
	}
	memmove(&t->devs[idx + 1], &t->devs[idx],
		(t->count - idx) * sizeof(t->devs[0]));
	t->devs[idx] = dev;
	t->count++;
	return 0;
}

int
bus_remove_pci(struct bus *bus, struct device *dev)
{
	struct bus_pci_table *t = &bus->pci;
	unsigned idx;

	if (!dev)
		return -EINVAL;
	idx = pci_lower_bound(t, dev->pci_sbdf);
	if (idx >= t->count || t->devs[idx] != dev)
		return -ENOENT;
	memmove(&t->devs[idx], &t->devs[idx + 1],
		(t->count - idx - 1) * sizeof(t->devs[0]));
	t->count--;
	return 0;
}

struct device *
bus_find_pci(const struct bus *bus, uint32_t sbdf)
{
	const struct bus_pci_table *t = &bus->pci;
	unsigned idx = pci_lower_bound(t, sbdf);

	if (idx < t->count && t->devs[idx]->pci_sbdf == sbdf)
		return t->devs[idx];
	return NULL;
}

uint32_t
bus_config_read(struct bus *bus, uint32_t sbdf, unsigned offset, unsigned size)
{
	struct device *dev = bus_find_pci(bus, sbdf);
	uint32_t all_ones = (uint32_t)range_all_ones(size);

	if (!dev) {
		bus->unclaimed++;
		return all_ones;
	}
	if (!pci_config_access_valid(offset, size)) {
		dev->stats.bad_accesses++;
		return all_ones;
	}
	if (!dev->ops->config_read)
		return pci_config_read(dev->pci, offset, size) & all_ones;
	return dev->ops->config_read(dev, offset, size) & all_ones;
}

void
bus_config_write(struct bus *bus, uint32_t sbdf, unsigned offset, unsigned size,
		 uint32_t value)
{
	struct device *dev = bus_find_pci(bus, sbdf);

	if (!dev) {
		bus->unclaimed++;
		return;
	}
	if (!pci_config_access_valid(offset, size)) {
		dev->stats.bad_accesses++;
		return;
	}
	value &= (uint32_t)range_all_ones(size);
	if (!dev->ops->config_write)
		pci_config_write(dev->pci, offset, size, value);
	else
		dev->ops->config_write(dev, offset, size, value);
}
