/*
 * The client side of ioreqd's control protocol, version 1
 * (docs/control-protocol.md): one JSON object per line each way.  The
 * daemon is trusted to be ioreqd but not to be well: every line is
 * checked for shape, a line that is not what the protocol allows is a
 * protocol error (exit 5), and no wait is unbounded unless asked.
 */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "exit-codes.h"

#define PROTOCOL_VERSION 1

volatile sig_atomic_t conn_interrupted;

static long long
now_msec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
connect_error(const char *path, const char *guest, int err)
{
	if (err == EACCES || err == EPERM) {
		fprintf(stderr,
			"ioreqctl: permission denied connecting to %s "
			"(run as root, as ioreqd's user, or as a member of its "
			"--control-group)\n",
			path);
		return IOREQCTL_PERMISSION;
	}
	if (guest && (err == ENOENT || err == ECONNREFUSED))
		fprintf(stderr,
			"ioreqctl: no ioreqd for guest %s at %s (is ioreqd@%s "
			"running?)\n",
			guest, path, guest);
	else
		fprintf(stderr, "ioreqctl: no ioreqd at %s: %s\n", path,
			strerror(err));
	return IOREQCTL_NO_DAEMON;
}

/* Takes the first complete line out of c->buf, NUL-terminated in place;
 * returns its length, or -1 when there is none yet.  The caller drops it
 * with drop_line(). */
static long
find_line(struct conn *c)
{
	/* Nothing read yet: buf is still NULL, and memchr(NULL) is UB. */
	char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;

	if (!nl)
		return -1;
	*nl = '\0';
	return nl - c->buf;
}

static void
drop_line(struct conn *c, size_t line_len)
{
	size_t taken = line_len + 1;

	memmove(c->buf, c->buf + taken, c->len - taken);
	c->len -= taken;
}

/* Reads more bytes into c->buf, waiting until deadline (msec on the
 * monotonic clock, -1: forever).  0, or -ECONNRESET at end of stream,
 * -ETIMEDOUT, -EINTR (SIGINT), -E2BIG (line too long), -errno. */
static int
fill(struct conn *c, long long deadline)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	ssize_t n;

	for (;;) {
		int wait = -1;
		long long left = 0;

		if (conn_interrupted)
			return -EINTR;
		if (deadline >= 0) {
			left = deadline - now_msec();
			/* A deadline already past still takes what is
			 * there: one poll that does not wait. */
			wait = left <= 0      ? 0 :
			       left > 1000000 ? 1000000 :
						(int)left;
		}
		int r = poll(&p, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			break;
		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
	}
	if (c->cap - c->len < 4096) {
		if (c->cap >= CONN_LINE_MAX)
			return -E2BIG;
		size_t cap = c->cap ? c->cap * 2 : 65536;
		char *b = realloc(c->buf, cap);
		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->cap = cap;
	}
	/* Leave a byte for find_line()'s terminator of a last line. */
	do
		n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	c->len += (size_t)n;
	return 0;
}

/*
 * The next message: a JSON object on one line.  0 with *ret_msg set, or
 * a negative errno from fill(), or -EPROTO (a line that is not one JSON
 * object; already reported).  End of stream with a partial line left is
 * -EPIPE, not -ECONNRESET: the daemon stopped mid-message.
 */
static int
read_msg(struct conn *c, long long deadline, json_t **ret_msg)
{
	long line_len;
	json_error_t err;

	while ((line_len = find_line(c)) < 0) {
		int r = fill(c, deadline);
		if (r == -ECONNRESET && c->len > 0)
			return -EPIPE;
		if (r < 0)
			return r;
	}
	json_t *msg = json_loadb(c->buf, (size_t)line_len,
				 JSON_REJECT_DUPLICATES, &err);
	drop_line(c, (size_t)line_len);
	if (!msg || !json_is_object(msg)) {
		fprintf(stderr,
			"ioreqctl: protocol error: ioreqd at %s sent a line "
			"that is not a JSON object%s%s\n",
			c->path, msg ? "" : ": ", msg ? "" : err.text);
		json_decref(msg);
		return -EPROTO;
	}
	*ret_msg = msg;
	return 0;
}

