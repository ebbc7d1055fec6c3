/*
 * Client side of the xensim transport (see xs-client.h and proto.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xs-client.h"

static int
recv_reply(int fd, struct xensim_rep *rep, size_t rep_max, int *fds,
	   unsigned max_fds, unsigned *ret_nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = rep, .iov_len = rep_max };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	unsigned got = 0;
	ssize_t n;

	do {
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < (ssize_t)sizeof(*rep))
		return -EIO;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		unsigned k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(f));
			if (got < max_fds)
				fds[got++] = f;
			else
				close(f);
		}
	}
	if (ret_nfds)
		*ret_nfds = got;
	else
		for (unsigned i = 0; i < got; i++)
			close(fds[i]);
	return 0;
}

int
xs_client_call(struct xs_client *c, struct xensim_req *req, size_t req_len,
	       struct xensim_rep *rep, size_t rep_max, int *fds,
	       unsigned max_fds, unsigned *ret_nfds)
{
	ssize_t n;
	int r;

	req->magic = XENSIM_PROTO_MAGIC;
	if (ret_nfds)
		*ret_nfds = 0;
	pthread_mutex_lock(&c->lock);
	do {
		n = send(c->fd, req, req_len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)req_len)
		r = -EIO;
	else
		r = recv_reply(c->fd, rep, rep_max, fds, max_fds, ret_nfds);
	pthread_mutex_unlock(&c->lock);
	return r < 0 ? r : rep->ret;
}

int
xs_client_simple(struct xs_client *c, uint32_t op, uint32_t domid,
		 const uint64_t *args, unsigned nargs, struct xensim_rep *rep)
{
	struct xensim_req req = { .op = op, .domid = domid };
	struct xensim_rep local;

	for (unsigned i = 0; i < nargs && i < 6; i++)
		req.arg[i] = args[i];
	if (!rep)
		rep = &local;
	return xs_client_call(c, &req, sizeof(req), rep, sizeof(*rep), NULL, 0,
			      NULL);
}

int
xs_client_open(struct xs_client *c, unsigned kind, int *fds, unsigned max_fds,
	       unsigned *ret_nfds)
{
	const char *name = getenv(XENSIM_ENV_SOCKET);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct xensim_req req = { .op = XENSIM_OP_HELLO, .arg = { kind } };
	struct xensim_rep rep;
	size_t len;
	socklen_t sl;
	int r;

	/* No simulator: like a host without /dev/xen. */
	if (!name || !*name)
		return -ENOENT;
	len = strlen(name);
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
			 (name[0] == '@' ? 0 : 1));
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sl) < 0) {
		r = errno == ECONNREFUSED ? -ENOENT : -errno;
		close(c->fd);
		return r;
	}
	pthread_mutex_init(&c->lock, NULL);
	r = xs_client_call(c, &req, sizeof(req), &rep, sizeof(rep), fds,
			   max_fds, ret_nfds);
	if (r < 0) {
		xs_client_close(c);
		return r;
	}
	c->domid = (uint32_t)rep.val[0];
	c->ram_size = rep.val[1];
	c->vcpus = (unsigned)rep.val[2];
	return 0;
}

void
xs_client_close(struct xs_client *c)
{
	close(c->fd);
	c->fd = -1;
	pthread_mutex_destroy(&c->lock);
}

int
xs_gfn_is_ram(const struct xs_client *c, uint64_t gfn)
{
	if (gfn >= c->ram_size / 4096)
		return 0;
	return gfn < 0xa0 || gfn > 0xbf;
}
