/*
 * Request dispatch: turns one decoded ioreq (see dispatch.h) into bus
 * accesses, following what Xen 4.17's x86 emulator generates
 * (xen/arch/x86/hvm/emulate.c hvmemul_do_io, the 0xcf8/0xcfc conversion in
 * xen/arch/x86/hvm/ioreq.c arch_ioreq_server_get_type_addr, and
 * the ioreq_t fields in xen/include/public/hvm/ioreq.h):
 *
 *   PIO         port access, size 1/2/4 (size 8 is never sent: rejected);
 *               with data_is_ptr, `count` accesses to the same port, each
 *               element read from / written to guest RAM at data +- i*size.
 *   COPY        MMIO; with data_is_ptr both the MMIO address and the RAM
 *               address step by +-size; without it and count > 1 it is
 *               REP STOS (the value written count times).
 *   PCI_CONFIG  addr = SBDF << 32 | reg, to bus_config_read/write: size
 *               1/2/4 (size 8 rejected), reg + size must stay within the
 *               4 KiB config space, else all-ones / dropped (what a
 *               function without that register answers).  REP INS/OUTS on
 *               0xcfc-0xcff arrive here with data_is_ptr (Xen turns the
 *               port access into PCI_CONFIG and keeps count): performed
 *               like a rep PIO, `count` accesses to the same register,
 *               each element to / from guest RAM, as real hardware does.
 *   TIMEOFFSET  accumulated for the control socket.
 *   INVALIDATE  drops the guest mapping cache.
 *
 * The accesses of one PIO, COPY or PCI_CONFIG request (all elements of a
 * rep) run between request_begin and request_end, so that the server
 * reconciles BAR moves with Xen once per request.
 *
 * Everything here is guest-controlled: invalid sizes and unknown types get
 * the hardware answer (all-ones read, write dropped), rep counts are clamped
 * to one page, and a guest-memory fault ends the rep early.  Not
 * implemented: a COPY read with data_is_ptr == 0 and count > 1 is done as a
 * single read (Xen never sends it).
 */
#include "ioreq/dispatch.h"

#include "devices/bus.h"
#include "devices/pci.h"
#include "lib/range.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rep element copies assume a little-endian host, like the guest"
#endif

uint64_t
ioreq_size_mask(uint32_t size)
{
	switch (size) {
	case 1:
	case 2:
	case 4:
	case 8:
		return range_all_ones(size);
	default:
		return UINT64_MAX;
	}
}