/* Reports a failed read_msg() and returns the exit status for it. */
static int
read_failed(struct conn *c, int r, const char *waiting_for)
{
	switch (r) {
	case -EPROTO:
		break;
	case -ECONNRESET:
	case -EPIPE:
		fprintf(stderr,
			"ioreqctl: protocol error: ioreqd at %s closed the "
			"connection before %s\n",
			c->path, waiting_for);
		break;
	case -ETIMEDOUT:
		fprintf(stderr,
			"ioreqctl: protocol error: no %s from ioreqd at %s "
			"within %d.%03d s (--timeout)\n",
			waiting_for, c->path, c->timeout_msec / 1000,
			c->timeout_msec % 1000);
		break;
	case -E2BIG:
		fprintf(stderr,
			"ioreqctl: protocol error: ioreqd at %s sent a line "
			"over %u bytes\n",
			c->path, CONN_LINE_MAX);
		break;
	default:
		fprintf(stderr, "ioreqctl: reading from %s: %s\n", c->path,
			strerror(-r));
		break;
	}
	return IOREQCTL_PROTOCOL;
}

/* Prints an {"error": {...}} message's class and desc; returns the exit
 * status for it, or IOREQCTL_PROTOCOL when it has no string class. */
static int
error_reply(struct conn *c, json_t *error)
{
	const char *class = json_string_value(json_object_get(error, "class"));
	const char *desc = json_string_value(json_object_get(error, "desc"));

	if (!json_is_object(error) || !class) {
		fprintf(stderr,
			"ioreqctl: protocol error: ioreqd at %s sent an error "
			"without a class\n",
			c->path);
		return IOREQCTL_PROTOCOL;
	}
	fprintf(stderr, "ioreqctl: %s: %s\n", class, desc ? desc : "");
	if (strcmp(class, "PermissionDenied") == 0)
		return IOREQCTL_PERMISSION;
	return IOREQCTL_ERROR_REPLY;
}

static long long
deadline_from_now(const struct conn *c)
{
	return c->timeout_msec < 0 ? -1 : now_msec() + c->timeout_msec;
}

static int
check_greeting(struct conn *c, json_t *msg)
{
	json_t *error = json_object_get(msg, "error");
	json_t *hello = json_object_get(msg, "ioreqd");

	/* Refused clients (PermissionDenied, TooManyClients) get an error
	 * line where the greeting would be. */
	if (error)
		return error_reply(c, error);
	if (!json_is_object(hello)) {
		fprintf(stderr,
			"ioreqctl: protocol error: %s did not greet as ioreqd "
			"(no \"ioreqd\" object in its first line)\n",
			c->path);
		return IOREQCTL_PROTOCOL;
	}
	json_t *proto = json_object_get(hello, "protocol");
	if (!json_is_integer(proto) ||
	    json_integer_value(proto) != PROTOCOL_VERSION) {
		char *p = proto ? json_dumps(proto, JSON_ENCODE_ANY) : NULL;
		fprintf(stderr,
			"ioreqctl: warning: ioreqd at %s speaks protocol %s, "
			"ioreqctl speaks %d; carrying on\n",
			c->path, p ? p : "(none)", PROTOCOL_VERSION);
		free(p);
	}
	c->greeting = json_incref(hello);
	return IOREQCTL_OK;
}

int
conn_open(struct conn *c, const char *path, const char *guest, int timeout_msec)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_t *msg = NULL;

	*c = (struct conn){ .fd = -1,
			    .timeout_msec = timeout_msec,
			    .path = path };
	/* The caller checked the length; this is only a guard. */
	if (strlen(path) >= sizeof(sa.sun_path))
		return connect_error(path, guest, ENAMETOOLONG);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, "ioreqctl: socket: %s\n", strerror(errno));
		return IOREQCTL_NO_DAEMON;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return connect_error(path, guest, errno);
	int r = read_msg(c, deadline_from_now(c), &msg);
	if (r < 0)
		return read_failed(c, r, "its greeting");
	r = check_greeting(c, msg);
	json_decref(msg);
	return r;
}

