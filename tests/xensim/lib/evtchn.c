/*
 * Drop-in libxenevtchn.so.1 with the Linux evtchn driver's delivery model:
 * a delivered port is masked until unmasked, notifications coalesce while
 * masked, unmask re-delivers once, bind leaves the port pending once.
 * Fast path without RPCs: pending() reads a port from the pipe, unmask()
 * updates the shared state word (and may write the port back into the
 * pipe), notify() writes the remote's eventfd.
 *
 * Modelled binds: interdomain (to the simulated guest), unbound, and
 * VIRQ_DOM_EXC.  Not modelled: other VIRQs (ENOSYS), xenevtchn_fdopen
 * (ENOSYS).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenevtchn.h>

#include "xs-client.h"

struct xenevtchn_handle {
	struct xs_client c;
	int rfd;		 /* xenevtchn_fd(): ports to deliver */
	int wfd;		 /* same pipe, for unmask re-delivery */
	_Atomic uint32_t *state; /* XENSIM_PORT_* per local port */
	int *efd;		 /* local port -> remote's eventfd */
	Xentoolcore__Active_Handle tc_ah;
};

static int
fail(int e)
{
	errno = e;
	return -1;
}

static int
evtchn_restrict_cb(Xentoolcore__Active_Handle *ah, domid_t domid)
{
	xenevtchn_handle *xce = (xenevtchn_handle *)((char *)ah -
						     offsetof(xenevtchn_handle,
							      tc_ah));

	return xenevtchn_restrict(xce, domid);
}

xenevtchn_handle *
xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags)
{
	xenevtchn_handle *xce;
	int fds[3];
	unsigned nfds = 0;
	void *page;
	int r;

	if (flags & ~XENEVTCHN_NO_CLOEXEC) {
		errno = EINVAL;
		return NULL;
	}
	xce = calloc(1, sizeof(*xce));
	if (xce)
		xce->efd = malloc(XENSIM_LPORT_MAX * sizeof(int));
	if (!xce || !xce->efd) {
		if (xce)
			free(xce);
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < XENSIM_LPORT_MAX; i++)
		xce->efd[i] = -1;
	r = xs_client_open(&xce->c, XENSIM_KIND_EVTCHN, fds, 3, &nfds);
	if (r == 0 && nfds != 3)
		r = -EIO;
	if (r < 0)
		goto err;
	page = mmap(NULL, XENSIM_EVTCHN_PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fds[2], 0);
	close(fds[2]);
	if (page == MAP_FAILED) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		xs_client_close(&xce->c);
		goto err;
	}
	xce->state = page;
	xce->rfd = fds[0];
	xce->wfd = fds[1];
	if (flags & XENEVTCHN_NO_CLOEXEC)
		(void)fcntl(xce->rfd, F_SETFD, 0);
	xce->tc_ah.restrict_callback = evtchn_restrict_cb;
	xentoolcore__register_active_handle(&xce->tc_ah);
	return xce;

err:
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	free(xce->efd);
	free(xce);
	errno = -r;
	return NULL;
}

xenevtchn_handle *
xenevtchn_fdopen(struct xentoollog_logger *logger, int fd,
		 unsigned int open_flags)
{
	errno = ENOSYS;
	return NULL;
}

int
xenevtchn_close(xenevtchn_handle *xce)
{
	if (!xce)
		return 0;
	xentoolcore__deregister_active_handle(&xce->tc_ah);
	/* Closing the connection unbinds every port in xensim. */
	xs_client_close(&xce->c);
	for (unsigned i = 0; i < XENSIM_LPORT_MAX; i++)
		if (xce->efd[i] >= 0)
			close(xce->efd[i]);
	munmap((void *)xce->state, XENSIM_EVTCHN_PAGE_SIZE);
	close(xce->rfd);
	close(xce->wfd);
	free(xce->efd);
	free(xce);
	return 0;
}

int
xenevtchn_restrict(xenevtchn_handle *xce, domid_t domid)
{
	int r = xs_client_simple(&xce->c, XENSIM_OP_RESTRICT, domid, NULL, 0,
				 NULL);

	return r < 0 ? fail(-r) : 0;
}

