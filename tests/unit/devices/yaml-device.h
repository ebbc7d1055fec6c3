/*
 * Device tests that go through the daemon's path: a YAML entry loaded
 * with config/'s checks and the registry's type descriptions, and the
 * counters a device emits, read back by name.
 */
#ifndef IOREQD_TESTS_YAML_DEVICE_H
#define IOREQD_TESTS_YAML_DEVICE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "devices/device.h"
#include "tests/unit/check.h"

/* How often the device's counters name `name`, and its last value. */
struct stat_count {
	const char *name;
	unsigned seen;
	uint64_t value;
};

static inline void
stat_count_emit(void *ctx, const char *name, uint64_t value)
{
	struct stat_count *c = ctx;

	if (strcmp(name, c->name) == 0) {
		c->seen++;
		c->value = value;
	}
}

static inline struct stat_count
dev_counter(const struct device *dev, const char *name)
{
	struct stat_count c = { .name = name };
	struct device_stats_writer w = { .emit = stat_count_emit, .ctx = &c };

	device_emit_stats(dev, &w);
	return c;
}

/* Load YAML device entries (config/'s checks included); aborts on error. */
static inline struct cfg *
load(const char *yaml)
{
	struct cfg *cfg = NULL;

	CHECK_EQ(cfg_load_string("t.yaml", yaml, strlen(yaml),
				 device_type_cfg_find, stderr, &cfg),
		 0);
	if (!cfg)
		abort();
	return cfg;
}

#endif
