/*
 * xensim-floor: the smallest useful IOREQ device model, written against
 * the real Xen tool API.  It is both the test device of xensim's own suite
 * and the performance floor for bench-io: nothing runs on its fast path
 * but poll(), xenevtchn_pending/unmask/notify and a register-file lookup.
 *
 * Each server claims the ranges given on the command line and serves a
 * register file: a read returns what was last written at exactly that
 * (space, address), masked to the access size, or the server's initial
 * value.  Two optional port blocks make its internals observable to a
 * guest script: an info block (counters) and an interrupt block (dm_op
 * injections).  Bring-up follows Xen 4.17 / QEMU order: create, map the
 * resource, get_info, claim, enable, then bind the vCPU ports and the
 * buffered port.  It exits 0 on SIGTERM after destroying its servers, and
 * 0 when its domain dies (dm_ops answer ESRCH).  Left out: legacy
 * gfn mapping, grants, more than 128 vCPUs, register values wider than the
 * access that wrote them.  --pci-bar gives PCI BAR registers the sizing
 * handshake (see struct bar) so that a guest can size and place them; the
 * floor never decodes the BAR ranges themselves.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

#define FLOOR_MAX_SERVERS   8
#define FLOOR_MAX_CLAIMS    64
#define FLOOR_MAX_VCPUS	    128
#define FLOOR_RF_SIZE	    8192u /* register file entries (power of 2) */
#define FLOOR_MAX_REP_PAGES 16u	  /* cap on one rep request's RAM side */
#define FLOOR_MAX_STOS	    8192u /* cap on a non-pointer count */
#define FLOOR_PROBE_MS	    200	  /* domain-death probe period */
#define FLOOR_PAGE	    4096u
#define FLOOR_INFO_SIZE	    0x40u
#define FLOOR_IRQ_SIZE	    0x20u
#define FLOOR_MAX_BARS	    32

/* The slot state shares byte 30 of ioreq_t with data_is_ptr/dir/df. */
_Static_assert(sizeof(ioreq_t) == 32, "ioreq_t layout");
_Static_assert(offsetof(ioreq_t, type) == 31, "ioreq_t layout");
#define SLOT_STATE_BYTE(req) ((uint8_t *)(req) + 30)

enum space {
	SPACE_PIO,
	SPACE_MMIO,
	SPACE_PCI,
};

struct claim {
	enum space space;
	uint64_t first; /* inclusive, as Xen wants it */
	uint64_t last;
};

/*
 * Info block (read-only 32-bit registers at --info-port PORT):
 *   0x00 synchronous PIO/MMIO/PCI requests (info accesses excluded)
 *   0x04 buffered write requests (TIMEOFFSET excluded)
 *   0x08 INVALIDATE requests      0x0c TIMEOFFSET requests
 *   0x10 last TIMEOFFSET, low     0x14 last TIMEOFFSET, high
 *   0x18 spurious vCPU events     0x1c this server's id
 *   0x20 rep elements moved through guest RAM (data_is_ptr)
 *   0x24 synchronous non-pointer write requests (info/irq excluded)
 *   0x28 number of vCPU ports bound
 *   0x2c buffered ring read_pointer  0x30 write_pointer (0 without a ring;
 *        read after the drain that precedes every synchronous request)
 */
enum info_reg {
	INFO_SYNC,
	INFO_BUFFERED,
	INFO_INVALIDATE,
	INFO_TIMEOFFSET,
	INFO_TIMEOFFSET_LO,
	INFO_TIMEOFFSET_HI,
	INFO_SPURIOUS,
	INFO_ID,
	INFO_REP_ELEMS,
	INFO_SYNC_WRITES,
	INFO_PORTS,
	INFO_RING_RP,
	INFO_RING_WP,
	_INFO_COUNT,
};

/*
 * Interrupt block (32-bit writes at --irq-port PORT):
 *   0x00 ISA:  bits 0-7 irq, bit 8 level      -> set_isa_irq_level
 *   0x04 INTx: bits 0-1 pin, 8-12 dev, 16 level, 24-31 bus
 *                                              -> set_pci_intx_level
 *   0x08 MSI address low, 0x0c MSI address high (latched)
 *   0x10 MSI data                              -> inject_msi
 *   0x14 SPI:  bits 0-15 irq, bit 16 level     -> set_irq_level
 *   0x18 read: errno of the last injection dm_op (0 = success)
 *   0x1c link: bits 0-1 link, 8-15 isa irq     -> set_pci_link_route
 */

struct rf_entry {
	uint64_t addr;
	uint64_t value;
	uint8_t space;
	bool used;
};

struct server_cfg {
	struct claim claims[FLOOR_MAX_CLAIMS];
	unsigned nclaims;
	bool no_enable;
	int bufioreq;
	uint64_t init;
	int info_port; /* -1: none */
	int irq_port;  /* -1: none */
	bool touched;  /* any per-server option seen */
};

