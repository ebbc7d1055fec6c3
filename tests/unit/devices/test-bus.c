/* Unit test for devices/bus.c: overlaps, edges, splitting, misses, scale. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "lib/container.h"
#include "lib/range.h"
#include "test-util.h"

#define MAX_CALLS 64

struct call {
	bool write;
	unsigned region;
	uint64_t offset;
	unsigned size;
	uint64_t value;
};

struct dummy {
	struct device dev;
	struct call calls[MAX_CALLS];
	unsigned ncalls;
};

static uint64_t
dummy_read(struct device *dev, unsigned region, uint64_t offset, unsigned size)
{
	struct dummy *d = container_of(dev, struct dummy, dev);

	if (d->ncalls < MAX_CALLS)
		d->calls[d->ncalls++] = (struct call){ false, region, offset,
						       size, 0 };
	/* distinctive per offset; junk above `size` bytes must be masked */
	return 0xdeadbeef00000000ull | (0x10 + offset) * 0x0101010101ull;
}

static void
dummy_write(struct device *dev, unsigned region, uint64_t offset, unsigned size,
	    uint64_t value)
{
	struct dummy *d = container_of(dev, struct dummy, dev);

	if (d->ncalls < MAX_CALLS)
		d->calls[d->ncalls++] = (struct call){ true, region, offset,
						       size, value };
}

static const struct device_ops dummy_ops = {
	.read = dummy_read,
	.write = dummy_write,
};

static const struct device_ops silent_ops = { .destroy = NULL };

static void
dummy_setup(struct dummy *d, enum bus_space space, uint64_t base, uint64_t size,
	    unsigned sizes)
{
	memset(d, 0, sizeof(*d));
	device_init(&d->dev, NULL, &dummy_ops, "dummy", NULL);
	d->dev.regions[0] = (struct device_region){ space, base, size, sizes };
	d->dev.region_count = 1;
}

static void
test_add_overlap(void)
{
	struct bus bus;
	struct dummy a, b, c, z, big, top, hi;

	bus_init(&bus);
	dummy_setup(&a, BUS_SPACE_PORT, 0x3f8, 8, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &a.dev, 0), 0);
	/* overlaps: inside, straddling either edge, covering */
	dummy_setup(&b, BUS_SPACE_PORT, 0x3fa, 2, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &b.dev, 0), -EEXIST);
	dummy_setup(&b, BUS_SPACE_PORT, 0x3f0, 9, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &b.dev, 0), -EEXIST);
	dummy_setup(&b, BUS_SPACE_PORT, 0x3ff, 4, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &b.dev, 0), -EEXIST);
	dummy_setup(&b, BUS_SPACE_PORT, 0x300, 0x200, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &b.dev, 0), -EEXIST);
	/* half-open: touching at either end is fine */
	dummy_setup(&b, BUS_SPACE_PORT, 0x400, 4, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &b.dev, 0), 0);
	dummy_setup(&c, BUS_SPACE_PORT, 0x3f0, 8, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &c.dev, 0), 0);
	CHECK_EQ(bus.spaces[BUS_SPACE_PORT].count, 3);
	CHECK(bus_overlaps(&bus, BUS_SPACE_PORT, 0x3ff, 1));
	CHECK(!bus_overlaps(&bus, BUS_SPACE_PORT, 0x404, 10));
	CHECK(!bus_overlaps(&bus, BUS_SPACE_MMIO, 0x3f8, 8));
	/* same address in the other space does not collide */
	dummy_setup(&hi, BUS_SPACE_MMIO, 0x3f8, 8, DEVICE_ACCESS_4);
	CHECK_EQ(bus_add(&bus, &hi.dev, 0), 0);

	/* invalid: size 0, overflow, beyond port space, bad region index */
	dummy_setup(&z, BUS_SPACE_PORT, 0x500, 0, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &z.dev, 0), -EINVAL);
	CHECK_EQ(bus_add(&bus, &z.dev, 1), -EINVAL);
	dummy_setup(&big, BUS_SPACE_MMIO, UINT64_MAX - 10, 12, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &big.dev, 0), -EINVAL);
	dummy_setup(&big, BUS_SPACE_PORT, 0xfffc, 8, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &big.dev, 0), -EINVAL);
	dummy_setup(&big, BUS_SPACE_PORT, 0xfffc, 4, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &big.dev, 0), 0);
	/* the very top of MMIO is usable, and accesses there do not wrap */
	dummy_setup(&top, BUS_SPACE_MMIO, UINT64_MAX - 0xfff, 0x1000,
		    DEVICE_ACCESS_ALL);
	CHECK_EQ(bus_add(&bus, &top.dev, 0), 0);
	CHECK(bus_find(&bus, BUS_SPACE_MMIO, UINT64_MAX - 7, 8) != NULL);
	CHECK(bus_find(&bus, BUS_SPACE_MMIO, UINT64_MAX - 6, 8) == NULL);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_MMIO, UINT64_MAX, 8), UINT64_MAX);
	CHECK_EQ(top.dev.stats.bad_accesses, 1);

	/* remove: exact match only */
	CHECK_EQ(bus_remove(&bus, BUS_SPACE_PORT, 0x3f8, &b.dev, 0), -ENOENT);
	CHECK_EQ(bus_remove(&bus, BUS_SPACE_PORT, 0x3f9, &a.dev, 0), -ENOENT);
	CHECK_EQ(bus_remove(&bus, BUS_SPACE_PORT, 0x3f8, &a.dev, 0), 0);
	CHECK(!bus_overlaps(&bus, BUS_SPACE_PORT, 0x3f8, 8));
	CHECK_EQ(bus_remove(&bus, BUS_SPACE_PORT, 0x3f8, &a.dev, 0), -ENOENT);
	bus_fini(&bus);
}

