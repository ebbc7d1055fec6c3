/*
 * Unit test of types `pvpanic` (ISA) and `pvpanic-pci`: type tables,
 * the supported-events read, event counting read through the stats hook,
 * on-panic log vs crash (the shutdown service with SHUTDOWN_crash),
 * unknown bits, the PCI identity and BAR0, the on-panic key through
 * the real YAML loader, the GUEST_PANICKED report and describe.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/pvpanic.h"
#include "fake-info.h"
#include "fake-services.h"
#include "fake-stats.h"
#include "test-util.h"

#define SBDF DEVICE_PCI_SBDF(0, 6, 0)

static void
set_on_panic(struct cfg_device *cfg, const char *value, uint64_t index)
{
	cfg->extra[0] = (struct cfg_extra_value){
		.name = "on-panic",
		.type = CFG_EXTRA_ENUM,
		.str = (char *)value,
		.num = index,
		.set = true,
	};
	cfg->extra_count = 1;
}

/* Does a PANICKED event shut the guest down (on-panic: crash)? */
static bool
crashes_on_panic(struct device *dev, struct fake_services *f)
{
	unsigned before = f->shutdowns;

	dev->ops->write(dev, 0, 0, 1, PVPANIC_PANICKED);
	return f->shutdowns != before;
}

