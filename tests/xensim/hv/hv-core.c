/*
 * xensim hypervisor core: the simulated domain, its IOREQ servers and
 * their rangesets, event channels in both domains, grants, injections and
 * the device-model child process.  The dm_ops are in hv-dmop.c.
 *
 * Rules come from Xen 4.17 (see tests/xensim/README.md for the function
 * each one is taken from).  Not modelled: legacy ioreq gfns, p2m
 * ioreq_server memory types, log-dirty tracking, non-x86 dm_ops.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hv-internal.h"

static uint64_t
now_msec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
hv_trace(struct hv *hv, const char *fmt, ...)
{
	va_list ap;

	if (!hv->cfg.trace)
		return;
	pthread_mutex_lock(&hv->trace_lock);
	va_start(ap, fmt);
	vfprintf(hv->cfg.trace, fmt, ap);
	va_end(ap);
	fputc('\n', hv->cfg.trace);
	fflush(hv->cfg.trace);
	pthread_mutex_unlock(&hv->trace_lock);
}

bool
hv_gpa_is_ram(const struct hv *hv, uint64_t gpa, uint64_t len)
{
	uint64_t last;

	if (len == 0 || gpa >= hv->ram_size || len > hv->ram_size - gpa)
		return false;
	last = gpa + len - 1;
	/* The VGA window is a hole in an HVM guest's RAM. */
	return last < HV_VGA_FIRST || gpa > HV_VGA_LAST;
}

void *
hv_guest_ptr(struct hv *hv, uint64_t gpa, size_t len)
{
	if (!hv_gpa_is_ram(hv, gpa, len))
		return NULL;
	return hv->ram + gpa;
}

/* ---- rangesets (xen/common/rangeset.c semantics) ---- */

