/*
 * The control side of xensim's transport: a thread that accepts one
 * SOCK_SEQPACKET connection per library handle and answers its RPCs
 * (proto.h).  It stands in for privcmd/evtchn/gntdev ioctls; the ioreq
 * fast path never comes through here.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hv-internal.h"

static void
conn_free(struct hv *hv, struct hv_conn *c)
{
	pthread_rwlock_wrlock(&hv->lock);
	hv_conn_release_ports(hv, c);
	hv_conn_release_maps(hv, c);
	hv_xs_conn_remove(hv, c);
	pthread_rwlock_unlock(&hv->lock);
	if (c->state)
		munmap((void *)c->state, XENSIM_EVTCHN_PAGE_SIZE);
	if (c->pipe_w >= 0)
		close(c->pipe_w);
	close(c->fd);
	free(c);
}

static int
send_reply(int fd, const struct xensim_rep *rep, size_t len, const int *fds,
	   unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)rep, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int
hello_evtchn(struct hv_conn *c, int *fds)
{
	int p[2];
	void *page;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	/* xensim must never block on a delivery; the library's reads do. */
	if (fcntl(p[1], F_SETFL, O_NONBLOCK) < 0)
		goto err_pipe;
	c->state_fd = memfd_create("xensim-evtchn", MFD_CLOEXEC);
	if (c->state_fd < 0)
		goto err_pipe;
	if (ftruncate(c->state_fd, XENSIM_EVTCHN_PAGE_SIZE) < 0)
		goto err_memfd;
	page = mmap(NULL, XENSIM_EVTCHN_PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED, c->state_fd, 0);
	if (page == MAP_FAILED)
		goto err_memfd;
	c->state = page;
	c->pipe_w = p[1];
	fds[0] = p[0];
	fds[1] = p[1];
	fds[2] = c->state_fd;
	return 0;

err_memfd:
	close(c->state_fd);
	c->state_fd = -1;
err_pipe:
	close(p[0]);
	close(p[1]);
	return -errno;
}

/* The watch pipe of a xenstore connection (see proto.h). */
static int
hello_xenstore(struct hv *hv, struct hv_conn *c, int *fds)
{
	int p[2];

	if (hv->cfg.no_xenstored)
		return -ENOENT; /* neither the socket nor /dev/xen/xenbus */
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(p[1], F_SETFL, O_NONBLOCK) < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	c->pipe_w = p[1];
	fds[0] = p[0];
	fds[1] = p[1];
	hv_xs_conn_add(hv, c);
	return 0;
}

static void
handle_gnt_lookup(struct hv *hv, struct hv_conn *c,
		  const struct xensim_req *req, size_t len,
		  struct xensim_rep *rep, uint64_t *out)
{
	const uint32_t *refs = (const uint32_t *)(req + 1);

	if (req->nr == 0 || req->nr > XENSIM_MAX_REFS ||
	    len < sizeof(*req) + req->nr * sizeof(uint32_t)) {
		rep->ret = -EINVAL;
		return;
	}
	rep->ret = hv_check_domain(hv, c, req->domid, EPERM);
	if (rep->ret < 0)
		return;
	for (uint32_t i = 0; i < req->nr; i++)
		out[i] = refs[i] < HV_MAX_GRANTS ? hv->grants[refs[i]] :
						   XENSIM_GNT_BAD;
	rep->nr = req->nr;
}

