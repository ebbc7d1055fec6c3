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

static struct fake_access *
record(bool write, enum bus_space space, uint64_t addr, unsigned size,
       uint64_t value)
{
	static struct fake_access overflow;

	if (fake_log_count == FAKE_LOG_MAX)
		return &overflow;
	fake_log[fake_log_count] = (struct fake_access){
		.write = write,
		.space = space,
		.addr = addr,
		.size = size,
		.value = value,
	};
	return &fake_log[fake_log_count++];
}

uint64_t
bus_read(struct bus *bus, enum bus_space space, uint64_t addr, unsigned size)
{
	/* Deliberately unmasked: the dispatcher must mask. */
	uint64_t v = fake_read_next++;

	(void)record(false, space, addr, size, v);
	return v;
}

void
bus_write(struct bus *bus, enum bus_space space, uint64_t addr, unsigned size,
	  uint64_t value)
{
	(void)record(true, space, addr, size, value);
}

uint32_t
bus_config_read(struct bus *bus, uint32_t sbdf, unsigned offset, unsigned size)
{
	uint32_t v = (uint32_t)fake_read_next++;
	struct fake_access *a = record(false, BUS_SPACE_PORT, offset, size, v);

	a->config = true;
	a->sbdf = sbdf;
	/* Deliberately unmasked, like bus_read above. */
	return v | 0xabcd0000u;
}

void
bus_config_write(struct bus *bus, uint32_t sbdf, unsigned offset, unsigned size,
		 uint32_t value)
{
	struct fake_access *a = record(true, BUS_SPACE_PORT, offset, size,
				       value);

	a->config = true;
	a->sbdf = sbdf;
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