struct server {
	struct server_cfg cfg;
	ioservid_t id;
	bool created;
	xenforeignmemory_resource_handle *res;
	shared_iopage_t *iopage;
	buffered_iopage_t *bufpage;
	evtchn_port_t vcpu_port[FLOOR_MAX_VCPUS];
	unsigned nbound;
	evtchn_port_t buf_port;
	bool buf_bound;
	uint32_t info[_INFO_COUNT];
	uint64_t msi_addr;
	uint32_t irq_err;
	struct rf_entry *rf;
};

struct port_ent {
	int16_t server; /* -1: unused */
	int16_t vcpu;	/* -1: buffered port */
};

/*
 * --pci-bar: a BAR with the standard sizing handshake.  Dword accesses to
 * the BAR registers (0x10-0x24) of a function named by any --pci-bar
 * read (value & ~(size - 1)) | type bits, upper dword of a 64-bit BAR
 * included; BAR registers of that function without a --pci-bar read 0
 * (left out).  Other accesses use the register file.
 */
enum bar_kind {
	BAR_IO,
	BAR_MEM32,
	BAR_MEM64,
};

struct bar {
	uint32_t sbdf;
	unsigned index; /* 0-5; a 64-bit BAR also uses index + 1 */
	enum bar_kind kind;
	bool prefetchable;
	uint64_t size;	/* power of two */
	uint64_t value; /* as written */
};

struct floor {
	uint16_t domid;
	struct bar bars[FLOOR_MAX_BARS];
	unsigned nbars;
	bool slow_buffered;
	bool hostile_state;
	bool no_destroy;
	int ignore_port; /* -1: none */
	struct server servers[FLOOR_MAX_SERVERS];
	unsigned nservers;
	unsigned nvcpus;
	xendevicemodel_handle *dmod;
	xenforeignmemory_handle *fmem;
	xenevtchn_handle *xce;
	struct port_ent *ports;
	size_t nports;
};

/* ------------------------------------------------------- register file */

static uint64_t
size_mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

static struct rf_entry *
rf_find(struct server *sv, enum space space, uint64_t addr, bool insert)
{
	uint64_t h = (addr ^ ((uint64_t)space << 61)) * 0x9e3779b97f4a7c15ull;
	unsigned i, n;

	for (n = 0, i = (unsigned)(h >> 51); n < FLOOR_RF_SIZE; n++, i++) {
		struct rf_entry *e = &sv->rf[i & (FLOOR_RF_SIZE - 1)];

		if (!e->used) {
			if (!insert)
				return NULL;
			e->used = true;
			e->space = (uint8_t)space;
			e->addr = addr;
			e->value = sv->cfg.init;
			return e;
		}
		if (e->addr == addr && e->space == space)
			return e;
	}
	return NULL; /* full: writes to new addresses are dropped */
}

/* ------------------------------------------------- observable blocks */

static void
irq_write(struct floor *f, struct server *sv, unsigned off, uint32_t v)
{
	int r;

	switch (off) {
	case 0x00:
		r = xendevicemodel_set_isa_irq_level(f->dmod, f->domid,
						     v & 0xff, (v >> 8) & 1);
		break;
	case 0x04:
		r = xendevicemodel_set_pci_intx_level(f->dmod, f->domid, 0,
						      (uint8_t)(v >> 24),
						      (v >> 8) & 0x1f, v & 3,
						      (v >> 16) & 1);
		break;
	case 0x08:
		sv->msi_addr = (sv->msi_addr & ~0xffffffffull) | v;
		return;
	case 0x0c:
		sv->msi_addr = (sv->msi_addr & 0xffffffffull) | (uint64_t)v
									<< 32;
		return;
	case 0x10:
		r = xendevicemodel_inject_msi(f->dmod, f->domid, sv->msi_addr,
					      v);
		break;
	case 0x14:
		r = xendevicemodel_set_irq_level(f->dmod, f->domid, v & 0xffff,
						 (v >> 16) & 1);
		break;
	case 0x1c:
		r = xendevicemodel_set_pci_link_route(f->dmod, f->domid, v & 3,
						      (v >> 8) & 0xff);
		break;
	default:
		return;
	}
	sv->irq_err = r < 0 ? (uint32_t)errno : 0;
}

static bool
in_block(int base, unsigned len, uint64_t addr)
{
	return base >= 0 && addr >= (uint64_t)base &&
	       addr < (uint64_t)base + len;
}

