/*
 * A device_stats_writer that records what a device's stats hook emits,
 * so tests read a device's own counters the way the control socket will.
 */
#ifndef IOREQD_TESTS_FAKE_STATS_H
#define IOREQD_TESTS_FAKE_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "devices/device.h"

#define FAKE_STATS_MAX 16

struct fake_stats {
	const char *names[FAKE_STATS_MAX];
	uint64_t values[FAKE_STATS_MAX];
	unsigned count; /* emits seen, even past FAKE_STATS_MAX */
};

static inline void
fake_stats_emit(void *ctx, const char *name, uint64_t value)
{
	struct fake_stats *fs = ctx;

	if (fs->count < FAKE_STATS_MAX) {
		fs->names[fs->count] = name;
		fs->values[fs->count] = value;
	}
	fs->count++;
}

/* Run dev's stats hook into a fresh *fs. */
static inline void
fake_stats_collect(const struct device *dev, struct fake_stats *fs)
{
	const struct device_stats_writer w = {
		.emit = fake_stats_emit,
		.ctx = fs,
	};

	memset(fs, 0, sizeof(*fs));
	device_emit_stats(dev, &w);
}

/* The value emitted under `name`; false when it was not emitted once. */
static inline bool
fake_stats_get(const struct fake_stats *fs, const char *name, uint64_t *ret)
{
	unsigned found = 0;

	for (unsigned i = 0; i < fs->count && i < FAKE_STATS_MAX; i++) {
		if (strcmp(fs->names[i], name) == 0) {
			*ret = fs->values[i];
			found++;
		}
	}
	return found == 1;
}

/* fake_stats_get() for a CHECK: the value, or UINT64_MAX when absent. */
static inline uint64_t
fake_stat(const struct device *dev, const char *name)
{
	struct fake_stats fs;
	uint64_t v;

	fake_stats_collect(dev, &fs);
	return fake_stats_get(&fs, name, &v) ? v : UINT64_MAX;
}

#endif
