/*
 * Unit test of the generic PCI function (devices/pci.c) and the bus's PCI
 * table: config masking at every offset and width, W1C, BAR sizing and
 * decode, capability list, MSI, MSI-X, INTx, reset, and a random sweep.
 * A test-only function with every BAR kind is built here; it is not part
 * of the daemon.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "fake-services.h"
#include "lib/container.h"
#include "test-util.h"

#define SLOT 5
#define SBDF DEVICE_PCI_SBDF(0, SLOT, 0)

/* BAR4 holds the MSI-X table (8 vectors) at 0 and the PBA at 0x1000. */
#define MSIX_BAR     4
#define MSIX_VECTORS 8
#define MSIX_PBA     0x1000

struct tdev {
	struct device dev;
	struct pci_function pf;
	int msi_cap, msix_cap, vndr_cap;
	unsigned bar_reads; /* BAR accesses the device itself handled */
};

static struct tdev *
to_tdev(struct device *dev)
{
	return container_of(dev, struct tdev, dev);
}

static uint64_t
t_read(struct device *dev, unsigned region, uint64_t offset, unsigned size)
{
	struct tdev *t = to_tdev(dev);
	uint64_t v;

	if (pci_msix_mmio_read(&t->pf, region, offset, size, &v))
		return v;
	t->bar_reads++;
	return 0;
}

static void
t_write(struct device *dev, unsigned region, uint64_t offset, unsigned size,
	uint64_t value)
{
	(void)pci_msix_mmio_write(&to_tdev(dev)->pf, region, offset, size,
				  value);
}

/* No config hooks: the bus serves config space from the generic model. */
static const struct device_ops tops = {
	.read = t_read,
	.write = t_write,
};

static const struct pci_ids tids = {
	.vendor_id = 0x1234,
	.device_id = 0x5678,
	.revision = 0x42,
	.class_code = 0xff0001,
	.subsystem_vendor_id = 0xabcd,
	.subsystem_id = 0xef01,
	.interrupt_pin = 1,
};

static struct tdev *
tdev_new(struct fake_services *f)
{
	struct tdev *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	device_init(&t->dev, NULL, &tops, "tpci", &f->svc);
	t->dev.is_pci = true;
	t->dev.pci_sbdf = SBDF;
	pci_function_init(&t->pf, &t->dev, &tids);
	CHECK_EQ(pci_add_bar(&t->pf, 0, PCI_BAR_IO, 32, false,
			     DEVICE_ACCESS_ALL),
		 0);
	CHECK_EQ(pci_add_bar(&t->pf, 1, PCI_BAR_MEM32, 4096, false,
			     DEVICE_ACCESS_4),
		 0);
	CHECK_EQ(pci_add_bar(&t->pf, 2, PCI_BAR_MEM64, 16384, true,
			     DEVICE_ACCESS_4),
		 0);
	CHECK_EQ(pci_add_bar(&t->pf, MSIX_BAR, PCI_BAR_MEM32, 8192, true,
			     DEVICE_ACCESS_4 | DEVICE_ACCESS_8),
		 0);
	t->msi_cap = pci_msi_init(&t->pf, 4, true, true);
	t->msix_cap = pci_msix_init(&t->pf, MSIX_VECTORS, MSIX_BAR, 0,
				    MSIX_PBA);
	t->vndr_cap = pci_add_capability(&t->pf, PCI_CAP_ID_VNDR, 8);
	CHECK(t->msi_cap >= 0x40);
	CHECK(t->msix_cap > t->msi_cap);
	CHECK(t->vndr_cap > t->msix_cap);
	return t;
}