/* One element of an access, value masked to size. */
/* The BAR register at config address addr (sbdf << 32 | reg), if any. */
static bool
bar_access(struct floor *f, uint64_t addr, bool is_read, uint64_t *val)
{
	uint32_t sbdf = (uint32_t)(addr >> 32), reg = (uint32_t)addr;
	bool modelled = false;

	if (reg < 0x10 || reg > 0x24 || (reg & 3))
		return false;
	for (unsigned i = 0; i < f->nbars; i++) {
		struct bar *b = &f->bars[i];
		unsigned idx = (reg - 0x10) / 4;
		uint64_t m = ~(b->size - 1);
		uint32_t flags;

		if (b->sbdf != sbdf)
			continue;
		modelled = true;
		if (idx != b->index &&
		    !(b->kind == BAR_MEM64 && idx == b->index + 1))
			continue;
		if (idx == b->index + 1) { /* upper half */
			if (is_read)
				*val = (uint32_t)((b->value & m) >> 32);
			else
				b->value = (b->value & 0xffffffffu) |
					   (*val & 0xffffffffu) << 32;
			return true;
		}
		flags = b->kind == BAR_IO ? 1u :
					    (b->kind == BAR_MEM64 ? 4u : 0u) |
						    (b->prefetchable ? 8u : 0u);
		if (is_read)
			*val = ((uint32_t)(b->value & m) &
				(b->kind == BAR_IO ? ~0x3u : ~0xfu)) |
			       flags;
		else
			b->value = (b->value & ~0xffffffffull) |
				   (*val & 0xffffffffu);
		return true;
	}
	if (!modelled)
		return false;
	if (is_read)
		*val = 0;
	return true;
}

static uint64_t
access_one(struct floor *f, struct server *sv, enum space space, uint64_t addr,
	   unsigned size, bool is_read, uint64_t val)
{
	uint64_t mask = size_mask(size);
	struct rf_entry *e;

	if (space == SPACE_PIO &&
	    in_block(sv->cfg.info_port, FLOOR_INFO_SIZE, addr)) {
		unsigned off = (unsigned)(addr - (uint64_t)sv->cfg.info_port);
		uint8_t block[FLOOR_INFO_SIZE + 8] = { 0 };

		if (!is_read)
			return 0;
		if (sv->bufpage) {
			sv->info[INFO_RING_RP] =
				__atomic_load_n(&sv->bufpage->read_pointer,
						__ATOMIC_ACQUIRE);
			sv->info[INFO_RING_WP] =
				__atomic_load_n(&sv->bufpage->write_pointer,
						__ATOMIC_ACQUIRE);
		}
		memcpy(block, sv->info, sizeof(sv->info));
		memcpy(&val, block + off, sizeof(val));
		return val & mask;
	}
	if (space == SPACE_PIO &&
	    in_block(sv->cfg.irq_port, FLOOR_IRQ_SIZE, addr)) {
		unsigned off = (unsigned)(addr - (uint64_t)sv->cfg.irq_port);

		if (size != 4 || (off & 3))
			return is_read ? mask : 0;
		if (is_read)
			return off == 0x18 ? sv->irq_err : 0;
		irq_write(f, sv, off, (uint32_t)val);
		return 0;
	}
	if (space == SPACE_PCI && size == 4 &&
	    bar_access(f, addr, is_read, &val))
		return val;
	e = rf_find(sv, space, addr, !is_read);
	if (is_read)
		return (e ? e->value : sv->cfg.init) & mask;
	if (e)
		e->value = val & mask;
	return 0;
}

/* -------------------------------------------------------- request paths */

/* REP with data_is_ptr: elements move between the device and guest RAM. */
static void
handle_rep(struct floor *f, struct server *sv, const ioreq_t *r,
	   enum space space)
{
	uint64_t size = r->size, count = r->count, lo, hi, i;
	xen_pfn_t pfns[FLOOR_MAX_REP_PAGES + 1];
	size_t npages;
	uint8_t *map;

	if (count == 0)
		return;
	if (count > (FLOOR_MAX_REP_PAGES * FLOOR_PAGE) / size)
		count = (FLOOR_MAX_REP_PAGES * FLOOR_PAGE) / size;
	if (r->df) {
		if (r->data < (count - 1) * size)
			return;
		lo = r->data - (count - 1) * size;
	} else {
		lo = r->data;
	}
	hi = lo + count * size; /* exclusive */
	if (hi < lo)
		return;
	npages = (size_t)(((hi - 1) >> 12) - (lo >> 12) + 1);
	for (i = 0; i < npages; i++)
		pfns[i] = (xen_pfn_t)((lo >> 12) + i);
	map = xenforeignmemory_map(f->fmem, f->domid, PROT_READ | PROT_WRITE,
				   npages, pfns, NULL);
	if (!map)
		return;
	for (i = 0; i < count; i++) {
		uint64_t step = i * size;
		uint64_t gpa = r->df ? r->data - step : r->data + step;
		uint64_t dev = r->addr;
		uint8_t *host = map + (gpa - ((lo >> 12) << 12));
		uint64_t v = 0;

		if (space == SPACE_MMIO)
			dev = r->df ? r->addr - step : r->addr + step;
		if (r->dir == IOREQ_READ) {
			v = access_one(f, sv, space, dev, r->size, true, 0);
			memcpy(host, &v, r->size);
		} else {
			memcpy(&v, host, r->size);
			access_one(f, sv, space, dev, r->size, false, v);
		}
	}
	sv->info[INFO_REP_ELEMS] += (uint32_t)count;
	xenforeignmemory_unmap(f->fmem, map, npages);
}

