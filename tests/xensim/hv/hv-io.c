/*
 * Guest accesses: what Xen 4.17's x86 emulator does with a port or MMIO
 * access of an HVM guest (xen/arch/x86/hvm/{emulate,io,intercept,ioreq}.c,
 * xen/common/ioreq.c): Xen-internal devices first, the 0xcf8 latch, server
 * selection, the synchronous slot protocol, rep string I/O clipped to a
 * page, the buffered ring and the two broadcasts.
 *
 * Not modelled: REP MOVS/STOS to MMIO (only single MMIO accesses and REP
 * INS/OUTS are generated), the AMD extended CF8 bits, MMCFG, the internal
 * devices' real register contents (they read as all ones).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hv-internal.h"

/* Xen-internal port I/O handlers of a default x86 HVM domain. */
static const struct {
	uint16_t base, len;
	const char *what; /* Xen source */
} internal_ports[] = {
	{ 0x20, 2, "vpic (hvm/vpic.c)" },
	{ 0xa0, 2, "vpic (hvm/vpic.c)" },
	{ 0x40, 4, "pit (emul-i8254.c)" },
	{ 0x61, 1, "pit speaker (emul-i8254.c)" },
	{ 0x70, 2, "rtc (hvm/rtc.c)" },
	{ 0x4d0, 2, "elcr (hvm/vpic.c)" },
	{ 0xe9, 1, "debug port (hvm/hvm.c)" },
	{ ACPI_PM1A_EVT_BLK_ADDRESS_V0, 4, "pm1a evt (hvm/pmtimer.c)" },
	{ ACPI_PM_TMR_BLK_ADDRESS_V0, 4, "pm timer (hvm/pmtimer.c)" },
	{ ACPI_PM1A_EVT_BLK_ADDRESS_V1, 4, "pm1a evt (hvm/pmtimer.c)" },
	{ ACPI_PM_TMR_BLK_ADDRESS_V1, 4, "pm timer (hvm/pmtimer.c)" },
};

static const struct {
	uint64_t base, len;
} internal_mmio[] = {
	{ 0xfee00000ULL, 0x1000 }, /* vlapic */
	{ 0xfec00000ULL, 0x100 },  /* vioapic, VIOAPIC_MEM_LENGTH */
	{ 0xfed00000ULL, 0x400 },  /* hpet, HPET_MMAP_SIZE */
};


static const char *const type_names[] = {
	[IOREQ_TYPE_PIO] = "pio",
	[IOREQ_TYPE_COPY] = "copy",
	[IOREQ_TYPE_PCI_CONFIG] = "pci_config",
	[IOREQ_TYPE_TIMEOFFSET] = "timeoffset",
	[IOREQ_TYPE_INVALIDATE] = "invalidate",
};

static uint64_t
size_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static uint64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
trace_req(struct hv *hv, unsigned vcpu, const struct hv_raw_req *p,
	  uint64_t out, const char *server)
{
	const char *t = p->type < sizeof(type_names) / sizeof(type_names[0]) &&
					type_names[p->type] ?
				type_names[p->type] :
				"?";

	if (!hv->cfg.trace)
		return;
	hv_trace(hv,
		 "ioreq vcpu=%u type=%s dir=%s addr=0x%llx size=%u "
		 "count=%u data_is_ptr=%d df=%d data=0x%llx -> 0x%llx "
		 "server=%s",
		 vcpu, t, p->is_read ? "read" : "write",
		 (unsigned long long)p->addr, p->size, p->count, p->data_is_ptr,
		 p->df, (unsigned long long)p->data, (unsigned long long)out,
		 server);
}

static enum hv_status
precheck(struct hv *hv, unsigned vcpu)
{
	if (vcpu >= hv->cfg.vcpus)
		return HV_BAD_ARG;
	if (atomic_load(&hv->crashed))
		return HV_CRASHED;
	if (atomic_load(&hv->dying))
		return HV_DEAD;
	if (atomic_load(&hv->vcpu_hung[vcpu]))
		return HV_TIMEOUT;
	return HV_OK;
}

static enum hv_status
crash(struct hv *hv, const char *why, unsigned vcpu, unsigned id,
      unsigned state)
{
	atomic_store(&hv->crashed, true);
	hv_trace(hv, "domain crashed: %s (vcpu=%u server=%u state=%u)", why,
		 vcpu, id, state);
	return HV_CRASHED;
}

