/*
 * The fake services themselves, where a device test would trust them
 * blindly: set_irq_level records per line, rejects lines past the fake's
 * range, and fails on demand like set_isa_irq.
 */
#include <errno.h>

#include "devices/guest-mem.h"

#include "fake-services.h"
#include "test-util.h"

static void
test_set_irq_level(void)
{
	struct fake_services f;

	CHECK_EQ(fake_services_init(&f, 0), 0);
	CHECK_EQ(f.svc.set_irq_level(f.svc.opaque, 40, true), 0);
	CHECK(f.line_level[40]);
	CHECK(!f.line_level[41]);
	CHECK_EQ(f.svc.set_irq_level(f.svc.opaque, 40, false), 0);
	CHECK(!f.line_level[40]);
	CHECK_EQ(f.line_calls, 2);
	CHECK_EQ(f.isa_calls[8], 0);

	CHECK_EQ(f.svc.set_irq_level(f.svc.opaque, FAKE_IRQ_LINES, true),
		 -EINVAL);
	CHECK_EQ(f.line_bad_calls, 1);
	CHECK_EQ(f.line_calls, 2);

	f.fail_irq = -EIO;
	CHECK_EQ(f.svc.set_irq_level(f.svc.opaque, 5, true), -EIO);
	CHECK(!f.line_level[5]);

	fake_services_clear(&f);
	CHECK_EQ(f.line_calls, 0);
	fake_services_fini(&f);
}

/* guest_map: segments at map_granule, -EFAULT, -E2BIG, revocation. */
static void
test_guest_map(void)
{
	struct fake_services f;
	struct guest_sg sg;

	CHECK_EQ(fake_services_init(&f, 0x10000), 0);
	CHECK_EQ(f.svc.guest_map(f.svc.opaque, 0x100, 0x200, true, &sg), 0);
	CHECK_EQ(sg.n, 1);
	CHECK(sg.seg[0].hva == f.mem + 0x100);
	CHECK_EQ(sg.seg[0].len, 0x200);
	CHECK(!guest_sg_revoked(&sg));
	f.map_epoch++;
	CHECK(guest_sg_revoked(&sg));
	f.svc.guest_unmap(f.svc.opaque, &sg);
	f.svc.guest_unmap(f.svc.opaque, &sg); /* no-op */
	CHECK_EQ(f.maps_held, 0);

	f.map_granule = 0x1000;
	CHECK_EQ(f.svc.guest_map(f.svc.opaque, 0xff0, 0x1020, false, &sg), 0);
	CHECK_EQ(sg.n, 3);
	CHECK_EQ(sg.seg[0].len, 0x10);
	CHECK(sg.seg[1].hva == f.mem + 0x1000);
	CHECK_EQ(sg.seg[1].len, 0x1000);
	CHECK_EQ(sg.seg[2].len, 0x10);
	f.svc.guest_unmap(f.svc.opaque, &sg);
	CHECK_EQ(f.svc.guest_map(f.svc.opaque, 0, 0x10000, false, &sg), 0);
	CHECK_EQ(sg.n, GUEST_SG_MAX);
	f.svc.guest_unmap(f.svc.opaque, &sg);
	f.map_granule = 0x100;
	CHECK_EQ(f.svc.guest_map(f.svc.opaque, 0x80, 0x1000, false, &sg),
		 -E2BIG);
	CHECK_EQ(sg.n, 0);
	f.map_granule = 0;
	CHECK_EQ(f.svc.guest_map(f.svc.opaque, 0xfff0, 0x11, false, &sg),
		 -EFAULT);
	CHECK_EQ(f.svc.guest_map(f.svc.opaque, UINT64_MAX, 2, false, &sg),
		 -EFAULT);
	f.fail_map = -EBUSY;
	CHECK_EQ(f.svc.guest_map(f.svc.opaque, 0, 16, false, &sg), -EBUSY);
	CHECK_EQ(f.maps_held, 0);
	CHECK_EQ(f.maps, 3);
	fake_services_fini(&f);
}

int
main(void)
{
	test_set_irq_level();
	test_guest_map();
	return test_finish();
}