static void
test_find_edges(void)
{
	struct bus bus;
	struct dummy a;

	bus_init(&bus);
	dummy_setup(&a, BUS_SPACE_PORT, 0x100, 0x10, DEVICE_ACCESS_ALL);
	CHECK_EQ(bus_add(&bus, &a.dev, 0), 0);
	CHECK(bus_find(&bus, BUS_SPACE_PORT, 0x100, 1) != NULL);
	CHECK(bus_find(&bus, BUS_SPACE_PORT, 0x10f, 1) != NULL);
	CHECK(bus_find(&bus, BUS_SPACE_PORT, 0x108, 8) != NULL);
	CHECK(bus_find(&bus, BUS_SPACE_PORT, 0x110, 1) == NULL);
	CHECK(bus_find(&bus, BUS_SPACE_PORT, 0xff, 1) == NULL);
	CHECK(bus_find(&bus, BUS_SPACE_PORT, 0xff, 2) == NULL);
	CHECK(bus_find(&bus, BUS_SPACE_PORT, 0x10f, 2) == NULL);
	CHECK(bus_find(&bus, BUS_SPACE_PORT, 0x100, 0) == NULL);
	CHECK(bus_find(&bus, BUS_SPACE_MMIO, 0x100, 1) == NULL);
	bus_fini(&bus);
}

static void
test_misses(void)
{
	struct bus bus;
	struct dummy a;
	unsigned sizes[] = { 1, 2, 4, 8 };

	bus_init(&bus);
	dummy_setup(&a, BUS_SPACE_PORT, 0x60, 4, DEVICE_ACCESS_ALL);
	CHECK_EQ(bus_add(&bus, &a.dev, 0), 0);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x80, sizes[i]),
			 range_all_ones(sizes[i]));
	CHECK_EQ(bus.unclaimed, 4);
	bus_write(&bus, BUS_SPACE_PORT, 0x80, 1, 0);
	CHECK_EQ(bus.unclaimed, 5);
	CHECK_EQ(a.ncalls, 0);

	/* straddling the region end: refused whole, charged to the device */
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x62, 4), 0xffffffffu);
	bus_write(&bus, BUS_SPACE_PORT, 0x5f, 2, 0x1234);
	CHECK_EQ(a.ncalls, 0);
	CHECK_EQ(a.dev.stats.bad_accesses, 2);
	CHECK_EQ(bus.unclaimed, 7);

	/* invalid sizes never reach the device */
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x60, 3), 0xffffffu);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x60, 0), 0);
	bus_write(&bus, BUS_SPACE_PORT, 0x60, 16, 0);
	CHECK_EQ(a.ncalls, 0);
	/* bogus space */
	CHECK_EQ(bus_read(&bus, (enum bus_space)7, 0x60, 1), 0xff);
	CHECK_EQ(a.dev.stats.reads, 0);
	bus_fini(&bus);
}