/* Handle one request; fills rep and the fds to pass back. */
static size_t
handle(struct hv *hv, struct hv_conn *c, const struct xensim_req *req,
       size_t len, struct xensim_rep *rep, int *fds, unsigned *nfds,
       int *close_fd)
{
	uint32_t port;
	int fd;

	memset(rep, 0, sizeof(*rep));
	*nfds = 0;
	*close_fd = -1;
	if (len < sizeof(*req) || req->magic != XENSIM_PROTO_MAGIC) {
		rep->ret = -EINVAL;
		return sizeof(*rep);
	}
	if (req->op != XENSIM_OP_HELLO && c->kind == 0) {
		rep->ret = -EPROTO;
		return sizeof(*rep);
	}
	pthread_rwlock_wrlock(&hv->lock);
	switch (req->op) {
	case XENSIM_OP_HELLO:
		if (c->kind != 0 || req->arg[0] < XENSIM_KIND_DEVICEMODEL ||
		    req->arg[0] > XENSIM_KIND_XENSTORE) {
			rep->ret = -EINVAL;
			break;
		}
		c->kind = (int)req->arg[0];
		rep->val[0] = hv->cfg.domid;
		rep->val[1] = hv->ram_size;
		rep->val[2] = hv->cfg.vcpus;
		if (c->kind == XENSIM_KIND_EVTCHN) {
			rep->ret = hello_evtchn(c, fds);
			if (rep->ret == 0) {
				*nfds = 3;
				*close_fd = fds[0];
			}
		} else if (c->kind == XENSIM_KIND_XENSTORE) {
			rep->ret = hello_xenstore(hv, c, fds);
			if (rep->ret == 0) {
				*nfds = 2;
				*close_fd = fds[0];
			}
		} else if (c->kind != XENSIM_KIND_DEVICEMODEL) {
			fds[0] = hv->ram_fd;
			*nfds = 1;
		}
		break;
	case XENSIM_OP_RESTRICT:
		if (c->restrict_domid >= 0 &&
		    (uint32_t)c->restrict_domid != req->domid)
			rep->ret = -EINVAL;
		else
			c->restrict_domid = (int)(uint16_t)req->domid;
		break;
	case XENSIM_OP_DMOP:
		rep->ret = hv_dmop(hv, c, req, rep);
		break;
	case XENSIM_OP_EVTCHN_BIND_INTERDOMAIN:
		if (c->kind != XENSIM_KIND_EVTCHN) {
			rep->ret = -EBADF;
			break;
		}
		rep->ret = hv_evtchn_bind_interdomain(hv, c, req->domid,
						      (uint32_t)req->arg[0],
						      &port, &fd);
		if (rep->ret == 0) {
			rep->val[0] = port;
			fds[0] = fd;
			*nfds = 1;
		}
		break;
	case XENSIM_OP_EVTCHN_BIND_UNBOUND:
	case XENSIM_OP_EVTCHN_BIND_VIRQ:
		if (c->kind != XENSIM_KIND_EVTCHN) {
			rep->ret = -EBADF;
			break;
		}
		rep->ret = req->op == XENSIM_OP_EVTCHN_BIND_UNBOUND ?
				   hv_evtchn_bind_unbound(hv, c, &port) :
				   hv_evtchn_bind_virq(hv, c,
						       (uint32_t)req->arg[0],
						       &port);
		rep->val[0] = port;
		break;
	case XENSIM_OP_EVTCHN_UNBIND:
		rep->ret = c->kind != XENSIM_KIND_EVTCHN ?
				   -EBADF :
				   hv_evtchn_unbind(hv, c,
						    (uint32_t)req->arg[0]);
		break;
	case XENSIM_OP_FMEM_CHECK:
		rep->ret = hv_check_domain(hv, c, req->domid, EPERM);
		/* a dying domain's memory is being taken apart */
		if (rep->ret == 0 && atomic_load(&hv->dying))
			rep->ret = -EINVAL;
		break;
	case XENSIM_OP_MAP_RESOURCE:
		rep->ret = hv_map_resource(hv, c, req, &fd);
		if (rep->ret == 0) {
			/* dup: a destroy may close the server's fd. */
			fds[0] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
			if (fds[0] < 0) {
				rep->ret = -errno;
			} else {
				*nfds = 1;
				*close_fd = fds[0];
			}
		}
		break;
	case XENSIM_OP_RESOURCE_SIZE:
		rep->ret = hv_resource_size(hv, c, req, &rep->val[0]);
		break;
	case XENSIM_OP_GNT_LOOKUP:
		handle_gnt_lookup(hv, c, req, len, rep, (uint64_t *)(rep + 1));
		break;
	case XENSIM_OP_MAP_NOTE:
		hv_map_note(hv, c, req->arg[0] != 0);
		break;
	default:
		rep->ret = -ENOSYS;
		break;
	}
	pthread_rwlock_unlock(&hv->lock);
	return sizeof(*rep) + rep->nr * sizeof(uint64_t);
}

