/*
 * xensim's guest-side virtio driver (see vdrv.h): the transports as a
 * guest kernel drives them (virtio 1.2 sections 3.1 and 4.1, 4.2; Linux's
 * virtio_pci_modern and virtio_mmio for the order of things, learnt from,
 * not copied), requests on vring.c's rings, and the checks the scripts
 * make of what the device answered.
 */
#include "vdrv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/le.h"
#include "script-internal.h"
#include "vring.h"

/* Status bits (2.1). */
#define ST_ACKNOWLEDGE 0x01u
#define ST_DRIVER      0x02u
#define ST_DRIVER_OK   0x04u
#define ST_FEATURES_OK 0x08u

#define F_INDIRECT_DESC 28
#define F_EVENT_IDX	29
#define F_RING_RESET	40

/* virtio-pci common configuration (4.1.4.3). */
#define PCI_COMMON_DFSELECT    0x00
#define PCI_COMMON_DF	       0x04
#define PCI_COMMON_GFSELECT    0x08
#define PCI_COMMON_GF	       0x0c
#define PCI_COMMON_MSIX	       0x10
#define PCI_COMMON_NUMQ	       0x12
#define PCI_COMMON_STATUS      0x14
#define PCI_COMMON_Q_SELECT    0x16
#define PCI_COMMON_Q_SIZE      0x18
#define PCI_COMMON_Q_MSIX      0x1a
#define PCI_COMMON_Q_ENABLE    0x1c
#define PCI_COMMON_Q_NOFF      0x1e
#define PCI_COMMON_Q_DESC      0x20
#define PCI_COMMON_Q_DRIVER    0x28
#define PCI_COMMON_Q_DEVICE    0x30
#define PCI_COMMON_Q_RESET     0x3a
#define PCI_CAP_VENDOR	       0x09
#define PCI_CAP_MSIX	       0x11
#define PCI_CAP_COMMON_CFG     1
#define PCI_CAP_NOTIFY_CFG     2
#define PCI_CAP_ISR_CFG	       3
#define PCI_CAP_DEVICE_CFG     4
#define PCI_VENDOR_REDHAT      0x1af4
#define PCI_DEVICE_MODERN_BASE 0x1040

/* virtio-mmio registers (4.2.2). */
#define MMIO_MAGIC	      0x000
#define MMIO_VERSION	      0x004
#define MMIO_DEVICE_ID	      0x008
#define MMIO_DEVICE_FEATURES  0x010
#define MMIO_DEVICE_FEAT_SEL  0x014
#define MMIO_DRIVER_FEATURES  0x020
#define MMIO_DRIVER_FEAT_SEL  0x024
#define MMIO_QUEUE_SEL	      0x030
#define MMIO_QUEUE_NUM_MAX    0x034
#define MMIO_QUEUE_NUM	      0x038
#define MMIO_QUEUE_READY      0x044
#define MMIO_QUEUE_NOTIFY     0x050
#define MMIO_INTERRUPT_STATUS 0x060
#define MMIO_INTERRUPT_ACK    0x064
#define MMIO_STATUS	      0x070
#define MMIO_QUEUE_DESC_LOW   0x080
#define MMIO_QUEUE_DRIVER_LOW 0x090
#define MMIO_QUEUE_DEVICE_LOW 0x0a0
#define MMIO_CONFIG	      0x100
#define MMIO_MAGIC_VALUE      0x74726976u

/* ISR / InterruptStatus bits. */
#define ISR_QUEUE  0x1u
#define ISR_CONFIG 0x2u

/* How long reset and queue reset may take to read back 0. */
#define VDRV_RESET_POLLS 1000

enum vdrv_transport { VDRV_NONE, VDRV_T_PCI, VDRV_T_MMIO };

/* A window of registers: port I/O or MMIO at base. */
struct vdrv_win {
	bool present;
	bool io;
	uint64_t base;
	uint32_t len;
};

struct vdrv_req {
	bool hostile;
	unsigned nbufs;
	struct vring_buf bufs[VDRV_MAX_BUFS];
};

struct vdrv_queue {
	bool live;    /* set up, not reset since */
	bool have_vr; /* vr describes rings in RAM (also after a reset) */
	bool quiet;   /* virtio-suppress on */
	uint16_t vector;
	struct vring vr;
	struct vdrv_req *req[VRING_SIZE_MAX]; /* by head */
};

/* The last request taken from a used ring: its writable bytes. */
struct vdrv_done {
	bool valid;
	unsigned nbufs; /* writable buffers */
	uint32_t len[VDRV_MAX_BUFS];
	uint8_t *bytes[VDRV_MAX_BUFS];
};

struct vdrv {
	enum vdrv_transport t;
	uint32_t sbdf;	    /* pci */
	uint64_t mmio_base; /* mmio */
	unsigned irq;	    /* mmio: ISA line */
	unsigned intx_pin;  /* pci: 1-4, 0 none */
	struct vdrv_win common, notify, isr, device;
	uint32_t notify_mult;
	unsigned msix_cap; /* 0: none */
	unsigned msix_count;
	struct vdrv_win msix_table;
	bool msix_on;
	uint16_t config_vector;
	uint64_t features; /* negotiated */
	uint8_t isr_seen;  /* ISR bits read but not yet claimed */
	uint64_t buf_next; /* bump allocator in [VDRV_BUF_BASE, END) */
	struct vdrv_queue q[VDRV_QUEUES];
	struct vdrv_done done;
	uint8_t *saved;
	size_t saved_len;
	bool grant; /* grant DMA: the region granted, addresses translated */
};

/*
 * The address the device is given for guest address gpa: gpa itself, or
 * with grant DMA on and gpa in the driver's region, the grant DMA
 * address of its page (bit 63, the reference in bits 12-62, the offset
 * in the page).  Addresses outside the region (a script's `at GPA`) go
 * as they are, so a script can hand the device one that is not granted.
 */
static uint64_t
dma_addr(const struct vdrv *d, uint64_t gpa)
{
	uint64_t page;

	if (!d->grant || gpa < VDRV_RAM_BASE || gpa >= VDRV_RAM_END)
		return gpa;
	page = (gpa - VDRV_RAM_BASE) >> 12;
	return VDRV_GRANT_DMA_BIT | (VDRV_GRANT_REF_BASE + page) << 12 |
	       (gpa & 0xfff);
}

static void
done_clear(struct vdrv_done *done)
{
	for (unsigned i = 0; i < done->nbufs; i++)
		free(done->bytes[i]);
	memset(done, 0, sizeof(*done));
}

/* Forget every request and queue; the rings stay where they were. */
static void
forget_queue(struct vdrv_queue *q)
{
	for (unsigned i = 0; i < VRING_SIZE_MAX; i++) {
		free(q->req[i]);
		q->req[i] = NULL;
	}
	q->live = false;
	q->quiet = false;
	q->vector = VDRV_NO_VECTOR;
}

static void
forget_all(struct vdrv *d)
{
	for (unsigned i = 0; i < VDRV_QUEUES; i++)
		forget_queue(&d->q[i]);
	d->isr_seen = 0;
	d->features = 0;
	d->config_vector = VDRV_NO_VECTOR;
	d->buf_next = VDRV_BUF_BASE;
}

/* A new device: nothing of the old one is known any more. */
static void
forget_device(struct vdrv *d)
{
	memset(d, 0, offsetof(struct vdrv, q));
	forget_all(d);
	for (unsigned i = 0; i < VDRV_QUEUES; i++)
		d->q[i].have_vr = false;
	done_clear(&d->done);
}

void
vdrv_free(struct vdrv *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < VDRV_QUEUES; i++)
		forget_queue(&d->q[i]);
	done_clear(&d->done);
	free(d->saved);
	free(d);
}

/* --- register access ------------------------------------------------ */

