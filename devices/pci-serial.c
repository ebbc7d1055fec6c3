/*
 * PCI serial card (type `pci-serial`): the 16550A core of uart16550.h
 * behind BAR0, an 8-byte I/O BAR, interrupting on INTA.  It presents the
 * identity of QEMU's single-port PCI serial card (QEMU docs/specs/
 * pci-serial.rst and hw/char/serial-pci.c): Red Hat vendor 1b36, device
 * 0002, revision 1, class 07 00 02 (communication / serial / 16550
 * compatible), and QEMU's default subsystem ids 1af4:1100, so Linux's
 * 8250_pci driver binds it as a one-port 115200-baud-base board.
 *
 * By default it has no MSI or MSI-X capability, as QEMU's card has none:
 * the UART's interrupt output (already gated by MCR.OUT2 in the core)
 * drives INTx through pci_irq_update.  `interrupt: msi` adds a one-vector
 * 64-bit maskable MSI capability, `interrupt: msix` a one-vector MSI-X
 * capability with its table and PBA in BAR1 (4 KiB memory), as multi-port
 * serial cards with message interrupts have; the guest then chooses, and
 * INTx is used while it enables neither.
 */
#include <errno.h>
#include <stdlib.h>

#include "config/cfg.h"
#include "devices/chardev.h"
#include "devices/pci.h"
#include "devices/registry.h"
#include "devices/uart16550.h"
#include "lib/container.h"

#define PCI_SERIAL_VENDOR_ID	 0x1b36 /* Red Hat, Inc. (QEMU devices) */
#define PCI_SERIAL_DEVICE_ID	 0x0002 /* QEMU PCI 16550A adapter */
#define PCI_SERIAL_REVISION	 1
#define PCI_SERIAL_CLASS	 0x070002 /* serial controller, 16550 */
#define PCI_SERIAL_SUBVENDOR_ID	 0x1af4	  /* QEMU's default subsystem ... */
#define PCI_SERIAL_SUBSYSTEM_ID	 0x1100	  /* ... ids for its devices */
#define PCI_SERIAL_MSIX_BAR	 1
#define PCI_SERIAL_MSIX_BAR_SIZE 0x1000
#define PCI_SERIAL_MSIX_PBA	 0x800

enum pci_serial_interrupt { /* index into interrupt_choices */
			    PCI_SERIAL_INTX,
			    PCI_SERIAL_MSI,
			    PCI_SERIAL_MSIX,
};

static const char *const interrupt_choices[] = {
	[PCI_SERIAL_INTX] = "intx",
	[PCI_SERIAL_MSI] = "msi",
	[PCI_SERIAL_MSIX] = "msix",
	NULL,
};

static const struct cfg_extra_key pci_serial_keys[] = {
	{ .name = "interrupt",
	  .type = CFG_EXTRA_ENUM,
	  .choices = interrupt_choices,
	  .default_value = "intx" },
	{ .name = NULL },
};

struct pci_serial {
	struct device dev;
	struct pci_function pf;
	struct uart16550 uart;
	struct chardev *cd;
};

static struct pci_serial *
to_pci_serial(struct device *dev)
{
	return container_of(dev, struct pci_serial, dev);
}

static void
pci_serial_set_irq(void *opaque, bool level)
{
	struct pci_serial *s = opaque;

	pci_irq_update(&s->pf, level);
}

static void
pci_serial_destroy(struct device *dev)
{
	struct pci_serial *s;

	if (!dev)
		return;
	s = to_pci_serial(dev);
	uart16550_fini(&s->uart);
	chardev_close(s->cd);
	pci_function_fini(&s->pf);
	free(s);
}

/* The optional message-signalled interrupt capability (see the top). */
static int
pci_serial_add_interrupts(struct pci_serial *s, const struct cfg_device *cfg)
{
	int r = cfg_device_extra_enum(cfg, "interrupt");

	switch (r < 0 ? PCI_SERIAL_INTX : r) {
	case PCI_SERIAL_MSI:
		r = pci_msi_init(&s->pf, 1, true, true);
		return r < 0 ? r : 0;
	case PCI_SERIAL_MSIX:
		r = pci_add_bar(&s->pf, PCI_SERIAL_MSIX_BAR, PCI_BAR_MEM32,
				PCI_SERIAL_MSIX_BAR_SIZE, false,
				DEVICE_ACCESS_4 | DEVICE_ACCESS_8);
		if (r < 0)
			return r;
		r = pci_msix_init(&s->pf, 1, PCI_SERIAL_MSIX_BAR, 0,
				  PCI_SERIAL_MSIX_PBA);
		return r < 0 ? r : 0;
	default:
		return 0;
	}
}

static const struct device_ops pci_serial_ops;

