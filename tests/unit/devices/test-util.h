/*
 * Minimal test harness shared by the device unit tests: CHECK macros that
 * count instead of aborting, an event-loop pump, and the final summary.
 */
#ifndef IOREQD_TESTS_TEST_UTIL_H
#define IOREQD_TESTS_TEST_UTIL_H

#include <stdio.h>
#include <unistd.h>

#include <event2/event.h>

static int t_passed, t_failed;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (cond) {                                                    \
			t_passed++;                                            \
		} else {                                                       \
			t_failed++;                                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                               \
	do {                                                         \
		unsigned long long a_ = (unsigned long long)(a);     \
		unsigned long long b_ = (unsigned long long)(b);     \
		if (a_ == b_) {                                      \
			t_passed++;                                  \
		} else {                                             \
			t_failed++;                                  \
			fprintf(stderr,                              \
				"%s:%d: CHECK failed: %s == %s "     \
				"(0x%llx != 0x%llx)\n",              \
				__FILE__, __LINE__, #a, #b, a_, b_); \
		}                                                    \
	} while (0)

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

static inline int
test_finish(void)
{
	printf("%d passed, %d failed\n", t_passed, t_failed);
	return t_failed ? 1 : 0;
}

#endif