static bool
win_access(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   const struct vdrv_win *w, uint64_t off, unsigned size, bool is_read,
	   uint64_t *val)
{
	enum hv_status st;

	if (w->io)
		st = hv_pio(hv, s->vcpu, (uint16_t)(w->base + off), size,
			    is_read, val);
	else
		st = hv_mmio(hv, s->vcpu, w->base + off, size, is_read, val);
	if (!check_status(s, cmd, st))
		return false;
	*val &= size_mask(size);
	return true;
}

static bool
win_read(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	 const struct vdrv_win *w, uint64_t off, unsigned size, uint64_t *val)
{
	*val = 0;
	return win_access(s, hv, cmd, w, off, size, true, val);
}

static bool
win_write(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	  const struct vdrv_win *w, uint64_t off, unsigned size, uint64_t val)
{
	return win_access(s, hv, cmd, w, off, size, false, &val);
}

/* The mmio window as a struct vdrv_win. */
static struct vdrv_win
mmio_win(const struct vdrv *d)
{
	return (struct vdrv_win){ .present = true,
				  .base = d->mmio_base,
				  .len = 0x200 };
}

static bool
mmio_read(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	  const struct vdrv *d, unsigned off, uint64_t *val)
{
	struct vdrv_win w = mmio_win(d);

	return win_read(s, hv, cmd, &w, off, 4, val);
}

static bool
mmio_write(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   const struct vdrv *d, unsigned off, uint64_t val)
{
	struct vdrv_win w = mmio_win(d);

	return win_write(s, hv, cmd, &w, off, 4, val);
}

static bool
get_status(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   struct vdrv *d, uint64_t *val)
{
	if (d->t == VDRV_T_PCI)
		return win_read(s, hv, cmd, &d->common, PCI_COMMON_STATUS, 1,
				val);
	return mmio_read(s, hv, cmd, d, MMIO_STATUS, val);
}

static bool
set_status(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   struct vdrv *d, uint64_t val)
{
	if (d->t == VDRV_T_PCI)
		return win_write(s, hv, cmd, &d->common, PCI_COMMON_STATUS, 1,
				 val);
	return mmio_write(s, hv, cmd, d, MMIO_STATUS, val);
}

static bool
device_features(struct script *s, struct hv *hv, const struct script_cmd *cmd,
		struct vdrv *d, uint64_t *ret)
{
	uint64_t lo, hi;

	if (d->t == VDRV_T_PCI) {
		if (!win_write(s, hv, cmd, &d->common, PCI_COMMON_DFSELECT, 4,
			       0) ||
		    !win_read(s, hv, cmd, &d->common, PCI_COMMON_DF, 4, &lo) ||
		    !win_write(s, hv, cmd, &d->common, PCI_COMMON_DFSELECT, 4,
			       1) ||
		    !win_read(s, hv, cmd, &d->common, PCI_COMMON_DF, 4, &hi))
			return false;
	} else if (!mmio_write(s, hv, cmd, d, MMIO_DEVICE_FEAT_SEL, 0) ||
		   !mmio_read(s, hv, cmd, d, MMIO_DEVICE_FEATURES, &lo) ||
		   !mmio_write(s, hv, cmd, d, MMIO_DEVICE_FEAT_SEL, 1) ||
		   !mmio_read(s, hv, cmd, d, MMIO_DEVICE_FEATURES, &hi)) {
		return false;
	}
	*ret = hi << 32 | lo;
	return true;
}

static bool
write_driver_features(struct script *s, struct hv *hv,
		      const struct script_cmd *cmd, struct vdrv *d,
		      uint64_t features)
{
	for (unsigned w = 0; w < 2; w++) {
		uint64_t v = (features >> (32 * w)) & 0xffffffffu;

		if (d->t == VDRV_T_PCI) {
			if (!win_write(s, hv, cmd, &d->common,
				       PCI_COMMON_GFSELECT, 4, w) ||
			    !win_write(s, hv, cmd, &d->common, PCI_COMMON_GF, 4,
				       v))
				return false;
		} else if (!mmio_write(s, hv, cmd, d, MMIO_DRIVER_FEAT_SEL,
				       w) ||
			   !mmio_write(s, hv, cmd, d, MMIO_DRIVER_FEATURES,
				       v)) {
			return false;
		}
	}
	return true;
}

static bool
select_queue(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	     struct vdrv *d, unsigned q)
{
	if (d->t == VDRV_T_PCI)
		return win_write(s, hv, cmd, &d->common, PCI_COMMON_Q_SELECT, 2,
				 q);
	return mmio_write(s, hv, cmd, d, MMIO_QUEUE_SEL, q);
}

/* Queue `q` ready / enable as the device reports it. */
static bool
queue_ready(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	    struct vdrv *d, unsigned q, uint64_t *val)
{
	if (!select_queue(s, hv, cmd, d, q))
		return false;
	if (d->t == VDRV_T_PCI)
		return win_read(s, hv, cmd, &d->common, PCI_COMMON_Q_ENABLE, 2,
				val);
	return mmio_read(s, hv, cmd, d, MMIO_QUEUE_READY, val);
}

/*
 * Consume every injection recorded so far: what the device raised before
 * a reset completed is no concern of the driver's (Linux's reset
 * synchronises its interrupt handlers and finds nothing to do), and a
 * request that raced the reset may or may not have interrupted.
 */
static void
drain_injections(struct hv *hv)
{
	struct hv_injection j, last;
	bool have_last;

	while (hv_peek_injection(hv, &j))
		if (hv_expect_injection(hv, &j, 0, &last, &have_last) < 0)
			break;
}

/* Write status 0 and wait until it reads 0 (4.1.4.3.2, 4.2.3.1). */
static bool
reset_device(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	     struct vdrv *d)
{
	uint64_t st = 0;

	forget_all(d);
	if (!set_status(s, hv, cmd, d, 0))
		return false;
	for (unsigned i = 0; i < VDRV_RESET_POLLS; i++) {
		if (!get_status(s, hv, cmd, d, &st))
			return false;
		if (st == 0) {
			drain_injections(hv);
			return true;
		}
		sleep_ms(1);
	}
	fail(s, cmd, "device status 0 after reset, got %#" PRIx64, st);
	return false;
}

/* --- finding the device --------------------------------------------- */

static struct vdrv *
driver(struct script *s)
{
	if (!s->vdrv) {
		s->vdrv = calloc(1, sizeof(*s->vdrv));
		if (s->vdrv)
			forget_all(s->vdrv);
	}
	return s->vdrv;
}

/* The address a BAR decodes, from config space. */
static bool
bar_window(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   uint32_t sbdf, unsigned bar, struct vdrv_win *w)
{
	uint64_t lo, hi = 0;

	if (bar > 5) {
		fail(s, cmd, "a capability naming BAR 0-5, got BAR %u", bar);
		return false;
	}
	if (!script_pci_read(s, hv, cmd, sbdf, 0x10 + 4 * bar, 4, &lo))
		return false;
	if (lo & 1) {
		w->io = true;
		w->base = lo & ~3ull;
	} else {
		if ((lo & 6) == 4 && bar < 5 &&
		    !script_pci_read(s, hv, cmd, sbdf, 0x14 + 4 * bar, 4, &hi))
			return false;
		w->base = (hi << 32 | lo) & ~0xfull;
	}
	if (w->base == 0) {
		fail(s, cmd, "BAR%u placed (run pci-setup first), got 0", bar);
		return false;
	}
	w->present = true;
	return true;
}

/* One virtio vendor capability at config offset p into its window. */
static bool
vendor_cap(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   struct vdrv *d, unsigned p)
{
	uint64_t type, bar, off, len, mult = 0;
	struct vdrv_win *w;

	if (!script_pci_read(s, hv, cmd, d->sbdf, p + 3, 1, &type) ||
	    !script_pci_read(s, hv, cmd, d->sbdf, p + 4, 1, &bar) ||
	    !script_pci_read(s, hv, cmd, d->sbdf, p + 8, 4, &off) ||
	    !script_pci_read(s, hv, cmd, d->sbdf, p + 12, 4, &len))
		return false;
	switch (type) {
	case PCI_CAP_COMMON_CFG:
		w = &d->common;
		break;
	case PCI_CAP_NOTIFY_CFG:
		w = &d->notify;
		if (!script_pci_read(s, hv, cmd, d->sbdf, p + 16, 4, &mult))
			return false;
		break;
	case PCI_CAP_ISR_CFG:
		w = &d->isr;
		break;
	case PCI_CAP_DEVICE_CFG:
		w = &d->device;
		break;
	default:
		return true; /* PCI config access and others: not used */
	}
	if (w->present)
		return true; /* the first of each type counts (4.1.4) */
	if (!bar_window(s, hv, cmd, d->sbdf, (unsigned)bar, w))
		return false;
	w->base += off;
	w->len = (uint32_t)len;
	if (type == PCI_CAP_NOTIFY_CFG)
		d->notify_mult = (uint32_t)mult;
	return true;
}

