/*
 * Unit test of the operator hooks of the character devices: describe
 * (backend, interrupt) and chardev_attach of uart16550, pci-serial and
 * debugcon on file back-ends; a refused back-end leaves the old one
 * serving, an accepted one takes the output from then on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/registry.h"
#include "fake-info.h"
#include "fake-services.h"
#include "test-util.h"

static struct fake_services f;
static char dir[] = "/tmp/test-devctl-XXXXXX";
static char file_a[64], file_b[64];

/* What the file holds, after the back-ends flushed (deferred work). */
static const char *
contents(const char *path)
{
	static char buf[64];
	int fd;
	ssize_t n;

	fake_services_answered(&f);
	pump_for(f.evbase, 5);
	memset(buf, 0, sizeof(buf));
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return "(none)";
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	return n < 0 ? "(error)" : buf;
}

/*
 * dev writes one byte with `put`; starts on file_a.  Refused: a socket
 * where a regular file is.  Then file_b.
 */
static void
attach_case(struct device *dev, void (*put)(struct device *, char))
{
	struct cfg_backend bad = { .type = CFG_BACKEND_SOCKET, .path = file_a };
	struct cfg_backend nopath = { .type = CFG_BACKEND_FILE };
	struct cfg_backend good = { .type = CFG_BACKEND_FILE, .path = file_b };
	char want[96];

	(void)snprintf(want, sizeof(want), "file:%s", file_a);
	CHECK(strcmp(fake_info(dev, "backend"), want) == 0);
	put(dev, 'a');
	CHECK(strcmp(contents(file_a), "a") == 0);
	CHECK_EQ(dev->ops->chardev_attach(dev, &bad), -EEXIST);
	CHECK_EQ(dev->ops->chardev_attach(dev, &nopath), -EINVAL);
	CHECK(strcmp(fake_info(dev, "backend"), want) == 0);
	put(dev, 'b');
	CHECK(strcmp(contents(file_a), "ab") == 0);
	CHECK_EQ(dev->ops->chardev_attach(dev, &good), 0);
	(void)snprintf(want, sizeof(want), "file:%s", file_b);
	CHECK(strcmp(fake_info(dev, "backend"), want) == 0);
	put(dev, 'c');
	CHECK(strcmp(contents(file_b), "c") == 0);
	CHECK(strcmp(contents(file_a), "ab") == 0);
	(void)unlink(file_a);
	(void)unlink(file_b);
}

static void
put_thr(struct device *dev, char c)
{
	dev->ops->write(dev, 0, 0, 1, (uint8_t)c);
}

static void
test_uart16550(void)
{
	const struct device_type *type = device_type_find("uart16550");
	struct cfg_device cfg = {
		.type = (char *)"uart16550",
		.id = "com1",
		.keys = CFG_KEY_PORT | CFG_KEY_IRQ | CFG_KEY_BACKEND,
		.port = 0x3f8,
		.irq = 4,
		.backend = { .type = CFG_BACKEND_FILE, .path = file_a },
	};
	struct device *dev = NULL;

	CHECK_EQ(type->create(&cfg, &f.svc, &dev), 0);
	if (!dev)
		return;
	CHECK(strcmp(fake_info(dev, "interrupt"), "isa 4") == 0);
	attach_case(dev, put_thr);
	/* The UART still works: THR empty, interrupt raised via IER. */
	dev->ops->write(dev, 0, 1, 1, 0x02); /* IER: THRE */
	dev->ops->write(dev, 0, 4, 1, 0x08); /* MCR: OUT2 */
	CHECK(f.isa_level[4]);
	dev->ops->destroy(dev);
}

static void
test_pci_serial(void)
{
	const struct device_type *type = device_type_find("pci-serial");
	const uint32_t sbdf = DEVICE_PCI_SBDF(0, 5, 0);
	struct cfg_device cfg = {
		.type = (char *)"pci-serial",
		.id = "ser0",
		.keys = CFG_KEY_PCI | CFG_KEY_BACKEND,
		.pci_sbdf = sbdf,
		.backend = { .type = CFG_BACKEND_FILE, .path = file_a },
	};
	struct device *dev = NULL;
	struct bus bus;

	CHECK_EQ(type->create(&cfg, &f.svc, &dev), 0);
	if (!dev)
		return;
	bus_init(&bus);
	CHECK_EQ(bus_add_pci(&bus, dev), 0);
	CHECK(strcmp(fake_info(dev, "interrupt"), "intx") == 0);
	bus_config_write(&bus, sbdf, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	CHECK(strcmp(fake_info(dev, "interrupt"), "none") == 0);
	attach_case(dev, put_thr);
	bus_fini(&bus);
	dev->ops->destroy(dev);
}

static void
test_debugcon(void)
{
	const struct device_type *type = device_type_find("debugcon");
	struct cfg_device cfg = {
		.type = (char *)"debugcon",
		.id = "dbg",
		.keys = CFG_KEY_PORT | CFG_KEY_BACKEND,
		.port = 0x402,
		.backend = { .type = CFG_BACKEND_FILE, .path = file_a },
	};
	struct device *dev = NULL;

	CHECK_EQ(type->create(&cfg, &f.svc, &dev), 0);
	if (!dev)
		return;
	CHECK(strcmp(fake_info(dev, "interrupt"), "(absent)") == 0);
	attach_case(dev, put_thr);
	dev->ops->destroy(dev);
	/* No backend in the config: the null one. */
	cfg.keys = CFG_KEY_PORT;
	CHECK_EQ(type->create(&cfg, &f.svc, &dev), 0);
	if (dev) {
		CHECK(strcmp(fake_info(dev, "backend"), "null") == 0);
		dev->ops->destroy(dev);
	}
}

int
main(void)
{
	if (!mkdtemp(dir) || fake_services_init(&f, 0) < 0)
		return 2;
	(void)snprintf(file_a, sizeof(file_a), "%s/a.log", dir);
	(void)snprintf(file_b, sizeof(file_b), "%s/b.log", dir);
	test_uart16550();
	test_pci_serial();
	test_debugcon();
	fake_services_fini(&f);
	(void)rmdir(dir);
	return test_finish();
}
