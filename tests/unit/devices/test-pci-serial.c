/*
 * Unit test of type `pci-serial`: identity and BAR0 in config space, the
 * UART reached through BAR0 once the guest enables I/O decode (a small
 * stand-in for the core moves the bus entry on region_changed), INTx
 * following the UART's interrupt, moving and disabling the BAR, and a
 * socket back-end carrying bytes both ways.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config/cfg.h"
#include "devices/bus.h"
#include "devices/pci.h"
#include "fake-services.h"
#include "test-util.h"

#define SLOT 4
#define SBDF DEVICE_PCI_SBDF(0, SLOT, 0)

static struct bus bus;
static struct fake_services f;
static int (*fake_region_changed)(void *, struct device *, unsigned,
				  const struct device_region *);

/* What ioreq/ does: release the old bus entry, add the new one. */
static int
core_region_changed(void *opaque, struct device *dev, unsigned region,
		    const struct device_region *old)
{
	int r;

	(void)fake_region_changed(opaque, dev, region, old);
	if (old && old->size)
		(void)bus_remove(&bus, old->space, old->base, dev, region);
	if (!dev->regions[region].size)
		return 0;
	r = bus_add(&bus, dev, region);
	return r;
}

static uint8_t
inb(uint16_t port)
{
	return (uint8_t)bus_read(&bus, BUS_SPACE_PORT, port, 1);
}

static void
outb(uint16_t port, uint8_t v)
{
	bus_write(&bus, BUS_SPACE_PORT, port, 1, v);
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return fd;
}

