/*
 * Address-space dispatch: maps (space, address) to a device region.
 * Xen-agnostic; the ioreq core owns one bus and calls bus_read/bus_write
 * for every request.
 *
 * Each space is a sorted array of non-overlapping half-open entries, looked
 * up by binary search (O(log n)); bus_read/bus_write allocate nothing and
 * make no syscalls.  Accesses that hit no region, or that are not wholly
 * inside one region, read all-ones and drop writes (what Xen's null handler
 * and real buses do), and bump bus->unclaimed.  Wrong-width accesses are
 * split into the region's smallest implemented width when wider, and are
 * answered with all-ones/dropped (device stats.bad_accesses) when narrower.
 */
#ifndef IOREQD_BUS_H
#define IOREQD_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

struct bus_entry {
	uint64_t base;
	uint64_t size;
	struct device *dev;
	unsigned region;
};

struct bus_space_table {
	struct bus_entry *entries; /* sorted by base */
	unsigned count;
	unsigned capacity;
};

/* PCI functions by SBDF, sorted, for configuration requests. */
struct bus_pci_table {
	struct device **devs; /* sorted by pci_sbdf */
	unsigned count;
	unsigned capacity;
};

struct bus {
	struct bus_space_table spaces[_BUS_SPACE_COUNT];
	struct bus_pci_table pci;
	uint64_t unclaimed; /* accesses that matched no region */
};

void bus_init(struct bus *bus);
void bus_fini(struct bus *bus);

/*
 * Insert region `region` of `dev` (its space/base/size).  Returns 0,
 * -EEXIST if it overlaps an entry, -EINVAL for size 0 or overflow of
 * base + size, -ENOMEM.
 */
int bus_add(struct bus *bus, struct device *dev, unsigned region);
/* Remove the entry for (dev, region) in `space` at `base`; -ENOENT. */
int bus_remove(struct bus *bus, enum bus_space space, uint64_t base,
	       struct device *dev, unsigned region);
/* Would [base, base+size) in space overlap an existing entry? */
bool bus_overlaps(const struct bus *bus, enum bus_space space, uint64_t base,
		  uint64_t size);
/* Entry containing the whole [addr, addr+size), or NULL. */
const struct bus_entry *bus_find(const struct bus *bus, enum bus_space space,
				 uint64_t addr, uint64_t size);

/* One guest access; size 1, 2, 4 or 8.  Never fails. */
uint64_t bus_read(struct bus *bus, enum bus_space space, uint64_t addr,
		  unsigned size);
void bus_write(struct bus *bus, enum bus_space space, uint64_t addr,
	       unsigned size, uint64_t value);

/*
 * PCI configuration space.  bus_add_pci takes dev->pci_sbdf (dev->is_pci
 * must be set): 0, -EEXIST for a taken SBDF, -EINVAL, -ENOMEM.
 * bus_config_read/write route to the ops config hooks; no function at
 * sbdf reads all ones and drops writes (bus->unclaimed); offset + size
 * beyond 4096 reads all ones / is dropped.  No allocation, no syscalls.
 */
int bus_add_pci(struct bus *bus, struct device *dev);
int bus_remove_pci(struct bus *bus, struct device *dev);
struct device *bus_find_pci(const struct bus *bus, uint32_t sbdf);
uint32_t bus_config_read(struct bus *bus, uint32_t sbdf, unsigned offset,
			 unsigned size);
void bus_config_write(struct bus *bus, uint32_t sbdf, unsigned offset,
		      unsigned size, uint32_t value);

#endif