static uint8_t *
slot_bits(ioreq_t *slot)
{
	/* state:4, data_is_ptr:1, dir:1, df:1 share byte 30 of ioreq_t. */
	return (uint8_t *)slot + 30;
}

/*
 * Publish p in the vCPU's slot of every server in mask (hv->lock held for
 * reading; released here), then block until each has answered with
 * IORESP_READY and the vCPU was woken through its event channel.  This is
 * ioreq_send() + wait_for_io() of xen/common/ioreq.c.
 */
static enum hv_status
send_wait(struct hv *hv, unsigned vcpu, unsigned mask,
	  const struct hv_raw_req *p, uint64_t *ret_data)
{
	ioreq_t *slots[HV_MAX_SERVERS];
	unsigned gens[HV_MAX_SERVERS], prev[HV_MAX_SERVERS];
	unsigned pending = 0;
	uint64_t deadline, buf, data = ~0ULL;
	int efd = hv->vcpu_efd[vcpu];

	/* A notification that arrived before this request wakes nothing. */
	(void)!read(efd, &buf, sizeof(buf));
	for (unsigned id = 0; id < HV_MAX_SERVERS; id++) {
		struct hv_server *s = &hv->servers[id];
		ioreq_t *slot;
		uint8_t bits;

		if (!(mask & (1U << id)))
			continue;
		slot = &s->sync->vcpu_ioreq[vcpu];
		bits = __atomic_load_n(slot_bits(slot), __ATOMIC_ACQUIRE);
		if ((bits & 0xf) != STATE_IOREQ_NONE ||
		    slot->vp_eport != s->vcpu_port[vcpu]) {
			pthread_rwlock_unlock(&hv->lock);
			return crash(hv,
				     "device model set bad IO state or "
				     "event channel",
				     vcpu, id, bits & 0xf);
		}
		slot->addr = p->addr;
		slot->data = p->data;
		slot->count = p->count;
		slot->size = p->size;
		slot->type = p->type;
		*slot_bits(slot) = (uint8_t)((p->data_is_ptr ? 0x10 : 0) |
					     (p->is_read ? 0x20 : 0) |
					     (p->df ? 0x40 : 0));
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		__atomic_store_n(slot_bits(slot),
				 (uint8_t)(*slot_bits(slot) |
					   STATE_IOREQ_READY),
				 __ATOMIC_RELEASE);
		slots[id] = slot;
		gens[id] = atomic_load(&s->gen);
		prev[id] = STATE_IOREQ_READY;
		pending |= 1U << id;
		hv_notify_gport(hv, s->vcpu_port[vcpu]);
	}
	pthread_rwlock_unlock(&hv->lock);

	deadline = now_usec() + (uint64_t)hv->cfg.timeout_ms * 1000;
	while (pending) {
		struct pollfd pfd = { .fd = efd, .events = POLLIN };
		uint64_t now = now_usec();
		int r;

		if (now >= deadline) {
			atomic_store(&hv->vcpu_hung[vcpu], true);
			hv_trace(hv,
				 "vcpu %u: device model did not answer "
				 "within %u ms",
				 vcpu, hv->cfg.timeout_ms);
			return HV_TIMEOUT;
		}
		r = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
		if (r <= 0)
			continue;
		(void)!read(efd, &buf, sizeof(buf));
		for (unsigned id = 0; id < HV_MAX_SERVERS; id++) {
			uint8_t bits;
			unsigned st;

			if (!(pending & (1U << id)))
				continue;
			if (atomic_load(&hv->servers[id].gen) != gens[id]) {
				/* Server destroyed under the request. */
				pending &= ~(1U << id);
				data = ~0ULL;
				continue;
			}
			bits = __atomic_load_n(slot_bits(slots[id]),
					       __ATOMIC_ACQUIRE);
			st = bits & 0xf;
			if (st == STATE_IORESP_READY) {
				data = slots[id]->data;
				__atomic_store_n(slot_bits(slots[id]),
						 (uint8_t)(bits & ~0xf),
						 __ATOMIC_RELEASE);
				pending &= ~(1U << id);
			} else if (st == STATE_IOREQ_NONE) {
				data = ~0ULL;
				pending &= ~(1U << id);
			} else if (st > STATE_IORESP_READY || st < prev[id]) {
				return crash(hv, "bad ioreq state transition",
					     vcpu, id, st);
			} else {
				prev[id] = st;
			}
		}
	}
	if (ret_data)
		*ret_data = data;
	if (atomic_load(&hv->dying))
		return HV_DEAD;
	return HV_OK;
}

