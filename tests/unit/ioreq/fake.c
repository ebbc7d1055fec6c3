/* In-memory fakes for the ioreq unit tests (see fake.h). */
#include "fake.h"

#include <errno.h>
#include <string.h>

struct fake_access fake_log[FAKE_LOG_MAX];
unsigned fake_log_count;
uint64_t fake_read_next;
uint8_t fake_ram[FAKE_RAM_SIZE];
unsigned fake_invalidates;
unsigned test_failures;

static void
record(bool write, enum bus_space space, uint64_t addr, unsigned size,
       uint64_t value)
{
	if (fake_log_count < FAKE_LOG_MAX)
		fake_log[fake_log_count++] = (struct fake_access){
			.write = write, .space = space, .addr = addr,
			.size = size, .value = value,
		};
}

uint64_t
bus_read(struct bus *bus, enum bus_space space, uint64_t addr, unsigned size)
{
	/* Deliberately unmasked: the dispatcher must mask. */
	uint64_t v = fake_read_next++;

	record(false, space, addr, size, v);
	return v;
}

void
bus_write(struct bus *bus, enum bus_space space, uint64_t addr,
	  unsigned size, uint64_t value)
{
	record(true, space, addr, size, value);
}

static bool
in_ram(uint64_t gpa, size_t len)
{
	return gpa >= FAKE_RAM_BASE && len <= FAKE_RAM_SIZE &&
	       gpa - FAKE_RAM_BASE <= FAKE_RAM_SIZE - len;
}

static int
fake_guest_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
	if (!in_ram(gpa, len))
		return -EFAULT;
	memcpy(buf, fake_ram + (gpa - FAKE_RAM_BASE), len);
	return 0;
}

static int
fake_guest_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	if (!in_ram(gpa, len))
		return -EFAULT;
	memcpy(fake_ram + (gpa - FAKE_RAM_BASE), buf, len);
	return 0;
}

static void
fake_invalidate(void *opaque)
{
	fake_invalidates++;
}

void
fake_reset(struct ioreq_dispatch *d)
{
	fake_log_count = 0;
	fake_read_next = 0x41;
	fake_invalidates = 0;
	memset(fake_ram, 0, sizeof(fake_ram));
	*d = (struct ioreq_dispatch){
		.domid = 1,
		.guest_read = fake_guest_read,
		.guest_write = fake_guest_write,
		.invalidate = fake_invalidate,
	};
}
