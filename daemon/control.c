/*
 * The control socket's transport (see control.h): listener, clients, line
 * framing, output queues, events.  The meaning of a line is commands.c's.
 */
#include "daemon/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/commands.h"
#include "devices/chardev.h"
#include "lib/log.h"

#define CTL_IN_SIZE	     (CTL_LINE_MAX + 1) /* a longest line and its '\n' */
#define CTL_ACCEPTS_PER_WAKE 8
#define CTL_REPORT_QUEUE     32

struct ctl_client {
	struct ctl *ctl;
	int fd;
	struct event *rev, *wev;
	char *in; /* CTL_IN_SIZE bytes */
	size_t in_len;
	bool discarding; /* inside a line that was too long */
	bool eof;	 /* the client will send no more */
	bool dead;	 /* to be freed by whoever runs next for it */
	bool subscribed;
	char *out;
	size_t out_len, out_cap;
	struct ctl_client *next;
};

/* A device report waiting for the loop (ctl_device_report). */
struct ctl_report {
	char id[64];
	enum device_event ev;
	char desc[128];
};

struct ctl {
	struct event_base *base;
	struct ctl_daemon *d;
	int listen_fd;
	struct event *lev;
	char *path;
	dev_t sock_dev;
	ino_t sock_ino;
	bool has_group;
	gid_t gid;
	struct ctl_client *clients;
	unsigned client_count;
	struct event *report_ev;
	struct ctl_report reports[CTL_REPORT_QUEUE];
	unsigned report_count;
};

static void client_free(struct ctl_client *c);

char *
ctl_default_path(const char *name)
{
	size_t len = strlen(name);
	char *path;

	if (len == 0 || len > 64 || name[0] == '.')
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		      ch == '.'))
			return NULL;
	}
	if (asprintf(&path, "/run/ioreqd/%s.sock", name) < 0)
		return NULL;
	return path;
}

/* ---- output ------------------------------------------------------- */

static void
client_flush(struct ctl_client *c)
{
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			c->dead = true;
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	if (c->out_len > 0)
		(void)event_add(c->wev, NULL);
	else {
		(void)event_del(c->wev);
		if (c->eof)
			c->dead =
				true; /* said everything; it said it is done */
	}
}

