/*
 * A device_info_writer that records what a device's describe hook says,
 * so tests read a device's facts the way the control socket's `devices`
 * will.
 */
#ifndef IOREQD_TESTS_FAKE_INFO_H
#define IOREQD_TESTS_FAKE_INFO_H

#include <stdio.h>
#include <string.h>

#include "devices/device.h"

#define FAKE_INFO_MAX 8

struct fake_info {
	char keys[FAKE_INFO_MAX][32];
	char values[FAKE_INFO_MAX][256];
	unsigned count; /* str() calls seen, even past FAKE_INFO_MAX */
};

static inline void
fake_info_str(void *ctx, const char *key, const char *value)
{
	struct fake_info *fi = ctx;

	if (fi->count < FAKE_INFO_MAX) {
		(void)snprintf(fi->keys[fi->count], sizeof(fi->keys[0]), "%s",
			       key);
		(void)snprintf(fi->values[fi->count], sizeof(fi->values[0]),
			       "%s", value ? value : "(NULL)");
	}
	fi->count++;
}

/* Run dev's describe hook into a fresh *fi (nothing if it has none). */
static inline void
fake_info_collect(const struct device *dev, struct fake_info *fi)
{
	const struct device_info_writer w = {
		.str = fake_info_str,
		.ctx = fi,
	};

	memset(fi, 0, sizeof(*fi));
	if (dev->ops->describe)
		dev->ops->describe(dev, &w);
}

/*
 * What dev says under `key` now: "(absent)" when not said, "(twice)" when
 * said more than once.  Returns a static buffer (one call at a time).
 */
static inline const char *
fake_info(const struct device *dev, const char *key)
{
	static struct fake_info fi;
	const char *found = "(absent)";

	fake_info_collect(dev, &fi);
	for (unsigned i = 0; i < fi.count && i < FAKE_INFO_MAX; i++) {
		if (strcmp(fi.keys[i], key) != 0)
			continue;
		if (strcmp(found, "(absent)") != 0)
			return "(twice)";
		found = fi.values[i];
	}
	return found;
}

#endif