static bool
size_is_valid(uint32_t size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

/*
 * A PCI_CONFIG register: the low 32 bits of addr, an access of 1, 2 or 4
 * bytes wholly inside the 4 KiB configuration space.  Anything else is
 * answered like an absent register (all-ones, write dropped).
 */
static bool
config_reg_ok(uint64_t addr, unsigned size)
{
	return pci_config_access_valid((uint32_t)addr, size);
}

static uint64_t
target_read(struct ioreq_dispatch *d, uint8_t type, uint64_t addr,
	    unsigned size)
{
	switch (type) {
	case IOREQ_REQ_PIO:
		return bus_read(d->bus, BUS_SPACE_PORT, addr, size);
	case IOREQ_REQ_COPY:
		return bus_read(d->bus, BUS_SPACE_MMIO, addr, size);
	case IOREQ_REQ_PCI_CONFIG:
		if (!config_reg_ok(addr, size))
			return range_all_ones(size);
		return bus_config_read(d->bus, (uint32_t)(addr >> 32),
				       (unsigned)(uint32_t)addr, size);
	default:
		return range_all_ones(size);
	}
}

static void
target_write(struct ioreq_dispatch *d, uint8_t type, uint64_t addr,
	     unsigned size, uint64_t value)
{
	value &= range_all_ones(size);
	switch (type) {
	case IOREQ_REQ_PIO:
		bus_write(d->bus, BUS_SPACE_PORT, addr, size, value);
		break;
	case IOREQ_REQ_COPY:
		bus_write(d->bus, BUS_SPACE_MMIO, addr, size, value);
		break;
	case IOREQ_REQ_PCI_CONFIG:
		if (config_reg_ok(addr, size))
			bus_config_write(d->bus, (uint32_t)(addr >> 32),
					 (unsigned)(uint32_t)addr, size,
					 (uint32_t)value);
		break;
	default:
		break;
	}
}

static void
reject(struct ioreq_dispatch *d, struct ioreq_request *req, const char *why)
{
	d->stats.bad_requests++;
	log_ratelimited(&d->ratelimit, LOG_LEVEL_WARNING,
			"domain %u: %s (type %u, addr 0x%llx, size %u, "
			"count %u), ignoring",
			(unsigned)d->domid, why, (unsigned)req->type,
			(unsigned long long)req->addr, (unsigned)req->size,
			(unsigned)req->count);
	if (req->read && !req->data_is_ptr)
		req->data = ioreq_size_mask(req->size);
}

static uint32_t
clamp_count(struct ioreq_dispatch *d, const struct ioreq_request *req)
{
	uint32_t max = IOREQ_REP_MAX_BYTES / req->size;

	if (req->count <= max)
		return req->count;
	d->stats.clamped++;
	log_ratelimited(&d->ratelimit, LOG_LEVEL_WARNING,
			"domain %u: rep count %u at 0x%llx exceeds %u, "
			"clamping",
			(unsigned)d->domid, (unsigned)req->count,
			(unsigned long long)req->addr, (unsigned)max);
	return max;
}

static void
guest_fault(struct ioreq_dispatch *d, const struct ioreq_request *req,
	    uint64_t gpa, uint32_t done)
{
	d->stats.guest_faults++;
	log_ratelimited(&d->ratelimit, LOG_LEVEL_WARNING,
			"domain %u: guest RAM at 0x%llx not accessible during "
			"rep at 0x%llx (element %u of %u), dropping the rest",
			(unsigned)d->domid, (unsigned long long)gpa,
			(unsigned long long)req->addr, (unsigned)done,
			(unsigned)req->count);
}

/* Address of element i: base +- i*step, in wrapping 64-bit arithmetic. */
static uint64_t
element_addr(uint64_t base, uint64_t step, uint32_t i, bool df)
{
	uint64_t off = step * i;

	return df ? base - off : base + off;
}

/*
 * data_is_ptr: element i moves between guest RAM at data +- i*size and the
 * device at addr (PIO, PCI_CONFIG: fixed) or addr +- i*size (COPY).
 */
static void
dispatch_rep_ptr(struct ioreq_dispatch *d, const struct ioreq_request *req)
{
	unsigned size = req->size;
	uint32_t count = clamp_count(d, req);
	uint64_t addr_step = req->type == IOREQ_REQ_COPY ? size : 0;
	int r;

	if (!d->guest_read || !d->guest_write) {
		guest_fault(d, req, req->data, 0);
		return;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t addr = element_addr(req->addr, addr_step, i, req->df);
		uint64_t gpa = element_addr(req->data, size, i, req->df);
		uint64_t value = 0;

		if (req->read) {
			value = target_read(d, req->type, addr, size);
			r = d->guest_write(d->guest_opaque, gpa, &value, size);
		} else {
			r = d->guest_read(d->guest_opaque, gpa, &value, size);
			if (r >= 0)
				target_write(d, req->type, addr, size, value);
		}
		if (r < 0) {
			guest_fault(d, req, gpa, i);
			return;
		}
	}
}

/*
 * data_is_ptr == 0: one access, except REP STOS to MMIO.  A PIO or
 * PCI_CONFIG request with count > 1 and no pointer is not something Xen
 * sends; it is performed once.
 */
static void
dispatch_direct(struct ioreq_dispatch *d, struct ioreq_request *req)
{
	unsigned size = req->size;
	uint32_t count = 1;

	if (req->read) {
		req->data = target_read(d, req->type, req->addr, size) &
			    range_all_ones(size);
		return;
	}
	if (req->type == IOREQ_REQ_COPY && req->count > 1)
		count = clamp_count(d, req);
	for (uint32_t i = 0; i < count; i++)
		target_write(d, req->type,
			     element_addr(req->addr, size, i, req->df), size,
			     req->data);
}

static void
dispatch_access(struct ioreq_dispatch *d, struct ioreq_request *req)
{
	if (!size_is_valid(req->size)) {
		reject(d, req, "invalid access size");
		return;
	}
	if (req->type == IOREQ_REQ_PIO && req->size == 8) {
		reject(d, req, "8-byte port access");
		return;
	}
	if (req->type == IOREQ_REQ_PCI_CONFIG && req->size == 8) {
		reject(d, req, "8-byte PCI configuration access");
		return;
	}
	if (d->request_begin)
		d->request_begin(d->request_opaque);
	if (req->data_is_ptr)
		dispatch_rep_ptr(d, req);
	else
		dispatch_direct(d, req);
	if (d->request_end)
		d->request_end(d->request_opaque);
}

static enum ioreq_kind
dispatch_kind(uint8_t type)
{
	switch (type) {
	case IOREQ_REQ_PIO:
		return IOREQ_KIND_PIO;
	case IOREQ_REQ_COPY:
		return IOREQ_KIND_MMIO;
	case IOREQ_REQ_PCI_CONFIG:
		return IOREQ_KIND_PCI_CONFIG;
	case IOREQ_REQ_TIMEOFFSET:
		return IOREQ_KIND_TIMEOFFSET;
	case IOREQ_REQ_INVALIDATE:
		return IOREQ_KIND_INVALIDATE;
	default:
		return IOREQ_KIND_OTHER;
	}
}

void
ioreq_dispatch(struct ioreq_dispatch *d, struct ioreq_request *req)
{
	d->stats.requests++;
	d->stats.by_kind[dispatch_kind(req->type)]++;
	switch (req->type) {
	case IOREQ_REQ_PIO:
	case IOREQ_REQ_COPY:
	case IOREQ_REQ_PCI_CONFIG:
		dispatch_access(d, req);
		break;
	case IOREQ_REQ_TIMEOFFSET:
		/* Unsigned add: a hostile delta must not be signed overflow. */
		d->time_offset = (int64_t)((uint64_t)d->time_offset +
					   req->data);
		break;
	case IOREQ_REQ_INVALIDATE:
		d->stats.invalidates++;
		if (d->invalidate)
			d->invalidate(d->guest_opaque);
		break;
	default:
		reject(d, req, "unknown request type");
		break;
	}
}