static bool
msix_cap(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	 struct vdrv *d, unsigned p)
{
	uint64_t ctrl, table;

	if (d->msix_cap)
		return true;
	if (!script_pci_read(s, hv, cmd, d->sbdf, p + 2, 2, &ctrl) ||
	    !script_pci_read(s, hv, cmd, d->sbdf, p + 4, 4, &table))
		return false;
	if (!bar_window(s, hv, cmd, d->sbdf, (unsigned)(table & 7),
			&d->msix_table))
		return false;
	d->msix_table.base += table & ~7ull;
	d->msix_cap = p;
	d->msix_count = (unsigned)(ctrl & 0x7ff) + 1;
	d->msix_on = ctrl & 0x8000;
	return true;
}

static bool
check_id(struct script *s, const struct script_cmd *cmd,
	 const struct vdrv_args *a, uint64_t id)
{
	if (a->has_id && id != a->id) {
		fail(s, cmd, "virtio device id %u, got %" PRIu64, a->id, id);
		return false;
	}
	return true;
}

static void
run_find_pci(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	     struct vdrv *d, const struct vdrv_args *a)
{
	uint64_t id, status, p, pin;
	unsigned n;

	forget_device(d);
	d->t = VDRV_T_PCI;
	d->sbdf = (uint32_t)cmd->addr;
	if (!script_pci_read(s, hv, cmd, d->sbdf, 0, 4, &id))
		goto none;
	if ((id & 0xffff) != PCI_VENDOR_REDHAT ||
	    (id >> 16) < PCI_DEVICE_MODERN_BASE || (id >> 16) == 0xffff) {
		fail(s, cmd,
		     "a modern virtio-pci function (1af4:1040+), got "
		     "%04" PRIx64 ":%04" PRIx64,
		     id & 0xffff, id >> 16);
		goto none;
	}
	if (!check_id(s, cmd, a, (id >> 16) - PCI_DEVICE_MODERN_BASE) ||
	    !script_pci_read(s, hv, cmd, d->sbdf, 0x06, 2, &status) ||
	    !script_pci_read(s, hv, cmd, d->sbdf, 0x3d, 1, &pin))
		goto none;
	d->intx_pin = pin >= 1 && pin <= 4 ? (unsigned)pin : 0;
	if (!(status & 0x10)) {
		fail(s, cmd, "a capability list, got status %#" PRIx64, status);
		goto none;
	}
	if (!script_pci_read(s, hv, cmd, d->sbdf, 0x34, 1, &p))
		goto none;
	/* At most 48 capabilities fit in 192 bytes: a loop ends here. */
	for (n = 0; n < 48 && (p & ~3ull) >= 0x40; n++) {
		uint64_t cap_id, next;

		p &= ~3ull;
		if (!script_pci_read(s, hv, cmd, d->sbdf, (unsigned)p, 1,
				     &cap_id) ||
		    !script_pci_read(s, hv, cmd, d->sbdf, (unsigned)p + 1, 1,
				     &next))
			goto none;
		if (cap_id == PCI_CAP_VENDOR &&
		    !vendor_cap(s, hv, cmd, d, (unsigned)p))
			goto none;
		if (cap_id == PCI_CAP_MSIX &&
		    !msix_cap(s, hv, cmd, d, (unsigned)p))
			goto none;
		p = next;
	}
	if (!d->common.present || !d->notify.present || !d->isr.present) {
		fail(s, cmd,
		     "common, notify and ISR capabilities, got%s%s%s missing",
		     d->common.present ? "" : " common",
		     d->notify.present ? "" : " notify",
		     d->isr.present ? "" : " ISR");
		goto none;
	}
	if (reset_device(s, hv, cmd, d))
		return;
none:
	d->t = VDRV_NONE;
}

static void
run_find_mmio(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	      struct vdrv *d, const struct vdrv_args *a)
{
	uint64_t magic, version, id;

	forget_device(d);
	d->t = VDRV_T_MMIO;
	d->mmio_base = a->value;
	d->irq = a->irq;
	if (!mmio_read(s, hv, cmd, d, MMIO_MAGIC, &magic) ||
	    !mmio_read(s, hv, cmd, d, MMIO_VERSION, &version) ||
	    !mmio_read(s, hv, cmd, d, MMIO_DEVICE_ID, &id))
		goto none;
	if (magic != MMIO_MAGIC_VALUE || version != 2 || id == 0) {
		fail(s, cmd,
		     "a virtio-mmio version 2 device, got magic %#" PRIx64
		     " version %" PRIu64 " device id %" PRIu64,
		     magic, version, id);
		goto none;
	}
	if (check_id(s, cmd, a, id) && reset_device(s, hv, cmd, d))
		return;
none:
	d->t = VDRV_NONE;
}

/* --- initialisation -------------------------------------------------- */

static void
run_negotiate(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	      struct vdrv *d, const struct vdrv_args *a)
{
	uint64_t offered, st;
	uint64_t want;

	if (!set_status(s, hv, cmd, d, ST_ACKNOWLEDGE) ||
	    !set_status(s, hv, cmd, d, ST_ACKNOWLEDGE | ST_DRIVER) ||
	    !device_features(s, hv, cmd, d, &offered))
		return;
	want = offered & a->value;
	if (!write_driver_features(s, hv, cmd, d, want) ||
	    !set_status(s, hv, cmd, d,
			ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK) ||
	    !get_status(s, hv, cmd, d, &st))
		return;
	if (a->refused) {
		if (st & ST_FEATURES_OK)
			fail(s, cmd,
			     "FEATURES_OK refused for features %#" PRIx64
			     ", got status %#" PRIx64,
			     want, st);
		return;
	}
	if (!(st & ST_FEATURES_OK)) {
		fail(s, cmd,
		     "FEATURES_OK kept for features %#" PRIx64
		     ", got status %#" PRIx64,
		     want, st);
		return;
	}
	d->features = want;
	if (cmd->has_expect && want != cmd->expect)
		fail(s, cmd, "negotiated features %#" PRIx64 ", got %#" PRIx64,
		     cmd->expect, want);
}

static void
run_driver_features(struct script *s, struct hv *hv,
		    const struct script_cmd *cmd, struct vdrv *d)
{
	uint64_t lo, hi;

	if (d->t != VDRV_T_PCI) {
		fail(s, cmd,
		     "a virtio-pci device (mmio's DriverFeatures "
		     "cannot be read), got virtio-mmio");
		return;
	}
	if (!win_write(s, hv, cmd, &d->common, PCI_COMMON_GFSELECT, 4, 0) ||
	    !win_read(s, hv, cmd, &d->common, PCI_COMMON_GF, 4, &lo) ||
	    !win_write(s, hv, cmd, &d->common, PCI_COMMON_GFSELECT, 4, 1) ||
	    !win_read(s, hv, cmd, &d->common, PCI_COMMON_GF, 4, &hi))
		return;
	check_value(s, cmd, "driver features", hi << 32 | lo);
}

static bool
need_pci(struct script *s, const struct script_cmd *cmd, const struct vdrv *d)
{
	if (d->t == VDRV_T_PCI)
		return true;
	fail(s, cmd, "%s on a virtio-pci device, got virtio-mmio", cmd->verb);
	return false;
}