static int
pci_serial_create(const struct cfg_device *cfg,
		  const struct device_services *svc, struct device **ret_dev)
{
	static const struct pci_ids ids = {
		.vendor_id = PCI_SERIAL_VENDOR_ID,
		.device_id = PCI_SERIAL_DEVICE_ID,
		.revision = PCI_SERIAL_REVISION,
		.class_code = PCI_SERIAL_CLASS,
		.subsystem_vendor_id = PCI_SERIAL_SUBVENDOR_ID,
		.subsystem_id = PCI_SERIAL_SUBSYSTEM_ID,
		.interrupt_pin = 1, /* INTA */
	};
	struct pci_serial *s;
	int r;

	if (!cfg || !svc || !ret_dev || !(cfg->keys & CFG_KEY_PCI))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	device_init(&s->dev, &pci_serial_type, &pci_serial_ops, cfg->id, svc);
	s->dev.is_pci = true;
	s->dev.pci_sbdf = cfg->pci_sbdf;
	pci_function_init(&s->pf, &s->dev, &ids);
	r = pci_add_bar(&s->pf, 0, PCI_BAR_IO, UART16550_REG_COUNT, false,
			DEVICE_ACCESS_1);
	if (r < 0)
		goto err_free;
	r = pci_serial_add_interrupts(s, cfg);
	if (r < 0)
		goto err_free;
	r = chardev_open((cfg->keys & CFG_KEY_BACKEND) ? &cfg->backend : NULL,
			 svc->events, cfg->id, &s->cd);
	if (r < 0)
		goto err_free;
	r = uart16550_init(&s->uart, cfg->id, svc->events, s->cd,
			   pci_serial_set_irq, s);
	if (r < 0)
		goto err_free;
	*ret_dev = &s->dev;
	return 0;

err_free:
	pci_serial_destroy(&s->dev);
	return r;
}

static void
pci_serial_reset(struct device *dev)
{
	struct pci_serial *s = to_pci_serial(dev);

	uart16550_reset(&s->uart);
	pci_function_reset(&s->pf);
}

static uint64_t
pci_serial_read(struct device *dev, unsigned region, uint64_t offset,
		unsigned size)
{
	uint64_t v;

	if (region == PCI_SERIAL_MSIX_BAR) {
		if (pci_msix_mmio_read(&to_pci_serial(dev)->pf, region, offset,
				       size, &v))
			return v;
		dev->stats.bad_accesses++;
		return 0;
	}
	if (region != 0 || offset >= UART16550_REG_COUNT || size != 1) {
		dev->stats.bad_accesses++;
		return 0xff;
	}
	return uart16550_read(&to_pci_serial(dev)->uart, (unsigned)offset);
}

static void
pci_serial_write(struct device *dev, unsigned region, uint64_t offset,
		 unsigned size, uint64_t value)
{
	if (region == PCI_SERIAL_MSIX_BAR) {
		if (!pci_msix_mmio_write(&to_pci_serial(dev)->pf, region,
					 offset, size, value))
			dev->stats.bad_accesses++;
		return;
	}
	if (region != 0 || offset >= UART16550_REG_COUNT || size != 1) {
		dev->stats.bad_accesses++;
		return;
	}
	uart16550_write(&to_pci_serial(dev)->uart, (unsigned)offset,
			(uint8_t)value);
}

static void
pci_serial_describe(const struct device *dev,
		    const struct device_info_writer *w)
{
	const struct pci_serial *s = container_of(dev, const struct pci_serial,
						  dev);

	chardev_describe(s->cd, w);
	device_info_str(w, "interrupt", pci_interrupt_mode(&s->pf));
}

/* As the ISA UART's: through the 16550 core, TX FIFO carried over. */
static int
pci_serial_chardev_attach(struct device *dev, const struct cfg_backend *backend)
{
	struct pci_serial *s = to_pci_serial(dev);
	struct chardev *cd, *old = s->cd;
	int r;

	r = chardev_open(backend, dev->svc->events, dev->id, &cd);
	if (r < 0)
		return r;
	uart16550_set_chardev(&s->uart, cd);
	s->cd = cd;
	chardev_close(old);
	return 0;
}

static const struct device_ops pci_serial_ops = {
	.destroy = pci_serial_destroy,
	.reset = pci_serial_reset,
	.read = pci_serial_read,
	.write = pci_serial_write,
	.describe = pci_serial_describe,
	.chardev_attach = pci_serial_chardev_attach,
};

static const struct cfg_type_desc pci_serial_cfg = {
	.name = "pci-serial",
	.keys = CFG_KEY_PCI | CFG_KEY_BACKEND,
	.placement = CFG_KEY_PCI,
	.extra_keys = pci_serial_keys,
};

const struct device_type pci_serial_type = {
	.name = "pci-serial",
	.cfg = &pci_serial_cfg,
	.create = pci_serial_create,
};