static void
tdev_free(struct tdev *t)
{
	pci_function_fini(&t->pf);
	free(t);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* ---- identity, rejected setups ---- */

static void
test_identity(struct fake_services *f)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;

	CHECK_EQ(pci_config_read(pf, 0, 4), 0x56781234);
	CHECK_EQ(pci_config_read(pf, 2, 2), 0x5678);
	CHECK_EQ(pci_config_read(pf, 8, 4), 0xff000142);
	CHECK_EQ(pci_config_read(pf, PCI_HEADER_TYPE, 1), 0);
	CHECK_EQ(pci_config_read(pf, 0x2c, 4), 0xef01abcd);
	CHECK_EQ(pci_config_read(pf, PCI_INTERRUPT_PIN, 1), 1);
	CHECK_EQ(pci_config_read(pf, PCI_CAPABILITY_LIST, 1), t->msi_cap);
	CHECK(pci_config_read(pf, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	CHECK_EQ(pci_config_read(pf, PCI_COMMAND, 2), 0);
	/* a dword-crossing read, and invalid accesses */
	CHECK_EQ(pci_config_read(pf, 3, 2), 0x0056);
	CHECK_EQ(pci_config_read(pf, 4095, 2), 0xffff);
	CHECK_EQ(pci_config_read(pf, 0, 3), 0xffffff);
	CHECK_EQ(pci_config_read(pf, 4096, 1), 0xff);

	/* bad BAR declarations */
	CHECK_EQ(pci_add_bar(pf, 0, PCI_BAR_IO, 8, false, 1), -EINVAL);
	CHECK_EQ(pci_add_bar(pf, 3, PCI_BAR_MEM32, 4096, false, 1), -EINVAL);
	CHECK_EQ(pci_add_bar(pf, 5, PCI_BAR_MEM64, 4096, false, 1), -EINVAL);
	CHECK_EQ(pci_add_bar(pf, 5, PCI_BAR_MEM32, 3000, false, 1), -EINVAL);
	CHECK_EQ(pci_add_bar(pf, 5, PCI_BAR_MEM32, 8, false, 1), -EINVAL);
	CHECK_EQ(pci_add_bar(pf, 5, PCI_BAR_IO, 512, false, 1), -EINVAL);
	CHECK_EQ(pci_add_bar(pf, 5, PCI_BAR_IO, 2, false, 1), -EINVAL);
	CHECK_EQ(pci_add_bar(pf, 6, PCI_BAR_IO, 8, false, 1), -EINVAL);
	CHECK_EQ(pci_msi_init(pf, 2, false, false), -EEXIST);
	CHECK_EQ(pci_msix_init(pf, 4, MSIX_BAR, 0, 0x100), -EEXIST);
	CHECK_EQ(pci_add_capability(pf, 0x09, 1), -EINVAL);
	CHECK_EQ(pci_add_capability(pf, 0x09, 250), -ENOSPC);
	tdev_free(t);

	/* MSI-X validation on a fresh function */
	t = calloc(1, sizeof(*t));
	device_init(&t->dev, NULL, &tops, "t2", &f->svc);
	pci_function_init(&t->pf, &t->dev, &tids);
	CHECK_EQ(pci_msix_init(&t->pf, 4, 0, 0, 0x100), -EINVAL); /* no BAR */
	CHECK_EQ(pci_add_bar(&t->pf, 0, PCI_BAR_IO, 32, false, 1), 0);
	CHECK_EQ(pci_msix_init(&t->pf, 4, 0, 0, 0x100), -EINVAL); /* I/O */
	CHECK_EQ(pci_add_bar(&t->pf, 1, PCI_BAR_MEM32, 256, false, 4), 0);
	CHECK_EQ(pci_msix_init(&t->pf, 16, 1, 0, 0x80), -EINVAL); /* overlap */
	CHECK_EQ(pci_msix_init(&t->pf, 4, 1, 4, 0x80), -EINVAL);  /* align */
	CHECK_EQ(pci_msix_init(&t->pf, 4, 1, 0, 0x100), -EINVAL); /* fit */
	CHECK_EQ(pci_msix_init(&t->pf, 0, 1, 0, 0x80), -EINVAL);
	CHECK(pci_msix_init(&t->pf, 4, 1, 0, 0x80) >= 0x40);
	CHECK_EQ(pci_msi_init(&t->pf, 3, false, false), -EINVAL);
	CHECK_EQ(pci_msi_init(&t->pf, 64, false, false), -EINVAL);
	/* multi-function header */
	tdev_free(t);
	t = calloc(1, sizeof(*t));
	{
		struct pci_ids mf = tids;

		mf.multi_function = true;
		device_init(&t->dev, NULL, &tops, "t3", &f->svc);
		pci_function_init(&t->pf, &t->dev, &mf);
		CHECK_EQ(pci_config_read(&t->pf, PCI_HEADER_TYPE, 1), 0x80);
		CHECK_EQ(pci_config_read(&t->pf, PCI_CAPABILITY_LIST, 1), 0);
		CHECK_EQ(pci_config_read(&t->pf, PCI_STATUS, 2), 0);
	}
	tdev_free(t);
}

/* ---- masks at every offset and width ---- */

/* What a byte must read after writing b over old, through the masks. */
static uint8_t
expect_byte(const struct pci_function *pf, unsigned o, uint8_t old, uint8_t b)
{
	uint8_t v = (uint8_t)((old & ~pf->wmask[o]) | (b & pf->wmask[o]));

	return (uint8_t)(v & ~(b & pf->w1cmask[o]));
}

static void
mask_sweep_one(struct fake_services *f, unsigned offset, unsigned size,
	       uint32_t value, unsigned *bad)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;
	uint8_t before[DEVICE_PCI_CONFIG_SIZE];

	/* make W1C bits visible so clearing them can be checked */
	pf->cfg[PCI_STATUS + 1] |= 0xf9;
	memcpy(before, pf->cfg, sizeof(before));
	pci_config_write(pf, offset, size, value);
	for (unsigned o = 0; o < DEVICE_PCI_CONFIG_SIZE; o++) {
		uint8_t want = before[o];

		if (o >= offset && o < offset + size)
			want = expect_byte(pf, o, before[o],
					   (uint8_t)(value >>
						     8 * (o - offset)));
		/* MSI Multiple Message Enable is clamped to what exists */
		if (o == (unsigned)t->msi_cap + 2 && ((want >> 4) & 7) > 2)
			want = (uint8_t)((want & ~0x70) | 0x20);
		if (pf->cfg[o] != want) {
			if ((*bad)++ < 5)
				fprintf(stderr,
					"write %u@%#x=%#x: byte %#x "
					"is %#x, want %#x\n",
					size, offset, value, o, pf->cfg[o],
					want);
		}
	}
	/* and the read-back through the access path agrees */
	if (pci_config_read(pf, offset, size) !=
	    (uint32_t)(pf->cfg[offset] |
		       (size > 1 ? pf->cfg[offset + 1] << 8 : 0) |
		       (size > 2 ? (uint32_t)pf->cfg[offset + 2] << 16 |
					   (uint32_t)pf->cfg[offset + 3] << 24 :
				   0)))
		(*bad)++;
	tdev_free(t);
}

static void
test_masks(struct fake_services *f)
{
	static const unsigned sizes[] = { 1, 2, 4 };
	static const uint32_t values[] = { 0xffffffff, 0, 0xa5a55a5a };
	unsigned bad = 0, ext_bad = 0;
	struct tdev *t;

	for (unsigned o = 0; o < PCI_CONFIG_SPACE_SIZE; o++)
		for (unsigned s = 0; s < 3; s++)
			for (unsigned v = 0; v < 3; v++)
				if (o + sizes[s] <= PCI_CONFIG_SPACE_SIZE)
					mask_sweep_one(f, o, sizes[s],
						       values[v], &bad);
	CHECK_EQ(bad, 0);

	/* the masks themselves, independently of pci.c's tables */
	t = tdev_new(f);
	/* read-only header fields */
	for (unsigned o = 0; o < PCI_HEADER_SIZE; o++) {
		bool rw = o == 4 || o == 5 || o == 0x0c || o == 0x3c ||
			  (o >= 0x10 && o < 0x28);

		if (!rw)
			CHECK_EQ(t->pf.wmask[o], 0);
	}
	pci_config_write(&t->pf, PCI_COMMAND, 2, 0xffff);
	CHECK_EQ(pci_config_read(&t->pf, PCI_COMMAND, 2), 0x0407);
	pci_config_write(&t->pf, PCI_CACHE_LINE_SIZE, 4, 0xffffffff);
	CHECK_EQ(pci_config_read(&t->pf, PCI_CACHE_LINE_SIZE, 4), 0x000000ff);
	pci_config_write(&t->pf, PCI_INTERRUPT_LINE, 4, 0xffffffff);
	CHECK_EQ(pci_config_read(&t->pf, PCI_INTERRUPT_LINE, 4), 0x000001ff);
	pci_config_write(&t->pf, PCI_ROM_ADDRESS, 4, 0xffffffff);
	CHECK_EQ(pci_config_read(&t->pf, PCI_ROM_ADDRESS, 4), 0);
	pci_config_write(&t->pf, 0, 4, 0xffffffff);
	pci_config_write(&t->pf, 8, 4, 0);
	pci_config_write(&t->pf, 0x2c, 4, 0);
	pci_config_write(&t->pf, 0x34, 1, 0);
	CHECK_EQ(pci_config_read(&t->pf, 0, 4), 0x56781234);
	CHECK_EQ(pci_config_read(&t->pf, 8, 4), 0xff000142);
	CHECK_EQ(pci_config_read(&t->pf, 0x2c, 4), 0xef01abcd);
	CHECK_EQ(pci_config_read(&t->pf, 0x34, 1), t->msi_cap);

	/* extended space: a sample of offsets reads 0 after any write */
	for (unsigned o = 256; o < DEVICE_PCI_CONFIG_SIZE; o += 61) {
		pci_config_write(&t->pf, o, 1, 0xff);
		pci_config_write(&t->pf, o & ~3u, 4, 0xffffffff);
		pci_config_write(&t->pf, o & ~1u, 2, 0xffff);
		if (pci_config_read(&t->pf, o & ~3u, 4) != 0)
			ext_bad++;
	}
	pci_config_write(&t->pf, 4092, 4, 0xffffffff);
	CHECK_EQ(pci_config_read(&t->pf, 4092, 4), 0);
	CHECK_EQ(pci_config_read(&t->pf, 4095, 1), 0);
	CHECK_EQ(ext_bad, 0);
	tdev_free(t);
}

static void
test_w1c(struct fake_services *f)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;

	pf->cfg[PCI_STATUS + 1] = 0xf9; /* every error bit latched */
	pci_config_write(pf, PCI_STATUS, 2, 0);
	CHECK_EQ(pci_config_read(pf, PCI_STATUS, 2), 0xf910);
	pci_config_write(pf, PCI_STATUS, 2, 0x0100); /* parity error */
	CHECK_EQ(pci_config_read(pf, PCI_STATUS, 2), 0xf810);
	pci_config_write(pf, PCI_STATUS + 1, 1, 0x80); /* byte write */
	CHECK_EQ(pci_config_read(pf, PCI_STATUS, 2), 0x7810);
	/* a dword write to COMMAND+STATUS clears what it says, too */
	pci_config_write(pf, PCI_COMMAND, 4, 0x78000000);
	CHECK_EQ(pci_config_read(pf, PCI_STATUS, 2), 0x0010);
	/* RO bits (cap list, interrupt status) are not W1C */
	pci_config_write(pf, PCI_STATUS, 2, 0xffff);
	CHECK_EQ(pci_config_read(pf, PCI_STATUS, 2), 0x0010);
	tdev_free(t);
}

