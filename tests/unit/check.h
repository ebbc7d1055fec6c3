/*
 * The checks every unit test shares: CHECK and CHECK_EQ count instead of
 * aborting, test_finish() prints the summary and gives the exit status.
 * Nothing here needs more than stdio, so any layer's test can use it.
 */
#ifndef IOREQD_TESTS_CHECK_H
#define IOREQD_TESTS_CHECK_H

#include <stdio.h>

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

static inline int
test_finish(void)
{
	printf("%d passed, %d failed\n", t_passed, t_failed);
	return t_failed ? 1 : 0;
}

#endif
