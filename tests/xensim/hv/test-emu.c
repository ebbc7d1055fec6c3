/*
 * A tiny device model for the hv core's own tests, written against the
 * real Xen tool API (it links the real libraries; the test runs it on the
 * drop-ins).  It exposes, on server 0 (bufioreq mode from argv[1]):
 *   ports 0x100-0x107  8-byte register file (any width, little endian)
 *   ports 0x110-0x113 and 0x114-0x117 (two adjacent claims): read 0xab00|port
 *   ports 0x70-0x71    claimed, but Xen-internal: reads 0x42 if reached
 *   port 0x300         claimed, never answered; 0x301: state goes backwards
 *   ports 0x200-0x23f  introspection/commands (4-byte), see port_io()
 *   MMIO 0xe0000000    4 KiB of memory; VGA 0xa0000-0xbffff counts writes
 *   PCI 00:03.0        256-byte config space, id 1234:5678
 * and on server 1 (no ring, enabled by command 9): ports 0x100-0x101 read
 * 0x5a.  SIGTERM: destroy the servers and exit 0.  VIRQ_DOM_EXC + dm_op
 * ESRCH: exit 0.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xenstore.h>

#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

#define MAX_VCPUS 128

struct emu_server {
	ioservid_t id;
	xenforeignmemory_resource_handle *fres;
	struct buffered_iopage *ring;
	struct shared_iopage *sync;
	evtchn_port_t lport[MAX_VCPUS];
	evtchn_port_t buf_lport;
};

static xendevicemodel_handle *dmod;
static xenevtchn_handle *xce;
static xenforeignmemory_handle *fmem;
static xengnttab_handle *xgt;
static domid_t domid;
static unsigned nr_vcpus;
static struct emu_server srv[2];
static volatile sig_atomic_t stop;
static evtchn_port_t virq_port;

static uint8_t regs[8];
static uint8_t mmio[4096];
static uint8_t cfg[256];
static uint32_t stats[16]; /* read at 0x200 + 4*i */
enum {
	ST_BUF,
	ST_BUF_ADDR,
	ST_BUF_LO,
	ST_BUF_HI,
	ST_TIMEOFF,
	ST_INVAL,
	ST_SPURIOUS,
	ST_SYNC_VGA,
	ST_LAST_ERRNO,
	ST_EVENTS,
	ST_PROBE
};
static int ring_paused;

static void
on_term(int sig)
{
	stop = 1;
}