static void
test_widths(void)
{
	struct bus bus;
	struct dummy b1, w24, s;
	uint64_t v;

	bus_init(&bus);
	dummy_setup(&b1, BUS_SPACE_PORT, 0x3f8, 8, DEVICE_ACCESS_1);
	CHECK_EQ(bus_add(&bus, &b1.dev, 0), 0);

	/* exact width passes through, value masked */
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x3f9, 1), 0x11);
	CHECK_EQ(b1.ncalls, 1);
	CHECK_EQ(b1.calls[0].offset, 1);
	CHECK_EQ(b1.calls[0].size, 1);

	/* 4-byte read split into 4 byte reads, assembled little-endian */
	b1.ncalls = 0;
	v = bus_read(&bus, BUS_SPACE_PORT, 0x3fa, 4);
	CHECK_EQ(v, 0x15141312);
	CHECK_EQ(b1.ncalls, 4);
	for (unsigned i = 0; i < 4 && i < b1.ncalls; i++) {
		CHECK_EQ(b1.calls[i].offset, 2 + i);
		CHECK_EQ(b1.calls[i].size, 1);
	}
	/* 2-byte write split, low byte to the low address first */
	b1.ncalls = 0;
	bus_write(&bus, BUS_SPACE_PORT, 0x3fc, 2, 0xffffabcd);
	CHECK_EQ(b1.ncalls, 2);
	CHECK(b1.calls[0].write && b1.calls[0].offset == 4 &&
	      b1.calls[0].value == 0xcd);
	CHECK(b1.calls[1].write && b1.calls[1].offset == 5 &&
	      b1.calls[1].value == 0xab);
	/* 8-byte access covering the whole window */
	b1.ncalls = 0;
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x3f8, 8),
		 0x1716151413121110ull);
	CHECK_EQ(b1.ncalls, 8);
	CHECK_EQ(b1.dev.stats.reads, 3);
	CHECK_EQ(b1.dev.stats.writes, 1);

	/* 2|4 region: 8 splits into 2-byte pieces; 1 is too narrow */
	dummy_setup(&w24, BUS_SPACE_MMIO, 0xfe000000, 0x100,
		    DEVICE_ACCESS_2 | DEVICE_ACCESS_4);
	CHECK_EQ(bus_add(&bus, &w24.dev, 0), 0);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_MMIO, 0xfe000010, 4), 0x20202020);
	CHECK_EQ(w24.calls[0].size, 4);
	w24.ncalls = 0;
	v = bus_read(&bus, BUS_SPACE_MMIO, 0xfe000010, 8);
	CHECK_EQ(w24.ncalls, 4);
	CHECK_EQ(w24.calls[0].size, 2);
	CHECK_EQ(w24.calls[3].offset, 0x16);
	CHECK_EQ(v, 0x2626242422222020ull);
	w24.ncalls = 0;
	CHECK_EQ(bus_read(&bus, BUS_SPACE_MMIO, 0xfe000010, 1), 0xff);
	bus_write(&bus, BUS_SPACE_MMIO, 0xfe000010, 1, 0);
	CHECK_EQ(w24.ncalls, 0);
	CHECK_EQ(w24.dev.stats.bad_accesses, 2);

	/* region implementing nothing: everything is bad */
	dummy_setup(&s, BUS_SPACE_MMIO, 0x1000, 0x10, 0);
	CHECK_EQ(bus_add(&bus, &s.dev, 0), 0);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_MMIO, 0x1000, 4), 0xffffffffu);
	CHECK_EQ(s.dev.stats.bad_accesses, 1);
	/* device without hooks: reads 0, writes ignored, still counted */
	s.dev.ops = &silent_ops;
	s.dev.regions[0].access_sizes = DEVICE_ACCESS_ALL;
	bus_remove(&bus, BUS_SPACE_MMIO, 0x1000, &s.dev, 0);
	CHECK_EQ(bus_add(&bus, &s.dev, 0), 0);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_MMIO, 0x1000, 4), 0);
	bus_write(&bus, BUS_SPACE_MMIO, 0x1000, 4, 1);
	CHECK_EQ(s.dev.stats.reads, 1);
	CHECK_EQ(s.dev.stats.writes, 1);
	bus_fini(&bus);
}

#define MANY 2000

