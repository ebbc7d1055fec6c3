/* lib/container.h: back from a member to the structure embedding it. */
#include <stdint.h>

#include "lib/container.h"
#include "test-util.h"

struct inner {
	int x;
};

struct outer {
	char pad[3];
	uint64_t y;
	struct inner in; /* neither first nor aligned to the start */
	int z;
};

int
main(void)
{
	struct outer o = { .y = 7, .in = { .x = 1 }, .z = 9 };
	struct inner *ip = &o.in;
	const struct inner *cip = &o.in;
	struct outer *op = container_of(ip, struct outer, in);

	CHECK(op == &o);
	CHECK_EQ(op->y, 7);
	CHECK_EQ(op->z, 9);
	CHECK(container_of(&o.y, struct outer, y) == &o);
	CHECK(container_of(cip, const struct outer, in) == &o);
	return test_finish();
}
