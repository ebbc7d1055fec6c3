/*
 * Unit test of classes `pvpanic` (ISA) and `pvpanic-pci`: class tables,
 * the supported-events read, event counting, on-panic log vs crash (the
 * shutdown service with SHUTDOWN_crash), unknown bits, the PCI identity
 * and BAR0, and the on-panic key through the real YAML loader.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/pvpanic.h"
#include "fake-services.h"
#include "test-util.h"

#define SBDF DEVICE_PCI_SBDF(0, 6, 0)

static void
set_on_panic(struct cfg_device *cfg, const char *value, uint64_t index)
{
	cfg->extra[0] = (struct cfg_extra_value){
		.name = "on-panic",
		.str = (char *)value,
		.num = index,
		.set = true,
	};
	cfg->extra_count = 1;
}

static void
test_class_tables(void)
{
	const struct device_class *isa = device_class_find("pvpanic");
	const struct device_class *pci = device_class_find("pvpanic-pci");
	const struct cfg_extra_key *k;

	CHECK(isa && pci);
	if (!isa || !pci)
		return;
	CHECK_EQ(isa->cfg_keys, CFG_KEY_PORT);
	CHECK_EQ(isa->cfg_required, 0);
	CHECK_EQ(isa->default_port, 0x505);
	CHECK_EQ(isa->port_size, 1);
	CHECK(isa->config_read == NULL);
	CHECK_EQ(pci->cfg_keys, CFG_KEY_PCI);
	CHECK_EQ(pci->cfg_required, CFG_KEY_PCI);
	CHECK_EQ(pci->port_size, 0);
	CHECK(!pci->config_read && !pci->config_write);	/* generic model */
	for (int i = 0; i < 2; i++) {
		k = (i ? pci : isa)->extra_keys;
		CHECK(k != NULL);
		if (!k)
			continue;
		CHECK(strcmp(k[0].name, "on-panic") == 0);
		CHECK_EQ(k[0].type, CFG_EXTRA_ENUM);
		CHECK(strcmp(k[0].choices[0], "log") == 0);
		CHECK(strcmp(k[0].choices[1], "crash") == 0);
		CHECK(k[0].choices[2] == NULL);
		CHECK(strcmp(k[0].default_value, "log") == 0);
		CHECK(!k[0].required);
		CHECK(k[1].name == NULL);
	}
}