static void
fill_ones(struct hv *hv, const struct hv_raw_req *p)
{
	uint64_t len = (uint64_t)p->count * p->size;
	uint64_t first = p->df ? p->data - (uint64_t)(p->count - 1) * p->size :
				 p->data;
	void *ram = hv_guest_ptr(hv, first, len);

	if (ram)
		memset(ram, 0xff, len);
}

/*
 * Route one PIO or COPY request: selection (ioreq_server_select, with the
 * CF8 conversion of arch_ioreq_server_get_type_addr), then either the
 * server or the null handler.  *data gets the read value (masked).
 */
static enum hv_status
dispatch(struct hv *hv, unsigned vcpu, struct hv_raw_req *p, uint64_t *data)
{
	uint64_t first, last, out = 0;
	unsigned rtype;
	uint32_t cf8 = atomic_load(&hv->cf8);
	enum hv_status st;
	char sid[16];
	int id;

	if (p->type == IOREQ_TYPE_PIO && (p->addr & ~3ULL) == 0xcfc &&
	    (cf8 & 0x80000000U)) {
		uint64_t sbdf = (cf8 >> 8) & 0xffff;

		p->type = IOREQ_TYPE_PCI_CONFIG;
		p->addr = (sbdf << 32) | (cf8 & 0xfc) | (p->addr & 3);
		rtype = XEN_DMOP_IO_RANGE_PCI;
		first = last = sbdf;
	} else if (p->type == IOREQ_TYPE_PIO) {
		rtype = XEN_DMOP_IO_RANGE_PORT;
		first = p->addr;
		last = p->addr + p->size - 1;
	} else {
		uint64_t span = (uint64_t)(p->count - 1) * p->size;

		rtype = XEN_DMOP_IO_RANGE_MEMORY;
		first = p->df ? p->addr - span : p->addr;
		last = (p->df ? p->addr : p->addr + span) + p->size - 1;
	}
	pthread_rwlock_rdlock(&hv->lock);
	id = hv_select_server(hv, rtype, first, last);
	if (id < 0) {
		pthread_rwlock_unlock(&hv->lock);
		/* Null handler: reads all ones (into RAM for rep), writes
		 * dropped. */
		if (p->is_read && p->data_is_ptr)
			fill_ones(hv, p);
		out = p->is_read ? size_mask(p->size) : 0;
		trace_req(hv, vcpu, p, out, "none");
		if (data)
			*data = out;
		return HV_OK;
	}
	st = send_wait(hv, vcpu, 1U << id, p, &out);
	if (st == HV_OK || st == HV_DEAD) {
		out = p->is_read && !p->data_is_ptr ? out & size_mask(p->size) :
						      0;
		snprintf(sid, sizeof(sid), "%d", id);
		trace_req(hv, vcpu, p, out, sid);
		if (data)
			*data = out;
	}
	return st;
}

static bool
port_is_internal(uint16_t port, unsigned size)
{
	for (size_t i = 0;
	     i < sizeof(internal_ports) / sizeof(internal_ports[0]); i++) {
		unsigned b = internal_ports[i].base, l = internal_ports[i].len;

		if (port >= b && port + size <= b + l)
			return true;
	}
	return false;
}

static bool
mmio_is_internal(uint64_t gpa, unsigned size)
{
	for (size_t i = 0; i < sizeof(internal_mmio) / sizeof(internal_mmio[0]);
	     i++) {
		uint64_t b = internal_mmio[i].base, l = internal_mmio[i].len;

		if (gpa < b + l && gpa + size > b)
			return true;
	}
	return false;
}

