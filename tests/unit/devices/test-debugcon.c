/* Unit test for the debugcon device class. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "devices/bus.h"
#include "fake-services.h"
#include "test-util.h"

int
main(void)
{
	const struct device_class *cls = device_class_find("debugcon");
	struct fake_services f;
	char path[] = "/tmp/ioreqd-debugcon-XXXXXX";
	struct cfg_device cfg = {
		.type = (char *)"debugcon", .id = "dbg",
		.keys = CFG_KEY_BACKEND,
		.backend = { .type = CFG_BACKEND_FILE, .path = path },
	};
	struct device *dev = NULL, *dev2 = NULL;
	struct bus bus;
	char buf[64] = { 0 };
	int fd;

	CHECK(cls != NULL);
	CHECK(device_class_find("nope") == NULL);
	CHECK(device_class_find(NULL) == NULL);
	if (!cls || fake_services_init(&f, 0) < 0)
		return test_finish() | 1;
	CHECK_EQ(cls->default_port, 0x402);
	CHECK_EQ(cls->port_size, 1);
	CHECK_EQ(cls->cfg_keys, CFG_KEY_PORT | CFG_KEY_BACKEND);
	CHECK_EQ(cls->cfg_required, 0);
	fd = mkstemp(path);
	CHECK(fd >= 0);

	/* no port given: the class default */
	CHECK_EQ(cls->create(&cfg, &f.svc, &dev), 0);
	if (!dev)
		return test_finish() | 1;
	CHECK_EQ(dev->regions[0].base, 0x402);
	CHECK_EQ(dev->regions[0].size, 1);
	CHECK_EQ(dev->regions[0].space, BUS_SPACE_PORT);
	bus_init(&bus);
	CHECK_EQ(bus_add(&bus, dev, 0), 0);

	for (const char *p = "Hello"; *p; p++)
		bus_write(&bus, BUS_SPACE_PORT, 0x402, 1, (uint8_t)*p);
	/* a 2-byte write would cover 0x403 too: not ours, dropped whole */
	bus_write(&bus, BUS_SPACE_PORT, 0x402, 2, 0x0a21);
	CHECK_EQ(dev->stats.bad_accesses, 1);
	bus_write(&bus, BUS_SPACE_PORT, 0x402, 1, '!');
	bus_write(&bus, BUS_SPACE_PORT, 0x402, 1, '\n');
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x402, 1), 0xe9);
	CHECK_EQ(dev->stats.writes, 7);
	CHECK_EQ(dev->stats.reads, 1);
	/* nothing written inside the accesses: the flush is deferred work */
	CHECK_EQ(pread(fd, buf, sizeof(buf) - 1, 0), 0);
	fake_services_answered(&f);
	CHECK_EQ(pread(fd, buf, sizeof(buf) - 1, 0), 7);
	CHECK(strcmp(buf, "Hello!\n") == 0);

	/* explicit port, null back-end; reset hook absent is fine */
	cfg.keys = CFG_KEY_PORT;
	cfg.port = 0x80;
	CHECK_EQ(cls->create(&cfg, &f.svc, &dev2), 0);
	if (dev2) {
		CHECK_EQ(dev2->regions[0].base, 0x80);
		CHECK_EQ(bus_add(&bus, dev2, 0), 0);
		bus_write(&bus, BUS_SPACE_PORT, 0x80, 1, 'x');
		CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x80, 1), 0xe9);
		cls->destroy(dev2);
	}
	cfg.port = 0x10000;
	CHECK_EQ(cls->create(&cfg, &f.svc, &dev2), -EINVAL);

	bus_fini(&bus);
	cls->destroy(dev);
	cls->destroy(NULL);
	close(fd);
	unlink(path);
	fake_services_fini(&f);
	return test_finish();
}