/* Index of the first range whose last >= x. */
static unsigned
rs_lower(const struct hv_rangeset *rs, uint64_t x)
{
	unsigned lo = 0, hi = rs->count;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (rs->r[mid].last < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool
rs_contains(const struct hv_rangeset *rs, uint64_t first, uint64_t last)
{
	unsigned i = rs_lower(rs, first);

	return i < rs->count && rs->r[i].first <= first &&
	       last <= rs->r[i].last;
}

bool
rs_overlaps(const struct hv_rangeset *rs, uint64_t first, uint64_t last)
{
	unsigned i = rs_lower(rs, first);

	return i < rs->count && rs->r[i].first <= last;
}

/* Caller checked there is no overlap.  Merges touching neighbours. */
int
rs_add(struct hv_rangeset *rs, uint64_t first, uint64_t last)
{
	unsigned i = rs_lower(rs, first);
	bool merge_prev = i > 0 && rs->r[i - 1].last + 1 == first;
	bool merge_next = i < rs->count && last != UINT64_MAX &&
			  rs->r[i].first == last + 1;

	if (merge_prev && merge_next) {
		rs->r[i - 1].last = rs->r[i].last;
		memmove(&rs->r[i], &rs->r[i + 1],
			(rs->count - i - 1) * sizeof(rs->r[0]));
		rs->count--;
	} else if (merge_prev) {
		rs->r[i - 1].last = last;
	} else if (merge_next) {
		rs->r[i].first = first;
	} else {
		if (rs->count == HV_MAX_RANGES)
			return -ENOMEM;
		memmove(&rs->r[i + 1], &rs->r[i],
			(rs->count - i) * sizeof(rs->r[0]));
		rs->r[i].first = first;
		rs->r[i].last = last;
		rs->count++;
	}
	return 0;
}

/* Caller checked containment in one range.  May split it. */
int
rs_remove(struct hv_rangeset *rs, uint64_t first, uint64_t last)
{
	unsigned i = rs_lower(rs, first);
	struct hv_range *r = &rs->r[i];

	if (r->first == first && r->last == last) {
		memmove(r, r + 1, (rs->count - i - 1) * sizeof(*r));
		rs->count--;
	} else if (r->first == first) {
		r->first = last + 1;
	} else if (r->last == last) {
		r->last = first - 1;
	} else {
		if (rs->count == HV_MAX_RANGES)
			return -ENOMEM;
		memmove(r + 1, r, (rs->count - i) * sizeof(*r));
		r[0].last = first - 1;
		r[1].first = last + 1;
		rs->count++;
	}
	return 0;
}

/* Server selection (ioreq_server_select): descending id, enabled only. */
int
hv_select_server(struct hv *hv, unsigned type, uint64_t first, uint64_t last)
{
	for (int id = HV_MAX_SERVERS - 1; id >= 0; id--) {
		struct hv_server *s = &hv->servers[id];

		if (!s->exists || !s->enabled)
			continue;
		if (rs_contains(&s->ranges[type], first, last))
			return id;
	}
	return -1;
}

/* ---- event channels ---- */

void
hv_raise_lport(struct hv *hv, uint32_t lport)
{
	struct hv_lport *l;
	_Atomic uint32_t *w;
	uint32_t old, new;

	if (lport < XENSIM_LPORT_BASE || lport >= XENSIM_LPORT_MAX)
		return;
	l = &hv->lports[lport];
	if (l->kind == HV_LPORT_FREE || !l->conn || !l->conn->state)
		return;
	w = &l->conn->state[lport];
	old = atomic_load(w);
	do {
		if (!(old & XENSIM_PORT_BOUND))
			return;
		if (old & XENSIM_PORT_MASKED)
			new = old | XENSIM_PORT_PENDING;
		else
			new = old | XENSIM_PORT_MASKED;
	} while (!atomic_compare_exchange_weak(w, &old, new));
	if (!(old & XENSIM_PORT_MASKED))
		(void)!write(l->conn->pipe_w, &lport, sizeof(lport));
}

void
hv_notify_gport(struct hv *hv, uint32_t gport)
{
	struct hv_gport *g;

	if (gport == 0 || gport >= HV_MAX_GPORTS)
		return;
	g = &hv->gports[gport];
	/* Xen drops a notification on an unbound channel silently. */
	if (g->state == HV_GPORT_BOUND)
		hv_raise_lport(hv, g->lport);
}

static uint32_t
gport_alloc(struct hv *hv, int efd)
{
	for (uint32_t p = 1; p < HV_MAX_GPORTS; p++) {
		if (hv->gports[p].state == HV_GPORT_FREE) {
			hv->gports[p].state = HV_GPORT_UNBOUND;
			hv->gports[p].efd = efd;
			hv->gports[p].conn = NULL;
			hv->gports[p].lport = 0;
			return p;
		}
	}
	return 0;
}

/* evtchn_close() of the guest end: the dom0 end becomes unbound. */
static void
gport_free(struct hv *hv, uint32_t gport)
{
	struct hv_gport *g;

	if (gport == 0 || gport >= HV_MAX_GPORTS)
		return;
	g = &hv->gports[gport];
	if (g->state == HV_GPORT_BOUND) {
		struct hv_lport *l = &hv->lports[g->lport];

		l->gport = 0;
		if (l->conn && l->conn->state)
			atomic_fetch_and(&l->conn->state[g->lport],
					 ~XENSIM_PORT_CONNECTED);
	}
	memset(g, 0, sizeof(*g));
}

static uint32_t
lport_alloc(struct hv *hv, struct hv_conn *conn, enum hv_lport_kind kind)
{
	for (uint32_t p = XENSIM_LPORT_BASE; p < XENSIM_LPORT_MAX; p++) {
		if (hv->lports[p].kind == HV_LPORT_FREE) {
			hv->lports[p].kind = kind;
			hv->lports[p].conn = conn;
			hv->lports[p].gport = 0;
			hv->lports[p].virq = 0;
			return p;
		}
	}
	return 0;
}

static int
evtchn_domain_check(struct hv *hv, struct hv_conn *conn, uint32_t domid)
{
	if (conn->restrict_domid >= 0 &&
	    (uint32_t)conn->restrict_domid != domid)
		return -EACCES;
	if (domid != hv->cfg.domid || atomic_load(&hv->dead))
		return -ESRCH;
	return 0;
}

int
hv_evtchn_bind_interdomain(struct hv *hv, struct hv_conn *conn, uint32_t domid,
			   uint32_t gport, uint32_t *ret_lport, int *ret_efd)
{
	struct hv_gport *g;
	uint32_t lport;
	int r;

	r = evtchn_domain_check(hv, conn, domid);
	if (r < 0)
		return r;
	if (gport == 0 || gport >= HV_MAX_GPORTS)
		return -EINVAL;
	g = &hv->gports[gport];
	if (g->state != HV_GPORT_UNBOUND)
		return -EINVAL;
	lport = lport_alloc(hv, conn, HV_LPORT_INTERDOMAIN);
	if (!lport)
		return -ENOSPC;
	hv->lports[lport].gport = gport;
	g->state = HV_GPORT_BOUND;
	g->conn = conn;
	g->lport = lport;
	atomic_store(&conn->state[lport],
		     XENSIM_PORT_BOUND | XENSIM_PORT_CONNECTED);
	/* evtchn_bind_interdomain marks the new port pending once. */
	hv_raise_lport(hv, lport);
	*ret_lport = lport;
	*ret_efd = g->efd;
	return 0;
}

int
hv_evtchn_bind_unbound(struct hv *hv, struct hv_conn *conn, uint32_t *ret_lport)
{
	uint32_t lport;

	if (conn->restrict_domid >= 0)
		return -EACCES;
	lport = lport_alloc(hv, conn, HV_LPORT_UNBOUND);
	if (!lport)
		return -ENOSPC;
	atomic_store(&conn->state[lport], XENSIM_PORT_BOUND);
	*ret_lport = lport;
	return 0;
}

int
hv_evtchn_bind_virq(struct hv *hv, struct hv_conn *conn, uint32_t virq,
		    uint32_t *ret_lport)
{
	uint32_t lport;

	if (conn->restrict_domid >= 0)
		return -EACCES;
	if (virq != VIRQ_DOM_EXC)
		return -ENOSYS;
	lport = lport_alloc(hv, conn, HV_LPORT_VIRQ);
	if (!lport)
		return -ENOSPC;
	hv->lports[lport].virq = virq;
	atomic_store(&conn->state[lport], XENSIM_PORT_BOUND);
	*ret_lport = lport;
	return 0;
}

static void
lport_release(struct hv *hv, uint32_t lport)
{
	struct hv_lport *l = &hv->lports[lport];

	if (l->kind == HV_LPORT_INTERDOMAIN && l->gport) {
		struct hv_gport *g = &hv->gports[l->gport];

		/* The guest end goes back to unbound, still offered to dom0. */
		g->state = HV_GPORT_UNBOUND;
		g->conn = NULL;
		g->lport = 0;
	}
	if (l->conn && l->conn->state)
		atomic_store(&l->conn->state[lport], 0);
	memset(l, 0, sizeof(*l));
}

int
hv_evtchn_unbind(struct hv *hv, struct hv_conn *conn, uint32_t lport)
{
	if (lport < XENSIM_LPORT_BASE || lport >= XENSIM_LPORT_MAX ||
	    hv->lports[lport].kind == HV_LPORT_FREE ||
	    hv->lports[lport].conn != conn)
		return -ENOTCONN;
	lport_release(hv, lport);
	return 0;
}

void
hv_conn_release_ports(struct hv *hv, struct hv_conn *conn)
{
	for (uint32_t p = XENSIM_LPORT_BASE; p < XENSIM_LPORT_MAX; p++)
		if (hv->lports[p].kind != HV_LPORT_FREE &&
		    hv->lports[p].conn == conn)
			lport_release(hv, p);
}

/* ---- servers ---- */

void
server_destroy(struct hv *hv, unsigned id)
{
	struct hv_server *s = &hv->servers[id];

	s->enabled = false;
	for (unsigned v = 0; v < hv->cfg.vcpus; v++) {
		gport_free(hv, s->vcpu_port[v]);
		s->vcpu_port[v] = 0;
	}
	gport_free(hv, s->buf_port);
	s->buf_port = 0;
	for (unsigned t = 0; t < HV_NR_RANGE_TYPES; t++)
		s->ranges[t].count = 0;
	/* A vCPU may still be waiting on this page: keep it mapped. */
	if (hv->graveyard_count <
	    sizeof(hv->graveyard) / sizeof(hv->graveyard[0]))
		hv->graveyard[hv->graveyard_count++] = s->pages;
	else
		munmap(s->pages, 2 * HV_PAGE_SIZE);
	s->pages = NULL;
	s->ring = NULL;
	s->sync = NULL;
	close(s->memfd);
	s->memfd = -1;
	s->exists = false;
	atomic_fetch_add(&s->gen, 1);
	/* Wake vCPUs blocked on this server so they notice. */
	for (unsigned v = 0; v < hv->cfg.vcpus; v++) {
		uint64_t one = 1;

		(void)!write(hv->vcpu_efd[v], &one, sizeof(one));
	}
}

int
server_create(struct hv *hv, int bufioreq, unsigned *ret_id)
{
	struct hv_server *s = NULL;
	unsigned id = 0;

	if (bufioreq < 0 || bufioreq > HVM_IOREQSRV_BUFIOREQ_ATOMIC)
		return -EINVAL;
	for (id = 0; id < HV_MAX_SERVERS; id++) {
		if (!hv->servers[id].exists) {
			s = &hv->servers[id];
			break;
		}
	}
	if (!s)
		return -ENOSPC;
	s->memfd = memfd_create("xensim-ioreq", MFD_CLOEXEC);
	if (s->memfd < 0)
		return -errno;
	if (ftruncate(s->memfd, 2 * HV_PAGE_SIZE) < 0)
		goto err_close;
	s->pages = mmap(NULL, 2 * HV_PAGE_SIZE, PROT_READ | PROT_WRITE,
			MAP_SHARED, s->memfd, 0);
	if (s->pages == MAP_FAILED)
		goto err_close;
	s->ring = s->pages;
	s->sync = (struct shared_iopage *)((uint8_t *)s->pages + HV_PAGE_SIZE);
	s->bufioreq = bufioreq;
	s->enabled = false;
	for (unsigned t = 0; t < HV_NR_RANGE_TYPES; t++)
		s->ranges[t].count = 0;
	/* One Xen-consumer channel per vCPU, plus one for the ring. */
	for (unsigned v = 0; v < hv->cfg.vcpus; v++) {
		s->vcpu_port[v] = gport_alloc(hv, hv->vcpu_efd[v]);
		if (!s->vcpu_port[v])
			goto err_ports;
	}
	s->buf_port = 0;
	if (bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF) {
		s->buf_port = gport_alloc(hv, hv->sink_efd);
		if (!s->buf_port)
			goto err_ports;
	}
	s->exists = true;
	*ret_id = id;
	return 0;

err_ports:
	for (unsigned v = 0; v < hv->cfg.vcpus; v++) {
		gport_free(hv, s->vcpu_port[v]);
		s->vcpu_port[v] = 0;
	}
	munmap(s->pages, 2 * HV_PAGE_SIZE);
	s->pages = NULL;
	close(s->memfd);
	s->memfd = -1;
	return -ENOSPC;
err_close:
	close(s->memfd);
	s->memfd = -1;
	return -ENOMEM;
}

struct hv_server *
server_get(struct hv *hv, uint64_t id)
{
	if (id >= HV_MAX_SERVERS || !hv->servers[id].exists)
		return NULL;
	return &hv->servers[id];
}

void
server_set_state(struct hv *hv, struct hv_server *s, bool enabled)
{
	if (enabled && !s->enabled) {
		/* ioreq_server_enable publishes each vCPU's port. */
		for (unsigned v = 0; v < hv->cfg.vcpus; v++)
			s->sync->vcpu_ioreq[v].vp_eport = s->vcpu_port[v];
	}
	s->enabled = enabled;
}

unsigned
hv_server_count(struct hv *hv)
{
	unsigned n = 0;

	pthread_rwlock_rdlock(&hv->lock);
	for (unsigned id = 0; id < HV_MAX_SERVERS; id++)
		n += hv->servers[id].exists;
	pthread_rwlock_unlock(&hv->lock);
	return n;
}

/* ---- domain checks, resources ---- */

int
hv_check_domain(struct hv *hv, struct hv_conn *conn, uint32_t domid,
		int restrict_errno)
{
	if (conn->restrict_domid >= 0 &&
	    (uint32_t)conn->restrict_domid != domid)
		return -restrict_errno;
	if (domid != hv->cfg.domid || atomic_load(&hv->dead))
		return -ESRCH;
	return 0;
}

int
hv_map_resource(struct hv *hv, struct hv_conn *conn,
		const struct xensim_req *req, int *ret_fd)
{
	struct hv_server *s;
	uint64_t type = req->arg[0], frame = req->arg[2], nr = req->arg[3];
	int r;

	r = hv_check_domain(hv, conn, req->domid, EPERM);
	if (r < 0)
		return r;
	if (type != XENMEM_resource_ioreq_server)
		return -ENOSYS;
	s = server_get(hv, req->arg[1]);
	if (!s)
		return -ENOENT;
	if (nr == 0 || frame >= 2 || nr > 2 - frame)
		return -EINVAL;
	if (frame == XENMEM_resource_ioreq_server_frame_bufioreq &&
	    s->bufioreq == HVM_IOREQSRV_BUFIOREQ_OFF)
		return -ENOENT;
	*ret_fd = s->memfd;
	return 0;
}

int
hv_resource_size(struct hv *hv, struct hv_conn *conn,
		 const struct xensim_req *req, uint64_t *ret_frames)
{
	int r = hv_check_domain(hv, conn, req->domid, EPERM);

	if (r < 0)
		return r;
	if (req->arg[0] != XENMEM_resource_ioreq_server)
		return -ENOSYS;
	/* 1 + ceil(max_vcpus * 32 / 4096); does not look at the id. */
	*ret_frames = 1 + (hv->cfg.vcpus * sizeof(ioreq_t) + HV_PAGE_SIZE - 1) /
				  HV_PAGE_SIZE;
	return 0;
}

/* ---- injections ---- */

static bool
inj_same_line(const struct hv_injection *a, const struct hv_injection *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case HV_IRQ_INTX:
		return a->a == b->a && a->b == b->b;
	case HV_IRQ_MSI:
		return a->addr == b->addr && a->data == b->data;
	default:
		return a->a == b->a;
	}
}

static bool
inj_equal(const struct hv_injection *a, const struct hv_injection *b)
{
	if (!inj_same_line(a, b))
		return false;
	switch (a->kind) {
	case HV_IRQ_MSI:
		return true;
	case HV_IRQ_LINK:
		return a->b == b->b;
	default:
		return a->level == b->level;
	}
}

void
inj_record(struct hv *hv, const struct hv_injection *inj)
{
	pthread_mutex_lock(&hv->inj_lock);
	if (hv->inj_count == HV_MAX_INJECTIONS) {
		unsigned j = 0;

		for (unsigned i = 0; i < hv->inj_count; i++)
			if (!hv->inj[i].consumed)
				hv->inj[j++] = hv->inj[i];
		if (j == HV_MAX_INJECTIONS) {
			memmove(&hv->inj[0], &hv->inj[1],
				(j - 1) * sizeof(hv->inj[0]));
			j--;
		}
		hv->inj_count = j;
	}
	hv->inj[hv->inj_count].inj = *inj;
	hv->inj[hv->inj_count].consumed = false;
	hv->inj_count++;
	pthread_cond_broadcast(&hv->inj_cond);
	pthread_mutex_unlock(&hv->inj_lock);
}

int
hv_expect_injection(struct hv *hv, const struct hv_injection *want,
		    unsigned timeout_ms, struct hv_injection *ret_last,
		    bool *ret_have_last)
{
	struct timespec deadline;
	int r = -ETIMEDOUT;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&hv->inj_lock);
	for (;;) {
		for (unsigned i = 0; i < hv->inj_count; i++) {
			if (hv->inj[i].consumed ||
			    !inj_equal(&hv->inj[i].inj, want))
				continue;
			for (unsigned j = 0; j <= i; j++)
				if (inj_same_line(&hv->inj[j].inj, want))
					hv->inj[j].consumed = true;
			r = 0;
			goto out;
		}
		if (pthread_cond_timedwait(&hv->inj_cond, &hv->inj_lock,
					   &deadline) == ETIMEDOUT)
			break;
	}
	if (ret_have_last)
		*ret_have_last = false;
	for (unsigned i = hv->inj_count; i-- > 0;) {
		const struct hv_injection *x = &hv->inj[i].inj;

		if (hv->inj[i].consumed || x->kind != want->kind)
			continue;
		if (x->kind != HV_IRQ_MSI && !inj_same_line(x, want))
			continue;
		if (ret_last)
			*ret_last = *x;
		if (ret_have_last)
			*ret_have_last = true;
		break;
	}
out:
	pthread_mutex_unlock(&hv->inj_lock);
	return r;
}