/* MSI-X entries 0..n-1: VDRV_MSI_ADDR, data VDRV_MSI_DATA + i; enable. */
static void
run_msix(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	 struct vdrv *d, const struct vdrv_args *a)
{
	uint64_t ctrl;

	if (!need_pci(s, cmd, d))
		return;
	if (!d->msix_cap || a->value > d->msix_count) {
		fail(s, cmd,
		     "an MSI-X table of at least %" PRIu64 " entries, got %u",
		     a->value, d->msix_cap ? d->msix_count : 0);
		return;
	}
	for (unsigned i = 0; i < a->value; i++) {
		uint64_t e = 16u * i;

		if (!win_write(s, hv, cmd, &d->msix_table, e, 4,
			       VDRV_MSI_ADDR) ||
		    !win_write(s, hv, cmd, &d->msix_table, e + 4, 4, 0) ||
		    !win_write(s, hv, cmd, &d->msix_table, e + 8, 4,
			       VDRV_MSI_DATA + i) ||
		    !win_write(s, hv, cmd, &d->msix_table, e + 12, 4, 0))
			return;
	}
	if (!script_pci_read(s, hv, cmd, d->sbdf, d->msix_cap + 2, 2, &ctrl) ||
	    !script_pci_write(s, hv, cmd, d->sbdf, d->msix_cap + 2, 2,
			      (ctrl | 0x8000) & ~0x4000ull))
		return;
	d->msix_on = true;
}

static void
run_config_vector(struct script *s, struct hv *hv, const struct script_cmd *cmd,
		  struct vdrv *d, const struct vdrv_args *a)
{
	uint64_t v;

	if (!need_pci(s, cmd, d) ||
	    !win_write(s, hv, cmd, &d->common, PCI_COMMON_MSIX, 2, a->vector) ||
	    !win_read(s, hv, cmd, &d->common, PCI_COMMON_MSIX, 2, &v))
		return;
	d->config_vector = (uint16_t)v;
	if (v != a->vector)
		fail(s, cmd, "config_msix_vector %#x, got %#" PRIx64, a->vector,
		     v);
}

static bool
write_addr(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   struct vdrv *d, unsigned pci_off, unsigned mmio_off, uint64_t gpa)
{
	/* Two 32-bit halves: what drivers do, and what both allow. */
	if (d->t == VDRV_T_PCI)
		return win_write(s, hv, cmd, &d->common, pci_off, 4,
				 gpa & 0xffffffffu) &&
		       win_write(s, hv, cmd, &d->common, pci_off + 4, 4,
				 gpa >> 32);
	return mmio_write(s, hv, cmd, d, mmio_off, gpa & 0xffffffffu) &&
	       mmio_write(s, hv, cmd, d, mmio_off + 4, gpa >> 32);
}

static void
run_queue(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	  struct vdrv *d, const struct vdrv_args *a)
{
	struct vdrv_queue *q = &d->q[a->q];
	unsigned size = (unsigned)a->value;
	uint64_t gpa = a->has_gpa ? a->gpa :
				    VDRV_RAM_BASE + a->q * VDRV_RING_STRIDE;
	uint64_t max, v;
	void *mem;

	forget_queue(q);
	q->have_vr = false;
	if (!select_queue(s, hv, cmd, d, a->q))
		return;
	if (d->t == VDRV_T_PCI) {
		if (!win_read(s, hv, cmd, &d->common, PCI_COMMON_Q_SIZE, 2,
			      &max))
			return;
	} else if (!mmio_read(s, hv, cmd, d, MMIO_QUEUE_NUM_MAX, &max)) {
		return;
	}
	if (max < size) {
		fail(s, cmd, "queue %u of at least %u entries, got %" PRIu64,
		     a->q, size, max);
		return;
	}
	if (a->has_vector && d->t != VDRV_T_PCI) {
		fail(s, cmd, "an MSI-X vector on virtio-pci, got virtio-mmio");
		return;
	}
	mem = hv_guest_ptr(hv, gpa, vring_bytes(size));
	if (mem) {
		vring_init(&q->vr, mem, size);
		q->have_vr = true;
	} else if (!a->refused) {
		fail(s, cmd,
		     "rings in guest RAM at %#" PRIx64
		     ", got an address outside RAM",
		     gpa);
		return;
	}
	if (d->t == VDRV_T_PCI) {
		if (!win_write(s, hv, cmd, &d->common, PCI_COMMON_Q_SIZE, 2,
			       size))
			return;
	} else if (!mmio_write(s, hv, cmd, d, MMIO_QUEUE_NUM, size)) {
		return;
	}
	if (!write_addr(s, hv, cmd, d, PCI_COMMON_Q_DESC, MMIO_QUEUE_DESC_LOW,
			dma_addr(d, gpa)) ||
	    !write_addr(s, hv, cmd, d, PCI_COMMON_Q_DRIVER,
			MMIO_QUEUE_DRIVER_LOW,
			dma_addr(d, gpa + vring_avail_offset(size))) ||
	    !write_addr(s, hv, cmd, d, PCI_COMMON_Q_DEVICE,
			MMIO_QUEUE_DEVICE_LOW,
			dma_addr(d, gpa + vring_used_offset(size))))
		return;
	if (a->has_vector) {
		if (!win_write(s, hv, cmd, &d->common, PCI_COMMON_Q_MSIX, 2,
			       a->vector) ||
		    !win_read(s, hv, cmd, &d->common, PCI_COMMON_Q_MSIX, 2, &v))
			return;
		q->vector = (uint16_t)v;
		if (v != a->vector) {
			fail(s, cmd, "queue %u msix vector %#x, got %#" PRIx64,
			     a->q, a->vector, v);
			return;
		}
	}
	if (d->t == VDRV_T_PCI) {
		if (!win_write(s, hv, cmd, &d->common, PCI_COMMON_Q_ENABLE, 2,
			       1))
			return;
	} else if (!mmio_write(s, hv, cmd, d, MMIO_QUEUE_READY, 1)) {
		return;
	}
	if (!queue_ready(s, hv, cmd, d, a->q, &v))
		return;
	if (a->refused) {
		if (v != 0)
			fail(s, cmd,
			     "queue %u refused (ready 0), got ready %#" PRIx64,
			     a->q, v);
		return;
	}
	if (v != 1) {
		fail(s, cmd, "queue %u ready 1, got %#" PRIx64, a->q, v);
		return;
	}
	q->live = true;
}

/* Take queue q out of use while requests may be in flight. */
static void
run_queue_reset(struct script *s, struct hv *hv, const struct script_cmd *cmd,
		struct vdrv *d, const struct vdrv_args *a)
{
	uint64_t v = 1;

	if (!select_queue(s, hv, cmd, d, a->q))
		return;
	if (d->t == VDRV_T_PCI) {
		/* 4.1.4.3.2: queue_reset, with VIRTIO_F_RING_RESET only. */
		if (!(d->features >> F_RING_RESET & 1)) {
			fail(s, cmd,
			     "VIRTIO_F_RING_RESET negotiated for a "
			     "virtio-pci queue reset, got none");
			return;
		}
		if (!win_write(s, hv, cmd, &d->common, PCI_COMMON_Q_RESET, 2,
			       1))
			return;
		for (unsigned i = 0; i < VDRV_RESET_POLLS && v; i++) {
			if (!win_read(s, hv, cmd, &d->common,
				      PCI_COMMON_Q_RESET, 2, &v))
				return;
			if (v)
				sleep_ms(1);
		}
	} else {
		/* 4.2.3.4.2: QueueReady 0, then wait for it to read 0. */
		if (!mmio_write(s, hv, cmd, d, MMIO_QUEUE_READY, 0))
			return;
		for (unsigned i = 0; i < VDRV_RESET_POLLS && v; i++) {
			if (!mmio_read(s, hv, cmd, d, MMIO_QUEUE_READY, &v))
				return;
			if (v)
				sleep_ms(1);
		}
	}
	forget_queue(&d->q[a->q]);
	if (v)
		fail(s, cmd, "queue %u reset to complete, got %#" PRIx64, a->q,
		     v);
}