/* ---- BARs ---- */

static bool
regions_sane(const struct device *dev)
{
	for (unsigned i = 0; i < DEVICE_MAX_REGIONS; i++) {
		const struct device_region *r = &dev->regions[i];

		if (!r->size)
			continue;
		if (r->base == 0 || r->base > UINT64_MAX - r->size)
			return false;
		if (r->space == BUS_SPACE_PORT && r->base + r->size > 0x10000)
			return false;
	}
	return true;
}


static void
test_bar_sizing(struct fake_services *f)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;

	fake_services_clear(f);
	CHECK_EQ(pci_config_read(pf, 0x10, 4), 0x1);
	CHECK_EQ(pci_config_read(pf, 0x14, 4), 0x0);
	CHECK_EQ(pci_config_read(pf, 0x18, 4), 0xc);
	CHECK_EQ(pci_config_read(pf, 0x1c, 4), 0x0);
	CHECK_EQ(pci_config_read(pf, 0x20, 4), 0x8);
	for (unsigned o = 0x10; o < 0x28; o += 4)
		pci_config_write(pf, o, 4, 0xffffffff);
	CHECK_EQ(pci_config_read(pf, 0x10, 4), 0xffffffe1); /* I/O 32 */
	CHECK_EQ(pci_config_read(pf, 0x14, 4), 0xfffff000); /* mem32 4K */
	CHECK_EQ(pci_config_read(pf, 0x18, 4), 0xffffc00c); /* 64 pf 16K */
	CHECK_EQ(pci_config_read(pf, 0x1c, 4), 0xffffffff);
	CHECK_EQ(pci_config_read(pf, 0x20, 4), 0xffffe008); /* 32 pf 8K */
	CHECK_EQ(pci_config_read(pf, 0x24, 4), 0);	    /* absent */
	/* the same handshake with 16-bit and byte writes */
	pci_config_write(pf, 0x14, 4, 0);
	pci_config_write(pf, 0x14, 2, 0xffff);
	pci_config_write(pf, 0x16, 2, 0xffff);
	CHECK_EQ(pci_config_read(pf, 0x14, 4), 0xfffff000);
	pci_config_write(pf, 0x10, 4, 0);
	for (unsigned o = 0x10; o < 0x14; o++)
		pci_config_write(pf, o, 1, 0xff);
	CHECK_EQ(pci_config_read(pf, 0x10, 4), 0xffffffe1);
	/* decode is off: nothing was claimed */
	CHECK_EQ(f->region_changes, 0);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(t->dev.regions[i].size, 0);
	CHECK_EQ(t->dev.region_count, 5);
	CHECK_EQ(t->dev.regions[0].space, BUS_SPACE_PORT);
	CHECK_EQ(t->dev.regions[1].space, BUS_SPACE_MMIO);
	tdev_free(t);
}

static bool
change_is(const struct fake_services *f, unsigned i, unsigned region,
	  uint64_t old_base, uint64_t old_size, uint64_t new_base,
	  uint64_t new_size)
{
	const struct fake_region_change *c = &f->changes[i];

	if (i >= f->region_changes || c->region != region ||
	    c->old.size != old_size || c->new.size != new_size ||
	    (old_size && c->old.base != old_base) ||
	    (new_size && c->new.base != new_base)) {
		fprintf(stderr,
			"change %u: region %u %#llx+%#llx -> "
			"%#llx+%#llx\n",
			i, c->region, (unsigned long long)c->old.base,
			(unsigned long long)c->old.size,
			(unsigned long long)c->new.base,
			(unsigned long long)c->new.size);
		return false;
	}
	return true;
}