/* Returns the value to put in `data` (unchanged for writes). */
static uint64_t
handle_sync(struct floor *f, struct server *sv, const ioreq_t *r)
{
	enum space space;
	uint64_t count, i, v = r->data;

	switch (r->type) {
	case IOREQ_TYPE_PIO:
		space = SPACE_PIO;
		break;
	case IOREQ_TYPE_COPY:
		space = SPACE_MMIO;
		break;
	case IOREQ_TYPE_PCI_CONFIG:
		space = SPACE_PCI;
		break;
	case IOREQ_TYPE_INVALIDATE:
		/* nothing is cached: every rep maps and unmaps its pages */
		sv->info[INFO_INVALIDATE]++;
		return v;
	case IOREQ_TYPE_TIMEOFFSET:
		sv->info[INFO_TIMEOFFSET]++;
		sv->info[INFO_TIMEOFFSET_LO] = (uint32_t)r->data;
		sv->info[INFO_TIMEOFFSET_HI] = (uint32_t)(r->data >> 32);
		return v;
	default:
		return r->dir == IOREQ_READ ? ~0ull : v;
	}
	if (r->size != 1 && r->size != 2 && r->size != 4 && r->size != 8)
		return r->dir == IOREQ_READ ? ~0ull : v;
	if (!(space == SPACE_PIO &&
	      in_block(sv->cfg.info_port, FLOOR_INFO_SIZE, r->addr))) {
		sv->info[INFO_SYNC]++;
		if (!r->data_is_ptr && r->dir == IOREQ_WRITE &&
		    !(space == SPACE_PIO &&
		      in_block(sv->cfg.irq_port, FLOOR_IRQ_SIZE, r->addr)))
			sv->info[INFO_SYNC_WRITES]++;
	}
	if (r->data_is_ptr) {
		handle_rep(f, sv, r, space);
		return v;
	}
	/* REP STOS to MMIO arrives with count > 1 and the value in data */
	count = r->count ? r->count : 1;
	if (count > FLOOR_MAX_STOS)
		count = FLOOR_MAX_STOS;
	for (i = 0; i < count; i++) {
		uint64_t dev = r->addr;

		if (space == SPACE_MMIO)
			dev = r->df ? r->addr - i * r->size :
				      r->addr + i * r->size;
		if (r->dir == IOREQ_READ)
			v = access_one(f, sv, space, dev, r->size, true, 0);
		else
			access_one(f, sv, space, dev, r->size, false, r->data);
	}
	return v;
}

static void
handle_buffered(struct floor *f, struct server *sv, unsigned type,
		uint64_t addr, unsigned size, uint64_t data)
{
	if (type == IOREQ_TYPE_TIMEOFFSET) {
		sv->info[INFO_TIMEOFFSET]++;
		sv->info[INFO_TIMEOFFSET_LO] = (uint32_t)data;
		sv->info[INFO_TIMEOFFSET_HI] = (uint32_t)(data >> 32);
		return;
	}
	sv->info[INFO_BUFFERED]++;
	if (type == IOREQ_TYPE_COPY || type == IOREQ_TYPE_PIO)
		access_one(f, sv,
			   type == IOREQ_TYPE_PIO ? SPACE_PIO : SPACE_MMIO,
			   addr, size, false, data);
}

/*
 * Drain the buffered ring.  read_pointer only ever moves by an atomic add:
 * in ATOMIC mode Xen may subtract a multiple of 511 from both pointers at
 * any moment, which a plain store of rp+1 would undo.
 */
static void
drain_ring(struct floor *f, struct server *sv)
{
	buffered_iopage_t *b = sv->bufpage;

	for (;;) {
		uint32_t rp = __atomic_load_n(&b->read_pointer,
					      __ATOMIC_ACQUIRE);
		uint32_t wp = __atomic_load_n(&b->write_pointer,
					      __ATOMIC_ACQUIRE);
		buf_ioreq_t slot;
		uint64_t data;
		unsigned size, adv = 1;

		if (__atomic_load_n(&b->read_pointer, __ATOMIC_ACQUIRE) != rp)
			continue; /* Xen canonicalised meanwhile */
		if (rp == wp)
			return;
		slot = b->buf_ioreq[rp % IOREQ_BUFFER_SLOT_NUM];
		size = 1u << slot.size;
		data = slot.data;
		if (size == 8) {
			/* both halves are published before wp moves */
			if (rp + 1 == wp)
				return;
			data |= (uint64_t)b
					->buf_ioreq[(rp + 1) %
						    IOREQ_BUFFER_SLOT_NUM]
					.data
				<< 32;
			adv = 2;
		}
		handle_buffered(f, sv, slot.type, slot.addr, size, data);
		__atomic_fetch_add(&b->read_pointer, adv, __ATOMIC_RELEASE);
	}
}