static void
die(const char *what)
{
	fprintf(stderr, "test-emu: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Grant and foreign-map probes; the result lands in stats[ST_PROBE]. */
static int
probe_memory(uint32_t cmd)
{
	uint32_t ref = cmd == 15 ? 1 : 2;
	xen_pfn_t pfns[2] = { 0x10, 0xa0 };
	int err[2] = { 1, 1 };
	uint32_t *p;

	if (cmd == 17) {
		p = xenforeignmemory_map(fmem, domid, PROT_READ, 2, pfns, err);
		if (!p)
			return -1;
		stats[ST_PROBE] = (uint32_t)(err[0] * 1000 + err[1]);
		xenforeignmemory_unmap(fmem, p, 2);
		if (xenforeignmemory_map(fmem, domid, PROT_READ, 2, pfns, NULL))
			return 0;
		return -1;
	}
	p = xengnttab_map_grant_ref(xgt, domid, ref, PROT_READ | PROT_WRITE);
	if (!p)
		return -1;
	stats[ST_PROBE] = p[0];
	p[1] = 0x600d;
	if (xengnttab_unmap(xgt, p, 2) == 0 || errno != EINVAL)
		return 0;
	return xengnttab_unmap(xgt, p, 1);
}

static void
command(uint32_t cmd)
{
	int r = 0;

	switch (cmd) {
	case 1:
		r = xendevicemodel_set_isa_irq_level(dmod, domid, 5, 1);
		break;
	case 2:
		r = xendevicemodel_set_isa_irq_level(dmod, domid, 5, 0);
		break;
	case 3:
		r = xendevicemodel_inject_msi(dmod, domid, 0xfee00000, 0x4041);
		break;
	case 4:
		r = xendevicemodel_set_pci_intx_level(dmod, domid, 0, 0, 3, 0,
						      1);
		break;
	case 5:
		r = xendevicemodel_set_pci_intx_level(dmod, domid, 0, 0, 3, 0,
						      0);
		break;
	case 6:
		r = xendevicemodel_set_pci_link_route(dmod, domid, 0, 10);
		break;
	case 7:
		ring_paused = 1;
		break;
	case 8:
		ring_paused = 0;
		break;
	case 9:
		r = xendevicemodel_set_ioreq_server_state(dmod, domid,
							  srv[1].id, 1);
		break;
	case 10:
		r = xendevicemodel_set_ioreq_server_state(dmod, domid,
							  srv[1].id, 0);
		break;
	case 11:
		r = xendevicemodel_set_isa_irq_level(dmod, domid, 16, 1);
		break;
	case 12:
		r = xendevicemodel_set_irq_level(dmod, domid, 40, 1);
		break;
	case 13:
		r = xendevicemodel_map_io_range_to_ioreq_server(dmod, domid,
								srv[0].id, 0,
								0x100, 0x100);
		break;
	case 14:
		r = xendevicemodel_unmap_io_range_from_ioreq_server(dmod, domid,
								    srv[0].id,
								    0, 0x102,
								    0x103);
		break;
	case 15:
	case 16:
	case 17:
		r = probe_memory(cmd);
		break;
	default:
		break;
	}
	stats[ST_LAST_ERRNO] = r < 0 ? (uint32_t)errno : 0;
}

/* Returns 0 normally, 1 to leave the request unanswered, 2 to go back. */
static int
port_io(uint16_t port, unsigned size, int is_read, uint64_t *val)
{
	if (port >= 0x100 && port + size <= 0x108) {
		if (is_read) {
			*val = 0;
			memcpy(val, &regs[port - 0x100], size);
		} else {
			memcpy(&regs[port - 0x100], val, size);
		}
	} else if (port >= 0x110 && port + size <= 0x118) {
		if (is_read)
			*val = 0xab00 | port;
	} else if (port == 0x70 || port == 0x71) {
		if (is_read)
			*val = 0x42;
	} else if (port == 0x300) {
		return 1;
	} else if (port == 0x301) {
		return 2;
	} else if (port >= 0x200 && port < 0x240) {
		unsigned i = (port - 0x200) / 4;

		if (is_read)
			*val = i < 16 ? stats[i] : 0;
		else if (port == 0x23c)
			command((uint32_t)*val);
	}
	return 0;
}

static void
rep_pio(ioreq_t *req)
{
	for (uint32_t i = 0; i < req->count; i++) {
		uint64_t gpa = req->df ? req->data - (uint64_t)i * req->size :
					 req->data + (uint64_t)i * req->size;
		xen_pfn_t pfns[2] = { gpa >> 12, (gpa >> 12) + 1 };
		int err[2];
		uint8_t *p = xenforeignmemory_map(fmem, domid,
						  PROT_READ | PROT_WRITE, 2,
						  pfns, err);
		uint64_t v = 0;

		if (!p || err[0])
			die("map guest page");
		p += gpa & 0xfff;
		if (req->dir == IOREQ_READ) {
			port_io((uint16_t)req->addr, req->size, 1, &v);
			memcpy(p, &v, req->size);
		} else {
			memcpy(&v, p, req->size);
			port_io((uint16_t)req->addr, req->size, 0, &v);
		}
		xenforeignmemory_unmap(fmem, (void *)((uintptr_t)p & ~0xfffUL),
				       2);
	}
}

static int
process(struct emu_server *s, ioreq_t *req)
{
	uint64_t v = req->data;
	int r = 0;

	switch (req->type) {
	case IOREQ_TYPE_PIO:
		if (s == &srv[1]) {
			req->data = 0x5a;
			break;
		}
		if (req->data_is_ptr) {
			rep_pio(req);
			break;
		}
		r = port_io((uint16_t)req->addr, req->size,
			    req->dir == IOREQ_READ, &v);
		req->data = v;
		break;
	case IOREQ_TYPE_COPY:
		if (req->addr >= 0xe0000000 &&
		    req->addr + req->size <= 0xe0001000) {
			if (req->dir == IOREQ_READ)
				memcpy(&req->data,
				       &mmio[req->addr - 0xe0000000],
				       req->size);
			else
				memcpy(&mmio[req->addr - 0xe0000000], &v,
				       req->size);
		} else if (req->dir == IOREQ_WRITE) {
			stats[ST_SYNC_VGA]++;
			stats[ST_BUF_ADDR] = (uint32_t)req->addr;
			stats[ST_BUF_LO] = (uint32_t)v;
			stats[ST_BUF_HI] = (uint32_t)(v >> 32);
		}
		break;
	case IOREQ_TYPE_PCI_CONFIG: {
		unsigned reg = req->addr & 0xff;

		if (req->dir == IOREQ_READ) {
			req->data = 0;
			if (reg + req->size <= 256)
				memcpy(&req->data, &cfg[reg], req->size);
		} else if (reg + req->size <= 256 && reg >= 4) {
			memcpy(&cfg[reg], &v, req->size);
		}
		break;
	}
	case IOREQ_TYPE_INVALIDATE:
		stats[ST_INVAL]++;
		break;
	default:
		break;
	}
	return r;
}

static void
drain_ring(struct emu_server *s)
{
	struct buffered_iopage *pg = s->ring;

	if (!pg || ring_paused)
		return;
	for (;;) {
		uint32_t rp = __atomic_load_n(&pg->read_pointer,
					      __ATOMIC_ACQUIRE);
		uint32_t wp = __atomic_load_n(&pg->write_pointer,
					      __ATOMIC_ACQUIRE);
		uint32_t w[2], w2[2], n = 1;
		uint64_t data;
		unsigned size;

		if (rp != __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE))
			continue;
		if (rp == wp)
			break;
		memcpy(w, &pg->buf_ioreq[rp % IOREQ_BUFFER_SLOT_NUM], 8);
		size = 1U << ((w[0] >> 10) & 3);
		data = w[1];
		if (size == 8) {
			memcpy(w2,
			       &pg->buf_ioreq[(rp + 1) % IOREQ_BUFFER_SLOT_NUM],
			       8);
			data |= (uint64_t)w2[1] << 32;
			n = 2;
		}
		if ((w[0] & 0xff) == IOREQ_TYPE_TIMEOFFSET) {
			stats[ST_TIMEOFF] = (uint32_t)data;
		} else {
			stats[ST_BUF]++;
			stats[ST_BUF_ADDR] = w[0] >> 12;
			stats[ST_BUF_LO] = (uint32_t)data;
			stats[ST_BUF_HI] = (uint32_t)(data >> 32);
		}
		__atomic_fetch_add(&pg->read_pointer, n, __ATOMIC_RELEASE);
	}
}

static void
handle_vcpu(struct emu_server *s, unsigned v)
{
	ioreq_t *req = &s->sync->vcpu_ioreq[v];
	uint8_t *bits = (uint8_t *)req + 30;
	uint8_t b = __atomic_load_n(bits, __ATOMIC_ACQUIRE);
	int r;

	if ((b & 0xf) != STATE_IOREQ_READY) {
		stats[ST_SPURIOUS]++;
		return;
	}
	drain_ring(&srv[0]);
	__atomic_store_n(bits, (uint8_t)((b & ~0xf) | STATE_IOREQ_INPROCESS),
			 __ATOMIC_RELAXED);
	r = process(s, req);
	if (r == 1)
		return;
	if (r == 2) {
		/* Let Xen see INPROCESS, then go back to READY. */
		xenevtchn_notify(xce, s->lport[v]);
		usleep(50000);
	}
	b = __atomic_load_n(bits, __ATOMIC_RELAXED);
	__atomic_store_n(bits,
			 (uint8_t)((b & ~0xf) | (r == 2 ? STATE_IOREQ_READY :
							  STATE_IORESP_READY)),
			 __ATOMIC_RELEASE);
	xenevtchn_notify(xce, s->lport[v]);
}

static void
setup_server(struct emu_server *s, int bufioreq)
{
	void *addr = NULL;
	evtchn_port_t bufport = 0;

	if (xendevicemodel_create_ioreq_server(dmod, domid, bufioreq, &s->id) <
	    0)
		die("create_ioreq_server");
	if (bufioreq) {
		s->fres = xenforeignmemory_map_resource(
			fmem, domid, XENMEM_resource_ioreq_server, s->id, 0, 2,
			&addr, PROT_READ | PROT_WRITE, 0);
		if (!s->fres)
			die("map_resource");
		s->ring = addr;
		s->sync = (struct shared_iopage *)((char *)addr + 4096);
	} else {
		s->fres = xenforeignmemory_map_resource(
			fmem, domid, XENMEM_resource_ioreq_server, s->id, 1, 1,
			&addr, PROT_READ | PROT_WRITE, 0);
		if (!s->fres)
			die("map_resource");
		s->sync = addr;
	}
	if (xendevicemodel_get_ioreq_server_info(dmod, domid, s->id, NULL, NULL,
						 &bufport) < 0)
		die("get_ioreq_server_info");
	s->buf_lport = bufport; /* remote port until enable_server() */
}

/*
 * Enable, then bind (vp_eport is only valid once enabled).  With
 * stay_enabled 0 the server is disabled again before any port is bound:
 * hv_wait_ready() takes the first enabled server with every port bound
 * for the model being ready, so a server that is to stay disabled must
 * never look like that, even for a moment (the ports stay valid while
 * disabled, as on Xen, where they live as long as the server).
 */
static void
enable_server(struct emu_server *s, int stay_enabled)
{
	evtchn_port_t bufport = s->buf_lport;

	if (xendevicemodel_set_ioreq_server_state(dmod, domid, s->id, 1) < 0)
		die("set_ioreq_server_state");
	if (!stay_enabled &&
	    xendevicemodel_set_ioreq_server_state(dmod, domid, s->id, 0) < 0)
		die("disable");
	for (unsigned v = 0; v < nr_vcpus; v++) {
		int p = xenevtchn_bind_interdomain(
			xce, domid, s->sync->vcpu_ioreq[v].vp_eport);
		if (p < 0)
			die("bind_interdomain");
		s->lport[v] = (evtchn_port_t)p;
	}
	if (s->ring) {
		int p = xenevtchn_bind_interdomain(xce, domid, bufport);

		if (p < 0)
			die("bind buffered port");
		s->buf_lport = (evtchn_port_t)p;
	}
}

static struct xs_handle *xsh;

/* The next watch event is @releaseDomain for token "emu"; then none. */
static int
xs_fired_once(void)
{
	char **vec = xs_check_watch(xsh);
	int ok = vec && strcmp(vec[XS_WATCH_PATH], "@releaseDomain") == 0 &&
		 strcmp(vec[XS_WATCH_TOKEN], "emu") == 0;

	free(vec);
	if (!ok)
		return 0;
	vec = xs_check_watch(xsh);
	free(vec);
	return !vec && errno == EAGAIN;
}

/* The drop-in libxenstore's watch rules (xensim README, xenstore). */
static void
check_xenstore(void)
{
	unsigned len;

	xsh = xs_open(0);
	if (!xsh)
		die("xs_open");
	if (xs_watch(xsh, "/local/domain", "emu") || errno != ENOSYS)
		die("xs_watch of a store path: want ENOSYS");
	if (!xs_watch(xsh, "@releaseDomain", "emu"))
		die("xs_watch @releaseDomain");
	if (xs_watch(xsh, "@releaseDomain", "emu") || errno != EEXIST)
		die("second xs_watch: want EEXIST");
	if (xs_unwatch(xsh, "@releaseDomain", "other") || errno != ENOENT)
		die("xs_unwatch of an unknown token: want ENOENT");
	if (xs_read(xsh, XBT_NULL, "/local", &len) || errno != ENOSYS)
		die("xs_read: want ENOSYS");
	/* every new watch fires once, up front */
	if (!xs_fired_once())
		die("initial @releaseDomain fire");
}

static void
claim(ioservid_t id, int mmio_space, uint64_t first, uint64_t last)
{
	if (xendevicemodel_map_io_range_to_ioreq_server(dmod, domid, id,
							mmio_space, first,
							last) < 0)
		die("map_io_range");
}

static void
dispatch_port(evtchn_port_t port)
{
	if (port == virq_port) {
		evtchn_port_t p;
		unsigned n;

		/* The domain died.  As on Xen, its servers are gone at once
		 * (ENOENT) but it lives on as a zombie while we map its pages
		 * (nr_vcpus still answers); once we unmap, it is gone (ESRCH).
		 * Exit 0 only if all of that held. */
		if (xendevicemodel_get_ioreq_server_info(dmod, domid, srv[0].id,
							 NULL, NULL, &p) == 0 ||
		    errno != ENOENT)
			return;
		if (xendevicemodel_nr_vcpus(dmod, domid, &n) < 0)
			exit(3);
		for (unsigned k = 0; k < 2; k++)
			if (srv[k].fres)
				xenforeignmemory_unmap_resource(fmem,
								srv[k].fres);
		if (xendevicemodel_nr_vcpus(dmod, domid, &n) == 0 ||
		    errno != ESRCH)
			exit(4);
		/* xenstored fired @releaseDomain when the domain died */
		if (!xs_fired_once())
			exit(5);
		exit(0);
		return;
	}
	for (unsigned k = 0; k < 2; k++) {
		if (srv[k].buf_lport && port == srv[k].buf_lport) {
			drain_ring(&srv[k]);
			return;
		}
		for (unsigned v = 0; v < nr_vcpus; v++)
			if (port == srv[k].lport[v]) {
				handle_vcpu(&srv[k], v);
				return;
			}
	}
}

int
main(int argc, char **argv)
{
	int bufioreq = argc > 1 ? atoi(argv[1]) : 2;
	struct sigaction sa = { .sa_handler = on_term };
	int vp;

	sigaction(SIGTERM, &sa, NULL);
	domid = (domid_t)(argc > 2 ? atoi(argv[2]) : 1);
	dmod = xendevicemodel_open(NULL, 0);
	xce = xenevtchn_open(NULL, 0);
	fmem = xenforeignmemory_open(NULL, 0);
	xgt = xengnttab_open(NULL, 0);
	if (!dmod || !xce || !fmem || !xgt)
		die("open");
	if (xendevicemodel_nr_vcpus(dmod, domid, &nr_vcpus) < 0)
		die("nr_vcpus");
	check_xenstore();
	cfg[0] = 0x34;
	cfg[1] = 0x12;
	cfg[2] = 0x78;
	cfg[3] = 0x56;
	setup_server(&srv[0], bufioreq);
	claim(srv[0].id, 0, 0x100, 0x107);
	claim(srv[0].id, 0, 0x110, 0x113);
	claim(srv[0].id, 0, 0x114, 0x117);
	claim(srv[0].id, 0, 0x70, 0x71);
	claim(srv[0].id, 0, 0x200, 0x23f);
	claim(srv[0].id, 0, 0x300, 0x301);
	claim(srv[0].id, 1, 0xe0000000, 0xe0000fff);
	claim(srv[0].id, 1, 0xa0000, 0xbffff);
	if (xendevicemodel_map_pcidev_to_ioreq_server(dmod, domid, srv[0].id, 0,
						      0, 3, 0) < 0)
		die("map_pcidev");
	setup_server(&srv[1], 0);
	claim(srv[1].id, 0, 0x100, 0x101);
	vp = xenevtchn_bind_virq(xce, VIRQ_DOM_EXC);
	if (vp < 0)
		die("bind_virq");
	virq_port = (evtchn_port_t)vp;
	/* Claims are all in place before the server xensim waits for is
	 * ready; server 1 stays disabled until command 9. */
	enable_server(&srv[1], 0);
	enable_server(&srv[0], 1);

	while (!stop) {
		struct pollfd pfd = { .fd = xenevtchn_fd(xce),
				      .events = POLLIN };
		int port;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		port = xenevtchn_pending(xce);
		if (port < 0)
			continue;
		stats[ST_EVENTS]++;
		dispatch_port((evtchn_port_t)port);
		xenevtchn_unmask(xce, (evtchn_port_t)port);
	}
	for (unsigned k = 0; k < 2; k++) {
		xendevicemodel_destroy_ioreq_server(dmod, domid, srv[k].id);
		xenforeignmemory_unmap_resource(fmem, srv[k].fres);
	}
	xenevtchn_close(xce);
	xengnttab_close(xgt);
	xenforeignmemory_close(fmem);
	xendevicemodel_close(dmod);
	return 0;
}
