/*
 * The fake services themselves, where a device test would trust them
 * blindly: set_irq_level records per line, rejects lines past the fake's
 * range, and fails on demand like set_isa_irq.
 */
#include <errno.h>

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

int
main(void)
{
	test_set_irq_level();
	return test_finish();
}
