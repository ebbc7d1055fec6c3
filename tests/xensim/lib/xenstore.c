/*
 * Drop-in libxenstore.so.4: the watch half of the xenstore client, which
 * is what a device model uses to learn about domain death.
 *
 * Modelled (tools/libs/store/xs.c and xenstored's watch rules, 4.17):
 * xs_open and its deprecated aliases, xs_close, xs_watch/xs_unwatch of
 * the special path @releaseDomain (EEXIST for a duplicate path+token,
 * ENOENT for an unknown one), the initial fire every new watch gets,
 * xs_fileno (readable while events are pending), xs_check_watch
 * (non-blocking, NULL + EAGAIN when drained) and xs_read_watch (blocking),
 * both returning one malloc'd vector {path, token} with the strings in
 * the same allocation.  @releaseDomain fires when xensim's domain shuts
 * down (first time only) and when it is destroyed, as xenstored's
 * domain checks do on VIRQ_DOM_EXC.  Events of a removed watch are always
 * dropped (XS_UNWATCH_FILTER behaviour, allowed either way).  Restricting
 * the handle (xentoolcore_restrict_all) puts /dev/null over its
 * connection, as the real library does, so no event arrives after it.
 *
 * Not modelled: the store itself (reads, writes, directories,
 * transactions, permissions, domain introduction), watches on other
 * paths: they fail with ENOSYS.  The real library's reader thread is not
 * reproduced (no thread is needed without a socket protocol).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xenstore.h>

#include "xs-client.h"

#define XS_SIM_MAX_WATCHES  128 /* xenstored's default watch quota */
#define XS_SIM_RELEASE_PATH "@releaseDomain"

struct xs_sim_watch {
	uint32_t id; /* 0: free slot */
	char *path;
	char *token;
};

struct xs_handle {
	struct xs_client c;
	int rfd; /* xs_fileno(): pending watch records */
	int wfd; /* the same pipe, for the library's records */
	uint32_t next_id;
	struct xs_sim_watch watches[XS_SIM_MAX_WATCHES];
	Xentoolcore__Active_Handle tc_ah;
};

static int
xs_sim_restrict_cb(Xentoolcore__Active_Handle *ah, domid_t domid)
{
	struct xs_handle *h = (struct xs_handle *)((char *)ah -
						   offsetof(struct xs_handle,
							    tc_ah));

	return xentoolcore__restrict_by_dup2_null(h->c.fd);
}

struct xs_handle *
xs_open(unsigned long flags)
{
	struct xs_handle *h = calloc(1, sizeof(*h));
	int fds[2];
	unsigned nfds = 0;
	bool connected;
	int r;

	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	r = xs_client_open(&h->c, XENSIM_KIND_XENSTORE, fds, 2, &nfds);
	connected = r == 0;
	if (r == 0 && nfds != 2)
		r = -EIO;
	if (r == 0 && fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0)
		r = -errno;
	if (r < 0) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (connected)
			xs_client_close(&h->c);
		free(h);
		errno = -r;
		return NULL;
	}
	h->rfd = fds[0];
	h->wfd = fds[1];
	h->next_id = 1;
	h->tc_ah.restrict_callback = xs_sim_restrict_cb;
	xentoolcore__register_active_handle(&h->tc_ah);
	return h;
}

struct xs_handle *
xs_daemon_open(void)
{
	return xs_open(0);
}

struct xs_handle *
xs_daemon_open_readonly(void)
{
	return xs_open(0);
}

struct xs_handle *
xs_domain_open(void)
{
	return xs_open(0);
}

static void
watch_clear(struct xs_sim_watch *w)
{
	free(w->path);
	free(w->token);
	memset(w, 0, sizeof(*w));
}

void
xs_close(struct xs_handle *h)
{
	if (!h)
		return;
	xentoolcore__deregister_active_handle(&h->tc_ah);
	xs_client_close(&h->c);
	close(h->rfd);
	close(h->wfd);
	for (unsigned i = 0; i < XS_SIM_MAX_WATCHES; i++)
		watch_clear(&h->watches[i]);
	free(h);
}

