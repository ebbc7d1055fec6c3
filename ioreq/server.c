/*
 * IOREQ server life cycle (Xen 4.17 xen/common/ioreq.c: ioreq_server_create, _enable,
 * _destroy; xen/common/memory.c: acquire_resource): open the handles, create
 * the server with an ATOMIC buffered ring, map resource frames 0 (buffered
 * ring) and 1 (vCPU slots), claim ranges, enable, and only then bind the
 * ports (vp_eport is written by Xen at enable time).  Teardown is one
 * function unwinding from the recorded stage, so every exit path (signal,
 * fatal error, domain death, failed set-up) shares it.
 *
 * Events: xenevtchn_pending() gives one masked local port; a sorted table
 * maps it to a vCPU or to the buffered ring; the port is unmasked after
 * the request is answered.  PCI functions are claimed by SBDF
 * (map_pcidev_to_ioreq_server, bus 0 only as configured) next to their
 * ranges, and released with them (ioreq_server_remove_device), through
 * the claim/release pair of regions.c that BAR moves use as well.  Not
 * implemented: legacy gfn mapping (Xen 4.17 always offers
 * acquire_resource).
 */
#include "ioreq/server-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <xen/memory.h>
#include <xentoolcore.h>

int
ioreq_server_dmop_error(struct ioreq_server *server)
{
	int r = errno > 0 ? -errno : -EIO;

	if (r == -ESRCH)
		server->domain_gone = true;
	return r;
}

static int
open_handles(struct ioreq_server *s)
{
	s->dmod = xendevicemodel_open(NULL, 0);
	if (!s->dmod)
		return -errno;
	s->xce = xenevtchn_open(NULL, 0);
	if (!s->xce)
		return -errno;
	s->fmem = xenforeignmemory_open(NULL, 0);
	if (!s->fmem)
		return -errno;
	s->stage = IOREQ_STAGE_HANDLES_OPEN;
	return 0;
}

static int
create_server(struct ioreq_server *s)
{
	unsigned vcpus = 0;

	if (xendevicemodel_nr_vcpus(s->dmod, s->domid, &vcpus) < 0)
		return ioreq_server_dmop_error(s);
	if (vcpus == 0 || vcpus > IOREQ_RING_MAX_VCPUS)
		return -E2BIG;
	s->vcpu_count = vcpus;
	if (xendevicemodel_create_ioreq_server(s->dmod, s->domid,
					       HVM_IOREQSRV_BUFIOREQ_ATOMIC,
					       &s->id) < 0)
		return ioreq_server_dmop_error(s);
	s->stage = IOREQ_STAGE_SERVER_CREATED;
	return 0;
}

static int
map_pages(struct ioreq_server *s)
{
	void *addr = NULL;

	/* frame 0: buffered ring, frame 1: the vCPU slots */
	s->fres = xenforeignmemory_map_resource(s->fmem, s->domid,
						XENMEM_resource_ioreq_server,
						s->id, 0, 2, &addr,
						PROT_READ | PROT_WRITE, 0);
	if (!s->fres)
		return ioreq_server_dmop_error(s);
	s->stage = IOREQ_STAGE_PAGES_MAPPED;
	s->ring.buf_page = addr;
	s->ring.sync_page = (uint8_t *)addr + 4096;
	return 0;
}

static int
ring_notify(void *opaque, unsigned vcpu)
{
	struct ioreq_server *s = opaque;

	if (xenevtchn_notify(s->xce, s->vcpu_ports[vcpu]) < 0)
		return errno > 0 ? -errno : -EIO;
	return 0;
}

static int
guest_read_cb(void *opaque, uint64_t gpa, void *buf, size_t len)
{
	return ioreq_guest_read(opaque, gpa, buf, len);
}

static int
guest_write_cb(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	return ioreq_guest_write(opaque, gpa, buf, len);
}

static void
guest_invalidate_cb(void *opaque)
{
	ioreq_guest_invalidate(opaque);
}

static void
request_begin_cb(void *opaque)
{
	ioreq_regions_begin(opaque);
}

static void
request_end_cb(void *opaque)
{
	ioreq_regions_end(opaque);
}

static void
wire_up(struct ioreq_server *s)
{
	ioreq_guest_init(&s->guest, s->fmem, s->domid);
	s->dispatch = (struct ioreq_dispatch){
		.bus = s->bus,
		.domid = s->domid,
		.guest_opaque = &s->guest,
		.guest_read = guest_read_cb,
		.guest_write = guest_write_cb,
		.invalidate = guest_invalidate_cb,
		.request_opaque = s,
		.request_begin = request_begin_cb,
		.request_end = request_end_cb,
	};
	s->ring.vcpu_count = s->vcpu_count;
	s->ring.dispatch = &s->dispatch;
	s->ring.notify = ring_notify;
	s->ring.opaque = s;
	ioreq_services_init(s);
}