int
main(void)
{
	const struct device_type *type = device_type_find("pci-serial");
	char path[64];
	struct cfg_device cfg = {
		.type = (char *)"pci-serial",
		.id = "pcom",
		.keys = CFG_KEY_PCI | CFG_KEY_BACKEND,
		.pci_sbdf = SBDF,
		.backend = { .type = CFG_BACKEND_SOCKET, .path = path },
	};
	struct device *dev = NULL;
	char buf[16] = { 0 };
	int fd = -1;

	log_set_level(LOG_LEVEL_ERROR);
	(void)snprintf(path, sizeof(path), "/tmp/ioreqd-pciser-%d.sock",
		       (int)getpid());
	CHECK(type != NULL);
	if (!type || fake_services_init(&f, 0) < 0)
		return test_finish() | 1;
	fake_region_changed = f.svc.region_changed;
	f.svc.region_changed = core_region_changed;
	CHECK_EQ(type->cfg->keys, CFG_KEY_PCI | CFG_KEY_BACKEND);
	CHECK_EQ(type->cfg->required, 0);
	CHECK_EQ(type->cfg->placement, CFG_KEY_PCI);
	CHECK_EQ(type->cfg->port_size, 0);
	cfg.keys = CFG_KEY_BACKEND;
	CHECK_EQ(type->create(&cfg, &f.svc, &dev), -EINVAL);
	cfg.keys = CFG_KEY_PCI | CFG_KEY_BACKEND;
	CHECK_EQ(type->create(&cfg, &f.svc, &dev), 0);
	if (!dev)
		return test_finish() | 1;
	CHECK(dev->is_pci);
	CHECK_EQ(dev->pci_sbdf, SBDF);
	/* no config hooks: the bus serves the generic model (dev->pci) */
	CHECK(!dev->ops->config_read && !dev->ops->config_write);
	CHECK(dev->pci && device_has_config(dev));
	bus_init(&bus);
	CHECK_EQ(bus_add_pci(&bus, dev), 0);

	/* identity, as QEMU's pci-serial */
	CHECK_EQ(bus_config_read(&bus, SBDF, 0, 4), 0x00021b36);
	CHECK_EQ(bus_config_read(&bus, SBDF, 8, 4), 0x07000201);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0x2c, 4), 0x11001af4);
	CHECK_EQ(bus_config_read(&bus, SBDF, PCI_INTERRUPT_PIN, 1), 1);
	CHECK_EQ(bus_config_read(&bus, SBDF, PCI_HEADER_TYPE, 1), 0);
	CHECK_EQ(bus_config_read(&bus, SBDF, PCI_CAPABILITY_LIST, 1), 0);
	/* BAR0: 8 bytes of I/O; no other BAR, no ROM */
	CHECK_EQ(bus_config_read(&bus, SBDF, 0x10, 4), 1);
	bus_config_write(&bus, SBDF, 0x10, 4, 0xffffffff);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0x10, 4), 0xfffffff9);
	for (unsigned o = 0x14; o <= 0x30; o += 4) {
		if (o == 0x2c)
			continue; /* subsystem ids */
		bus_config_write(&bus, SBDF, o, 4, 0xffffffff);
		CHECK_EQ(bus_config_read(&bus, SBDF, o, 4), 0);
	}
	CHECK_EQ(dev->regions[0].size, 0);
	CHECK_EQ(inb(0xc105), 0xff); /* nothing there yet */

	/* firmware-style set-up: address, interrupt line, I/O decode */
	bus_config_write(&bus, SBDF, 0x10, 4, 0xc100);
	bus_config_write(&bus, SBDF, PCI_INTERRUPT_LINE, 1, 10);
	bus_config_write(&bus, SBDF, PCI_COMMAND, 2, PCI_COMMAND_IO);
	CHECK_EQ(f.region_changes, 1);
	CHECK_EQ(dev->regions[0].base, 0xc100);
	CHECK_EQ(dev->regions[0].size, 8);
	CHECK_EQ(inb(0xc105), 0x60); /* LSR: THRE TEMT */
	outb(0xc107, 0x5a);
	CHECK_EQ(inb(0xc107), 0x5a); /* scratch */

	/* INTx follows the UART: THRE interrupt with OUT2 */
	outb(0xc101, 0x02);	       /* IER: THRE */
	CHECK(!f.intx_level[SLOT][0]); /* OUT2 off */
	outb(0xc104, 0x0b);	       /* DTR RTS OUT2 */
	CHECK(f.intx_level[SLOT][0]);
	CHECK(bus_config_read(&bus, SBDF, PCI_STATUS, 2) &
	      PCI_STATUS_INTERRUPT);
	CHECK_EQ(inb(0xc102) & 0x0f, 0x02); /* IIR: THRE */
	CHECK(!f.intx_level[SLOT][0]);	    /* read cleared it */
	CHECK_EQ(bus_config_read(&bus, SBDF, PCI_STATUS, 2) &
			 PCI_STATUS_INTERRUPT,
		 0);
	/* Interrupt Disable masks the line, clearing it brings it back */
	bus_config_write(&bus, SBDF, PCI_COMMAND, 2,
			 PCI_COMMAND_IO | PCI_COMMAND_INTX_DISABLE);
	outb(0xc101, 0x00);
	outb(0xc101, 0x02); /* THRE again */
	CHECK(!f.intx_level[SLOT][0]);
	CHECK(bus_config_read(&bus, SBDF, PCI_STATUS, 2) &
	      PCI_STATUS_INTERRUPT);
	bus_config_write(&bus, SBDF, PCI_COMMAND, 2, PCI_COMMAND_IO);
	CHECK(f.intx_level[SLOT][0]);
	outb(0xc101, 0x00);
	CHECK(!f.intx_level[SLOT][0]);

	/* bytes both ways through a socket client */
	pump_for(f.evbase, 5);
	fd = connect_to(path);
	CHECK(fd >= 0);
	pump_for(f.evbase, 20);
	outb(0xc100, 'H');
	outb(0xc100, 'i');
	PUMP_UNTIL(f.evbase, recv(fd, buf, sizeof(buf), MSG_PEEK) == 2, 500);
	CHECK_EQ(recv(fd, buf, sizeof(buf), 0), 2);
	CHECK(memcmp(buf, "Hi", 2) == 0);
	outb(0xc101, 0x01); /* IER: RX data */
	CHECK_EQ(send(fd, "ok", 2, 0), 2);
	PUMP_UNTIL(f.evbase, inb(0xc105) & 0x01, 500);
	CHECK(f.intx_level[SLOT][0]);
	CHECK_EQ(inb(0xc100), 'o');
	/* no FIFO (16450 mode): the next byte comes in once RBR is read */
	PUMP_UNTIL(f.evbase, inb(0xc105) & 0x01, 500);
	CHECK_EQ(inb(0xc100), 'k');
	CHECK(!f.intx_level[SLOT][0]);

	/* move the BAR: the old ports read all ones, the new ones answer */
	bus_config_write(&bus, SBDF, 0x10, 4, 0xc200);
	CHECK_EQ(inb(0xc107), 0xff);
	CHECK_EQ(inb(0xc207), 0x5a);
	/* decode off: gone */
	bus_config_write(&bus, SBDF, PCI_COMMAND, 2, 0);
	CHECK_EQ(inb(0xc207), 0xff);
	CHECK_EQ(dev->regions[0].size, 0);
	CHECK_EQ(bus.spaces[BUS_SPACE_PORT].count, 0);

	/* reset: UART and function at power-on state */
	bus_config_write(&bus, SBDF, PCI_COMMAND, 2, PCI_COMMAND_IO);
	CHECK_EQ(inb(0xc207), 0x5a);
	dev->ops->reset(dev);
	CHECK_EQ(bus_config_read(&bus, SBDF, PCI_COMMAND, 2), 0);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0x10, 4), 1);
	CHECK_EQ(bus.spaces[BUS_SPACE_PORT].count, 0);
	CHECK(!f.intx_level[SLOT][0]);

	if (fd >= 0)
		close(fd);
	CHECK_EQ(bus_remove_pci(&bus, dev), 0);
	bus_fini(&bus);
	dev->ops->destroy(NULL); /* must accept nothing */
	dev->ops->destroy(dev);
	fake_services_fini(&f);
	return test_finish();
}