static void
test_type_tables(void)
{
	const struct device_type *isa = device_type_find("pvpanic");
	const struct device_type *pci = device_type_find("pvpanic-pci");
	const struct cfg_extra_key *k;

	CHECK(isa && pci);
	if (!isa || !pci)
		return;
	CHECK_EQ(isa->cfg->keys, CFG_KEY_PORT);
	CHECK_EQ(isa->cfg->required, 0);
	CHECK_EQ(isa->cfg->placement, CFG_KEY_PORT);
	CHECK_EQ(isa->cfg->default_port, 0x505);
	CHECK_EQ(isa->cfg->port_size, 1);
	CHECK_EQ(pci->cfg->keys, CFG_KEY_PCI);
	CHECK_EQ(pci->cfg->required, 0);
	CHECK_EQ(pci->cfg->placement, CFG_KEY_PCI);
	CHECK_EQ(pci->cfg->port_size, 0);
	for (int i = 0; i < 2; i++) {
		k = (i ? pci : isa)->cfg->extra_keys;
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
	const struct device_type *type = device_type_find("pvpanic");
	struct cfg_device cfg = {
		.type = (char *)"pvpanic",
		.id = "panic",
	};
	struct fake_stats st;
	uint64_t v;
	struct device *dev = NULL;
	struct bus bus;

	if (!type)
		return;
	fake_services_clear(f);
	/* config/ always puts the default port in */
	CHECK_EQ(type->create(&cfg, &f->svc, &dev), -EINVAL);
	cfg.keys = CFG_KEY_PORT;
	cfg.port = 0x505;
	CHECK_EQ(type->create(&cfg, &f->svc, &dev), 0);
	if (!dev)
		return;
	CHECK(dev->ops->config_read == NULL);
	CHECK(dev->ops->config_write == NULL);
	CHECK_EQ(dev->region_count, 1);
	CHECK_EQ(dev->regions[0].space, BUS_SPACE_PORT);
	CHECK_EQ(dev->regions[0].base, 0x505);
	CHECK_EQ(dev->regions[0].size, 1);
	bus_init(&bus);
	CHECK_EQ(bus_add(&bus, dev, 0), 0);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x505, 1), 0x03);
	fake_stats_collect(dev, &st);
	CHECK_EQ(st.count, 4);
	CHECK(fake_stats_get(&st, "panicked", &v) && v == 0);
	CHECK(fake_stats_get(&st, "crash_loaded", &v) && v == 0);
	CHECK(fake_stats_get(&st, "unknown", &v) && v == 0);
	CHECK(fake_stats_get(&st, "shutdowns", &v) && v == 0);

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
			CHECK(strstr(
				logbuf,
				"error: panic: guest crash kernel loaded"));
		}
		if (saved >= 0)
			close(saved);
		if (tmp)
			fclose(tmp);
	}
	/* the panic (only) was reported, naming the device */
	CHECK_EQ(f->reports, 1);
	CHECK_EQ(f->report_counts[DEVICE_EVENT_GUEST_PANICKED], 1);
	CHECK(f->last_report_dev == dev);
	CHECK(strcmp(fake_info(dev, "interrupt"), "none") == 0);
	CHECK(strcmp(fake_info(dev, "backend"), "(absent)") == 0);
	bus_write(&bus, BUS_SPACE_PORT, 0x505, 1, 0x84); /* unknown */
	bus_write(&bus, BUS_SPACE_PORT, 0x505, 1, 0);	 /* nothing */
	CHECK_EQ(f->reports, 1);
	CHECK_EQ(fake_stat(dev, "panicked"), 1);
	CHECK_EQ(fake_stat(dev, "crash_loaded"), 1);
	CHECK_EQ(fake_stat(dev, "unknown"), 1);
	CHECK_EQ(fake_stat(dev, "shutdowns"), 0);
	CHECK_EQ(f->shutdowns, 0);
	/* wider accesses are split into bytes: only the port's byte counts */
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x505, 2), 0xffff);
	dev->ops->reset(dev);
	bus_fini(&bus);
	dev->ops->destroy(dev);
	dev = NULL;

	/* crash: SHUTDOWN_crash on PANICKED only; other port */
	cfg.keys = CFG_KEY_PORT;
	cfg.port = 0x506;
	set_on_panic(&cfg, "crash", 1);
	CHECK_EQ(type->create(&cfg, &f->svc, &dev), 0);
	if (!dev)
		return;
	CHECK_EQ(dev->regions[0].base, 0x506);
	dev->ops->write(dev, 0, 0, 1, PVPANIC_CRASH_LOADED);
	CHECK_EQ(f->shutdowns, 0);
	dev->ops->write(dev, 0, 0, 1, PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
	CHECK_EQ(f->shutdowns, 1);
	CHECK_EQ(f->last_shutdown_reason, DEVICE_SHUTDOWN_CRASH);
	CHECK_EQ(fake_stat(dev, "panicked"), 1);
	CHECK_EQ(fake_stat(dev, "crash_loaded"), 2);
	CHECK_EQ(fake_stat(dev, "shutdowns"), 1);
	/* bad accesses the bus would never make are still refused */
	CHECK_EQ(dev->ops->read(dev, 0, 1, 1), 0xff);
	CHECK_EQ(dev->ops->read(dev, 1, 0, 1), 0xff);
	dev->ops->write(dev, 0, 0, 2, PVPANIC_PANICKED);
	CHECK_EQ(f->shutdowns, 1);
	CHECK_EQ(dev->stats.bad_accesses, 3);
	/* without a shutdown service the event is still counted */
	{
		struct device_services nosvc = f->svc;
		const struct device_services *saved = dev->svc;

		nosvc.shutdown = NULL;
		dev->svc = &nosvc;
		dev->ops->write(dev, 0, 0, 1, PVPANIC_PANICKED);
		dev->svc = saved;
		CHECK_EQ(fake_stat(dev, "panicked"), 2);
		CHECK_EQ(f->shutdowns, 1);
	}
	dev->ops->destroy(dev);
	dev = NULL;

	/* enum given by index only, and an invalid value */
	set_on_panic(&cfg, NULL, 1);
	CHECK_EQ(type->create(&cfg, &f->svc, &dev), 0);
	if (dev) {
		CHECK(crashes_on_panic(dev, f));
		dev->ops->destroy(dev);
		dev = NULL;
	}
	set_on_panic(&cfg, "reboot", 2);
	CHECK_EQ(type->create(&cfg, &f->svc, &dev), -EINVAL);
	cfg.port = 0x10000;
	cfg.extra_count = 0;
	CHECK_EQ(type->create(&cfg, &f->svc, &dev), -EINVAL);
}