int
ioreq_server_open(uint16_t domid, struct bus *bus, struct event_base *evbase,
		  struct ioreq_server **ret_server)
{
	struct ioreq_server *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->domid = domid;
	s->bus = bus;
	r = open_handles(s);
	if (r < 0)
		goto err;
	r = create_server(s);
	if (r < 0)
		goto err;
	s->vcpu_ports = calloc(s->vcpu_count, sizeof(*s->vcpu_ports));
	s->port_table = calloc(s->vcpu_count + 1, sizeof(*s->port_table));
	if (!s->vcpu_ports || !s->port_table) {
		r = -ENOMEM;
		goto err;
	}
	r = map_pages(s);
	if (r < 0)
		goto err;
	r = ioreq_events_new(evbase, &s->events);
	if (r < 0)
		goto err;
	wire_up(s);
	*ret_server = s;
	return 0;
err:
	ioreq_server_destroy(s);
	return r;
}

static unsigned
region_count(const struct device *dev)
{
	return dev->region_count < DEVICE_MAX_REGIONS ? dev->region_count :
							DEVICE_MAX_REGIONS;
}

int
ioreq_server_add_device(struct ioreq_server *s, struct device *dev)
{
	unsigned n = region_count(dev);
	unsigned i;
	int r = 0;

	if (dev->is_pci) {
		if (!device_has_config(dev))
			return -EINVAL;
		r = ioreq_pci_claim(s, dev);
		if (r < 0)
			return r;
	}
	for (i = 0; i < n; i++) {
		if (dev->regions[i].size == 0)
			continue;
		r = ioreq_region_claim(s, dev, i);
		if (r < 0)
			goto err;
	}
	return 0;
err:
	while (i-- > 0)
		(void)ioreq_region_release(s, dev, i, &dev->regions[i]);
	if (dev->is_pci)
		ioreq_pci_release(s, dev);
	return r;
}

void
ioreq_server_remove_device(struct ioreq_server *s, struct device *dev)
{
	if (!s || !dev)
		return;
	for (unsigned i = 0; i < region_count(dev); i++)
		(void)ioreq_region_release(s, dev, i, &dev->regions[i]);
	if (dev->is_pci)
		ioreq_pci_release(s, dev);
	ioreq_report_forget(&s->reports, dev);
}

static int
port_cmp(const void *a, const void *b)
{
	const struct ioreq_port *pa = a, *pb = b;

	return (pa->local > pb->local) - (pa->local < pb->local);
}

static int
bind_port(struct ioreq_server *s, evtchn_port_t remote, int vcpu,
	  evtchn_port_t *ret_local)
{
	xenevtchn_port_or_error_t local;

	if (remote == 0)
		return -ENOENT; /* not enabled, or no such channel */
	local = xenevtchn_bind_interdomain(s->xce, s->domid, remote);
	if (local < 0)
		return ioreq_server_dmop_error(s);
	*ret_local = (evtchn_port_t)local;
	s->port_table[s->port_count++] = (struct ioreq_port){
		.local = (evtchn_port_t)local,
		.vcpu = vcpu,
	};
	return 0;
}

static int
bind_ports(struct ioreq_server *s)
{
	evtchn_port_t buf_remote = 0;
	int r;

	for (unsigned v = 0; v < s->vcpu_count; v++) {
		r = bind_port(s, ioreq_ring_vcpu_eport(&s->ring, v), (int)v,
			      &s->vcpu_ports[v]);
		if (r < 0)
			return r;
	}
	if (xendevicemodel_get_ioreq_server_info(s->dmod, s->domid, s->id, NULL,
						 NULL, &buf_remote) < 0)
		return ioreq_server_dmop_error(s);
	r = bind_port(s, buf_remote, IOREQ_PORT_BUFFERED, &s->buf_port);
	if (r < 0)
		return r;
	qsort(s->port_table, s->port_count, sizeof(*s->port_table), port_cmp);
	s->stage = IOREQ_STAGE_PORTS_BOUND;
	return 0;
}

int
ioreq_server_enable(struct ioreq_server *s)
{
	if (s->stage != IOREQ_STAGE_PAGES_MAPPED)
		return -EALREADY;
	if (xendevicemodel_set_ioreq_server_state(s->dmod, s->domid, s->id, 1) <
	    0)
		return ioreq_server_dmop_error(s);
	s->stage = IOREQ_STAGE_ENABLED;
	return bind_ports(s);
}

int
ioreq_server_restrict(struct ioreq_server *s)
{
	if (xentoolcore_restrict_all(s->domid) < 0)
		return errno > 0 ? -errno : -EIO;
	return 0;
}

int
ioreq_server_fd(struct ioreq_server *s)
{
	return xenevtchn_fd(s->xce);
}