void
xs_daemon_close(struct xs_handle *h)
{
	xs_close(h);
}

void
xs_daemon_destroy_postfork(struct xs_handle *h)
{
	xs_close(h);
}

int
xs_fileno(struct xs_handle *h)
{
	return h->rfd;
}

static struct xs_sim_watch *
watch_find(struct xs_handle *h, const char *path, const char *token)
{
	for (unsigned i = 0; i < XS_SIM_MAX_WATCHES; i++) {
		struct xs_sim_watch *w = &h->watches[i];

		if (w->id && strcmp(w->path, path) == 0 &&
		    strcmp(w->token, token) == 0)
			return w;
	}
	return NULL;
}

static struct xs_sim_watch *
watch_by_id(struct xs_handle *h, uint32_t id)
{
	for (unsigned i = 0; i < XS_SIM_MAX_WATCHES; i++)
		if (id && h->watches[i].id == id)
			return &h->watches[i];
	return NULL;
}

static int
queue_event(struct xs_handle *h, uint32_t id)
{
	struct xensim_xs_record rec = { .kind = XENSIM_XS_EVENT,
					.watch_id = id };

	if (write(h->wfd, &rec, sizeof(rec)) != (ssize_t)sizeof(rec))
		return -1;
	return 0;
}

bool
xs_watch(struct xs_handle *h, const char *path, const char *token)
{
	struct xs_sim_watch *slot = NULL;

	if (!path || !token) {
		errno = EINVAL;
		return false;
	}
	if (strcmp(path, XS_SIM_RELEASE_PATH) != 0) {
		errno = ENOSYS;
		return false;
	}
	if (watch_find(h, path, token)) {
		errno = EEXIST;
		return false;
	}
	for (unsigned i = 0; i < XS_SIM_MAX_WATCHES && !slot; i++)
		if (!h->watches[i].id)
			slot = &h->watches[i];
	if (!slot) {
		errno = E2BIG;
		return false;
	}
	slot->path = strdup(path);
	slot->token = strdup(token);
	if (!slot->path || !slot->token) {
		watch_clear(slot);
		errno = ENOMEM;
		return false;
	}
	slot->id = h->next_id++;
	/* xenstored fires every new watch once, up front. */
	if (queue_event(h, slot->id) < 0) {
		watch_clear(slot);
		return false;
	}
	return true;
}

bool
xs_unwatch(struct xs_handle *h, const char *path, const char *token)
{
	struct xs_sim_watch *w;

	if (!path || !token) {
		errno = EINVAL;
		return false;
	}
	w = watch_find(h, path, token);
	if (!w) {
		errno = ENOENT;
		return false;
	}
	watch_clear(w);
	return true;
}

/* {path, token} in one allocation, as the real library returns them. */
static char **
event_vector(const struct xs_sim_watch *w)
{
	size_t plen = strlen(w->path) + 1, tlen = strlen(w->token) + 1;
	char **vec = malloc(2 * sizeof(char *) + plen + tlen);

	if (!vec) {
		errno = ENOMEM;
		return NULL;
	}
	vec[XS_WATCH_PATH] = (char *)(vec + 2);
	memcpy(vec[XS_WATCH_PATH], w->path, plen);
	vec[XS_WATCH_TOKEN] = vec[XS_WATCH_PATH] + plen;
	memcpy(vec[XS_WATCH_TOKEN], w->token, tlen);
	return vec;
}

/* Next event, or NULL with errno EAGAIN when none is pending. */
static char **
next_event(struct xs_handle *h)
{
	struct xensim_xs_record rec;
	struct xs_sim_watch *w;
	ssize_t n;

	for (;;) {
		n = read(h->rfd, &rec, sizeof(rec));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL;
		if (n != (ssize_t)sizeof(rec)) {
			errno = EIO;
			return NULL;
		}
		if (rec.kind == XENSIM_XS_RELEASE) {
			/* One event for each @releaseDomain watch. */
			for (unsigned i = 0; i < XS_SIM_MAX_WATCHES; i++)
				if (h->watches[i].id &&
				    strcmp(h->watches[i].path,
					   XS_SIM_RELEASE_PATH) == 0 &&
				    queue_event(h, h->watches[i].id) < 0)
					return NULL;
			continue;
		}
		w = watch_by_id(h, rec.watch_id);
		if (rec.kind == XENSIM_XS_EVENT && w)
			return event_vector(w);
	}
}

