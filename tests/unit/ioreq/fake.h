/*
 * In-memory fakes for the ioreq unit tests: a bus that records every
 * access (replacing devices/bus.c's bus_read/bus_write and
 * bus_config_read/bus_config_write), a small guest RAM, and a tiny check
 * harness.
 */
#ifndef IOREQD_TEST_IOREQ_FAKE_H
#define IOREQD_TEST_IOREQ_FAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "devices/bus.h"
#include "ioreq/dispatch.h"

#define FAKE_LOG_MAX 8192

struct fake_access {
	bool write;
	bool config; /* bus_config_*: sbdf + register in addr */
	uint32_t sbdf;
	enum bus_space space;
	uint64_t addr;
	unsigned size;
	uint64_t value;
};

extern struct fake_access fake_log[FAKE_LOG_MAX];
extern unsigned fake_log_count;
/* Next value bus_read returns (then incremented by one per read). */
extern uint64_t fake_read_next;

/* Guest RAM: FAKE_RAM_SIZE bytes at guest-physical FAKE_RAM_BASE. */
#define FAKE_RAM_BASE 0x10000u
#define FAKE_RAM_SIZE 0x4000u
extern uint8_t fake_ram[FAKE_RAM_SIZE];
extern unsigned fake_invalidates;

/* Reset everything and point d at the fakes. */
void fake_reset(struct ioreq_dispatch *d);

extern unsigned test_failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			test_failures++;                                       \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                               \
	do {                                                         \
		unsigned long long a_ = (unsigned long long)(a);     \
		unsigned long long b_ = (unsigned long long)(b);     \
		if (a_ != b_) {                                      \
			fprintf(stderr,                              \
				"%s:%d: %s == 0x%llx, "              \
				"expected %s == 0x%llx\n",           \
				__FILE__, __LINE__, #a, a_, #b, b_); \
			test_failures++;                             \
		}                                                    \
	} while (0)

#endif