static void
test_bar_decode(struct fake_services *f)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;
	struct device_region *r = t->dev.regions;

	fake_services_clear(f);
	pci_config_write(pf, 0x10, 4, 0xc000);
	pci_config_write(pf, 0x14, 4, 0xfe000000);
	pci_config_write(pf, 0x18, 4, 0);
	pci_config_write(pf, 0x1c, 4, 1);
	pci_config_write(pf, 0x20, 4, 0xfe002000);
	CHECK_EQ(f->region_changes, 0);

	/* I/O decode on: only BAR0 */
	pci_config_write(pf, PCI_COMMAND, 2, PCI_COMMAND_IO);
	CHECK_EQ(f->region_changes, 1);
	CHECK(change_is(f, 0, 0, 0, 0, 0xc000, 32));
	CHECK_EQ(r[0].base, 0xc000);
	/* memory decode on (byte write): BARs 1, 2 (64-bit), 4 */
	pci_config_write(pf, PCI_COMMAND, 1,
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	CHECK_EQ(f->region_changes, 4);
	CHECK(change_is(f, 1, 1, 0, 0, 0xfe000000, 4096));
	CHECK(change_is(f, 2, 2, 0, 0, 0x100000000ull, 16384));
	CHECK(change_is(f, 3, 4, 0, 0, 0xfe002000, 8192));
	/* rewriting the same values changes nothing */
	pci_config_write(pf, 0x14, 4, 0xfe000000);
	pci_config_write(pf, PCI_COMMAND, 2, 3);
	CHECK_EQ(f->region_changes, 4);

	/* move a 32-bit BAR while decoding, low bits ignored */
	pci_config_write(pf, 0x14, 4, 0xfe010abc);
	CHECK_EQ(f->region_changes, 5);
	CHECK(change_is(f, 4, 1, 0xfe000000, 4096, 0xfe010000, 4096));
	CHECK_EQ(pci_config_read(pf, 0x14, 4), 0xfe010000);

	/* 64-bit: each dword takes effect at once */
	pci_config_write(pf, 0x1c, 4, 2);
	CHECK(change_is(f, 5, 2, 0x100000000ull, 16384, 0x200000000ull, 16384));
	pci_config_write(pf, 0x18, 4, 0x80000000);
	CHECK(change_is(f, 6, 2, 0x200000000ull, 16384, 0x280000000ull, 16384));
	CHECK_EQ(r[2].base, 0x280000000ull);
	CHECK_EQ(r[3].size, 0);
	/* sizing with decode on: the top of the space is never claimed */
	pci_config_write(pf, 0x18, 4, 0xffffffff); /* hi still 2 */
	CHECK(change_is(f, 7, 2, 0x280000000ull, 16384, 0x2ffffc000ull, 16384));
	pci_config_write(pf, 0x1c, 4, 0xffffffff); /* wraps: unmapped */
	CHECK(change_is(f, 8, 2, 0x2ffffc000ull, 16384, 0, 0));
	CHECK_EQ(r[2].size, 0);
	/* back to 0: address 0 is not decoded either */
	pci_config_write(pf, 0x18, 4, 0);
	pci_config_write(pf, 0x1c, 4, 0);
	CHECK_EQ(f->region_changes, 9);
	CHECK_EQ(r[2].size, 0);
	pci_config_write(pf, 0x1c, 4, 0x10);
	CHECK(change_is(f, 9, 2, 0, 0, 0x1000000000ull, 16384));

	/* 32-bit BAR sized with decode on: last byte of 4 GiB: unmapped */
	pci_config_write(pf, 0x14, 4, 0xffffffff);
	CHECK(change_is(f, 10, 1, 0xfe010000, 4096, 0, 0));
	pci_config_write(pf, 0x14, 4, 0xfe000000);
	CHECK(change_is(f, 11, 1, 0, 0, 0xfe000000, 4096));
	/* I/O BAR sized with decode on: above 64 KiB, unmapped */
	pci_config_write(pf, 0x10, 4, 0xffffffff);
	CHECK(change_is(f, 12, 0, 0xc000, 32, 0, 0));
	pci_config_write(pf, 0x10, 4, 0xffe0); /* last port ok */
	CHECK(change_is(f, 13, 0, 0, 0, 0xffe0, 32));
	pci_config_write(pf, 0x10, 4, 0x10000); /* beyond: no */
	CHECK(change_is(f, 14, 0, 0xffe0, 32, 0, 0));
	pci_config_write(pf, 0x10, 4, 0xc000);
	CHECK(change_is(f, 15, 0, 0, 0, 0xc000, 32));

	/* a refused claim leaves that BAR undecoded, and is retried */
	f->fail_region = -EEXIST;
	pci_config_write(pf, 0x20, 4, 0xfe100000);
	CHECK(change_is(f, 16, 4, 0xfe002000, 8192, 0xfe100000, 8192));
	CHECK_EQ(f->changes[16].result, -EEXIST);
	CHECK_EQ(r[4].size, 0);
	CHECK_EQ(pf->stats.bar_refused, 1);
	CHECK_EQ(pci_config_read(pf, 0x20, 4), 0xfe100008);
	f->fail_region = 0;
	pci_config_write(pf, 0x20, 4, 0xfe100000);
	CHECK(change_is(f, 17, 4, 0, 0, 0xfe100000, 8192));
	CHECK_EQ(r[4].size, 8192);

	/* memory decode off releases the memory BARs only */
	pci_config_write(pf, PCI_COMMAND, 2, PCI_COMMAND_IO);
	CHECK_EQ(f->region_changes, 21);
	CHECK(change_is(f, 18, 1, 0xfe000000, 4096, 0, 0));
	CHECK(change_is(f, 19, 2, 0x1000000000ull, 16384, 0, 0));
	CHECK(change_is(f, 20, 4, 0xfe100000, 8192, 0, 0));
	CHECK_EQ(r[0].size, 32);
	/* BAR moves with decode off are silent */
	pci_config_write(pf, 0x14, 4, 0xfd000000);
	CHECK_EQ(f->region_changes, 21);

	/* reset releases what is decoded and restores power-on values */
	pci_function_reset(pf);
	CHECK_EQ(f->region_changes, 22);
	CHECK(change_is(f, 21, 0, 0xc000, 32, 0, 0));
	CHECK_EQ(pci_config_read(pf, PCI_COMMAND, 2), 0);
	CHECK_EQ(pci_config_read(pf, 0x10, 4), 1);
	CHECK_EQ(pci_config_read(pf, 0x14, 4), 0);
	CHECK_EQ(pci_config_read(pf, 0x18, 4), 0xc);
	CHECK_EQ(pci_config_read(pf, 0x1c, 4), 0);
	CHECK_EQ(pci_config_read(pf, 0, 4), 0x56781234);
	tdev_free(t);
}

static void
test_bar_limits(struct fake_services *f)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;

	fake_services_clear(f);
	pci_config_write(pf, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(f->region_changes, 0); /* all BARs at 0 */
	/* 64-bit: up to 2^52 decodes, at or past it does not */
	pci_config_write(pf, 0x1c, 4, 0x000fffff);
	CHECK(change_is(f, 0, 2, 0, 0, 0xfffff00000000ull, 16384));
	pci_config_write(pf, 0x18, 4, 0xffffc000);
	CHECK(change_is(f, 1, 2, 0xfffff00000000ull, 16384, 0xfffffffffc000ull,
			16384));
	pci_config_write(pf, 0x1c, 4, 0x00100000);
	CHECK(change_is(f, 2, 2, 0xfffffffffc000ull, 16384, 0, 0));
	pci_config_write(pf, 0x1c, 4, 0x80000000);
	CHECK_EQ(f->region_changes, 3);
	/* a 32-bit BAR just below the 4 GiB line decodes */
	pci_config_write(pf, 0x14, 4, 0xffffe000);
	CHECK(change_is(f, 3, 1, 0, 0, 0xffffe000, 4096));
	CHECK(regions_sane(&t->dev));
	tdev_free(t);
}

/* ---- capabilities ---- */