static void
test_isa(struct fake_services *f)
{
	const struct device_class *cls = device_class_find("pvpanic");
	struct cfg_device cfg = {
		.type = (char *)"pvpanic", .id = "panic",
	};
	struct pvpanic_stats st;
	struct device *dev = NULL;
	struct bus bus;

	if (!cls)
		return;
	fake_services_clear(f);
	CHECK_EQ(cls->create(&cfg, &f->svc, &dev), 0);
	if (!dev)
		return;
	CHECK_EQ(dev->region_count, 1);
	CHECK_EQ(dev->regions[0].space, BUS_SPACE_PORT);
	CHECK_EQ(dev->regions[0].base, 0x505);
	CHECK_EQ(dev->regions[0].size, 1);
	bus_init(&bus);
	CHECK_EQ(bus_add(&bus, dev, 0), 0);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x505, 1), 0x03);
	CHECK_EQ(pvpanic_get_stats(dev, &st), 0);
	CHECK_EQ(st.action, PVPANIC_ACTION_LOG);
	CHECK_EQ(st.panicked, 0);

	/* log (default): counted and logged, no shutdown */
	{
		char logbuf[512] = { 0 };
		FILE *tmp = tmpfile();
		int saved = dup(2);

		CHECK(tmp != NULL && saved >= 0);
		if (tmp && saved >= 0) {
			fflush(stderr);
			dup2(fileno(tmp), 2);
			bus_write(&bus, BUS_SPACE_PORT, 0x505, 1,
				  PVPANIC_PANICKED);
			bus_write(&bus, BUS_SPACE_PORT, 0x505, 1,
				  PVPANIC_CRASH_LOADED);
			fflush(stderr);
			dup2(saved, 2);
			rewind(tmp);
			(void)!fread(logbuf, 1, sizeof(logbuf) - 1, tmp);
			CHECK(strstr(logbuf, "error: panic: guest panicked"));
			CHECK(strstr(logbuf,
				     "error: panic: guest crash kernel loaded"));
		}
		if (saved >= 0)
			close(saved);
		if (tmp)
			fclose(tmp);
	}
	bus_write(&bus, BUS_SPACE_PORT, 0x505, 1, 0x84);	/* unknown */
	bus_write(&bus, BUS_SPACE_PORT, 0x505, 1, 0);		/* nothing */
	CHECK_EQ(pvpanic_get_stats(dev, &st), 0);
	CHECK_EQ(st.panicked, 1);
	CHECK_EQ(st.crash_loaded, 1);
	CHECK_EQ(st.unknown, 1);
	CHECK_EQ(st.shutdowns, 0);
	CHECK_EQ(f->shutdowns, 0);
	/* wider accesses are split into bytes: only the port's byte counts */
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x505, 2), 0xffff);
	dev->cls->reset(dev);
	bus_fini(&bus);
	cls->destroy(dev);
	dev = NULL;

	/* crash: SHUTDOWN_crash on PANICKED only; other port */
	cfg.keys = CFG_KEY_PORT;
	cfg.port = 0x506;
	set_on_panic(&cfg, "crash", 1);
	CHECK_EQ(cls->create(&cfg, &f->svc, &dev), 0);
	if (!dev)
		return;
	CHECK_EQ(dev->regions[0].base, 0x506);
	cls->write(dev, 0, 0, 1, PVPANIC_CRASH_LOADED);
	CHECK_EQ(f->shutdowns, 0);
	cls->write(dev, 0, 0, 1, PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
	CHECK_EQ(f->shutdowns, 1);
	CHECK_EQ(f->last_shutdown_reason, DEVICE_SHUTDOWN_CRASH);
	CHECK_EQ(pvpanic_get_stats(dev, &st), 0);
	CHECK_EQ(st.action, PVPANIC_ACTION_CRASH);
	CHECK_EQ(st.panicked, 1);
	CHECK_EQ(st.crash_loaded, 2);
	CHECK_EQ(st.shutdowns, 1);
	/* bad accesses the bus would never make are still refused */
	CHECK_EQ(cls->read(dev, 0, 1, 1), 0xff);
	CHECK_EQ(cls->read(dev, 1, 0, 1), 0xff);
	cls->write(dev, 0, 0, 2, PVPANIC_PANICKED);
	CHECK_EQ(f->shutdowns, 1);
	CHECK_EQ(dev->stats.bad_accesses, 3);
	/* without a shutdown service the event is still counted */
	{
		struct device_services nosvc = f->svc;
		const struct device_services *saved = dev->svc;

		nosvc.shutdown = NULL;
		dev->svc = &nosvc;
		cls->write(dev, 0, 0, 1, PVPANIC_PANICKED);
		dev->svc = saved;
		CHECK_EQ(pvpanic_get_stats(dev, &st), 0);
		CHECK_EQ(st.panicked, 2);
		CHECK_EQ(f->shutdowns, 1);
	}
	cls->destroy(dev);
	dev = NULL;

	/* enum given by index only, and an invalid value */
	set_on_panic(&cfg, NULL, 1);
	CHECK_EQ(cls->create(&cfg, &f->svc, &dev), 0);
	if (dev) {
		CHECK_EQ(pvpanic_get_stats(dev, &st), 0);
		CHECK_EQ(st.action, PVPANIC_ACTION_CRASH);
		cls->destroy(dev);
		dev = NULL;
	}
	set_on_panic(&cfg, "reboot", 2);
	CHECK_EQ(cls->create(&cfg, &f->svc, &dev), -EINVAL);
	cfg.port = 0x10000;
	cfg.extra_count = 0;
	CHECK_EQ(cls->create(&cfg, &f->svc, &dev), -EINVAL);
	cls->destroy(NULL);
}