void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		(void)close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
	json_decref(c->greeting);
	c->greeting = NULL;
}

static int
send_all(struct conn *c, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
send_request(struct conn *c, const char *name, json_t *args)
{
	json_t *req = json_object();
	char *line = NULL;
	int r = -ENOMEM;

	c->id++;
	if (!req ||
	    json_object_set_new(req, "execute", json_string(name)) < 0 ||
	    (args && json_object_set(req, "arguments", args) < 0) ||
	    json_object_set_new(req, "id", json_integer(c->id)) < 0)
		goto out;
	line = json_dumps(req, JSON_COMPACT);
	if (!line)
		goto out;
	size_t len = strlen(line);
	char *nl = realloc(line, len + 2);
	if (!nl)
		goto out;
	line = nl;
	memcpy(line + len, "\n", 2);
	r = send_all(c, line, len + 1);
out:
	free(line);
	json_decref(req);
	json_decref(args);
	return r;
}

/* A reply is for us when it has no id (a ParseError cannot echo one) or
 * echoes ours. */
static bool
reply_is_ours(const struct conn *c, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");

	return !id || (json_is_integer(id) && json_integer_value(id) == c->id);
}

int
conn_call(struct conn *c, const char *name, json_t *args, json_t **ret_value)
{
	long long deadline;
	json_t *msg = NULL;
	int r;

	*ret_value = NULL;
	r = send_request(c, name, args);
	if (r == -ENOMEM) {
		fprintf(stderr, "ioreqctl: out of memory\n");
		return IOREQCTL_PROTOCOL;
	}
	/* On a failed send, a refusal the daemon sent before closing may
	 * still be waiting to be read: look for it before giving up. */
	deadline = r < 0 ? now_msec() : deadline_from_now(c);
	for (;;) {
		int rr = read_msg(c, deadline, &msg);
		if (rr < 0 && r < 0) {
			fprintf(stderr,
				"ioreqctl: protocol error: sending to ioreqd at "
				"%s: %s\n",
				c->path, strerror(-r));
			return IOREQCTL_PROTOCOL;
		}
		if (rr < 0)
			return read_failed(c, rr, "its reply");
		if (json_object_get(msg, "event") && r == 0) {
			json_decref(msg);
			continue;
		}
		break;
	}
	json_t *ret = json_object_get(msg, "return");
	json_t *error = json_object_get(msg, "error");
	if ((!ret && !error) || (ret && error) || !reply_is_ours(c, msg)) {
		fprintf(stderr,
			"ioreqctl: protocol error: ioreqd at %s sent a line that "
			"is not the reply to request %lld\n",
			c->path, (long long)c->id);
		r = IOREQCTL_PROTOCOL;
	} else if (error) {
		r = error_reply(c, error);
	} else {
		*ret_value = json_incref(ret);
		r = IOREQCTL_OK;
	}
	json_decref(msg);
	return r;
}

int
conn_next_event(struct conn *c, json_t **ret_event)
{
	json_t *msg = NULL;
	int r;

	*ret_event = NULL;
	r = read_msg(c, -1, &msg);
	if (r == -ECONNRESET || r == -EINTR)
		return IOREQCTL_OK;
	if (r < 0)
		return read_failed(c, r, "the end of an event");
	if (!json_is_string(json_object_get(msg, "event"))) {
		json_t *error = json_object_get(msg, "error");
		if (error) {
			r = error_reply(c, error);
		} else {
			fprintf(stderr,
				"ioreqctl: protocol error: ioreqd at %s sent a "
				"line that is not an event\n",
				c->path);
			r = IOREQCTL_PROTOCOL;
		}
		json_decref(msg);
		return r;
	}
	*ret_event = msg;
	return IOREQCTL_OK;
}
