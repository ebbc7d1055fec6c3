/* Unit test for the debugcon device type. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "devices/bus.h"
#include "fake-services.h"
#include "fake-stats.h"
#include "test-util.h"

/* The port config/ gives a debugcon entry without `port`. */
static void
test_default_port(void)
{
	static const char yaml[] = "devices:\n  - {type: debugcon, id: d}\n";
	struct cfg *cfg = NULL;

	CHECK_EQ(cfg_load_string("t.yaml", yaml, sizeof(yaml) - 1,
				 device_type_cfg_find, stderr, &cfg),
		 0);
	if (!cfg)
		return;
	CHECK_EQ(cfg->device_count, 1);
	CHECK(cfg->devices[0].keys & CFG_KEY_PORT);
	CHECK_EQ(cfg->devices[0].port, 0x402);
	cfg_free(cfg);
}

int
main(void)
{
	const struct device_type *type = device_type_find("debugcon");
	struct fake_services f;
	char path[] = "/tmp/ioreqd-debugcon-XXXXXX";
	struct cfg_device cfg = {
		.type = (char *)"debugcon",
		.id = "dbg",
		.keys = CFG_KEY_PORT | CFG_KEY_BACKEND,
		.port = 0x402,
		.backend = { .type = CFG_BACKEND_FILE, .path = path },
	};
	struct device *dev = NULL, *dev2 = NULL;
	struct bus bus;
	char buf[64] = { 0 };
	int fd;

	CHECK(type != NULL);
	CHECK(device_type_find("nope") == NULL);
	CHECK(device_type_find(NULL) == NULL);
	if (!type || fake_services_init(&f, 0) < 0)
		return test_finish() | 1;
	CHECK_EQ(type->cfg->default_port, 0x402);
	CHECK_EQ(type->cfg->port_size, 1);
	CHECK_EQ(type->cfg->keys, CFG_KEY_PORT | CFG_KEY_BACKEND);
	CHECK_EQ(type->cfg->required, 0);
	test_default_port();
	fd = mkstemp(path);
	CHECK(fd >= 0);

	/* no port: config/ always gives one, so that is a caller's bug */
	cfg.keys = CFG_KEY_BACKEND;
	CHECK_EQ(type->create(&cfg, &f.svc, &dev), -EINVAL);
	CHECK(dev == NULL);
	cfg.keys = CFG_KEY_PORT | CFG_KEY_BACKEND;
	CHECK_EQ(type->create(&cfg, &f.svc, &dev), 0);
	if (!dev)
		return test_finish() | 1;
	CHECK(dev->type == type);
	CHECK_EQ(fake_stat(dev, "dropped"), 0);
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
	CHECK_EQ(type->create(&cfg, &f.svc, &dev2), 0);
	if (dev2) {
		CHECK_EQ(dev2->regions[0].base, 0x80);
		CHECK_EQ(bus_add(&bus, dev2, 0), 0);
		bus_write(&bus, BUS_SPACE_PORT, 0x80, 1, 'x');
		CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x80, 1), 0xe9);
		dev2->ops->destroy(dev2);
	}
	cfg.port = 0x10000;
	CHECK_EQ(type->create(&cfg, &f.svc, &dev2), -EINVAL);

	bus_fini(&bus);
	dev->ops->destroy(NULL); /* must accept nothing */
	dev->ops->destroy(dev);
	close(fd);
	unlink(path);
	fake_services_fini(&f);
	return test_finish();
}