int
xenevtchn_fd(xenevtchn_handle *xce)
{
	return xce->rfd;
}

static int
port_ok(evtchn_port_t port)
{
	return port >= XENSIM_LPORT_BASE && port < XENSIM_LPORT_MAX;
}

int
xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
	uint64_t one = 1;
	uint32_t st;
	int efd;

	if (!port_ok(port))
		return fail(ENOTCONN);
	st = atomic_load(&xce->state[port]);
	if (!(st & XENSIM_PORT_BOUND))
		return fail(ENOTCONN);
	/* Xen drops a send on a channel whose remote end is closed. */
	efd = __atomic_load_n(&xce->efd[port], __ATOMIC_ACQUIRE);
	if (!(st & XENSIM_PORT_CONNECTED) || efd < 0)
		return 0;
	if (write(efd, &one, sizeof(one)) != sizeof(one))
		return -1;
	return 0;
}

static xenevtchn_port_or_error_t
bind_common(xenevtchn_handle *xce, uint32_t op, uint32_t domid, uint64_t arg)
{
	struct xensim_req req = { .op = op, .domid = domid, .arg = { arg } };
	struct xensim_rep rep;
	unsigned nfds = 0;
	int fd = -1;
	int r;

	r = xs_client_call(&xce->c, &req, sizeof(req), &rep, sizeof(rep), &fd,
			   1, &nfds);
	if (r < 0) {
		if (nfds)
			close(fd);
		return fail(-r);
	}
	if (!port_ok((evtchn_port_t)rep.val[0])) {
		if (nfds)
			close(fd);
		return fail(EIO);
	}
	if (nfds)
		__atomic_store_n(&xce->efd[rep.val[0]], fd, __ATOMIC_RELEASE);
	return (xenevtchn_port_or_error_t)rep.val[0];
}

xenevtchn_port_or_error_t
xenevtchn_bind_unbound_port(xenevtchn_handle *xce, uint32_t domid)
{
	return bind_common(xce, XENSIM_OP_EVTCHN_BIND_UNBOUND, domid, 0);
}

xenevtchn_port_or_error_t
xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
			   evtchn_port_t remote_port)
{
	return bind_common(xce, XENSIM_OP_EVTCHN_BIND_INTERDOMAIN, domid,
			   remote_port);
}

xenevtchn_port_or_error_t
xenevtchn_bind_virq(xenevtchn_handle *xce, unsigned int virq)
{
	return bind_common(xce, XENSIM_OP_EVTCHN_BIND_VIRQ, 0, virq);
}

int
xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
	uint64_t arg = port;
	int r = xs_client_simple(&xce->c, XENSIM_OP_EVTCHN_UNBIND, 0, &arg, 1,
				 NULL);
	int efd;

	if (r < 0)
		return fail(-r);
	efd = __atomic_exchange_n(&xce->efd[port], -1, __ATOMIC_ACQ_REL);
	if (efd >= 0)
		close(efd);
	return 0;
}

xenevtchn_port_or_error_t
xenevtchn_pending(xenevtchn_handle *xce)
{
	uint32_t port;
	ssize_t n = read(xce->rfd, &port, sizeof(port));

	if (n != sizeof(port))
		return n < 0 ? -1 : fail(EIO);
	return (xenevtchn_port_or_error_t)port;
}

int
xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
	_Atomic uint32_t *w;
	uint32_t old, new;

	if (!port_ok(port))
		return 0;
	w = &xce->state[port];
	old = atomic_load(w);
	do {
		if (!(old & XENSIM_PORT_MASKED))
			return 0;
		/* Signalled while masked: stay masked, deliver once more. */
		if (old & XENSIM_PORT_PENDING)
			new = old & ~XENSIM_PORT_PENDING;
		else
			new = old & ~XENSIM_PORT_MASKED;
	} while (!atomic_compare_exchange_weak(w, &old, new));
	if ((old & XENSIM_PORT_PENDING) &&
	    write(xce->wfd, &port, sizeof(port)) != sizeof(port))
		return -1;
	return 0;
}