enum hv_status
hv_pio(struct hv *hv, unsigned vcpu, uint16_t port, unsigned size, bool is_read,
       uint64_t *val)
{
	struct hv_raw_req p = { .type = IOREQ_TYPE_PIO,
				.is_read = is_read,
				.count = 1,
				.size = size,
				.addr = port };
	enum hv_status st = precheck(hv, vcpu);

	if (st != HV_OK)
		return st;
	if ((size != 1 && size != 2 && size != 4) || !val ||
	    (unsigned)port + size > 0x10000)
		return HV_BAD_ARG;
	if (!is_read)
		p.data = *val & size_mask(size);
	if (port_is_internal(port, size)) {
		if (is_read)
			*val = size_mask(size);
		trace_req(hv, vcpu, &p, is_read ? size_mask(size) : 0, "xen");
		return HV_OK;
	}
	/* hvm_access_cf8: latch 4-byte writes, then forward as usual. */
	if (port == 0xcf8 && size == 4 && !is_read)
		atomic_store(&hv->cf8, (uint32_t)p.data);
	return dispatch(hv, vcpu, &p, is_read ? val : NULL);
}

/* One MMIO access within a page, size 1/2/4/8. */
static enum hv_status
mmio_one(struct hv *hv, unsigned vcpu, uint64_t gpa, unsigned size,
	 bool is_read, uint8_t *buf)
{
	struct hv_raw_req p = { .type = IOREQ_TYPE_COPY,
				.is_read = is_read,
				.count = 1,
				.size = size,
				.addr = gpa };
	uint8_t *ram = hv_guest_ptr(hv, gpa, size);
	uint64_t v = 0;
	enum hv_status st;

	if (ram) {
		/* Plain RAM never traps to Xen. */
		if (is_read)
			memcpy(buf, ram, size);
		else
			memcpy(ram, buf, size);
		return HV_OK;
	}
	if (!is_read) {
		memcpy(&v, buf, size);
		p.data = v;
	}
	if (mmio_is_internal(gpa, size)) {
		v = is_read ? size_mask(size) : 0;
		trace_req(hv, vcpu, &p, v, "xen");
	} else {
		st = dispatch(hv, vcpu, &p, &v);
		if (st != HV_OK)
			return st;
	}
	if (is_read)
		memcpy(buf, &v, size);
	return HV_OK;
}

enum hv_status
hv_mmio(struct hv *hv, unsigned vcpu, uint64_t gpa, unsigned size, bool is_read,
	uint64_t *val)
{
	uint8_t buf[8] = { 0 };
	unsigned done = 0;
	enum hv_status st = precheck(hv, vcpu);

	if (st != HV_OK)
		return st;
	if ((size != 1 && size != 2 && size != 4 && size != 8) || !val ||
	    gpa + size - 1 < gpa)
		return HV_BAD_ARG;
	if (!is_read)
		memcpy(buf, val, size);
	/* hvmemul_linear_mmio_access: split at the page boundary, then
	 * hvmemul_phys_mmio_access: power-of-two chunks. */
	while (done < size) {
		uint64_t a = gpa + done;
		unsigned part = size - done;
		unsigned room = HV_PAGE_SIZE -
				(unsigned)(a & (HV_PAGE_SIZE - 1));
		unsigned chunk;

		if (part > room)
			part = room;
		chunk = 8;
		while (chunk > part)
			chunk >>= 1;
		while (part) {
			st = mmio_one(hv, vcpu, a, chunk, is_read, buf + done);
			if (st != HV_OK)
				return st;
			a += chunk;
			done += chunk;
			part -= chunk;
			while (chunk > part && chunk > 1)
				chunk >>= 1;
		}
	}
	if (is_read) {
		*val = 0;
		memcpy(val, buf, size);
	}
	return HV_OK;
}

enum hv_status
hv_rep_pio(struct hv *hv, unsigned vcpu, uint16_t port, unsigned size,
	   bool is_read, uint64_t gpa, uint32_t count, bool df)
{
	enum hv_status st = precheck(hv, vcpu);

	if (st != HV_OK)
		return st;
	if ((size != 1 && size != 2 && size != 4) ||
	    (unsigned)port + size > 0x10000)
		return HV_BAD_ARG;
	while (count) {
		unsigned off = (unsigned)(gpa & (HV_PAGE_SIZE - 1));
		uint64_t n, first, len;
		struct hv_raw_req p = { .type = IOREQ_TYPE_PIO,
					.is_read = is_read,
					.data_is_ptr = true,
					.df = df,
					.size = size,
					.addr = port,
					.data = gpa };

		/* hvmemul_do_io_addr: the RAM side stays in one page, by
		 * Xen's own arithmetic, which for df=1 counts one element
		 * fewer than would fit whenever off + size - 1 does not
		 * wrap; a zero result means one page-straddling element. */
		if (df)
			n = ((off + size - 1) & (HV_PAGE_SIZE - 1)) / size;
		else
			n = (HV_PAGE_SIZE - off) / size;
		if (n == 0)
			n = 1;
		if (n > count)
			n = count;
		len = n * size;
		first = df ? gpa - (n - 1) * size : gpa;
		if ((df && gpa < (n - 1) * size) ||
		    !hv_gpa_is_ram(hv, first, len))
			return HV_BAD_ARG;
		p.count = (uint32_t)n;
		if (port_is_internal(port, size)) {
			if (is_read)
				memset(hv->ram + first, 0xff, len);
			trace_req(hv, vcpu, &p, 0, "xen");
		} else {
			st = dispatch(hv, vcpu, &p, NULL);
			if (st != HV_OK)
				return st;
		}
		gpa = df ? gpa - len : gpa + len;
		count -= (uint32_t)n;
	}
	return HV_OK;
}