static bool
conn_serve(struct hv *hv, struct hv_conn *c, void *inbuf, void *outbuf)
{
	int fds[4] = { -1, -1, -1, -1 }, close_fd;
	unsigned nfds;
	ssize_t n;
	size_t out_len;

	n = recv(c->fd, inbuf, XENSIM_MSG_MAX, 0);
	if (n <= 0)
		return n < 0 && (errno == EINTR || errno == EAGAIN);
	out_len = handle(hv, c, inbuf, (size_t)n, outbuf, fds, &nfds,
			 &close_fd);
	if (send_reply(c->fd, outbuf, out_len, fds, nfds) < 0)
		return false;
	if (close_fd >= 0)
		close(close_fd);
	if (c->state_fd >= 0) {
		close(c->state_fd);
		c->state_fd = -1;
	}
	return true;
}

static void
accept_conn(struct hv *hv)
{
	struct hv_conn *c;
	int fd = accept4(hv->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (unsigned i = 0; i < HV_MAX_CONNS; i++) {
		if (hv->conns[i])
			continue;
		c = calloc(1, sizeof(*c));
		if (!c)
			break;
		c->fd = fd;
		c->restrict_domid = -1;
		c->pipe_w = -1;
		c->state_fd = -1;
		hv->conns[i] = c;
		return;
	}
	close(fd);
}

static void *
ctl_main(void *arg)
{
	struct hv *hv = arg;
	struct pollfd pfds[HV_MAX_CONNS + 2];
	int idx[HV_MAX_CONNS + 2];
	void *inbuf = malloc(XENSIM_MSG_MAX);
	void *outbuf = malloc(XENSIM_MSG_MAX);

	if (!inbuf || !outbuf)
		goto out;
	for (;;) {
		nfds_t n = 0;

		pfds[n] = (struct pollfd){ .fd = hv->wake_pipe[0],
					   .events = POLLIN };
		idx[n++] = -2;
		pfds[n] = (struct pollfd){ .fd = hv->listen_fd,
					   .events = POLLIN };
		idx[n++] = -1;
		for (unsigned i = 0; i < HV_MAX_CONNS; i++) {
			if (!hv->conns[i])
				continue;
			pfds[n] = (struct pollfd){ .fd = hv->conns[i]->fd,
						   .events = POLLIN };
			idx[n++] = (int)i;
		}
		if (poll(pfds, n, -1) < 0)
			continue;
		if (pfds[0].revents)
			break;
		if (pfds[1].revents & POLLIN)
			accept_conn(hv);
		for (nfds_t k = 2; k < n; k++) {
			struct hv_conn *c = hv->conns[idx[k]];

			if (!pfds[k].revents)
				continue;
			if (!conn_serve(hv, c, inbuf, outbuf)) {
				hv->conns[idx[k]] = NULL;
				conn_free(hv, c);
			}
		}
	}
out:
	free(inbuf);
	free(outbuf);
	return NULL;
}

int
hv_ctl_start(struct hv *hv)
{
	static unsigned counter;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t sl;
	int r;

	snprintf(hv->sock_name, sizeof(hv->sock_name), "@xensim-%d-%u-%p",
		 (int)getpid(),
		 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED), (void *)hv);
	/* Abstract namespace: nothing to clean up on disk. */
	memcpy(sa.sun_path + 1, hv->sock_name + 1, strlen(hv->sock_name) - 1);
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			 strlen(hv->sock_name));
	if (pipe2(hv->wake_pipe, O_CLOEXEC) < 0)
		return -errno;
	hv->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (hv->listen_fd < 0)
		return -errno;
	if (bind(hv->listen_fd, (struct sockaddr *)&sa, sl) < 0 ||
	    listen(hv->listen_fd, 64) < 0)
		return -errno;
	r = pthread_create(&hv->ctl_thread, NULL, ctl_main, hv);
	if (r)
		return -r;
	hv->ctl_running = true;
	return 0;
}

void
hv_ctl_stop(struct hv *hv)
{
	if (hv->ctl_running) {
		(void)!write(hv->wake_pipe[1], "x", 1);
		pthread_join(hv->ctl_thread, NULL);
		hv->ctl_running = false;
	}
	for (unsigned i = 0; i < HV_MAX_CONNS; i++) {
		if (hv->conns[i]) {
			conn_free(hv, hv->conns[i]);
			hv->conns[i] = NULL;
		}
	}
	if (hv->listen_fd >= 0)
		close(hv->listen_fd);
	if (hv->wake_pipe[0] >= 0)
		close(hv->wake_pipe[0]);
	if (hv->wake_pipe[1] >= 0)
		close(hv->wake_pipe[1]);
	hv->listen_fd = -1;
	hv->wake_pipe[0] = hv->wake_pipe[1] = -1;
}