static void
handle_vcpu(struct floor *f, struct server *sv, unsigned vcpu,
	    evtchn_port_t port)
{
	ioreq_t *req = &sv->iopage->vcpu_ioreq[vcpu];
	uint8_t *sb = SLOT_STATE_BYTE(req);
	uint8_t b;
	ioreq_t r;

	/* keep the guest's write order: buffered writes came first */
	if (sv->bufpage)
		drain_ring(f, sv);
	b = __atomic_load_n(sb, __ATOMIC_ACQUIRE);
	if ((b & 0xf) != STATE_IOREQ_READY) {
		sv->info[INFO_SPURIOUS]++;
		return;
	}
	r = *req;
	__atomic_store_n(sb, (uint8_t)((b & ~0xf) | STATE_IOREQ_INPROCESS),
			 __ATOMIC_RELAXED);
	if (f->hostile_state) {
		/*
		 * Let Xen see INPROCESS, then go back to READY: a state that
		 * goes backwards makes Xen crash the domain.
		 */
		struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };

		xenevtchn_notify(f->xce, port);
		nanosleep(&ts, NULL);
		__atomic_store_n(sb, (uint8_t)((b & ~0xf) | STATE_IOREQ_READY),
				 __ATOMIC_RELEASE);
		xenevtchn_notify(f->xce, port);
		return;
	}
	if (f->ignore_port >= 0 && r.type == IOREQ_TYPE_PIO &&
	    r.addr == (uint64_t)f->ignore_port)
		return;
	req->data = handle_sync(f, sv, &r);
	__atomic_store_n(sb, (uint8_t)((b & ~0xf) | STATE_IORESP_READY),
			 __ATOMIC_RELEASE);
	xenevtchn_notify(f->xce, port);
}

static void
handle_port(struct floor *f, evtchn_port_t port)
{
	const struct port_ent *pe;
	struct server *sv;

	if (port >= f->nports || f->ports[port].server < 0)
		return;
	pe = &f->ports[port];
	sv = &f->servers[pe->server];
	if (pe->vcpu >= 0)
		handle_vcpu(f, sv, (unsigned)pe->vcpu, port);
	else if (!f->slow_buffered)
		drain_ring(f, sv);
}

/* ----------------------------------------------------- bring-up/teardown */