static void
test_cap_list(struct fake_services *f)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;
	unsigned seen[256] = { 0 }, ids[8], n = 0;
	unsigned off = pci_config_read(pf, PCI_CAPABILITY_LIST, 1);
	bool ok = true;

	CHECK(pci_config_read(pf, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	while (off && n < 8) {
		if (off < 0x40 || off > 0xfc || (off & 3) || seen[off]) {
			ok = false;
			break;
		}
		seen[off] = 1;
		ids[n++] = pci_config_read(pf, off, 1);
		off = pci_config_read(pf, off + 1, 1);
	}
	CHECK(ok);
	CHECK_EQ(off, 0);
	CHECK_EQ(n, 3);
	CHECK_EQ(ids[0], PCI_CAP_ID_MSI);
	CHECK_EQ(ids[1], PCI_CAP_ID_MSIX);
	CHECK_EQ(ids[2], PCI_CAP_ID_VNDR);
	/* the structure is read-only to the guest */
	pci_config_write(pf, t->msi_cap, 2, 0xffff);
	pci_config_write(pf, t->msix_cap, 4, 0);
	CHECK_EQ(pci_config_read(pf, t->msi_cap, 1), PCI_CAP_ID_MSI);
	CHECK_EQ(pci_config_read(pf, t->msi_cap + 1, 1), t->msix_cap);
	CHECK_EQ(pci_config_read(pf, t->msix_cap + 1, 1), t->vndr_cap);
	/* capabilities fill up to 256 and then refuse */
	while (pci_add_capability(pf, PCI_CAP_ID_VNDR, 16) > 0)
		;
	CHECK_EQ(pci_add_capability(pf, PCI_CAP_ID_VNDR, 16), -ENOSPC);
	tdev_free(t);
}

/* ---- MSI ---- */

static void
test_msi(struct fake_services *f)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;
	unsigned c = (unsigned)t->msi_cap;

	fake_services_clear(f);
	/* MMC = log2(4), 64-bit, per-vector masking */
	CHECK_EQ(pci_config_read(pf, c + 2, 2), 0x0184);
	CHECK_EQ(pci_msi_notify(pf, 0), -ENODEV);
	pci_config_write(pf, c + 4, 4, 0xfee00003); /* bits 1:0 RO */
	CHECK_EQ(pci_config_read(pf, c + 4, 4), 0xfee00000);
	pci_config_write(pf, c + 8, 4, 1);
	pci_config_write(pf, c + 12, 4, 0xffff4020); /* data is 16 bits */
	CHECK_EQ(pci_config_read(pf, c + 12, 4), 0x4020);
	/* enable, 4 vectors (MME = 2) */
	pci_config_write(pf, c + 2, 2, 0x0021);
	CHECK(pci_msi_enabled(pf));
	CHECK_EQ(pci_msi_notify(pf, 0), 0);
	CHECK_EQ(f->msi_count, 1);
	CHECK_EQ(f->msis[0].addr, 0x1fee00000ull);
	CHECK_EQ(f->msis[0].data, 0x4020);
	CHECK_EQ(pci_msi_notify(pf, 3), 0);
	CHECK_EQ(f->msis[1].data, 0x4023);
	CHECK_EQ(pci_msi_notify(pf, 4), -EINVAL);
	CHECK_EQ(f->msi_count, 2);
	/* MME beyond MMC is clamped */
	pci_config_write(pf, c + 2, 1, 0x71);
	CHECK_EQ(pci_config_read(pf, c + 2, 2), 0x01a5);
	/* one vector enabled: only vector 0, data as programmed */
	pci_config_write(pf, c + 2, 2, 0x0001);
	CHECK_EQ(pci_msi_notify(pf, 1), -EINVAL);
	pci_config_write(pf, c + 12, 2, 0x4023);
	CHECK_EQ(pci_msi_notify(pf, 0), 0);
	CHECK_EQ(f->msis[2].data, 0x4023);
	/* two vectors: low bit carries the vector number */
	pci_config_write(pf, c + 2, 2, 0x0011);
	CHECK_EQ(pci_msi_notify(pf, 0), 0);
	CHECK_EQ(f->msis[3].data, 0x4022);
	CHECK_EQ(pci_msi_notify(pf, 1), 0);
	CHECK_EQ(f->msis[4].data, 0x4023);

	/* mask bits: only the 4 implemented; pending is read-only */
	pci_config_write(pf, c + 16, 4, 0xffffffff);
	CHECK_EQ(pci_config_read(pf, c + 16, 4), 0xf);
	pci_config_write(pf, c + 16, 4, 0x2);
	CHECK_EQ(pci_msi_notify(pf, 1), 0);
	CHECK_EQ(f->msi_count, 5);
	CHECK_EQ(pci_config_read(pf, c + 20, 4), 0x2);
	pci_config_write(pf, c + 20, 4, 0); /* RO */
	CHECK_EQ(pci_config_read(pf, c + 20, 4), 0x2);
	CHECK_EQ(pci_msi_notify(pf, 0), 0); /* unmasked one */
	CHECK_EQ(f->msi_count, 6);
	/* unmask with a byte write: the pending vector goes out */
	pci_config_write(pf, c + 16, 1, 0);
	CHECK_EQ(f->msi_count, 7);
	CHECK_EQ(f->msis[6].data, 0x4023);
	CHECK_EQ(pci_config_read(pf, c + 20, 4), 0);

	/* INTx is not used while MSI is enabled */
	pci_set_irq(pf, true);
	CHECK_EQ(f->intx_level[SLOT][0], false);
	CHECK_EQ(pci_config_read(pf, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	/* pci_irq_update: one message per rising edge */
	pci_set_irq(pf, false);
	f->msi_count = 0;
	pci_irq_update(pf, true);
	pci_irq_update(pf, true);
	CHECK_EQ(f->msi_count, 1);
	pci_irq_update(pf, false);
	pci_irq_update(pf, true);
	CHECK_EQ(f->msi_count, 2);
	/* MSI off with the condition still there: INTx takes over */
	pci_config_write(pf, c + 2, 2, 0);
	CHECK_EQ(f->intx_level[SLOT][0], true);
	CHECK(pci_config_read(pf, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_irq_update(pf, false);
	CHECK_EQ(f->intx_level[SLOT][0], false);
	tdev_free(t);

	/* 32-bit, single vector, no masking */
	t = calloc(1, sizeof(*t));
	device_init(&t->dev, NULL, &tops, "t32", &f->svc);
	t->dev.is_pci = true;
	pci_function_init(&t->pf, &t->dev, &tids);
	c = (unsigned)pci_msi_init(&t->pf, 1, false, false);
	CHECK_EQ(c, 0x40);
	CHECK_EQ(pci_config_read(&t->pf, c + 2, 2), 0);
	pci_config_write(&t->pf, c + 4, 4, 0xfee01000);
	pci_config_write(&t->pf, c + 8, 2, 0x31);
	pci_config_write(&t->pf, c + 2, 2, 0x71); /* MME clamps to 0 */
	CHECK_EQ(pci_config_read(&t->pf, c + 2, 2), 1);
	f->msi_count = 0;
	CHECK_EQ(pci_msi_notify(&t->pf, 0), 0);
	CHECK_EQ(f->msis[0].addr, 0xfee01000);
	CHECK_EQ(f->msis[0].data, 0x31);
	CHECK_EQ(pci_msi_notify(&t->pf, 1), -EINVAL);
	/* next capability goes right after the 10-byte structure */
	CHECK_EQ(pci_add_capability(&t->pf, PCI_CAP_ID_VNDR, 4), 0x4c);
	tdev_free(t);
}

/* ---- MSI-X ---- */

static uint64_t
bar_rd(struct tdev *t, uint64_t off, unsigned size)
{
	return t_read(&t->dev, MSIX_BAR, off, size);
}

static void
bar_wr(struct tdev *t, uint64_t off, unsigned size, uint64_t v)
{
	t_write(&t->dev, MSIX_BAR, off, size, v);
}

/*
 * A Linux HVM guest of Xen programs a pirq into each entry (vector 0, the
 * pirq in the destination id) and never clears the mask bit: the message
 * must still go out, as Xen routes it to the pirq's event channel, which
 * is where that guest masks it.  Other masked entries stay masked.
 */
static void
test_msix_xen_pirq(struct fake_services *f)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;
	unsigned c = (unsigned)t->msix_cap;

	fake_services_clear(f);
	/* entry 1: pirq 55, ExtINT delivery, vector 0; mask bit left at 1 */
	bar_wr(t, 0x10, 4, 0xfee00000u | 55u << 12);
	bar_wr(t, 0x14, 4, 0);
	bar_wr(t, 0x18, 4, 0x300);
	/* entry 2: pirq 0x1ff, its high bits in the upper address */
	bar_wr(t, 0x20, 4, 0xfee00000u | 0xffu << 12);
	bar_wr(t, 0x24, 4, 0x100);
	bar_wr(t, 0x28, 4, 0x300);
	/* entry 3: an ordinary message with a vector, masked */
	bar_wr(t, 0x30, 4, 0xfee00000u);
	bar_wr(t, 0x38, 4, 0x41);
	CHECK_EQ(bar_rd(t, 0x1c, 4), 1);
	pci_config_write(pf, c + 3, 1, 0x80);

	CHECK_EQ(pci_msix_notify(pf, 1), 0);
	CHECK_EQ(f->msi_count, 1);
	CHECK_EQ(f->msis[0].addr, 0xfee37000ull);
	CHECK_EQ(f->msis[0].data, 0x300);
	CHECK_EQ(pci_msix_notify(pf, 2), 0);
	CHECK_EQ(f->msi_count, 2);
	CHECK_EQ(f->msis[1].addr, 0x100feeff000ull);
	CHECK_EQ(pci_msix_notify(pf, 3), 0); /* masked: pending */
	CHECK_EQ(pci_msix_notify(pf, 0), 0); /* never programmed: pending */
	CHECK_EQ(f->msi_count, 2);
	CHECK_EQ(bar_rd(t, MSIX_PBA, 4), 0x9);
	/* the function mask holds pirq entries too */
	pci_config_write(pf, c + 3, 1, 0xc0);
	CHECK_EQ(pci_msix_notify(pf, 1), 0);
	CHECK_EQ(f->msi_count, 2);
	pci_config_write(pf, c + 3, 1, 0x80);
	CHECK_EQ(f->msi_count, 3);
	CHECK_EQ(f->msis[2].addr, 0xfee37000ull);
	CHECK_EQ(bar_rd(t, MSIX_PBA, 4), 0x9);
	tdev_free(t);
}

static void
test_msix(struct fake_services *f)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;
	unsigned c = (unsigned)t->msix_cap;
	uint64_t v;

	fake_services_clear(f);
	CHECK_EQ(pci_config_read(pf, c + 2, 2), MSIX_VECTORS - 1);
	CHECK_EQ(pci_config_read(pf, c + 4, 4), 0 | MSIX_BAR);
	CHECK_EQ(pci_config_read(pf, c + 8, 4), MSIX_PBA | MSIX_BAR);
	pci_config_write(pf, c + 2, 2, 0x3fff); /* size is RO */
	CHECK_EQ(pci_config_read(pf, c + 2, 2), MSIX_VECTORS - 1);
	CHECK_EQ(pci_msix_notify(pf, 0), -ENODEV);

	/* entries start masked */
	for (unsigned i = 0; i < MSIX_VECTORS; i++)
		CHECK_EQ(bar_rd(t, i * 16 + 12, 4), 1);
	/* 8-byte address write, 4-byte data, unmask */
	bar_wr(t, 0x20, 8, 0x00000001fee01000ull);
	bar_wr(t, 0x28, 4, 0x55);
	bar_wr(t, 0x2c, 4, 0xfffffffe); /* only bit 0 exists */
	CHECK_EQ(bar_rd(t, 0x20, 4), 0xfee01000);
	CHECK_EQ(bar_rd(t, 0x24, 4), 1);
	CHECK_EQ(bar_rd(t, 0x20, 8), 0x00000001fee01000ull);
	CHECK_EQ(bar_rd(t, 0x28, 8), 0x55);

	/* enable with a 1-byte write to the high byte of message control */
	pci_config_write(pf, c + 3, 1, 0x80);
	CHECK(pci_msix_enabled(pf));
	CHECK_EQ(pci_msix_notify(pf, 2), 0);
	CHECK_EQ(f->msi_count, 1);
	CHECK_EQ(f->msis[0].addr, 0x1fee01000ull);
	CHECK_EQ(f->msis[0].data, 0x55);
	CHECK_EQ(pci_msix_notify(pf, MSIX_VECTORS), -EINVAL);
	CHECK_EQ(pci_msix_notify(pf, 0), 0); /* masked entry */
	CHECK_EQ(f->msi_count, 1);
	CHECK_EQ(bar_rd(t, MSIX_PBA, 4), 0x1);

	/* 8-byte write of data + control: masked, new data */
	bar_wr(t, 0x28, 8, (1ull << 32) | 0x66);
	CHECK_EQ(bar_rd(t, 0x2c, 4), 1);
	CHECK_EQ(pci_msix_notify(pf, 2), 0);
	CHECK_EQ(f->msi_count, 1);
	CHECK_EQ(bar_rd(t, MSIX_PBA, 8), 0x5);
	bar_wr(t, MSIX_PBA, 8, 0); /* PBA is read-only */
	CHECK_EQ(bar_rd(t, MSIX_PBA, 4), 0x5);
	/* unmask: the pending message goes out, its PBA bit clears */
	bar_wr(t, 0x2c, 4, 0);
	CHECK_EQ(f->msi_count, 2);
	CHECK_EQ(f->msis[1].data, 0x66);
	CHECK_EQ(bar_rd(t, MSIX_PBA, 8), 0x1);

	/* function mask, set and cleared with byte writes */
	pci_config_write(pf, c + 3, 1, 0xc0);
	CHECK_EQ(pci_msix_notify(pf, 2), 0);
	CHECK_EQ(f->msi_count, 2);
	CHECK_EQ(bar_rd(t, MSIX_PBA, 4), 0x5);
	pci_config_write(pf, c + 2, 2, 0x8000);
	CHECK_EQ(f->msi_count, 3);
	CHECK_EQ(bar_rd(t, MSIX_PBA, 4), 0x1); /* vector 0 still masked */

	/* hostile accesses: wrong sizes, misaligned, straddling, outside */
	f->msi_count = 0;
	v = bar_rd(t, 0x20, 2);
	CHECK_EQ(v, 0);
	bar_wr(t, 0x20, 2, 0xffff);
	bar_wr(t, 0x20, 1, 0xff);
	bar_wr(t, 0x22, 4, 0xffffffff);
	bar_wr(t, 0x24, 8, ~0ull); /* misaligned qword */
	CHECK_EQ(bar_rd(t, 0x20, 8), 0x00000001fee01000ull);
	CHECK_EQ(bar_rd(t, 0x22, 4), 0);
	bar_wr(t, 0x7c, 8, ~0ull); /* straddles the end */
	CHECK_EQ(bar_rd(t, 0x7c, 4), 1);
	t->bar_reads = 0;
	CHECK_EQ(bar_rd(t, 0x80, 4), 0);	 /* past the table */
	CHECK_EQ(bar_rd(t, MSIX_PBA + 8, 4), 0); /* past the PBA */
	CHECK_EQ(t->bar_reads, 2); /* not MSI-X's: the device's own */
	CHECK(!pci_msix_mmio_read(pf, 1, 0, 4, &v)); /* other BAR */
	CHECK(!pci_msix_mmio_write(pf, 1, 0, 4, 0));
	CHECK(pci_msix_mmio_read(pf, MSIX_BAR, 0x7e, 4, &v));
	CHECK_EQ(v, 0);
	CHECK(!pci_msix_mmio_read(pf, MSIX_BAR, ~0ull - 2, 4, &v));
	CHECK_EQ(f->msi_count, 0);

	/* INTx unused while MSI-X is on; pci_irq_update uses vector 0 */
	bar_wr(t, 0x0, 8, 0xfee02000);
	bar_wr(t, 0x8, 8, 0x77); /* data, unmasked */
	pci_irq_update(pf, true);
	CHECK_EQ(f->intx_level[SLOT][0], false);
	CHECK_EQ(f->msi_count, 2); /* the pending one + the new edge */
	CHECK_EQ(f->msis[1].data, 0x77);
	CHECK_EQ(bar_rd(t, MSIX_PBA, 4), 0);
	pci_config_write(pf, c + 3, 1, 0); /* disable */
	CHECK(!pci_msix_enabled(pf));
	CHECK_EQ(f->intx_level[SLOT][0], true);
	pci_irq_update(pf, false);

	/* reset: entries masked again, PBA clear, disabled */
	CHECK_EQ(pci_msix_notify(pf, 0), -ENODEV);
	pci_config_write(pf, c + 3, 1, 0xc0);
	CHECK_EQ(pci_msix_notify(pf, 3), 0);
	pci_function_reset(pf);
	CHECK(!pci_msix_enabled(pf));
	CHECK_EQ(pci_config_read(pf, c + 2, 2), MSIX_VECTORS - 1);
	CHECK_EQ(bar_rd(t, 0x0, 8), 0);
	CHECK_EQ(bar_rd(t, 0xc, 4), 1);
	CHECK_EQ(bar_rd(t, MSIX_PBA, 8), 0);
	tdev_free(t);
}

/* ---- INTx ---- */

static void
test_intx(struct fake_services *f)
{
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;

	fake_services_clear(f);
	pci_set_irq(pf, true);
	CHECK_EQ(f->intx_level[SLOT][0], true);
	CHECK_EQ(f->intx_calls, 1);
	CHECK(pci_config_read(pf, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_set_irq(pf, true); /* no change: no call */
	CHECK_EQ(f->intx_calls, 1);
	/* Interrupt Disable deasserts; status still shows the condition */
	pci_config_write(pf, PCI_COMMAND + 1, 1, 0x04);
	CHECK_EQ(f->intx_level[SLOT][0], false);
	CHECK_EQ(f->intx_calls, 2);
	CHECK(pci_config_read(pf, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_set_irq(pf, false);
	pci_set_irq(pf, true);
	CHECK_EQ(f->intx_calls, 2);
	/* clearing it reasserts the still-pending level */
	pci_config_write(pf, PCI_COMMAND, 2, 0);
	CHECK_EQ(f->intx_level[SLOT][0], true);
	CHECK_EQ(f->intx_calls, 3);
	pci_set_irq(pf, false);
	CHECK_EQ(f->intx_level[SLOT][0], false);
	CHECK_EQ(pci_config_read(pf, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	CHECK_EQ(f->intx_calls, 4);
	/* status bit is not writable by the guest */
	pci_config_write(pf, PCI_STATUS, 2, PCI_STATUS_INTERRUPT);
	CHECK_EQ(pci_config_read(pf, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	/* pci_irq_update without MSI is a level */
	pci_irq_update(pf, true);
	CHECK_EQ(f->intx_level[SLOT][0], true);
	CHECK_EQ(t->dev.stats.irq_raises, 1);
	/* reset deasserts */
	pci_function_reset(pf);
	CHECK_EQ(f->intx_level[SLOT][0], false);
	CHECK_EQ(f->msi_count, 0);
	tdev_free(t);
}

/* ---- bus routing ---- */

static void
test_bus(struct fake_services *f)
{
	struct tdev *a = tdev_new(f), *b = tdev_new(f), *c = tdev_new(f);
	struct device isa;
	struct bus bus;

	bus_init(&bus);
	b->dev.pci_sbdf = DEVICE_PCI_SBDF(0, 3, 0);
	c->dev.pci_sbdf = DEVICE_PCI_SBDF(0, 3, 1);
	CHECK_EQ(bus_add_pci(&bus, &a->dev), 0);
	CHECK_EQ(bus_add_pci(&bus, &c->dev), 0);
	CHECK_EQ(bus_add_pci(&bus, &b->dev), 0);
	CHECK_EQ(bus_add_pci(&bus, &b->dev), -EEXIST);
	device_init(&isa, NULL, &tops, "isa", &f->svc);
	CHECK_EQ(bus_add_pci(&bus, &isa), -EINVAL); /* not is_pci */
	CHECK(bus_find_pci(&bus, SBDF) == &a->dev);
	CHECK(bus_find_pci(&bus, DEVICE_PCI_SBDF(0, 3, 0)) == &b->dev);
	CHECK(bus_find_pci(&bus, DEVICE_PCI_SBDF(0, 3, 1)) == &c->dev);
	CHECK(bus_find_pci(&bus, DEVICE_PCI_SBDF(0, 4, 0)) == NULL);
	CHECK_EQ(bus.pci.devs[0]->pci_sbdf, DEVICE_PCI_SBDF(0, 3, 0));
	CHECK_EQ(bus.pci.devs[2]->pci_sbdf, SBDF);

	CHECK_EQ(bus_config_read(&bus, SBDF, 0, 4), 0x56781234);
	CHECK_EQ(bus_config_read(&bus, SBDF, 2, 2), 0x5678);
	CHECK_EQ(bus_config_read(&bus, DEVICE_PCI_SBDF(0, 9, 0), 0, 4),
		 0xffffffff);
	CHECK_EQ(bus_config_read(&bus, DEVICE_PCI_SBDF(0, 9, 0), 0, 2), 0xffff);
	CHECK_EQ(bus.unclaimed, 2);
	CHECK_EQ(bus_config_read(&bus, SBDF, 4094, 4), 0xffffffff);
	CHECK_EQ(bus_config_read(&bus, SBDF, 0, 3), 0xffffff);
	CHECK_EQ(bus_config_read(&bus, SBDF, 5000, 1), 0xff);
	CHECK_EQ(bus_config_read(&bus, SBDF, 4095, 1), 0);
	CHECK_EQ(a->dev.stats.bad_accesses, 3);
	bus_config_write(&bus, SBDF, PCI_INTERRUPT_LINE, 1, 0x0b);
	CHECK_EQ(bus_config_read(&bus, SBDF, PCI_INTERRUPT_LINE, 1), 0x0b);
	bus_config_write(&bus, SBDF, 4094, 4, 0xffffffff); /* dropped */
	bus_config_write(&bus, DEVICE_PCI_SBDF(0, 9, 0), 0x3c, 1, 1);
	CHECK_EQ(bus.unclaimed, 3);
	CHECK_EQ(bus_config_read(&bus, DEVICE_PCI_SBDF(0, 3, 0),
				 PCI_INTERRUPT_LINE, 1),
		 0);

	CHECK_EQ(bus_remove_pci(&bus, &b->dev), 0);
	CHECK_EQ(bus_remove_pci(&bus, &b->dev), -ENOENT);
	CHECK(bus_find_pci(&bus, DEVICE_PCI_SBDF(0, 3, 0)) == NULL);
	CHECK(bus_find_pci(&bus, DEVICE_PCI_SBDF(0, 3, 1)) == &c->dev);
	bus_fini(&bus);
	tdev_free(a);
	tdev_free(b);
	tdev_free(c);
}

/* ---- hostile sweep ---- */

static void
test_sweep(struct fake_services *f)
{
	static const unsigned sizes[] = { 1, 2, 4 };
	struct tdev *t = tdev_new(f);
	struct pci_function *pf = &t->pf;
	uint8_t ro_mask[DEVICE_PCI_CONFIG_SIZE], init[DEVICE_PCI_CONFIG_SIZE];
	unsigned ro_bad = 0, region_bad = 0, change_bad = 0;
	struct bus bus;

	bus_init(&bus);
	CHECK_EQ(bus_add_pci(&bus, &t->dev), 0);
	fake_services_clear(f);
	memcpy(init, pf->cfg, sizeof(init));
	for (unsigned o = 0; o < DEVICE_PCI_CONFIG_SIZE; o++)
		ro_mask[o] = (uint8_t) ~(pf->wmask[o] | pf->w1cmask[o]);
	/* derived read-only bits: interrupt status, MSI pending */
	ro_mask[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	for (unsigned o = t->msi_cap + 20; o < (unsigned)t->msi_cap + 24; o++)
		ro_mask[o] = 0;

	/* every offset, every size, several values, in order */
	for (unsigned o = 0; o < DEVICE_PCI_CONFIG_SIZE; o++)
		for (unsigned s = 0; s < 3; s++) {
			bus_config_write(&bus, SBDF, o, sizes[s],
					 (uint32_t)rng());
			bus_config_write(&bus, SBDF, o, sizes[s], 0xffffffff);
		}
	/* then random writes concentrated on the conventional space, with
	 * interrupts and MSI-X table traffic mixed in */
	for (unsigned i = 0; i < 1000000; i++) {
		uint64_t r = rng();
		unsigned size = (unsigned)(r >> 60) % 5; /* 0..4 */
		unsigned off = (r & 1) ? (unsigned)(r >> 8) % 4100 :
					 (unsigned)(r >> 8) % 256;
		uint32_t v = (uint32_t)(r >> 20);

		if ((r & 0x1f0) == 0x10)
			v = 0xffffffff;
		/* now and then the core refuses claims (overlaps) */
		if ((r & 0xff000) == 0x1000)
			f->fail_region = f->fail_region ? 0 : -EEXIST;
		bus_config_write(&bus, SBDF, off, size, v);
		(void)bus_config_read(&bus, SBDF, off, size);
		if ((r & 0x3f00) == 0x100) {
			pci_irq_update(pf, (r >> 14) & 1);
			(void)pci_msi_notify(pf, (unsigned)(r >> 16) & 7);
			(void)pci_msix_notify(pf, (unsigned)(r >> 16) & 15);
		}
		if ((r & 0x3f00) == 0x200)
			bar_wr(t, (r >> 24) & 0x10ff, 1u << ((r >> 40) & 3),
			       rng());
		if ((i & 255) == 0) {
			for (unsigned o = 0; o < DEVICE_PCI_CONFIG_SIZE; o++)
				if ((pf->cfg[o] ^ init[o]) & ro_mask[o])
					ro_bad++;
			if (!regions_sane(&t->dev))
				region_bad++;
		}
	}
	for (unsigned i = 0; i < f->region_changes && i < FAKE_MAX_RECORDS;
	     i++) {
		const struct device_region *n = &f->changes[i].new;

		if (n->size && (n->base == 0 || n->base > UINT64_MAX - n->size))
			change_bad++;
	}
	/* the sweep did reach the interesting paths */
	fprintf(stderr,
		"sweep: %u region changes, %llu MSIs, %llu masked, "
		"%llu INTx changes, %llu refused\n",
		f->region_changes, (unsigned long long)pf->stats.msi_sent,
		(unsigned long long)pf->stats.msi_masked,
		(unsigned long long)pf->stats.intx_changes,
		(unsigned long long)pf->stats.bar_refused);
	CHECK(f->region_changes > 10);
	CHECK(pf->stats.msi_sent > 10);
	CHECK(pf->stats.intx_changes > 10);
	CHECK_EQ(ro_bad, 0);
	CHECK_EQ(region_bad, 0);
	CHECK_EQ(change_bad, 0);
	CHECK(regions_sane(&t->dev));
	CHECK_EQ(bus_config_read(&bus, SBDF, 0, 4), 0x56781234);
	CHECK_EQ(bus_config_read(&bus, SBDF, 8, 4), 0xff000142);
	CHECK(pf->stats.bar_refused > 0);
	f->fail_region = 0;
	bus_fini(&bus);
	tdev_free(t);
}

int
main(void)
{
	struct fake_services f;

	log_set_level(LOG_LEVEL_ERROR);
	if (fake_services_init(&f, 0) < 0)
		return test_finish() | 1;
	test_identity(&f);
	test_masks(&f);
	test_w1c(&f);
	test_bar_sizing(&f);
	test_bar_decode(&f);
	test_bar_limits(&f);
	test_cap_list(&f);
	test_msi(&f);
	test_msix(&f);
	test_msix_xen_pirq(&f);
	test_intx(&f);
	test_bus(&f);
	test_sweep(&f);
	fake_services_fini(&f);
	return test_finish();
}