static void
run_driver_ok(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	      struct vdrv *d)
{
	uint64_t st;

	if (!get_status(s, hv, cmd, d, &st) ||
	    !set_status(s, hv, cmd, d, st | ST_DRIVER_OK) ||
	    !get_status(s, hv, cmd, d, &st))
		return;
	if (!(st & ST_DRIVER_OK))
		fail(s, cmd, "DRIVER_OK set, got status %#" PRIx64, st);
}

static bool
config_access(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	      struct vdrv *d, uint64_t off, bool is_read, uint64_t *val)
{
	if (d->t == VDRV_T_MMIO) {
		struct vdrv_win w = mmio_win(d);

		return win_access(s, hv, cmd, &w, MMIO_CONFIG + off, cmd->size,
				  is_read, val);
	}
	if (!d->device.present || off + cmd->size > d->device.len) {
		fail(s, cmd,
		     "device configuration covering [%#" PRIx64
		     ", +%u), got %u bytes",
		     off, cmd->size, d->device.present ? d->device.len : 0);
		return false;
	}
	return win_access(s, hv, cmd, &d->device, off, cmd->size, is_read, val);
}

/* --- requests -------------------------------------------------------- */

static struct vdrv_queue *
live_queue(struct script *s, const struct script_cmd *cmd, struct vdrv *d,
	   unsigned q)
{
	if (d->q[q].live)
		return &d->q[q];
	fail(s, cmd, "queue %u set up (virtio-queue), got none", q);
	return NULL;
}

/* len bytes of guest RAM from the buffer area, 16-byte aligned. */
static uint8_t *
alloc_buf(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	  struct vdrv *d, uint64_t len, uint64_t *ret_gpa)
{
	uint64_t gpa = d->buf_next;
	uint8_t *p;

	if (len > VDRV_RAM_END - gpa) {
		fail(s, cmd,
		     "room for %" PRIu64
		     " bytes in the driver's buffer area, got %" PRIu64,
		     len, VDRV_RAM_END - gpa);
		return NULL;
	}
	p = hv_guest_ptr(hv, gpa, len ? len : 1);
	if (!p) {
		fail(s, cmd,
		     "guest RAM up to %#llx for the driver (--memory 48M or "
		     "more), got less",
		     (unsigned long long)VDRV_RAM_END);
		return NULL;
	}
	d->buf_next = (gpa + len + 15) & ~15ull;
	*ret_gpa = gpa;
	return p;
}

/* No request in flight on any queue: the buffer area is free again. */
static void
maybe_rewind(struct vdrv *d)
{
	for (unsigned q = 0; q < VDRV_QUEUES; q++)
		for (unsigned i = 0; i < VRING_SIZE_MAX; i++)
			if (d->q[q].req[i])
				return;
	d->buf_next = VDRV_BUF_BASE;
}

static void
fill(uint8_t *p, const struct vdrv_data *data, const uint8_t *bytes)
{
	if (data->kind == VDRV_DATA_PATTERN)
		for (uint32_t i = 0; i < data->len; i++)
			p[i] = vdrv_pattern_byte(data->seed, i);
	else
		memcpy(p, bytes + data->off, data->len);
}

static bool
kick(struct script *s, struct hv *hv, const struct script_cmd *cmd,
     struct vdrv *d, unsigned q)
{
	uint64_t noff;

	if (d->t == VDRV_T_MMIO)
		return mmio_write(s, hv, cmd, d, MMIO_QUEUE_NOTIFY, q);
	if (!select_queue(s, hv, cmd, d, q) ||
	    !win_read(s, hv, cmd, &d->common, PCI_COMMON_Q_NOFF, 2, &noff))
		return false;
	return win_write(s, hv, cmd, &d->notify, noff * d->notify_mult, 2, q);
}

/* Requests of q offered and not taken back (hostile ones included). */
static unsigned
in_flight(const struct vdrv_queue *q)
{
	unsigned n = 0;

	for (unsigned i = 0; i < q->vr.size && i < VRING_SIZE_MAX; i++)
		n += q->req[i] != NULL;
	return n;
}

/* With EVENT_IDX and interrupts wanted: the next completion interrupts. */
static void
ask_next_interrupt(struct vdrv *d, struct vdrv_queue *q)
{
	if ((d->features >> F_EVENT_IDX & 1) && !q->quiet)
		vring_set_used_event(&q->vr, q->vr.last_used);
}

static void
run_submit(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   struct vdrv *d, const struct vdrv_args *a)
{
	struct vdrv_queue *q = live_queue(s, cmd, d, a->q);
	struct vring_buf dbufs[VDRV_MAX_BUFS];
	struct vdrv_req *req;
	uint16_t head;
	int r;

	if (!q)
		return;
	maybe_rewind(d);
	req = calloc(1, sizeof(*req));
	if (!req) {
		fail(s, cmd, "memory for a request, got none");
		return;
	}
	req->nbufs = a->nbufs;
	for (unsigned i = 0; i < a->nbufs; i++) {
		const struct vdrv_buf_arg *b = &a->bufs[i];
		struct vring_buf *vb = &req->bufs[i];
		uint8_t *p = NULL;

		vb->len = b->data.len;
		vb->writable = b->writable;
		if (b->has_gpa) {
			vb->gpa = b->gpa;
			if (b->data.len)
				p = hv_guest_ptr(hv, b->gpa, b->data.len);
		} else {
			p = alloc_buf(s, hv, cmd, d, b->data.len, &vb->gpa);
			if (!p)
				goto out;
		}
		/* Poison writable buffers: what the device wrote shows. */
		if (p && b->writable)
			memset(p, 0xee, b->data.len);
		else if (p)
			fill(p, &b->data, cmd->data);
	}
	/* What the device is told; req->bufs keep the guest addresses. */
	for (unsigned i = 0; i < req->nbufs; i++) {
		dbufs[i] = req->bufs[i];
		dbufs[i].gpa = dma_addr(d, req->bufs[i].gpa);
	}
	if (a->indirect) {
		uint64_t tgpa;
		uint8_t *table = alloc_buf(s, hv, cmd, d, 16u * a->nbufs,
					   &tgpa);

		if (!table)
			goto out;
		r = vring_add_indirect(&q->vr, dbufs, req->nbufs, table,
				       dma_addr(d, tgpa), &head);
	} else {
		r = vring_add_chain(&q->vr, dbufs, req->nbufs, &head);
	}
	if (r < 0) {
		fail(s, cmd, "%u free descriptors in queue %u, got %u",
		     a->indirect ? 1 : a->nbufs, a->q, q->vr.free_count);
		goto out;
	}
	if (!in_flight(q))
		ask_next_interrupt(d, q);
	q->req[head] = req;
	vring_offer(&q->vr, head);
	if (!a->nokick)
		kick(s, hv, cmd, d, a->q);
	return;
out:
	free(req);
}

/*
 * A chain that breaks the ring rules (2.7.5.2, 2.7.5.3); the driver
 * keeps its descriptors until the queue or device is reset.
 */