static void
test_pci(struct fake_services *f)
{
	const struct device_type *type = device_type_find("pvpanic-pci");
	struct cfg_device cfg = {
		.type = (char *)"pvpanic-pci",
		.id = "ppanic",
		.keys = CFG_KEY_PCI,
		.pci_sbdf = SBDF,
	};
	struct device *dev = NULL;
	struct bus bus;
	const uint64_t base = 0xfebff000;

	if (!type)
		return;
	fake_services_clear(f);
	cfg.keys = 0;
	CHECK_EQ(type->create(&cfg, &f->svc, &dev), -EINVAL);
	cfg.keys = CFG_KEY_PCI;
	set_on_panic(&cfg, "crash", 1);
	CHECK_EQ(type->create(&cfg, &f->svc, &dev), 0);
	if (!dev)
		return;
	CHECK(dev->is_pci);
	CHECK_EQ(dev->pci_sbdf, SBDF);
	/* config space from the generic model */
	CHECK(!dev->ops->config_read && !dev->ops->config_write);
	bus_init(&bus);
	CHECK_EQ(bus_add_pci(&bus, dev), 0);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0, 4), 0x00111b36);
	CHECK_EQ(bus_config_read(&bus, SBDF, 8, 4), 0x08800001);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0x2c, 4), 0x11001af4);
	CHECK_EQ(bus_config_read(&bus, SBDF, PCI_INTERRUPT_PIN, 1), 0);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0x10, 4), 0); /* mem32 */
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
	CHECK_EQ(f->reports, 0);
	bus_write(&bus, BUS_SPACE_MMIO, base, 1, PVPANIC_PANICKED);
	CHECK_EQ(f->shutdowns, 1);
	CHECK_EQ(f->report_counts[DEVICE_EVENT_GUEST_PANICKED], 1);
	CHECK(f->last_report_dev == dev);
	CHECK(strcmp(fake_info(dev, "interrupt"), "none") == 0);
	CHECK_EQ(f->last_shutdown_reason, DEVICE_SHUTDOWN_CRASH);
	CHECK_EQ(fake_stat(dev, "panicked"), 1);
	CHECK_EQ(fake_stat(dev, "crash_loaded"), 1);
	/* a dword write is split into bytes: offset 0 carries the event */
	bus_write(&bus, BUS_SPACE_MMIO, base, 4, 0x00000001);
	CHECK_EQ(f->shutdowns, 2);

	/* reset turns decode off and releases the BAR */
	dev->ops->reset(dev);
	CHECK_EQ(f->region_changes, 2);
	CHECK_EQ(dev->regions[0].size, 0);
	CHECK_EQ(bus_config_read(&bus, SBDF, PCI_COMMAND, 2), 0);
	/* reset keeps the counters */
	CHECK_EQ(fake_stat(dev, "shutdowns"), 2);
	bus_fini(&bus);
	dev->ops->destroy(dev);
}

/* The key as config/ parses it, defaults included. */
static void
test_yaml(struct fake_services *f)
{
	static const char yaml[] = "devices:\n"
				   "  - type: pvpanic\n"
				   "    id: p1\n"
				   "  - type: pvpanic-pci\n"
				   "    id: p2\n"
				   "    pci: \"00:06.0\"\n"
				   "    on-panic: crash\n";
	static const char bad[] = "devices:\n"
				  "  - type: pvpanic\n"
				  "    id: p1\n"
				  "    on-panic: reboot\n";
	struct cfg *cfg = NULL;
	struct device *dev = NULL;
	FILE *errs = tmpfile();
	int r;

	r = cfg_load_string("t.yaml", yaml, sizeof(yaml) - 1,
			    device_type_cfg_find, errs, &cfg);
	CHECK_EQ(r, 0);
	if (r == 0 && cfg && cfg->device_count == 2) {
		const struct device_type *isa = device_type_find("pvpanic");
		const struct device_type *pci = device_type_find("pvpanic-pci");

		/* the default, as config/ resolved it */
		CHECK_EQ(cfg_device_extra_enum(&cfg->devices[0], "on-panic"),
			 PVPANIC_ACTION_LOG);
		CHECK_EQ(isa->create(&cfg->devices[0], &f->svc, &dev), 0);
		if (dev) {
			CHECK_EQ(dev->regions[0].base, 0x505);
			CHECK(!crashes_on_panic(dev, f));
			dev->ops->destroy(dev);
			dev = NULL;
		}
		CHECK_EQ(cfg->devices[1].pci_sbdf, SBDF);
		CHECK_EQ(cfg_device_extra_enum(&cfg->devices[1], "on-panic"),
			 PVPANIC_ACTION_CRASH);
		CHECK_EQ(pci->create(&cfg->devices[1], &f->svc, &dev), 0);
		if (dev) {
			CHECK(crashes_on_panic(dev, f));
			dev->ops->destroy(dev);
		}
	}
	cfg_free(cfg);
	cfg = NULL;
	CHECK(cfg_load_string("b.yaml", bad, sizeof(bad) - 1,
			      device_type_cfg_find, errs, &cfg) < 0);
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
	test_type_tables();
	test_isa(&f);
	test_pci(&f);
	test_yaml(&f);
	fake_services_fini(&f);
	return test_finish();
}