char **
xs_check_watch(struct xs_handle *h)
{
	return next_event(h);
}

char **
xs_read_watch(struct xs_handle *h, unsigned int *num)
{
	struct pollfd p = { .fd = h->rfd, .events = POLLIN };
	char **vec;

	for (;;) {
		vec = next_event(h);
		if (vec || errno != EAGAIN)
			break;
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return NULL;
	}
	if (vec && num)
		*num = 2;
	return vec;
}

bool
xs_path_is_subpath(const char *parent, const char *child)
{
	size_t plen = strlen(parent);

	return strncmp(parent, child, plen) == 0 &&
	       (child[plen] == '\0' || child[plen] == '/');
}

bool
xs_write_all(int fd, const void *data, unsigned int len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (unsigned)n;
	}
	return true;
}

const char *
xs_daemon_rundir(void)
{
	return "/var/run/xenstored";
}

const char *
xs_daemon_socket(void)
{
	return "/var/run/xenstored/socket";
}

const char *
xs_daemon_socket_ro(void)
{
	return xs_daemon_socket();
}

/* ---- the store itself is not modelled: ENOSYS ---- */

static bool
nosys_false(void)
{
	errno = ENOSYS;
	return false;
}

static void *
nosys_null(void)
{
	errno = ENOSYS;
	return NULL;
}

char **
xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path,
	     unsigned int *num)
{
	return nosys_null();
}

void *
xs_read(struct xs_handle *h, xs_transaction_t t, const char *path,
	unsigned int *len)
{
	return nosys_null();
}

bool
xs_write(struct xs_handle *h, xs_transaction_t t, const char *path,
	 const void *data, unsigned int len)
{
	return nosys_false();
}

bool
xs_mkdir(struct xs_handle *h, xs_transaction_t t, const char *path)
{
	return nosys_false();
}

bool
xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path)
{
	return nosys_false();
}

bool
xs_restrict(struct xs_handle *h, unsigned domid)
{
	return nosys_false();
}

struct xs_permissions *
xs_get_permissions(struct xs_handle *h, xs_transaction_t t, const char *path,
		   unsigned int *num)
{
	return nosys_null();
}

bool
xs_set_permissions(struct xs_handle *h, xs_transaction_t t, const char *path,
		   struct xs_permissions *perms, unsigned int num_perms)
{
	return nosys_false();
}

bool
xs_strings_to_perms(struct xs_permissions *perms, unsigned int num,
		    const char *strings)
{
	return nosys_false();
}

xs_transaction_t
xs_transaction_start(struct xs_handle *h)
{
	errno = ENOSYS;
	return XBT_NULL;
}

bool
xs_transaction_end(struct xs_handle *h, xs_transaction_t t, bool abort)
{
	return nosys_false();
}

bool
xs_introduce_domain(struct xs_handle *h, unsigned int domid, unsigned long mfn,
		    unsigned int eventchn)
{
	return nosys_false();
}

bool
xs_set_target(struct xs_handle *h, unsigned int domid, unsigned int target)
{
	return nosys_false();
}

bool
xs_resume_domain(struct xs_handle *h, unsigned int domid)
{
	return nosys_false();
}

bool
xs_release_domain(struct xs_handle *h, unsigned int domid)
{
	return nosys_false();
}

char *
xs_get_domain_path(struct xs_handle *h, unsigned int domid)
{
	return nosys_null();
}

bool
xs_is_domain_introduced(struct xs_handle *h, unsigned int domid)
{
	return nosys_false();
}

char *
xs_control_command(struct xs_handle *h, const char *cmd, void *data,
		   unsigned int len)
{
	return nosys_null();
}

char *
xs_debug_command(struct xs_handle *h, const char *cmd, void *data,
		 unsigned int len)
{
	return nosys_null();
}

int
xs_suspend_evtchn_port(int domid)
{
	errno = ENOSYS;
	return -1;
}