/*
 * ioreq_send_buffered: caller holds hv->lock (read) and s->ring_lock.
 * Returns false when the ring is full (the caller falls back or drops).
 */
static bool
ring_push(struct hv_server *s, uint8_t type, uint64_t addr, unsigned size,
	  uint64_t data)
{
	struct buffered_iopage *pg = s->ring;
	unsigned qw = size == 8;
	unsigned code = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
	uint32_t rp = __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE);
	uint32_t wp = __atomic_load_n(&pg->write_pointer, __ATOMIC_RELAXED);
	/* type:8 | pad:1 | dir:1 | size:2 | addr:20 in the first word. */
	uint32_t hdr = type | (code << 10) | ((uint32_t)(addr & 0xfffff) << 12);
	uint32_t words[2];
	uint64_t *full = (uint64_t *)(void *)pg;

	if (wp - rp >= IOREQ_BUFFER_SLOT_NUM - qw)
		return false;
	words[0] = hdr;
	words[1] = (uint32_t)data;
	memcpy(&pg->buf_ioreq[wp % IOREQ_BUFFER_SLOT_NUM], words, 8);
	if (qw) {
		words[1] = (uint32_t)(data >> 32);
		memcpy(&pg->buf_ioreq[(wp + 1) % IOREQ_BUFFER_SLOT_NUM], words,
		       8);
	}
	__atomic_store_n(&pg->write_pointer, wp + qw + 1, __ATOMIC_RELEASE);
	if (s->bufioreq != HVM_IOREQSRV_BUFIOREQ_ATOMIC)
		return true;
	/* Canonicalise both pointers with one 64-bit cmpxchg. */
	for (unsigned i = 0; i < IOREQ_BUFFER_SLOT_NUM; i++) {
		uint64_t old = __atomic_load_n(full, __ATOMIC_ACQUIRE), new;
		uint32_t r = (uint32_t)old, w = (uint32_t)(old >> 32);
		uint32_t n = r / IOREQ_BUFFER_SLOT_NUM;

		if (r < IOREQ_BUFFER_SLOT_NUM)
			break;
		new = (uint64_t)(r - n * IOREQ_BUFFER_SLOT_NUM) |
		      ((uint64_t)(w - n * IOREQ_BUFFER_SLOT_NUM) << 32);
		__atomic_compare_exchange_n(full, &old, new, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
	return true;
}

enum hv_status
hv_buffered_write(struct hv *hv, unsigned vcpu, uint64_t gpa, unsigned size,
		  uint64_t value)
{
	struct hv_raw_req p = { .type = IOREQ_TYPE_COPY,
				.count = 1,
				.size = size,
				.addr = gpa,
				.data = value & size_mask(size) };
	enum hv_status st = precheck(hv, vcpu);
	struct hv_server *s;
	bool queued;
	char sid[24];
	int id;

	if (st != HV_OK)
		return st;
	if ((size != 1 && size != 2 && size != 4 && size != 8) ||
	    gpa + size - 1 < gpa)
		return HV_BAD_ARG;
	/* stdvga: only whole-extent VGA-window writes are candidates. */
	if (gpa < HV_VGA_FIRST || gpa + size - 1 > HV_VGA_LAST)
		return hv_mmio(hv, vcpu, gpa, size, false, &value);
	pthread_rwlock_rdlock(&hv->lock);
	id = hv_select_server(hv, XEN_DMOP_IO_RANGE_MEMORY, gpa,
			      gpa + size - 1);
	if (id < 0) {
		pthread_rwlock_unlock(&hv->lock);
		trace_req(hv, vcpu, &p, 0, "none");
		return HV_OK;
	}
	s = &hv->servers[id];
	queued = false;
	if (s->bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF) {
		pthread_mutex_lock(&s->ring_lock);
		queued = ring_push(s, IOREQ_TYPE_COPY, gpa, size, p.data);
		pthread_mutex_unlock(&s->ring_lock);
		if (queued)
			hv_notify_gport(hv, s->buf_port);
	}
	pthread_rwlock_unlock(&hv->lock);
	if (queued) {
		snprintf(sid, sizeof(sid), "%d(buffered)", id);
		trace_req(hv, vcpu, &p, 0, sid);
		return HV_OK;
	}
	/* No ring or ring full: the same write goes synchronously. */
	return hv_mmio(hv, vcpu, gpa, size, false, &value);
}

enum hv_status
hv_timeoffset(struct hv *hv, int64_t delta_seconds)
{
	struct hv_raw_req p = { .type = IOREQ_TYPE_TIMEOFFSET,
				.count = 1,
				.size = 8,
				.data = (uint64_t)delta_seconds };

	if (atomic_load(&hv->crashed))
		return HV_CRASHED;
	if (atomic_load(&hv->dying))
		return HV_DEAD;
	/* rtc.c only sends a change. */
	if (delta_seconds == 0)
		return HV_OK;
	pthread_rwlock_rdlock(&hv->lock);
	for (unsigned id = 0; id < HV_MAX_SERVERS; id++) {
		struct hv_server *s = &hv->servers[id];
		bool queued;
		char sid[24];

		if (!s->exists || !s->enabled ||
		    s->bufioreq == HVM_IOREQSRV_BUFIOREQ_OFF)
			continue;
		pthread_mutex_lock(&s->ring_lock);
		queued = ring_push(s, IOREQ_TYPE_TIMEOFFSET, 0, 8, p.data);
		pthread_mutex_unlock(&s->ring_lock);
		if (queued)
			hv_notify_gport(hv, s->buf_port);
		snprintf(sid, sizeof(sid), "%u(%s)", id,
			 queued ? "buffered" : "ring full, dropped");
		trace_req(hv, 0, &p, 0, sid);
	}
	pthread_rwlock_unlock(&hv->lock);
	return HV_OK;
}

enum hv_status
hv_invalidate(struct hv *hv, unsigned vcpu)
{
	struct hv_raw_req p = { .type = IOREQ_TYPE_INVALIDATE,
				.count = 0,
				.size = 4,
				.data = ~0ULL };
	enum hv_status st = precheck(hv, vcpu);
	unsigned mask = 0;

	if (st != HV_OK)
		return st;
	pthread_rwlock_rdlock(&hv->lock);
	for (unsigned id = 0; id < HV_MAX_SERVERS; id++)
		if (hv->servers[id].exists && hv->servers[id].enabled)
			mask |= 1U << id;
	if (!mask) {
		pthread_rwlock_unlock(&hv->lock);
		trace_req(hv, vcpu, &p, 0, "none");
		return HV_OK;
	}
	/* ioreq_broadcast: every enabled server, one wait for all. */
	st = send_wait(hv, vcpu, mask, &p, NULL);
	if (st == HV_OK)
		trace_req(hv, vcpu, &p, 0, "all");
	return st;
}

/*
 * For hv-fuzz.c: send a request exactly as given (no selection, no
 * checks) to server `id` and wait for the answer like any other.
 */
enum hv_status
hv_send_raw(struct hv *hv, unsigned vcpu, unsigned id,
	    const struct hv_raw_req *r, uint64_t *ret_data)
{
	enum hv_status st = precheck(hv, vcpu);

	if (st != HV_OK)
		return st;
	pthread_rwlock_rdlock(&hv->lock);
	if (id >= HV_MAX_SERVERS || !hv->servers[id].exists ||
	    !hv->servers[id].enabled) {
		pthread_rwlock_unlock(&hv->lock);
		return HV_BAD_ARG;
	}
	st = send_wait(hv, vcpu, 1U << id, r, ret_data);
	trace_req(hv, vcpu, r, ret_data ? *ret_data : 0, "fuzz");
	return st;
}