static int
remember_port(struct floor *f, evtchn_port_t port, unsigned server, int vcpu)
{
	if (port >= f->nports) {
		size_t n = (size_t)port + 64, i;
		struct port_ent *p = realloc(f->ports, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		for (i = f->nports; i < n; i++)
			p[i].server = -1;
		f->ports = p;
		f->nports = n;
	}
	f->ports[port].server = (int16_t)server;
	f->ports[port].vcpu = (int16_t)vcpu;
	return 0;
}

static int
fail_call(const char *what, unsigned idx)
{
	int e = errno;

	fprintf(stderr, "xensim-floor: server %u: %s: %s\n", idx, what,
		strerror(e));
	return -e;
}

static int
server_claim(struct floor *f, struct server *sv, unsigned idx)
{
	unsigned i;
	int r;

	for (i = 0; i < sv->cfg.nclaims; i++) {
		const struct claim *c = &sv->cfg.claims[i];

		if (c->space == SPACE_PCI)
			r = xendevicemodel_map_pcidev_to_ioreq_server(
				f->dmod, f->domid, sv->id, 0,
				(uint8_t)(c->first >> 8),
				(uint8_t)((c->first >> 3) & 0x1f),
				(uint8_t)(c->first & 7));
		else
			r = xendevicemodel_map_io_range_to_ioreq_server(
				f->dmod, f->domid, sv->id,
				c->space == SPACE_MMIO, c->first, c->last);
		if (r < 0)
			return fail_call("map range", idx);
	}
	return 0;
}

static int
server_bind(struct floor *f, struct server *sv, unsigned idx)
{
	xenevtchn_port_or_error_t p;
	unsigned i;

	for (i = 0; i < f->nvcpus; i++) {
		/* vp_eport is valid only now that the server is enabled */
		p = xenevtchn_bind_interdomain(
			f->xce, f->domid, sv->iopage->vcpu_ioreq[i].vp_eport);
		if (p < 0)
			return fail_call("bind vCPU port", idx);
		sv->vcpu_port[i] = (evtchn_port_t)p;
		sv->nbound++;
		if (remember_port(f, (evtchn_port_t)p, idx, (int)i) < 0)
			return -ENOMEM;
	}
	sv->info[INFO_PORTS] = sv->nbound;
	if (!sv->bufpage)
		return 0;
	p = xenevtchn_bind_interdomain(f->xce, f->domid, sv->buf_port);
	if (p < 0)
		return fail_call("bind buffered port", idx);
	sv->buf_port = (evtchn_port_t)p;
	sv->buf_bound = true;
	return remember_port(f, (evtchn_port_t)p, idx, -1);
}

static int
server_start(struct floor *f, unsigned idx)
{
	struct server *sv = &f->servers[idx];
	bool buf = sv->cfg.bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF;
	void *addr = NULL;
	int r;

	if (xendevicemodel_create_ioreq_server(f->dmod, f->domid,
					       sv->cfg.bufioreq, &sv->id) < 0)
		return fail_call("create", idx);
	sv->created = true;
	sv->info[INFO_ID] = sv->id;
	sv->res = xenforeignmemory_map_resource(
		f->fmem, f->domid, XENMEM_resource_ioreq_server, sv->id,
		buf ? XENMEM_resource_ioreq_server_frame_bufioreq :
		      XENMEM_resource_ioreq_server_frame_ioreq(0),
		buf ? 2 : 1, &addr, PROT_READ | PROT_WRITE, 0);
	if (!sv->res)
		return fail_call("map resource", idx);
	sv->bufpage = buf ? addr : NULL;
	sv->iopage = (shared_iopage_t *)((uint8_t *)addr +
					 (buf ? FLOOR_PAGE : 0));
	if (buf &&
	    xendevicemodel_get_ioreq_server_info(f->dmod, f->domid, sv->id,
						 NULL, NULL, &sv->buf_port) < 0)
		return fail_call("get info", idx);
	r = server_claim(f, sv, idx);
	if (r < 0)
		return r;
	if (sv->cfg.no_enable)
		return 0;
	if (xendevicemodel_set_ioreq_server_state(f->dmod, f->domid, sv->id,
						  1) < 0)
		return fail_call("enable", idx);
	return 0;
}

static void
server_stop(struct floor *f, struct server *sv)
{
	unsigned i;

	for (i = 0; i < sv->nbound; i++)
		xenevtchn_unbind(f->xce, sv->vcpu_port[i]);
	if (sv->buf_bound)
		xenevtchn_unbind(f->xce, sv->buf_port);
	if (sv->created && !f->no_destroy)
		(void)xendevicemodel_destroy_ioreq_server(f->dmod, f->domid,
							  sv->id);
	if (sv->res)
		xenforeignmemory_unmap_resource(f->fmem, sv->res);
	sv->nbound = 0;
	sv->buf_bound = false;
	sv->created = false;
	sv->res = NULL;
}

static void
floor_stop(struct floor *f)
{
	unsigned i;

	for (i = 0; i < f->nservers; i++) {
		server_stop(f, &f->servers[i]);
		free(f->servers[i].rf);
	}
	xenevtchn_close(f->xce);
	xenforeignmemory_close(f->fmem);
	xendevicemodel_close(f->dmod);
	free(f->ports);
}

/*
 * Xen keeps a destroyed domain as a zombie while this model still maps its
 * pages, so domain-wide dm_ops keep working; its IOREQ servers are gone at
 * once, though.  Asking for our first server tells both cases apart.
 */
static bool
domain_dead(struct floor *f)
{
	evtchn_port_t port;

	if (!f->dmod || f->nservers == 0 || !f->servers[0].created)
		return false;
	return xendevicemodel_get_ioreq_server_info(f->dmod, f->domid,
						    f->servers[0].id, NULL,
						    NULL, &port) < 0 &&
	       (errno == ESRCH || errno == ENOENT);
}

static int
floor_start(struct floor *f)
{
	unsigned i;
	int r;

	f->dmod = xendevicemodel_open(NULL, 0);
	f->fmem = xenforeignmemory_open(NULL, 0);
	f->xce = xenevtchn_open(NULL, 0);
	if (!f->dmod || !f->fmem || !f->xce)
		return fail_call("open handles", 0);
	if (xendevicemodel_nr_vcpus(f->dmod, f->domid, &f->nvcpus) < 0)
		return fail_call("nr_vcpus", 0);
	if (f->nvcpus > FLOOR_MAX_VCPUS) {
		fprintf(stderr, "xensim-floor: %u vCPUs, max %u\n", f->nvcpus,
			FLOOR_MAX_VCPUS);
		return -E2BIG;
	}
	for (i = 0; i < f->nservers; i++) {
		f->servers[i].rf = calloc(FLOOR_RF_SIZE,
					  sizeof(struct rf_entry));
		if (!f->servers[i].rf)
			return -ENOMEM;
		r = server_start(f, i);
		if (r < 0)
			return r;
	}
	/*
	 * Bind only once every server is claimed and enabled: xensim starts
	 * the guest as soon as one server has all its ports bound, and an
	 * event sent before a bind is not lost (the bind leaves it pending).
	 */
	for (i = 0; i < f->nservers; i++) {
		if (f->servers[i].cfg.no_enable)
			continue;
		r = server_bind(f, &f->servers[i], i);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Serve until SIGTERM/SIGINT (0) or domain death (0); -errno on error. */
static int
floor_loop(struct floor *f, int sigfd)
{
	struct pollfd pfd[2] = {
		{ .fd = xenevtchn_fd(f->xce), .events = POLLIN },
		{ .fd = sigfd, .events = POLLIN },
	};

	for (;;) {
		xenevtchn_port_or_error_t port;
		int n = poll(pfd, 2, FLOOR_PROBE_MS);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (pfd[1].revents)
			return 0;
		if (n == 0 || (pfd[0].revents & (POLLERR | POLLHUP))) {
			if (domain_dead(f))
				return 0;
			if (n == 0)
				continue;
		}
		if (!(pfd[0].revents & POLLIN))
			return -EIO;
		port = xenevtchn_pending(f->xce);
		if (port < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return domain_dead(f) ? 0 : -errno;
		}
		xenevtchn_unmask(f->xce, (evtchn_port_t)port);
		handle_port(f, (evtchn_port_t)port);
	}
}

/* ------------------------------------------------------------- options */

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: xensim-floor [--domid N] [--slow-buffered] [--hostile-state]\n"
		"         [--no-destroy] [--ignore-port PORT]\n"
		"         [--pci-bar BB:DD.F:N:io|mem32|mem64[,pf]:SIZE]...\n"
		"         SERVER [--server SERVER]... [--servers N]\n"
		"SERVER options: --port BASE:SIZE  --mmio BASE:SIZE  --pci BB:DD.F\n"
		"         --bufioreq off|legacy|atomic (default atomic)  --no-enable\n"
		"         --init VALUE  --info-port PORT  --irq-port PORT\n");
}

static int
parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*ret = strtoull(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

static int
add_claim(struct server_cfg *c, enum space space, const char *arg)
{
	char buf[64], *colon;
	uint64_t base, size;

	if (c->nclaims == FLOOR_MAX_CLAIMS || strlen(arg) >= sizeof(buf))
		return -EINVAL;
	if (space == SPACE_PCI) {
		unsigned bus, dev, fn;
		char tail;

		if (sscanf(arg, "%x:%x.%x%c", &bus, &dev, &fn, &tail) != 3 ||
		    bus > 0xff || dev > 0x1f || fn > 7)
			return -EINVAL;
		base = bus << 8 | dev << 3 | fn;
		c->claims[c->nclaims++] = (struct claim){ space, base, base };
		return 0;
	}
	strcpy(buf, arg);
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (parse_u64(buf, &base) < 0 || parse_u64(colon + 1, &size) < 0 ||
	    size == 0 || base + size - 1 < base ||
	    (space == SPACE_PIO && base + size > 0x10000))
		return -EINVAL;
	c->claims[c->nclaims++] = (struct claim){ space, base,
						  base + size - 1 };
	return 0;
}

static int
add_block(struct server_cfg *c, int *ret_port, unsigned len, const char *arg)
{
	uint64_t port;
	char claim[32];

	if (parse_u64(arg, &port) < 0 || port + len > 0x10000)
		return -EINVAL;
	*ret_port = (int)port;
	snprintf(claim, sizeof(claim), "%#" PRIx64 ":%#x", port, len);
	return add_claim(c, SPACE_PIO, claim);
}

/* BB:DD.F:N:io|mem32|mem64[,pf]:SIZE */
static int
add_bar(struct floor *f, const char *arg)
{
	unsigned bus, dev, fn, idx;
	char kind[16];
	int n = 0;
	uint64_t size;
	struct bar b = { 0 };

	if (f->nbars == FLOOR_MAX_BARS ||
	    sscanf(arg, "%x:%x.%u:%u:%15[a-z0-9,]:%n", &bus, &dev, &fn, &idx,
		   kind, &n) != 5 ||
	    n == 0 || bus > 0xff || dev > 0x1f || fn > 7 || idx > 5 ||
	    parse_u64(arg + n, &size) < 0 || size == 0 || (size & (size - 1)))
		return -EINVAL;
	b.prefetchable = strstr(kind, ",pf") != NULL;
	if (b.prefetchable)
		*strstr(kind, ",pf") = '\0';
	if (!strcmp(kind, "io") && !b.prefetchable && size >= 4 &&
	    size <= 0x10000)
		b.kind = BAR_IO;
	else if (!strcmp(kind, "mem32") && size >= 16 && size <= 1ull << 31)
		b.kind = BAR_MEM32;
	else if (!strcmp(kind, "mem64") && size >= 16 && idx < 5)
		b.kind = BAR_MEM64;
	else
		return -EINVAL;
	b.sbdf = bus << 8 | dev << 3 | fn;
	b.index = idx;
	b.size = size;
	f->bars[f->nbars++] = b;
	return 0;
}

static void
cfg_init(struct server_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->bufioreq = HVM_IOREQSRV_BUFIOREQ_ATOMIC;
	c->info_port = -1;
	c->irq_port = -1;
}

static int
parse_server_opt(int ch, const char *arg, struct server_cfg *c)
{
	uint64_t v;

	c->touched = true;
	switch (ch) {
	case 'p':
		return add_claim(c, SPACE_PIO, arg);
	case 'm':
		return add_claim(c, SPACE_MMIO, arg);
	case 'c':
		return add_claim(c, SPACE_PCI, arg);
	case 'n':
		c->no_enable = true;
		return 0;
	case 'i':
		if (parse_u64(arg, &v) < 0)
			return -EINVAL;
		c->init = v;
		return 0;
	case 'I':
		return add_block(c, &c->info_port, FLOOR_INFO_SIZE, arg);
	case 'Q':
		return add_block(c, &c->irq_port, FLOOR_IRQ_SIZE, arg);
	case 'b':
		if (!strcmp(arg, "off"))
			c->bufioreq = HVM_IOREQSRV_BUFIOREQ_OFF;
		else if (!strcmp(arg, "legacy"))
			c->bufioreq = HVM_IOREQSRV_BUFIOREQ_LEGACY;
		else if (!strcmp(arg, "atomic"))
			c->bufioreq = HVM_IOREQSRV_BUFIOREQ_ATOMIC;
		else
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

static int
parse_args(int argc, char **argv, struct floor *f)
{
	static const struct option opts[] = {
		{ "domid", required_argument, NULL, 'd' },
		{ "slow-buffered", no_argument, NULL, 's' },
		{ "hostile-state", no_argument, NULL, 'H' },
		{ "no-destroy", no_argument, NULL, 'D' },
		{ "ignore-port", required_argument, NULL, 'g' },
		{ "server", no_argument, NULL, 'S' },
		{ "servers", required_argument, NULL, 'N' },
		{ "port", required_argument, NULL, 'p' },
		{ "mmio", required_argument, NULL, 'm' },
		{ "pci", required_argument, NULL, 'c' },
		{ "pci-bar", required_argument, NULL, 'B' },
		{ "no-enable", no_argument, NULL, 'n' },
		{ "init", required_argument, NULL, 'i' },
		{ "info-port", required_argument, NULL, 'I' },
		{ "irq-port", required_argument, NULL, 'Q' },
		{ "bufioreq", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct server_cfg *cur;
	uint64_t v;
	int ch;

	f->nservers = 1;
	cur = &f->servers[0].cfg;
	cfg_init(cur);
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (parse_u64(optarg, &v) < 0 || v > 0x7fef)
				return -EINVAL;
			f->domid = (uint16_t)v;
			break;
		case 's':
			f->slow_buffered = true;
			break;
		case 'B':
			if (add_bar(f, optarg) < 0)
				return -EINVAL;
			break;
		case 'H':
			f->hostile_state = true;
			break;
		case 'D':
			f->no_destroy = true;
			break;
		case 'g':
			if (parse_u64(optarg, &v) < 0 || v > 0xffff)
				return -EINVAL;
			f->ignore_port = (int)v;
			break;
		case 'S':
			if (!cur->touched)
				break;
			if (f->nservers == FLOOR_MAX_SERVERS)
				return -EINVAL;
			cur = &f->servers[f->nservers++].cfg;
			cfg_init(cur);
			break;
		case 'N':
			if (parse_u64(optarg, &v) < 0 || v == 0 ||
			    f->nservers - 1 + v > FLOOR_MAX_SERVERS)
				return -EINVAL;
			while (v-- > 1)
				f->servers[f->nservers++].cfg = *cur;
			cur = &f->servers[f->nservers - 1].cfg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (parse_server_opt(ch, optarg, cur) < 0)
				return -EINVAL;
			break;
		}
	}
	return optind == argc ? 0 : -EINVAL;
}

int
main(int argc, char **argv)
{
	static struct floor f = { .domid = 1, .ignore_port = -1 };
	sigset_t mask;
	int sigfd, r;

	if (parse_args(argc, argv, &f) < 0) {
		usage(stderr);
		return 2;
	}
	/* SIGTERM is read from a signalfd so shutdown runs in the loop */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sigfd < 0) {
		perror("xensim-floor: signalfd");
		return 1;
	}
	r = floor_start(&f);
	if (r == 0)
		r = floor_loop(&f, sigfd);
	else if (domain_dead(&f))
		r = 0; /* died during bring-up: nothing left to serve */
	if (r < 0)
		fprintf(stderr, "xensim-floor: %s\n", strerror(-r));
	floor_stop(&f);
	close(sigfd);
	return r < 0 ? 1 : 0;
}