/* Queue `line` plus '\n' (line is freed); over the bound, drop the client. */
static void
client_send(struct ctl_client *c, char *line)
{
	size_t len;

	if (c->dead) {
		free(line);
		return;
	}
	if (!line) {
		c->dead = true;
		return;
	}
	len = strlen(line);
	if (c->out_len + len + 1 > CTL_OUTPUT_MAX) {
		log_warning("control: a client's unread output passed %u "
			    "bytes, disconnecting it",
			    CTL_OUTPUT_MAX);
		free(line);
		c->dead = true;
		return;
	}
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		while (cap < c->out_len + len + 1)
			cap *= 2;
		if (cap > CTL_OUTPUT_MAX)
			cap = CTL_OUTPUT_MAX;
		p = realloc(c->out, cap);
		if (!p) {
			free(line);
			c->dead = true;
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, line, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	free(line);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client *c = arg;

	client_flush(c);
	if (c->dead)
		client_free(c);
}

/* ---- input -------------------------------------------------------- */

static void
handle_line(struct ctl_client *c, const char *line, size_t len)
{
	bool subscribe = false;

	client_send(c, ctl_handle_request(c->ctl->d, line, len, &subscribe));
	if (subscribe)
		c->subscribed = true;
}

/*
 * Answer complete lines in the buffer, at most *budget of them.  Returns
 * false when the budget ran out with lines left.
 */
static bool
process_lines(struct ctl_client *c, unsigned *budget)
{
	size_t start = 0;
	bool done = true;

	while (start < c->in_len && !c->dead) {
		char *nl = memchr(c->in + start, '\n', c->in_len - start);
		size_t len;

		if (!nl)
			break;
		if (*budget == 0) {
			done = false;
			break;
		}
		len = (size_t)(nl - (c->in + start));
		if (c->discarding)
			c->discarding = false; /* the end of the long line */
		else
			handle_line(c, c->in + start, len);
		(*budget)--;
		start += len + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	if (done &&
	    (c->in_len == CTL_IN_SIZE || (c->discarding && c->in_len > 0))) {
		/* no '\n' in a full buffer: the line is too long */
		if (!c->discarding)
			client_send(c, ctl_error_line("TooLong",
						      "line longer than 65536 "
						      "bytes; discarded up to "
						      "the next newline"));
		c->discarding = true;
		c->in_len = 0;
	}
	return done;
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client *c = arg;
	unsigned budget = CTL_LINES_PER_WAKE;
	ssize_t n;

	if (!process_lines(c, &budget))
		goto again;
	if (!c->dead && !c->eof) {
		n = recv(c->fd, c->in + c->in_len, CTL_IN_SIZE - c->in_len,
			 MSG_DONTWAIT);
		if (n == 0)
			c->eof = true;
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			 errno != EINTR)
			c->dead = true;
		else if (n > 0) {
			c->in_len += (size_t)n;
			if (!process_lines(c, &budget))
				goto again;
		}
	}
	if (c->eof)
		(void)event_del(c->rev);
	client_flush(c);
	if (c->dead)
		client_free(c);
	return;
again:
	/* more lines are waiting: come back after the guest had its turn */
	client_flush(c);
	if (c->dead)
		client_free(c);
	else
		event_active(c->rev, EV_READ, 0);
}

/* ---- clients ------------------------------------------------------ */

static void
client_free(struct ctl_client *c)
{
	struct ctl *ctl = c->ctl;

	for (struct ctl_client **p = &ctl->clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			ctl->client_count--;
			break;
		}
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	(void)close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* One error line to a connection we will not serve, then close it. */
static void
refuse(int fd, const char *class_name, const char *desc)
{
	char *line = ctl_error_line(class_name, desc);

	if (line) {
		(void)send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)send(fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		free(line);
	}
	(void)close(fd);
}

static bool
peer_allowed(struct ctl *ctl, int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return false;
	return cred->uid == 0 || cred->uid == geteuid() ||
	       (ctl->has_group && cred->gid == ctl->gid);
}

static int
client_new(struct ctl *ctl, int fd)
{
	struct ctl_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->ctl = ctl;
	c->fd = fd;
	c->in = malloc(CTL_IN_SIZE);
	c->rev = event_new(ctl->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(ctl->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->next = ctl->clients;
	ctl->clients = c;
	ctl->client_count++;
	if (!c->in || !c->rev || !c->wev || event_add(c->rev, NULL) < 0) {
		client_free(c);
		return -ENOMEM;
	}
	client_send(c, ctl_greeting());
	client_flush(c);
	if (c->dead)
		client_free(c);
	return 0;
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct ctl *ctl = arg;

	for (unsigned i = 0; i < CTL_ACCEPTS_PER_WAKE; i++) {
		int fd = accept4(ctl->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred = { 0 };

		if (fd < 0)
			return; /* EAGAIN, or a client that left already */
		if (!peer_allowed(ctl, fd, &cred)) {
			log_notice("control: refused a client (uid %u, gid %u)",
				   (unsigned)cred.uid, (unsigned)cred.gid);
			refuse(fd, "PermissionDenied",
			       "not root, the daemon's user or its control "
			       "group");
			continue;
		}
		if (ctl->client_count >= CTL_MAX_CLIENTS) {
			refuse(fd, "TooManyClients", "at most 16 clients");
			continue;
		}
		if (client_new(ctl, fd) < 0)
			(void)close(fd);
	}
}

/* ---- events ------------------------------------------------------- */

void
ctl_event(struct ctl *ctl, const char *name, json_t *data)
{
	char *line;
	struct ctl_client *c, *next;

	if (!ctl) {
		json_decref(data);
		return;
	}
	line = ctl_event_line(name, data);
	if (!line)
		return;
	for (c = ctl->clients; c; c = c->next)
		if (c->subscribed && !c->dead) {
			client_send(c, strdup(line));
			if (!c->dead)
				client_flush(c);
		}
	free(line);
	for (c = ctl->clients; c; c = next) {
		next = c->next;
		if (c->dead)
			client_free(c);
	}
}

void
ctl_device_report(void *ctx, const struct device *dev, enum device_event ev,
		  const char *desc)
{
	struct ctl *ctl = ctx;
	struct ctl_report *r;

	/* The core already rate-limits reports per device and event
	 * (ioreq/report.c); the fixed queue bounds a burst across devices. */
	if (!ctl || !dev || ctl->report_count >= CTL_REPORT_QUEUE)
		return;
	r = &ctl->reports[ctl->report_count++];
	(void)snprintf(r->id, sizeof(r->id), "%s", dev->id);
	r->ev = ev;
	(void)snprintf(r->desc, sizeof(r->desc), "%s", desc ? desc : "");
	event_active(ctl->report_ev, EV_TIMEOUT, 0);
}

static void
on_reports(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *ctl = arg;
	unsigned count = ctl->report_count;

	ctl->report_count = 0;
	for (unsigned i = 0; i < count; i++) {
		const struct ctl_report *r = &ctl->reports[i];

		if (r->ev == DEVICE_EVENT_GUEST_PANICKED) {
			ctl_event(ctl, "GUEST_PANICKED",
				  json_pack("{s:s}", "device", r->id));
			continue;
		}
		ctl_event(ctl, "DEVICE_ERROR",
			  json_pack("{s:s, s:s, s:s}", "device", r->id,
				    "reason",
				    r->ev == DEVICE_EVENT_NEEDS_RESET ?
					    "needs-reset" :
					    "io-error",
				    "desc", r->desc));
	}
}

/* ---- listener ----------------------------------------------------- */

static int
listen_on(struct ctl *ctl, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = chardev_socket_path_clear(path, &sa);
	if (r < 0)
		return r;
	ctl->listen_fd = socket(AF_UNIX,
				SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->listen_fd < 0)
		return -errno;
	if (bind(ctl->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (stat(path, &st) == 0) {
		ctl->sock_dev = st.st_dev;
		ctl->sock_ino = st.st_ino;
	}
	/* Before listen(): nobody can connect while the mode is wrong. */
	if ((ctl->has_group && chown(path, (uid_t)-1, ctl->gid) < 0) ||
	    chmod(path, ctl->has_group ? 0660 : 0600) < 0 ||
	    listen(ctl->listen_fd, CTL_MAX_CLIENTS) < 0)
		return -errno;
	ctl->lev = event_new(ctl->base, ctl->listen_fd, EV_READ | EV_PERSIST,
			     on_accept, ctl);
	if (!ctl->lev || event_add(ctl->lev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static void
free_listener(struct ctl *ctl)
{
	struct stat st;

	if (ctl->lev)
		event_free(ctl->lev);
	ctl->lev = NULL;
	if (ctl->listen_fd >= 0)
		(void)close(ctl->listen_fd);
	ctl->listen_fd = -1;
	/* Remove the file only if it is still ours, not a successor's. */
	if (ctl->path && ctl->sock_ino && stat(ctl->path, &st) == 0 &&
	    st.st_dev == ctl->sock_dev && st.st_ino == ctl->sock_ino)
		(void)unlink(ctl->path);
	free(ctl->path);
	ctl->path = NULL;
	if (ctl->report_ev)
		event_free(ctl->report_ev);
	ctl->report_ev = NULL;
}

int
ctl_open(struct event_base *base, const char *path, bool has_group, gid_t gid,
	 struct ctl_daemon *d, struct ctl **ret_ctl)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));
	int r;

	if (!ctl)
		return -ENOMEM;
	ctl->base = base;
	ctl->d = d;
	ctl->listen_fd = -1;
	ctl->has_group = has_group;
	ctl->gid = gid;
	ctl->path = strdup(path);
	ctl->report_ev = event_new(base, -1, 0, on_reports, ctl);
	if (!ctl->path || !ctl->report_ev) {
		free_listener(ctl);
		free(ctl);
		return -ENOMEM;
	}
	r = listen_on(ctl, path);
	if (r < 0) {
		free_listener(ctl);
		free(ctl);
		return r;
	}
	*ret_ctl = ctl;
	return 0;
}

void
ctl_close(struct ctl *ctl, const char *reason)
{
	if (!ctl)
		return;
	if (reason)
		ctl_event(ctl, "STOPPING",
			  json_pack("{s:s}", "reason", reason));
	while (ctl->clients) {
		struct ctl_client *c = ctl->clients;

		if (!c->dead)
			client_flush(c);
		client_free(c);
	}
	free_listener(ctl);
	free(ctl);
}
