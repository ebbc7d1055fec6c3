/* lib/range.h: access-width masks and the wrap-safe range checks. */
#include <stdint.h>

#include "lib/range.h"
#include "test-util.h"

static void
test_all_ones(void)
{
	static const uint64_t want[] = {
		0,
		0xff,
		0xffff,
		0xffffff,
		0xffffffff,
		0xffffffffffull,
		0xffffffffffffull,
		0xffffffffffffffull,
		UINT64_MAX,
	};

	for (unsigned size = 0; size <= 8; size++)
		CHECK_EQ(range_all_ones(size), want[size]);
	/* hostile widths saturate instead of shifting by >= 64 */
	CHECK_EQ(range_all_ones(9), UINT64_MAX);
	CHECK_EQ(range_all_ones(16), UINT64_MAX);
	CHECK_EQ(range_all_ones(UINT32_MAX), UINT64_MAX);
}

static void
test_port_space(void)
{
	CHECK_EQ(RANGE_PORT_SPACE_SIZE, 0x10000);
	CHECK(range_within(0xffff, 1, RANGE_PORT_SPACE_SIZE));
	CHECK(!range_within(0x10000, 1, RANGE_PORT_SPACE_SIZE));
	CHECK(range_within(0xfff8, 8, RANGE_PORT_SPACE_SIZE));
	CHECK(!range_within(0xfff9, 8, RANGE_PORT_SPACE_SIZE));
}

static void
test_within_edges(void)
{
	const uint64_t limit = 0x1000;

	/* base 0 */
	CHECK(range_within(0, 1, limit));
	CHECK(range_within(0, limit, limit));
	CHECK(!range_within(0, limit + 1, limit));
	/* base + size == limit is inside, one more is not */
	CHECK(range_within(limit - 1, 1, limit));
	CHECK(range_within(limit - 4, 4, limit));
	CHECK(!range_within(limit - 3, 4, limit));
	CHECK(!range_within(limit, 1, limit));
	/* size 0 is never a range, even where the base is fine */
	CHECK(!range_within(0, 0, limit));
	CHECK(!range_within(limit - 1, 0, limit));
	CHECK(!range_within(limit, 0, limit));
	/* an empty space holds nothing */
	CHECK(!range_within(0, 1, 0));
}

static void
test_within_wrap(void)
{
	/* base + size wraps to a small number: a naive sum would pass */
	CHECK(!range_within(1, UINT64_MAX, 0x10000));
	CHECK(!range_within(0x8000, UINT64_MAX - 0x7fff, 0x10000));
	CHECK(!range_within(UINT64_MAX, 2, UINT64_MAX));
	CHECK(!range_within(UINT64_MAX, 1, UINT64_MAX));
	CHECK(range_within(UINT64_MAX - 1, 1, UINT64_MAX));
	CHECK(range_within(0, UINT64_MAX, UINT64_MAX));
}

static void
test_fits(void)
{
	CHECK(range_fits(0, 1));
	CHECK(range_fits(0, UINT64_MAX));
	/* the last byte may be UINT64_MAX ... */
	CHECK(range_fits(1, UINT64_MAX));
	CHECK(range_fits(UINT64_MAX, 1));
	CHECK(range_fits(UINT64_MAX - 7, 8));
	/* ... but nothing may run past it */
	CHECK(!range_fits(2, UINT64_MAX));
	CHECK(!range_fits(UINT64_MAX, 2));
	CHECK(!range_fits(UINT64_MAX - 6, 8));
	/* size 0 is never a range */
	CHECK(!range_fits(0, 0));
	CHECK(!range_fits(UINT64_MAX, 0));
}

int
main(void)
{
	test_all_ones();
	test_port_space();
	test_within_edges();
	test_within_wrap();
	test_fits();
	return test_finish();
}