static void
test_many(void)
{
	struct dummy *d = calloc(MANY, sizeof(*d));
	unsigned *order = calloc(MANY, sizeof(*order));
	struct bus bus;
	bool ok = true;

	if (!d || !order) {
		CHECK(!"calloc");
		free(d);
		free(order);
		return;
	}
	bus_init(&bus);
	/* insert in a shuffled order: slot i at 0x10000 + 0x40 * i, size 0x20 */
	for (unsigned i = 0; i < MANY; i++)
		order[i] = i;
	srand(42);
	for (unsigned i = MANY - 1; i > 0; i--) {
		unsigned j = (unsigned)rand() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < MANY; i++) {
		unsigned k = order[i];

		dummy_setup(&d[k], BUS_SPACE_MMIO, 0x10000 + 0x40ull * k, 0x20,
			    DEVICE_ACCESS_ALL);
		if (bus_add(&bus, &d[k].dev, 0) != 0)
			ok = false;
	}
	CHECK(ok);
	CHECK_EQ(bus.spaces[BUS_SPACE_MMIO].count, MANY);
	for (unsigned i = 1; i < MANY; i++)
		if (bus.spaces[BUS_SPACE_MMIO].entries[i - 1].base >=
		    bus.spaces[BUS_SPACE_MMIO].entries[i].base)
			ok = false;
	CHECK(ok);
	for (unsigned k = 0; k < MANY; k++) {
		uint64_t base = 0x10000 + 0x40ull * k;
		const struct bus_entry *e;

		e = bus_find(&bus, BUS_SPACE_MMIO, base + 0x1f, 1);
		if (!e || e->dev != &d[k].dev)
			ok = false;
		if (bus_find(&bus, BUS_SPACE_MMIO, base + 0x20, 1) ||
		    bus_find(&bus, BUS_SPACE_MMIO, base - 1, 1))
			ok = false;
	}
	CHECK(ok);
	/* remove every other one; the rest still resolve */
	for (unsigned k = 0; k < MANY; k += 2)
		if (bus_remove(&bus, BUS_SPACE_MMIO, 0x10000 + 0x40ull * k,
			       &d[k].dev, 0) != 0)
			ok = false;
	CHECK(ok);
	CHECK_EQ(bus.spaces[BUS_SPACE_MMIO].count, MANY / 2);
	for (unsigned k = 0; k < MANY; k++) {
		const struct bus_entry *e = bus_find(&bus, BUS_SPACE_MMIO,
						     0x10000 + 0x40ull * k + 4,
						     4);

		if ((k % 2 == 0) != (e == NULL))
			ok = false;
	}
	CHECK(ok);
	bus_fini(&bus);
	free(d);
	free(order);
}

/* Config space through a type's own hooks, recorded like region calls. */
static uint32_t
hook_config_read(struct device *dev, unsigned offset, unsigned size)
{
	struct dummy *d = container_of(dev, struct dummy, dev);

	if (d->ncalls < MAX_CALLS)
		d->calls[d->ncalls++] = (struct call){ false, 0, offset, size,
						       0 };
	return 0x12345678u;
}

static void
hook_config_write(struct device *dev, unsigned offset, unsigned size,
		  uint32_t value)
{
	struct dummy *d = container_of(dev, struct dummy, dev);

	if (d->ncalls < MAX_CALLS)
		d->calls[d->ncalls++] = (struct call){ true, 0, offset, size,
						       value };
}

static const struct device_ops hooks_ops = {
	.config_read = hook_config_read,
	.config_write = hook_config_write,
};

static const struct device_ops half_hooks_ops = {
	.config_read = hook_config_read,
};

/*
 * A function with both config hooks gets every access there, masked to
 * its size; one with a single hook (and no generic model) is refused.
 */
static void
test_config_hooks(void)
{
	struct dummy d, half;
	struct bus bus;

	bus_init(&bus);
	memset(&d, 0, sizeof(d));
	device_init(&d.dev, NULL, &hooks_ops, "hooks", NULL);
	d.dev.is_pci = true;
	d.dev.pci_sbdf = DEVICE_PCI_SBDF(0, 5, 0);
	CHECK(device_has_config(&d.dev));
	CHECK_EQ(bus_add_pci(&bus, &d.dev), 0);
	CHECK_EQ(bus_config_read(&bus, DEVICE_PCI_SBDF(0, 5, 0), 0x40, 2),
		 0x5678);
	bus_config_write(&bus, DEVICE_PCI_SBDF(0, 5, 0), 0x44, 1, 0xab);
	CHECK_EQ(d.ncalls, 2);
	CHECK(!d.calls[0].write && d.calls[0].offset == 0x40 &&
	      d.calls[0].size == 2);
	CHECK(d.calls[1].write && d.calls[1].offset == 0x44 &&
	      d.calls[1].size == 1 && d.calls[1].value == 0xab);

	memset(&half, 0, sizeof(half));
	device_init(&half.dev, NULL, &half_hooks_ops, "half", NULL);
	half.dev.is_pci = true;
	half.dev.pci_sbdf = DEVICE_PCI_SBDF(0, 6, 0);
	CHECK(!device_has_config(&half.dev));
	CHECK_EQ(bus_add_pci(&bus, &half.dev), -EINVAL);
	bus_fini(&bus);
}

int
main(void)
{
	test_config_hooks();
	test_add_overlap();
	test_find_edges();
	test_misses();
	test_widths();
	test_many();
	return test_finish();
}