static const struct ioreq_port *
port_lookup(const struct ioreq_server *s, evtchn_port_t local)
{
	unsigned lo = 0, hi = s->port_count;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (s->port_table[mid].local == local)
			return &s->port_table[mid];
		if (s->port_table[mid].local < local)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* CLOCK_MONOTONIC is read through the vDSO: no system call. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
count_latency(struct ioreq_server *s, uint64_t ns)
{
	unsigned bucket = ns ? 63u - (unsigned)__builtin_clzll(ns) : 0;

	if (bucket >= IOREQ_LATENCY_BUCKETS)
		bucket = IOREQ_LATENCY_BUCKETS - 1;
	s->latency_log2_ns[bucket]++;
	s->latency_sum_ns += ns;
}

int
ioreq_server_handle_event(struct ioreq_server *s)
{
	uint64_t start = now_ns();
	xenevtchn_port_or_error_t port = xenevtchn_pending(s->xce);
	const struct ioreq_port *p;
	int r = 0;

	if (port < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	s->wakeups++;
	p = port_lookup(s, (evtchn_port_t)port);
	if (p && p->vcpu == IOREQ_PORT_BUFFERED)
		(void)ioreq_ring_drain(&s->ring);
	else if (p) {
		r = ioreq_ring_vcpu_event(&s->ring, (unsigned)p->vcpu);
		if (r > 0)
			count_latency(s, now_ns() - start);
	}
	/* the answers are out: now unmap what the requests evicted */
	ioreq_guest_flush(&s->guest);
	if (s->grant_ready)
		ioreq_guest_flush(&s->grant_guest);
	if (xenevtchn_unmask(s->xce, (evtchn_port_t)port) < 0 && r >= 0)
		r = errno > 0 ? -errno : -EIO;
	/* answered and the vCPU released: now the work devices put off */
	ioreq_events_answered(s->events);
	return r < 0 ? r : 0;
}

/*
 * A destroyed domain stays a zombie while we still map its pages, and
 * domain-wide dm_ops (nr_vcpus) keep succeeding then; but Xen destroys its
 * IOREQ servers at once (seen on real Xen 4.17).  So ask for our server:
 * ENOENT means it is gone with the domain (or someone destroyed it), and
 * either way there is nothing left to serve.
 */
int
ioreq_server_probe(struct ioreq_server *s)
{
	evtchn_port_t port;

	if (xendevicemodel_get_ioreq_server_info(s->dmod, s->domid, s->id, NULL,
						 NULL, &port) == 0)
		return 0;
	if (errno == ENOENT) {
		s->domain_gone = true;
		return -ESRCH;
	}
	return ioreq_server_dmop_error(s);
}

bool
ioreq_server_domain_gone(const struct ioreq_server *s)
{
	return s->domain_gone;
}

uint16_t
ioreq_server_id(const struct ioreq_server *s)
{
	return s->id;
}

unsigned
ioreq_server_vcpu_count(const struct ioreq_server *s)
{
	return s->vcpu_count;
}

int64_t
ioreq_server_time_offset(const struct ioreq_server *s)
{
	return s->dispatch.time_offset;
}

void
ioreq_server_guest_stats(const struct ioreq_server *s,
			 struct ioreq_guest_stats *ret_stats)
{
	ioreq_guest_get_stats(&s->guest, ret_stats);
}

void
ioreq_server_stats(const struct ioreq_server *s,
		   struct ioreq_server_stats *ret_stats)
{
	struct ioreq_server_stats *st = ret_stats;

	memset(st, 0, sizeof(*st));
	memcpy(st->requests, s->dispatch.stats.by_kind, sizeof(st->requests));
	st->buffered_drains = s->ring.stats.drains;
	st->buffered_requests = s->ring.stats.buffered;
	st->wakeups = s->wakeups;
	memcpy(st->latency_log2_ns, s->latency_log2_ns,
	       sizeof(st->latency_log2_ns));
	st->latency_sum_ns = s->latency_sum_ns;
}

int
ioreq_server_set_guest_max_chunks(struct ioreq_server *s, unsigned max_chunks)
{
	return ioreq_guest_set_max_chunks(&s->guest, max_chunks);
}

static void
unbind_ports(struct ioreq_server *s)
{
	for (unsigned i = 0; i < s->port_count; i++)
		(void)xenevtchn_unbind(s->xce, s->port_table[i].local);
	s->port_count = 0;
}

void
ioreq_server_destroy(struct ioreq_server *s)
{
	if (!s)
		return;
	/* Failures below are ignored: the domain may already be gone. */
	if (s->stage >= IOREQ_STAGE_ENABLED) {
		unbind_ports(s);
		(void)xendevicemodel_set_ioreq_server_state(s->dmod, s->domid,
							    s->id, 0);
	}
	if (s->stage >= IOREQ_STAGE_SERVER_CREATED)
		(void)xendevicemodel_destroy_ioreq_server(s->dmod, s->domid,
							  s->id);
	ioreq_guest_fini(&s->guest);
	if (s->grant_ready)
		ioreq_guest_fini(&s->grant_guest);
	if (s->xgt)
		(void)xengnttab_close(s->xgt);
	if (s->stage >= IOREQ_STAGE_PAGES_MAPPED)
		(void)xenforeignmemory_unmap_resource(s->fmem, s->fres);
	if (s->fmem)
		(void)xenforeignmemory_close(s->fmem);
	if (s->xce)
		(void)xenevtchn_close(s->xce);
	if (s->dmod)
		(void)xendevicemodel_close(s->dmod);
	ioreq_events_free(s->events);
	free(s->port_table);
	free(s->vcpu_ports);
	free(s);
}
