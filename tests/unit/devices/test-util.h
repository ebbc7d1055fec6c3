/*
 * Test harness of the device unit tests: the shared checks
 * (tests/unit/check.h) and an event-loop pump.
 */
#ifndef IOREQD_TESTS_TEST_UTIL_H
#define IOREQD_TESTS_TEST_UTIL_H

#include <stdio.h>
#include <unistd.h>

#include <event2/event.h>

#include "tests/unit/check.h"

/* Run the loop without blocking until cond holds or ms milliseconds pass. */
#define PUMP_UNTIL(base, cond, ms)                                      \
	do {                                                            \
		for (int pump_i_ = 0; pump_i_ <= (ms)*2; pump_i_++) {   \
			(void)event_base_loop((base), EVLOOP_NONBLOCK); \
			if (cond)                                       \
				break;                                  \
			usleep(500);                                    \
		}                                                       \
	} while (0)

static inline void
pump_for(struct event_base *base, int ms)
{
	PUMP_UNTIL(base, 0, ms);
}

#endif