static void
test_pci(struct fake_services *f)
{
	const struct device_class *cls = device_class_find("pvpanic-pci");
	struct cfg_device cfg = {
		.type = (char *)"pvpanic-pci", .id = "ppanic",
		.keys = CFG_KEY_PCI, .pci_sbdf = SBDF,
	};
	struct pvpanic_stats st;
	struct device *dev = NULL;
	struct bus bus;
	const uint64_t base = 0xfebff000;

	if (!cls)
		return;
	fake_services_clear(f);
	cfg.keys = 0;
	CHECK_EQ(cls->create(&cfg, &f->svc, &dev), -EINVAL);
	cfg.keys = CFG_KEY_PCI;
	set_on_panic(&cfg, "crash", 1);
	CHECK_EQ(cls->create(&cfg, &f->svc, &dev), 0);
	if (!dev)
		return;
	CHECK(dev->is_pci);
	CHECK_EQ(dev->pci_sbdf, SBDF);
	bus_init(&bus);
	CHECK_EQ(bus_add_pci(&bus, dev), 0);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0, 4), 0x00111b36);
	CHECK_EQ(bus_config_read(&bus, SBDF, 8, 4), 0x08800001);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0x2c, 4), 0x11001af4);
	CHECK_EQ(bus_config_read(&bus, SBDF, PCI_INTERRUPT_PIN, 1), 0);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0x10, 4), 0);	/* mem32 */
	bus_config_write(&bus, SBDF, 0x10, 4, 0xffffffff);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0x10, 4), 0xfffff000);
	bus_config_write(&bus, SBDF, 0x14, 4, 0xffffffff);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0x14, 4), 0);
	bus_config_write(&bus, SBDF, 0x10, 4, (uint32_t)base);
	bus_config_write(&bus, SBDF, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(f->region_changes, 1);
	CHECK_EQ(dev->regions[0].space, BUS_SPACE_MMIO);
	CHECK_EQ(dev->regions[0].base, base);
	CHECK_EQ(dev->regions[0].size, 4096);
	/* the core would do this on region_changed */
	CHECK_EQ(bus_add(&bus, dev, 0), 0);

	CHECK_EQ(bus_read(&bus, BUS_SPACE_MMIO, base, 1), 0x03);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_MMIO, base + 1, 1), 0x03);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_MMIO, base + 0x10, 1), 0);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_MMIO, base + 0xffc, 4), 0);
	bus_write(&bus, BUS_SPACE_MMIO, base + 0x10, 1, PVPANIC_PANICKED);
	CHECK_EQ(f->shutdowns, 0);
	bus_write(&bus, BUS_SPACE_MMIO, base, 1, PVPANIC_CRASH_LOADED);
	CHECK_EQ(f->shutdowns, 0);
	bus_write(&bus, BUS_SPACE_MMIO, base, 1, PVPANIC_PANICKED);
	CHECK_EQ(f->shutdowns, 1);
	CHECK_EQ(f->last_shutdown_reason, DEVICE_SHUTDOWN_CRASH);
	CHECK_EQ(pvpanic_get_stats(dev, &st), 0);
	CHECK_EQ(st.panicked, 1);
	CHECK_EQ(st.crash_loaded, 1);
	/* a dword write is split into bytes: offset 0 carries the event */
	bus_write(&bus, BUS_SPACE_MMIO, base, 4, 0x00000001);
	CHECK_EQ(f->shutdowns, 2);

	/* reset turns decode off and releases the BAR */
	dev->cls->reset(dev);
	CHECK_EQ(f->region_changes, 2);
	CHECK_EQ(dev->regions[0].size, 0);
	CHECK_EQ(bus_config_read(&bus, SBDF, PCI_COMMAND, 2), 0);
	/* not a pvpanic: no stats */
	{
		struct device other;

		device_init(&other, device_class_find("debugcon"), "x",
			    &f->svc);
		CHECK_EQ(pvpanic_get_stats(&other, &st), -EINVAL);
		CHECK_EQ(pvpanic_get_stats(NULL, &st), -EINVAL);
	}
	bus_fini(&bus);
	cls->destroy(dev);
}

/* The key as config/ parses it, defaults included. */
static void
test_yaml(struct fake_services *f)
{
	static const char yaml[] =
		"devices:\n"
		"  - type: pvpanic\n"
		"    id: p1\n"
		"  - type: pvpanic-pci\n"
		"    id: p2\n"
		"    pci: \"00:06.0\"\n"
		"    on-panic: crash\n";
	static const char bad[] =
		"devices:\n"
		"  - type: pvpanic\n"
		"    id: p1\n"
		"    on-panic: reboot\n";
	struct cfg *cfg = NULL;
	struct device *dev = NULL;
	struct pvpanic_stats st;
	FILE *errs = tmpfile();
	int r;

	r = cfg_load_string("t.yaml", yaml, sizeof(yaml) - 1, errs, &cfg);
	CHECK_EQ(r, 0);
	if (r == 0 && cfg && cfg->device_count == 2) {
		const struct device_class *isa = device_class_find("pvpanic");
		const struct device_class *pci =
			device_class_find("pvpanic-pci");

		CHECK_EQ(isa->create(&cfg->devices[0], &f->svc, &dev), 0);
		if (dev) {
			CHECK_EQ(dev->regions[0].base, 0x505);
			CHECK_EQ(pvpanic_get_stats(dev, &st), 0);
			CHECK_EQ(st.action, PVPANIC_ACTION_LOG);
			isa->destroy(dev);
			dev = NULL;
		}
		CHECK_EQ(cfg->devices[1].pci_sbdf, SBDF);
		CHECK_EQ(pci->create(&cfg->devices[1], &f->svc, &dev), 0);
		if (dev) {
			CHECK_EQ(pvpanic_get_stats(dev, &st), 0);
			CHECK_EQ(st.action, PVPANIC_ACTION_CRASH);
			pci->destroy(dev);
		}
	}
	cfg_free(cfg);
	cfg = NULL;
	CHECK(cfg_load_string("b.yaml", bad, sizeof(bad) - 1, errs, &cfg) < 0);
	cfg_free(cfg);
	if (errs)
		fclose(errs);
}

int
main(void)
{
	struct fake_services f;

	log_set_level(LOG_LEVEL_ERROR);
	log_set_journal(false);
	if (fake_services_init(&f, 0) < 0)
		return test_finish() | 1;
	test_class_tables();
	test_isa(&f);
	test_pci(&f);
	test_yaml(&f);
	fake_services_fini(&f);
	return test_finish();
}