static void
run_hostile(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	    struct vdrv *d, const struct vdrv_args *a)
{
	struct vdrv_queue *q = live_queue(s, cmd, d, a->q);
	uint16_t idx[VRING_SIZE_MAX];
	unsigned n = 1, size;
	uint64_t bgpa, tgpa = 0, t2gpa = 0;
	uint8_t *table = NULL, *table2;
	struct vdrv_req *req;

	if (!q)
		return;
	size = q->vr.size;
	switch (a->hostile) {
	case VDRV_H_LOOP:
		n = size >= 2 ? 2 : 1;
		break;
	case VDRV_H_LONG_CHAIN:
		n = size;
		break;
	default:
		break;
	}
	if (!alloc_buf(s, hv, cmd, d, 64, &bgpa))
		return;
	if (a->hostile == VDRV_H_LONG_INDIRECT ||
	    a->hostile == VDRV_H_NESTED_INDIRECT ||
	    a->hostile == VDRV_H_INDIRECT_NEXT) {
		table = alloc_buf(s, hv, cmd, d, 16u * 1025, &tgpa);
		if (!table)
			return;
	}
	req = calloc(1, sizeof(*req));
	if (!req)
		return;
	req->hostile = true;
	bgpa = dma_addr(d, bgpa);
	tgpa = dma_addr(d, tgpa);
	if (a->hostile == VDRV_H_BAD_HEAD) {
		/* No descriptor: the avail entry names one past the table. */
		vring_offer(&q->vr, (uint16_t)size);
		free(req);
		goto kick;
	}
	if (vring_alloc(&q->vr, n, idx) < 0) {
		fail(s, cmd, "%u free descriptors in queue %u, got %u", n, a->q,
		     q->vr.free_count);
		free(req);
		return;
	}
	switch (a->hostile) {
	case VDRV_H_LOOP:
	case VDRV_H_LONG_CHAIN:
		/* Each names the next, the last the first again. */
		for (unsigned i = 0; i < n; i++)
			vring_put_desc(q->vr.desc, idx[i], bgpa, 64,
				       VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
				       idx[(i + 1) % n]);
		break;
	case VDRV_H_BAD_NEXT:
		vring_put_desc(q->vr.desc, idx[0], bgpa, 64,
			       VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
			       (uint16_t)size);
		break;
	case VDRV_H_LONG_INDIRECT:
		/* 1025 entries: past any device's chain limit (1024). */
		for (unsigned i = 0; i < 1025; i++)
			vring_put_desc(table, i, bgpa, 64,
				       VRING_DESC_F_WRITE |
					       (i < 1024 ? VRING_DESC_F_NEXT :
							   0),
				       (uint16_t)(i + 1));
		vring_put_desc(q->vr.desc, idx[0], tgpa, 16u * 1025,
			       VRING_DESC_F_INDIRECT, 0);
		break;
	case VDRV_H_NESTED_INDIRECT:
		/* the second table in the same page as the first */
		table2 = table + 16 * 4;
		t2gpa = tgpa + 16 * 4;
		vring_put_desc(table2, 0, bgpa, 64, VRING_DESC_F_WRITE, 0);
		vring_put_desc(table, 0, bgpa, 64,
			       VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
		vring_put_desc(table, 1, t2gpa, 16, VRING_DESC_F_INDIRECT, 0);
		vring_put_desc(q->vr.desc, idx[0], tgpa, 32,
			       VRING_DESC_F_INDIRECT, 0);
		break;
	case VDRV_H_INDIRECT_NEXT:
		vring_put_desc(table, 0, bgpa, 64, VRING_DESC_F_WRITE, 0);
		vring_put_desc(q->vr.desc, idx[0], tgpa, 16,
			       VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
			       idx[0]);
		break;
	default:
		break;
	}
	q->req[idx[0]] = req;
	vring_offer(&q->vr, idx[0]);
kick:
	if (!a->nokick)
		kick(s, hv, cmd, d, a->q);
}

static void
run_avail_jump(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	       struct vdrv *d, const struct vdrv_args *a)
{
	struct vdrv_queue *q = live_queue(s, cmd, d, a->q);

	if (!q)
		return;
	vring_set_avail_idx(&q->vr, (uint16_t)(q->vr.avail_idx + a->value));
	kick(s, hv, cmd, d, a->q);
}

/* Keep the writable bytes of a completed request for virtio-written. */
static void
keep_done(struct vdrv *d, struct hv *hv, const struct vdrv_req *req)
{
	done_clear(&d->done);
	d->done.valid = true;
	for (unsigned i = 0; i < req->nbufs; i++) {
		const struct vring_buf *b = &req->bufs[i];
		const uint8_t *p;
		unsigned k = d->done.nbufs;

		if (!b->writable)
			continue;
		d->done.nbufs++;
		p = b->len ? hv_guest_ptr(hv, b->gpa, b->len) : NULL;
		d->done.bytes[k] = malloc(b->len ? b->len : 1);
		if (!d->done.bytes[k])
			continue;
		d->done.len[k] = p ? b->len : 0;
		if (p)
			memcpy(d->done.bytes[k], p, b->len);
	}
}

static void
run_wait(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	 struct vdrv *d, const struct vdrv_args *a)
{
	struct vdrv_queue *q = &d->q[a->q];
	uint64_t deadline = now_ms() + a->value;
	uint32_t id, len;
	uint64_t writable = 0;
	struct vdrv_req *req;

	if (!q->have_vr) {
		fail(s, cmd, "queue %u set up (virtio-queue), got none", a->q);
		return;
	}
	while (!vring_take_used(&q->vr, &id, &len)) {
		if (now_ms() >= deadline) {
			fail(s, cmd,
			     "a used element on queue %u within %" PRIu64
			     " ms, got none (used.idx %u)",
			     a->q, a->value, vring_used_idx(&q->vr));
			return;
		}
		sleep_ms(1);
	}
	req = id < q->vr.size ? q->req[id] : NULL;
	if (!req) {
		fail(s, cmd, "a used id in flight on queue %u, got %u", a->q,
		     id);
		return;
	}
	for (unsigned i = 0; i < req->nbufs; i++)
		if (req->bufs[i].writable)
			writable += req->bufs[i].len;
	keep_done(d, hv, req);
	q->req[id] = NULL;
	/*
	 * With EVENT_IDX, used_event follows what the driver took, as
	 * Linux's virtqueue_get_buf keeps it, but only while more requests
	 * are in flight: the device decides on this completion's interrupt
	 * after it published the element, so a driver that polls the used
	 * ring and moves used_event past the element before the device's
	 * check legitimately gets no interrupt for it.  With nothing else
	 * in flight the next submit asks (ask_next_interrupt), so every
	 * lone request's interrupt is certain and virtio-irq can expect it.
	 */
	if (in_flight(q))
		ask_next_interrupt(d, q);
	vring_free_chain(&q->vr, (uint16_t)id);
	free(req);
	if (cmd->has_expect && len != cmd->expect)
		fail(s, cmd, "used length %" PRIu64 ", got %u", cmd->expect,
		     len);
	else if (len > writable)
		fail(s, cmd,
		     "used length at most the %" PRIu64
		     " writable bytes, got %u",
		     writable, len);
}

static void
run_written(struct script *s, const struct script_cmd *cmd, struct vdrv *d,
	    const struct vdrv_args *a)
{
	const uint8_t *got;
	uint8_t *want;
	size_t want_len, got_len;
	bool same;
	char w[160], g[160];

	if (!d->done.valid || a->index >= d->done.nbufs) {
		fail(s, cmd,
		     "writable buffer %u of a completed request, got %s",
		     a->index,
		     d->done.valid ? "fewer buffers" : "no completed request");
		return;
	}
	got = d->done.bytes[a->index];
	got_len = d->done.len[a->index];
	if (!got) {
		fail(s, cmd, "memory for the written bytes, got none");
		return;
	}
	if (a->wmode == VDRV_W_SAVE) {
		free(d->saved);
		d->saved = malloc(got_len ? got_len : 1);
		d->saved_len = d->saved ? got_len : 0;
		if (d->saved)
			memcpy(d->saved, got, got_len);
		return;
	}
	if (a->data.kind == VDRV_DATA_SAVED) {
		if (!d->saved) {
			fail(s, cmd,
			     "saved bytes (virtio-written N save), got "
			     "none");
			return;
		}
		want_len = d->saved_len;
		want = malloc(want_len ? want_len : 1);
		if (want && want_len)
			memcpy(want, d->saved, want_len);
	} else {
		want_len = a->data.len;
		want = malloc(want_len ? want_len : 1);
		if (want)
			fill(want, &a->data, cmd->data);
	}
	if (!want) {
		fail(s, cmd, "memory for the expected bytes, got none");
		return;
	}
	same = want_len <= got_len && !memcmp(want, got, want_len);
	render(want, want_len, w, sizeof(w));
	render(got, want_len < got_len ? want_len : got_len, g, sizeof(g));
	if (a->wmode == VDRV_W_EQ && !same)
		fail(s, cmd, "buffer %u to start with \"%s\", got \"%s\"%s",
		     a->index, w, g, want_len > got_len ? " (shorter)" : "");
	else if (a->wmode == VDRV_W_NE && same)
		fail(s, cmd, "buffer %u not to start with \"%s\", got it",
		     a->index, w);
	free(want);
}

/* --- interrupts ------------------------------------------------------ */

static bool
expect_injection(struct script *s, struct hv *hv, const struct script_cmd *cmd,
		 const struct hv_injection *want, const char *what)
{
	struct hv_injection last;
	bool have_last = false;

	if (hv_expect_injection(hv, want, SCRIPT_IRQ_WAIT_MS, &last,
				&have_last) == 0)
		return true;
	fail(s, cmd, "%s within %u ms, got %s", what, SCRIPT_IRQ_WAIT_MS,
	     have_last ? "another one of that kind" : "none");
	return false;
}

/* Read (and for mmio acknowledge) the interrupt status. */
static bool
read_isr(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	 struct vdrv *d, uint64_t *isr)
{
	if (d->t == VDRV_T_PCI)
		return win_read(s, hv, cmd, &d->isr, 0, 1, isr);
	return mmio_read(s, hv, cmd, d, MMIO_INTERRUPT_STATUS, isr) &&
	       (*isr == 0 ||
		mmio_write(s, hv, cmd, d, MMIO_INTERRUPT_ACK, *isr));
}

static void
run_irq(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	struct vdrv *d, const struct vdrv_args *a)
{
	struct hv_injection want = { 0 };
	unsigned bit = a->config ? ISR_CONFIG : ISR_QUEUE;
	uint64_t isr;
	char what[96];

	if (d->t == VDRV_T_PCI && d->msix_on) {
		uint16_t v = a->config ? d->config_vector : d->q[a->q].vector;

		if (v == VDRV_NO_VECTOR) {
			fail(s, cmd, "an MSI-X vector for %s, got none",
			     a->config ? "config" : "the queue");
			return;
		}
		want.kind = HV_IRQ_MSI;
		want.addr = VDRV_MSI_ADDR;
		want.data = VDRV_MSI_DATA + v;
		snprintf(what, sizeof(what), "msi data %#x (vector %u)",
			 want.data, v);
		expect_injection(s, hv, cmd, &want, what);
		return;
	}
	if (!(d->isr_seen & bit)) {
		if (d->t == VDRV_T_PCI) {
			if (!d->intx_pin) {
				fail(s, cmd, "an INTx pin, got none");
				return;
			}
			want.kind = HV_IRQ_INTX;
			want.a = d->sbdf & ~7u;
			want.b = d->intx_pin - 1;
		} else {
			want.kind = HV_IRQ_ISA;
			want.a = d->irq;
		}
		want.level = true;
		snprintf(what, sizeof(what), "the %s line high",
			 d->t == VDRV_T_PCI ? "INTx" : "ISA");
		if (!expect_injection(s, hv, cmd, &want, what) ||
		    !read_isr(s, hv, cmd, d, &isr))
			return;
		d->isr_seen |= (uint8_t)isr;
		want.level = false;
		snprintf(what, sizeof(what),
			 "the %s line low after reading ISR %#" PRIx64,
			 d->t == VDRV_T_PCI ? "INTx" : "ISA", isr);
		if (!expect_injection(s, hv, cmd, &want, what))
			return;
	}
	if (!(d->isr_seen & bit)) {
		fail(s, cmd, "ISR bit %#x, got %#x", bit, d->isr_seen);
		return;
	}
	d->isr_seen &= (uint8_t)~bit;
}

static void
run_no_irq(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	   const struct vdrv_args *a)
{
	struct hv_injection j;

	sleep_ms(a->value);
	if (hv_peek_injection(hv, &j))
		fail(s, cmd,
		     "no interrupt within %" PRIu64 " ms, got one (kind %d, "
		     "data %#x, level %d)",
		     a->value, (int)j.kind, j.data, j.level);
}

static void
run_suppress(struct script *s, const struct script_cmd *cmd, struct vdrv *d,
	     const struct vdrv_args *a)
{
	struct vdrv_queue *q = live_queue(s, cmd, d, a->q);

	if (!q)
		return;
	q->quiet = a->on;
	if (d->features >> F_EVENT_IDX & 1) {
		/*
		 * used_event = last_used - 1 lies behind any index the
		 * device can move from, so vring_need_event is false for
		 * up to 65535 completions; last_used asks for the next.
		 */
		vring_set_used_event(&q->vr, (uint16_t)(q->vr.last_used -
							(a->on ? 1 : 0)));
	} else {
		vring_set_avail_flags(&q->vr,
				      a->on ? VRING_AVAIL_F_NO_INTERRUPT : 0);
	}
}

static void
run_no_used(struct script *s, const struct script_cmd *cmd, struct vdrv *d,
	    const struct vdrv_args *a)
{
	struct vdrv_queue *q = &d->q[a->q];
	uint16_t start, idx;

	if (!q->have_vr) {
		fail(s, cmd, "queue %u set up (virtio-queue), got none", a->q);
		return;
	}
	start = vring_used_idx(&q->vr);
	sleep_ms(a->value);
	idx = vring_used_idx(&q->vr);
	if (idx != start)
		fail(s, cmd,
		     "used.idx of queue %u to stay %u for %" PRIu64
		     " ms, got %u",
		     a->q, start, a->value, idx);
}

/*
 * virtio-bench-blk: COUNT virtio-blk requests of 4 KiB (IN or OUT) at
 * random 4 KiB-aligned offsets within BLOCKS blocks, DEPTH of them in
 * flight, as a driver that polls its used ring: used buffer
 * notifications are off for the run (no interrupt is wanted, as a
 * polling driver asks), and one kick goes out per refill.  Prints the
 * figures on one BENCH line; a request answered with a status other than
 * OK, or no progress for 10 s, fails the command.
 */
struct bench_slot {
	uint8_t *hdr, *status;
	uint64_t hdr_gpa, data_gpa, status_gpa;
};

static void
run_bench_blk(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	      struct vdrv *d, const struct vdrv_args *a)
{
	struct vdrv_queue *q = live_queue(s, cmd, d, a->q);
	unsigned depth = (unsigned)a->depth;
	struct bench_slot *slot = NULL;
	uint16_t *slot_of = NULL;
	bool *busy = NULL;
	uint64_t submitted = 0, done = 0, seed = 0x9e3779b97f4a7c15ull;
	uint64_t last_progress, t0, t1;
	bool quiet;

	if (!q)
		return;
	maybe_rewind(d);
	if (in_flight(q)) {
		fail(s, cmd, "no request in flight on queue %u, got %u", a->q,
		     in_flight(q));
		return;
	}
	if (depth > q->vr.size / 3u) {
		fail(s, cmd, "a depth of at most %u (3 descriptors each)",
		     q->vr.size / 3u);
		return;
	}
	slot = calloc(depth, sizeof(*slot));
	slot_of = calloc(q->vr.size, sizeof(*slot_of));
	busy = calloc(depth, sizeof(*busy));
	if (!slot || !slot_of || !busy) {
		fail(s, cmd, "memory for the bench, got none");
		goto out;
	}
	for (unsigned i = 0; i < depth; i++) {
		uint8_t *data;

		slot[i].hdr = alloc_buf(s, hv, cmd, d, 16, &slot[i].hdr_gpa);
		data = alloc_buf(s, hv, cmd, d, 4096, &slot[i].data_gpa);
		slot[i].status = alloc_buf(s, hv, cmd, d, 1,
					   &slot[i].status_gpa);
		if (!slot[i].hdr || !data || !slot[i].status)
			goto out;
		memset(data, 0x5a, 4096);
	}
	quiet = q->quiet;
	q->quiet = true;
	if (d->features >> F_EVENT_IDX & 1)
		vring_set_used_event(&q->vr, (uint16_t)(q->vr.last_used - 1));
	else
		vring_set_avail_flags(&q->vr, VRING_AVAIL_F_NO_INTERRUPT);

	t0 = now_ms();
	last_progress = t0;
	while (done < a->count) {
		bool offered = false;
		uint32_t id, len;

		/* Refill: every free slot gets the next request. */
		for (unsigned i = 0; i < depth && submitted < a->count; i++) {
			struct vring_buf b[3];
			uint16_t head;
			uint64_t block;

			if (busy[i])
				continue;
			/* xorshift64: the same offsets in every run */
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			block = seed % a->blocks;
			put_le32(slot[i].hdr, a->write ? 1 : 0);
			put_le32(slot[i].hdr + 4, 0);
			put_le64(slot[i].hdr + 8, block * 8);
			*slot[i].status = 0xff;
			b[0] = (struct vring_buf){
				.gpa = dma_addr(d, slot[i].hdr_gpa), .len = 16
			};
			b[1] = (struct vring_buf){
				.gpa = dma_addr(d, slot[i].data_gpa),
				.len = 4096,
				.writable = !a->write
			};
			b[2] = (struct vring_buf){
				.gpa = dma_addr(d, slot[i].status_gpa),
				.len = 1,
				.writable = true
			};
			if (vring_add_chain(&q->vr, b, 3, &head) < 0) {
				fail(s, cmd, "3 free descriptors, got %u",
				     q->vr.free_count);
				goto restore;
			}
			slot_of[head] = (uint16_t)i;
			busy[i] = true;
			vring_offer(&q->vr, head);
			submitted++;
			offered = true;
		}
		if (offered && !kick(s, hv, cmd, d, a->q))
			goto restore;
		while (vring_take_used(&q->vr, &id, &len)) {
			unsigned i = id < q->vr.size ? slot_of[id] : depth;

			if (i >= depth || *slot[i].status != 0) {
				fail(s, cmd,
				     "status OK (0) for request %u, got %#x",
				     id, i < depth ? *slot[i].status : 0xffu);
				goto restore;
			}
			vring_free_chain(&q->vr, (uint16_t)id);
			busy[i] = false;
			done++;
			last_progress = now_ms();
		}
		if (now_ms() - last_progress > 10000) {
			fail(s, cmd,
			     "%" PRIu64 " completed requests, got %" PRIu64
			     " (no progress for 10 s)",
			     a->count, done);
			goto restore;
		}
	}
	t1 = now_ms();
	printf("BENCH virtio-blk %s depth=%u count=%" PRIu64 " ms=%" PRIu64
	       " iops=%.0f\n",
	       a->write ? "write" : "read", depth, done, t1 - t0,
	       t1 > t0 ? (double)done * 1000.0 / (double)(t1 - t0) : 0.0);
	fflush(stdout);
restore:
	q->quiet = quiet;
	ask_next_interrupt(d, q);
	if (!(d->features >> F_EVENT_IDX & 1))
		vring_set_avail_flags(&q->vr,
				      quiet ? VRING_AVAIL_F_NO_INTERRUPT : 0);
out:
	free(slot);
	free(slot_of);
	free(busy);
}

/*
 * Grant every page of the driver's region to the device model's domain
 * (dom0 in xensim), or take the grants back.  The device sees the
 * difference only through the addresses (dma_addr).
 */
static void
run_grant(struct script *s, struct hv *hv, const struct script_cmd *cmd,
	  struct vdrv *d, const struct vdrv_args *a)
{
	uint64_t pages = (VDRV_RAM_END - VDRV_RAM_BASE) >> 12;

	for (uint64_t i = 0; i < pages; i++) {
		uint32_t ref = VDRV_GRANT_REF_BASE + (uint32_t)i;
		int r = a->on ? hv_grant(hv, ref, (VDRV_RAM_BASE >> 12) + i,
					 false) :
				hv_ungrant(hv, ref);

		if (r < 0 && !(r == -ENOENT && !a->on)) {
			fail(s, cmd, "grant %u to %s, got %s", ref,
			     a->on ? "be made" : "be removed", strerror(-r));
			return;
		}
	}
	d->grant = a->on;
}

/* --- the commands ---------------------------------------------------- */

void
vdrv_run(struct script *s, struct hv *hv, const struct script_cmd *cmd)
{
	const struct vdrv_args *a = cmd->vargs;
	struct vdrv *d = driver(s);
	uint64_t v;

	if (!d) {
		fail(s, cmd, "memory for the virtio driver, got none");
		return;
	}
	if (a->op == VDRV_PCI || a->op == VDRV_MMIO) {
		if (d->t != VDRV_NONE) /* stop the old one using the region */
			reset_device(s, hv, cmd, d);
		if (s->aborted)
			return;
		if (a->op == VDRV_PCI)
			run_find_pci(s, hv, cmd, d, a);
		else
			run_find_mmio(s, hv, cmd, d, a);
		return;
	}
	if (a->op == VDRV_GRANT) {
		run_grant(s, hv, cmd, d, a);
		return;
	}
	if (d->t == VDRV_NONE) {
		fail(s, cmd,
		     "a virtio device (virtio-pci or virtio-mmio first), got "
		     "none");
		return;
	}
	switch (a->op) {
	case VDRV_RESET:
		reset_device(s, hv, cmd, d);
		break;
	case VDRV_FEATURES:
		if (device_features(s, hv, cmd, d, &v))
			check_value(s, cmd, "device features", v);
		break;
	case VDRV_NEGOTIATE:
		run_negotiate(s, hv, cmd, d, a);
		break;
	case VDRV_WRITE_FEATURES:
		write_driver_features(s, hv, cmd, d, a->value);
		break;
	case VDRV_DRIVER_FEATURES:
		run_driver_features(s, hv, cmd, d);
		break;
	case VDRV_MSIX:
		run_msix(s, hv, cmd, d, a);
		break;
	case VDRV_CONFIG_VECTOR:
		run_config_vector(s, hv, cmd, d, a);
		break;
	case VDRV_QUEUE:
		run_queue(s, hv, cmd, d, a);
		break;
	case VDRV_QUEUE_RESET:
		run_queue_reset(s, hv, cmd, d, a);
		break;
	case VDRV_DRIVER_OK:
		run_driver_ok(s, hv, cmd, d);
		break;
	case VDRV_STATUS:
		if (!get_status(s, hv, cmd, d, &v))
			break;
		if (cmd->has_expect) {
			check_value(s, cmd, "device status", v);
		} else {
			printf("virtio-status: %#" PRIx64 "\n", v);
			fflush(stdout);
		}
		break;
	case VDRV_CONFIG_READ:
		v = 0;
		if (config_access(s, hv, cmd, d, a->off, true, &v)) {
			char what[48];

			snprintf(what, sizeof(what), "device config %#" PRIx64,
				 a->off);
			check_value(s, cmd, what, v);
		}
		break;
	case VDRV_CONFIG_WRITE:
		v = a->value;
		config_access(s, hv, cmd, d, a->off, false, &v);
		break;
	case VDRV_SUBMIT:
		run_submit(s, hv, cmd, d, a);
		break;
	case VDRV_KICK:
		kick(s, hv, cmd, d, a->q);
		break;
	case VDRV_WAIT:
		run_wait(s, hv, cmd, d, a);
		break;
	case VDRV_WRITTEN:
		run_written(s, cmd, d, a);
		break;
	case VDRV_IRQ:
		run_irq(s, hv, cmd, d, a);
		break;
	case VDRV_NO_IRQ:
		run_no_irq(s, hv, cmd, a);
		break;
	case VDRV_SUPPRESS:
		run_suppress(s, cmd, d, a);
		break;
	case VDRV_HOSTILE:
		run_hostile(s, hv, cmd, d, a);
		break;
	case VDRV_AVAIL_JUMP:
		run_avail_jump(s, hv, cmd, d, a);
		break;
	case VDRV_NO_USED:
		run_no_used(s, cmd, d, a);
		break;
	case VDRV_BENCH_BLK:
		run_bench_blk(s, hv, cmd, d, a);
		break;
	default:
		break;
	}
}