bool
hv_peek_injection(struct hv *hv, struct hv_injection *ret)
{
	bool found = false;

	pthread_mutex_lock(&hv->inj_lock);
	for (unsigned i = 0; i < hv->inj_count; i++) {
		if (!hv->inj[i].consumed) {
			*ret = hv->inj[i].inj;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&hv->inj_lock);
	return found;
}

/* ---- grants ---- */

int
hv_grant(struct hv *hv, uint32_t ref, uint64_t gfn, bool readonly)
{
	if (ref >= HV_MAX_GRANTS || gfn > (UINT64_MAX >> 12) ||
	    !hv_gpa_is_ram(hv, gfn << 12, HV_PAGE_SIZE))
		return -EINVAL;
	pthread_rwlock_wrlock(&hv->lock);
	hv->grants[ref] = gfn | (readonly ? XENSIM_GNT_RO : 0);
	pthread_rwlock_unlock(&hv->lock);
	return 0;
}

int
hv_ungrant(struct hv *hv, uint32_t ref)
{
	int r = 0;

	if (ref >= HV_MAX_GRANTS)
		return -EINVAL;
	pthread_rwlock_wrlock(&hv->lock);
	if (hv->grants[ref] == XENSIM_GNT_BAD)
		r = -ENOENT;
	hv->grants[ref] = XENSIM_GNT_BAD;
	pthread_rwlock_unlock(&hv->lock);
	return r;
}

/* ---- domain lifetime ---- */

void
hv_xs_conn_add(struct hv *hv, struct hv_conn *conn)
{
	for (unsigned i = 0; i < HV_MAX_CONNS; i++) {
		if (!hv->xs_conns[i]) {
			hv->xs_conns[i] = conn;
			conn->xs_listed = true;
			return;
		}
	}
}

void
hv_xs_conn_remove(struct hv *hv, struct hv_conn *conn)
{
	if (!conn->xs_listed)
		return;
	for (unsigned i = 0; i < HV_MAX_CONNS; i++)
		if (hv->xs_conns[i] == conn)
			hv->xs_conns[i] = NULL;
	conn->xs_listed = false;
}

/*
 * xenstored's domain check (on VIRQ_DOM_EXC) fires @releaseDomain when an
 * introduced domain is first seen shut down or crashed, and again when it
 * is dying (its connection is dropped).  hv->lock held (write).
 */
void
hv_xs_fire_release(struct hv *hv)
{
	struct xensim_xs_record rec = { .kind = XENSIM_XS_RELEASE };

	hv_trace(hv, "xenstore fires @releaseDomain");
	for (unsigned i = 0; i < HV_MAX_CONNS; i++) {
		struct hv_conn *c = hv->xs_conns[i];

		if (c && c->pipe_w >= 0 &&
		    write(c->pipe_w, &rec, sizeof(rec)) != (ssize_t)sizeof(rec))
			hv_trace(hv, "xenstore: watch pipe full, event lost");
	}
}

uint64_t
hv_dmop_count(struct hv *hv)
{
	return atomic_load(&hv->dmop_count);
}

/*
 * domain_kill: the servers and event channels go at once, but the domain
 * lingers as a zombie until the last reference to its pages (the model's
 * foreign and resource mappings) is dropped; only then do dm_ops fail with
 * ESRCH (rcu_lock_remote_domain_by_id no longer finds it).
 */
static void
domain_finish_death(struct hv *hv)
{
	if (atomic_load(&hv->dying) && hv->map_holds == 0 &&
	    !atomic_load(&hv->dead)) {
		atomic_store(&hv->dead, true);
		hv_trace(hv, "domain released by its last mapping");
	}
}

void
hv_map_note(struct hv *hv, struct hv_conn *conn, bool held)
{
	atomic_fetch_add(&hv->counters[held ? COUNTER_FOREIGN_MAP :
					      COUNTER_FOREIGN_UNMAP],
			 1);
	if (held) {
		conn->map_holds++;
		hv->map_holds++;
		return;
	}
	if (conn->map_holds == 0)
		return;
	conn->map_holds--;
	hv->map_holds--;
	domain_finish_death(hv);
}

void
hv_conn_release_maps(struct hv *hv, struct hv_conn *conn)
{
	/* Process exit (or close) releases what the handle still maps. */
	hv->map_holds -= conn->map_holds;
	conn->map_holds = 0;
	domain_finish_death(hv);
}

void
hv_destroy_domain(struct hv *hv)
{
	pthread_rwlock_wrlock(&hv->lock);
	if (!atomic_load(&hv->dying)) {
		atomic_store(&hv->dying, true);
		for (unsigned id = 0; id < HV_MAX_SERVERS; id++)
			if (hv->servers[id].exists)
				server_destroy(hv, id);
		for (uint32_t p = 1; p < HV_MAX_GPORTS; p++)
			if (hv->gports[p].state != HV_GPORT_FREE)
				gport_free(hv, p);
		for (uint32_t p = XENSIM_LPORT_BASE; p < XENSIM_LPORT_MAX; p++)
			if (hv->lports[p].kind == HV_LPORT_VIRQ &&
			    hv->lports[p].virq == VIRQ_DOM_EXC)
				hv_raise_lport(hv, p);
		hv_trace(hv,
			 "domain destroyed, %u mappings keep it as a "
			 "zombie",
			 hv->map_holds);
		/* After VIRQ_DOM_EXC: xenstored sees the domain dying. */
		hv_xs_fire_release(hv);
		domain_finish_death(hv);
	}
	pthread_rwlock_unlock(&hv->lock);
}

int
hv_create(const struct hv_config *cfg, struct hv **ret_hv)
{
	struct hv *hv;
	int r = -ENOMEM;

	if (cfg->vcpus > HV_MAX_VCPUS || cfg->memory > HV_MAX_MEMORY ||
	    (cfg->memory & (HV_PAGE_SIZE - 1)) || cfg->domid == 0 ||
	    cfg->domid >= DOMID_FIRST_RESERVED)
		return -EINVAL;
	hv = calloc(1, sizeof(*hv));
	if (!hv)
		return -ENOMEM;
	hv->cfg = *cfg;
	if (!hv->cfg.vcpus)
		hv->cfg.vcpus = 2;
	if (!hv->cfg.memory)
		hv->cfg.memory = 64ULL << 20;
	if (!hv->cfg.timeout_ms)
		hv->cfg.timeout_ms = 5000;
	hv->ram_size = hv->cfg.memory;
	hv->listen_fd = -1;
	hv->wake_pipe[0] = hv->wake_pipe[1] = -1;
	hv->sink_efd = -1;
	hv->child = -1;
	for (unsigned v = 0; v < HV_MAX_VCPUS; v++)
		hv->vcpu_efd[v] = -1;
	for (unsigned id = 0; id < HV_MAX_SERVERS; id++) {
		hv->servers[id].memfd = -1;
		pthread_mutex_init(&hv->servers[id].ring_lock, NULL);
	}
	{
		pthread_rwlockattr_t ra;

		/* vCPU threads read-lock all the time; let dm_ops through. */
		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(
			&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&hv->lock, &ra);
		pthread_rwlockattr_destroy(&ra);
	}
	pthread_mutex_init(&hv->inj_lock, NULL);
	pthread_mutex_init(&hv->trace_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&hv->inj_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	hv->inj = calloc(HV_MAX_INJECTIONS, sizeof(*hv->inj));
	hv->grants = malloc(HV_MAX_GRANTS * sizeof(*hv->grants));
	if (!hv->inj || !hv->grants)
		goto err;
	for (unsigned i = 0; i < HV_MAX_GRANTS; i++)
		hv->grants[i] = XENSIM_GNT_BAD;
	hv->ram_fd = memfd_create("xensim-ram", MFD_CLOEXEC);
	if (hv->ram_fd < 0 || ftruncate(hv->ram_fd, (off_t)hv->ram_size) < 0)
		goto err_errno;
	hv->ram = mmap(NULL, hv->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       hv->ram_fd, 0);
	if (hv->ram == MAP_FAILED) {
		hv->ram = NULL;
		goto err_errno;
	}
	for (unsigned v = 0; v < hv->cfg.vcpus; v++) {
		hv->vcpu_efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (hv->vcpu_efd[v] < 0)
			goto err_errno;
	}
	hv->sink_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (hv->sink_efd < 0)
		goto err_errno;
	r = hv_ctl_start(hv);
	if (r < 0)
		goto err;
	*ret_hv = hv;
	return 0;

err_errno:
	r = -errno;
err:
	hv_destroy(hv);
	return r;
}

void
hv_destroy(struct hv *hv)
{
	int status;

	if (!hv)
		return;
	if (hv->child > 0 && !hv->child_reaped) {
		kill(hv->child, SIGKILL);
		(void)waitpid(hv->child, &status, 0);
	}
	hv_ctl_stop(hv);
	for (unsigned id = 0; id < HV_MAX_SERVERS; id++) {
		struct hv_server *s = &hv->servers[id];

		if (s->pages)
			munmap(s->pages, 2 * HV_PAGE_SIZE);
		if (s->memfd >= 0)
			close(s->memfd);
		pthread_mutex_destroy(&s->ring_lock);
	}
	for (unsigned i = 0; i < hv->graveyard_count; i++)
		munmap(hv->graveyard[i], 2 * HV_PAGE_SIZE);
	for (unsigned v = 0; v < HV_MAX_VCPUS; v++)
		if (hv->vcpu_efd[v] >= 0)
			close(hv->vcpu_efd[v]);
	if (hv->sink_efd >= 0)
		close(hv->sink_efd);
	if (hv->ram)
		munmap(hv->ram, hv->ram_size);
	if (hv->ram_fd >= 0)
		close(hv->ram_fd);
	free(hv->inj);
	free(hv->grants);
	pthread_cond_destroy(&hv->inj_cond);
	pthread_mutex_destroy(&hv->inj_lock);
	pthread_mutex_destroy(&hv->trace_lock);
	pthread_rwlock_destroy(&hv->lock);
	free(hv);
}

/* ---- device-model child ---- */

int
hv_spawn(struct hv *hv, const char *lib_dir, char *const argv[])
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **envp;
	char *ldpath = NULL, *sock = NULL;
	const char *old = getenv("LD_LIBRARY_PATH");
	pid_t pid;
	int r = -ENOMEM;

	if (!argv || !argv[0] || hv->child > 0)
		return -EINVAL;
	while (environ[n])
		n++;
	/* Build the environment before fork: the child is multi-threaded
	 * parent's copy and may only call async-signal-safe functions. */
	envp = calloc(n + 3, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	if (asprintf(&ldpath, "LD_LIBRARY_PATH=%s%s%s", lib_dir,
		     old && *old ? ":" : "", old ? old : "") < 0) {
		ldpath = NULL;
		goto out;
	}
	if (asprintf(&sock, "%s=%s", XENSIM_ENV_SOCKET, hv->sock_name) < 0) {
		sock = NULL;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_LIBRARY_PATH=", 16) != 0 &&
		    strncmp(environ[i], XENSIM_ENV_SOCKET "=",
			    sizeof(XENSIM_ENV_SOCKET)) != 0)
			envp[k++] = environ[i];
	envp[k++] = ldpath;
	envp[k++] = sock;
	envp[k] = NULL;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0) {
		execvpe(argv[0], argv, envp);
		_exit(127);
	}
	hv->child = pid;
	hv->child_reaped = false;
	r = 0;
out:
	free(ldpath);
	free(sock);
	free(envp);
	return r;
}

pid_t
hv_child_pid(struct hv *hv)
{
	return hv->child;
}

/* Reap the child if it has exited; true if it is gone. */
static bool
child_gone(struct hv *hv)
{
	int status;

	if (hv->child <= 0)
		return true;
	if (hv->child_reaped)
		return true;
	if (waitpid(hv->child, &status, WNOHANG) == hv->child) {
		hv->child_reaped = true;
		hv->child_status = status;
		return true;
	}
	return false;
}

static bool
ready_locked(struct hv *hv)
{
	for (unsigned id = 0; id < HV_MAX_SERVERS; id++) {
		struct hv_server *s = &hv->servers[id];
		bool all = true;

		if (!s->exists || !s->enabled)
			continue;
		for (unsigned v = 0; v < hv->cfg.vcpus; v++)
			all &= hv->gports[s->vcpu_port[v]].state ==
			       HV_GPORT_BOUND;
		if (s->buf_port)
			all &= hv->gports[s->buf_port].state == HV_GPORT_BOUND;
		if (all)
			return true;
	}
	return false;
}

int
hv_wait_ready(struct hv *hv, unsigned timeout_ms)
{
	uint64_t deadline = now_msec() + timeout_ms;

	for (;;) {
		bool ready;

		pthread_rwlock_rdlock(&hv->lock);
		ready = ready_locked(hv);
		pthread_rwlock_unlock(&hv->lock);
		if (ready)
			return 0;
		if (child_gone(hv))
			return -ECHILD;
		if (now_msec() >= deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

int
hv_wait_child(struct hv *hv, unsigned timeout_ms, int *ret_status)
{
	uint64_t deadline = now_msec() + timeout_ms;

	if (hv->child <= 0)
		return -ECHILD;
	while (!child_gone(hv)) {
		if (now_msec() >= deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	if (ret_status)
		*ret_status = hv->child_status;
	return 0;
}

int
hv_stop_child(struct hv *hv, unsigned timeout_ms, int *ret_status, char *msg,
	      size_t msg_len)
{
	unsigned servers;
	int status = 0;

	if (msg && msg_len)
		msg[0] = '\0';
	if (hv->child <= 0) {
		if (msg)
			snprintf(msg, msg_len, "no device model was started");
		return -1;
	}
	if (!child_gone(hv))
		kill(hv->child, SIGTERM);
	if (hv_wait_child(hv, timeout_ms, &status) < 0) {
		kill(hv->child, SIGKILL);
		(void)waitpid(hv->child, &status, 0);
		hv->child_reaped = true;
		hv->child_status = status;
		if (ret_status)
			*ret_status = status;
		if (msg)
			snprintf(msg, msg_len,
				 "device model did not exit within %u ms of "
				 "SIGTERM (killed)",
				 timeout_ms);
		return -1;
	}
	if (ret_status)
		*ret_status = status;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (msg) {
			if (WIFSIGNALED(status))
				snprintf(msg, msg_len,
					 "device model killed by signal %d",
					 WTERMSIG(status));
			else
				snprintf(msg, msg_len,
					 "device model exited with status %d",
					 WEXITSTATUS(status));
		}
		return -1;
	}
	servers = hv_server_count(hv);
	if (servers) {
		if (msg)
			snprintf(msg, msg_len,
				 "device model exited leaving %u ioreq "
				 "server(s) behind",
				 servers);
		return -1;
	}
	return 0;
}
