/*
 * Character back-ends: null, file, socket (Unix stream server), pty, stdio,
 * and caller-supplied fds.  See chardev.h for the behaviour and the flow
 * control contract.
 *
 * Shape: every back-end is reduced to at most one input fd and one output
 * fd.  Input is read by a persistent read event that is only pending while
 * the front end has room; output goes through one ring buffer that is
 * flushed from the event loop, never from chardev_write(), so a guest's
 * register write costs a memcpy and no syscall.  A "kick" (deferred work
 * from the device event services, which costs no syscall either, and
 * runs once the guest's request has been answered) does the rest:
 * flushing, and resuming paused input.
 */
#include "devices/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "config/cfg.h"
#include "devices/device.h"
#include "devices/events.h"
#include "lib/container.h"
#include "lib/log.h"

#define CHARDEV_READ_CHUNK 256
/*
 * How often a pty without a reader (while the guest writes to it), or a
 * listener out of fds, is retried.
 */
#define CHARDEV_RETRY_USEC 1000000
/*
 * stdio on a journal stream (see stdout_is_journal()): the priority put
 * before every guest line (info), and the longest guest line in bytes we
 * pass before breaking it ourselves.  journald breaks longer lines at its
 * LineMax= (48K by default) and would parse a prefix again in the rest,
 * so this must stay below the LineMax= in use.
 */
#define CHARDEV_JOURNAL_PREFIX	 "<6>"
#define CHARDEV_JOURNAL_LINE_MAX 4096

/*
 * What a back-end is.  The config's backend types, and CHARDEV_FDS for
 * fds the caller gave chardev_open_fds(), which no config can name.
 */
enum chardev_kind {
	CHARDEV_NULL,
	CHARDEV_FILE,
	CHARDEV_SOCKET,
	CHARDEV_PTY,
	CHARDEV_STDIO,
	CHARDEV_FDS,
};

enum chardev_out_mode {
	CHARDEV_OUT_NONE,     /* discard */
	CHARDEV_OUT_DIRECT,   /* regular file or /dev/null-like: just write */
	CHARDEV_OUT_NONBLOCK, /* our own non-blocking fd: write until EAGAIN */
	CHARDEV_OUT_POLLED,   /* someone else's blocking fd: write only after
				 * POLLOUT, at most PIPE_BUF bytes at a time */
};

struct chardev {
	enum chardev_kind kind;
	const struct device_events *ev;
	char label[64];
	char *path; /* file/socket path, pty slave path */

	const struct chardev_frontend_ops *fe;
	void *fe_opaque;

	/* socket back-end */
	int listen_fd;
	struct device_watch *listen_w; /* READ on listen_fd */
	dev_t sock_dev;		       /* identity of the socket file we */
	ino_t sock_ino;		       /* created, so close removes only it */

	/* the connection: input and output fd (may be equal) */
	int in_fd;
	int out_fd;
	bool own_fds;
	bool out_is_socket; /* use send(MSG_NOSIGNAL) */
	enum chardev_out_mode out_mode;
	bool connected;		    /* a reader exists; else discard */
	struct device_watch *in_w;  /* READ on in_fd */
	struct device_watch *out_w; /* WRITE on out_fd */
	struct device_watch *hup_w; /* socket: HUP on in_fd while paused */
	bool hup_pending;	    /* hup_w is watching */
	bool in_pending;	    /* in_w is watching */
	bool in_direct;		    /* regular file: read without polling */
	bool in_eof;		    /* input ended for good */
	bool out_pending;	    /* out_w is watching */

	struct device_work kick_work; /* deferred flush / input resume */
	bool kick_flush;
	bool kick_input;
	struct device_timer *retry_timer; /* pty reader poll, accept back-off */
	bool pty_dropped;		  /* output discarded since the last
					 * check for a pty reader */

	uint8_t out[CHARDEV_OUT_SIZE]; /* ring */
	size_t out_head;
	size_t out_len;
	bool want_writable;   /* a short write owes a writable() */
	uint64_t out_dropped; /* bytes lost to write errors */

	/* stdio on a journal stream: each guest line gets our own prefix */
	bool journal;
	bool journal_bol;   /* next guest byte starts a line */
	size_t journal_col; /* guest bytes in the current line */
};

static void chardev_flush(struct chardev *cd);

static int
fd_set_flags(int fd, bool nonblock)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	if (nonblock && !(fl & O_NONBLOCK) &&
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void
kick(struct chardev *cd)
{
	/* no syscall; runs once the current ioreq is answered */
	device_defer(cd->ev, &cd->kick_work);
}

/* Turn one single-condition watch on or off: 0 or -errno. */
static int
watch_enable(struct chardev *cd, struct device_watch *w, unsigned bit, bool on)
{
	return device_watch_set(cd->ev, w, on ? bit : 0);
}

static size_t
fe_can_receive(struct chardev *cd)
{
	if (!cd->fe || !cd->fe->receive || !cd->fe->can_receive)
		return 0;
	return cd->fe->can_receive(cd->fe_opaque);
}

static void
fe_notify_writable(struct chardev *cd)
{
	if (!cd->want_writable || chardev_write_room(cd) == 0)
		return;
	cd->want_writable = false;
	if (cd->fe && cd->fe->writable)
		cd->fe->writable(cd->fe_opaque);
}

/* Bytes the socket client sent that we have not read yet. */
static int
socket_unread(int fd)
{
	int n = 0;

	if (fd < 0 || ioctl(fd, FIONREAD, &n) < 0)
		return 0;
	return n;
}

/*
 * While input is paused nothing watches the client socket; a hang-up
 * would go unnoticed (and block new clients) until the guest drains.
 * hup_w watches for the peer closing without reading its data.
 */
static void
hup_watch(struct chardev *cd, bool on)
{
	if (!cd->hup_w || on == cd->hup_pending)
		return;
	if (on)
		cd->hup_pending = watch_enable(cd, cd->hup_w, DEVICE_WATCH_HUP,
					       true) == 0;
	else {
		(void)watch_enable(cd, cd->hup_w, DEVICE_WATCH_HUP, false);
		cd->hup_pending = false;
	}
}

static void
input_pause(struct chardev *cd)
{
	if (cd->in_pending) {
		(void)watch_enable(cd, cd->in_w, DEVICE_WATCH_READ, false);
		cd->in_pending = false;
	}
	if (cd->connected)
		hup_watch(cd, true);
}

/* Drop the current connection's watches (not the fds). */
static void
connection_events_free(struct chardev *cd)
{
	device_watch_free(cd->ev, cd->in_w);
	cd->in_w = NULL;
	device_watch_free(cd->ev, cd->out_w);
	cd->out_w = NULL;
	device_watch_free(cd->ev, cd->hup_w);
	cd->hup_w = NULL;
	cd->hup_pending = false;
	cd->in_pending = false;
	cd->out_pending = false;
}

/* Output buffered for a reader that went away is discarded. */
static void
output_discard(struct chardev *cd)
{
	cd->out_head = 0;
	cd->out_len = 0;
	fe_notify_writable(cd);
}

static void
pty_arm_retry(struct chardev *cd)
{
	(void)device_timer_arm(cd->ev, cd->retry_timer, CHARDEV_RETRY_USEC);
}

/*
 * The reader is gone: socket client closed, pty slave closed, error.
 * Sockets go back to listening; a pty waits for a new reader.
 */
static void
connection_lost(struct chardev *cd)
{
	cd->connected = false;
	switch (cd->kind) {
	case CHARDEV_SOCKET:
		log_debug("%s: socket client disconnected", cd->label);
		connection_events_free(cd);
		if (cd->in_fd >= 0)
			(void)close(cd->in_fd);
		cd->in_fd = -1;
		cd->out_fd = -1;
		cd->out_mode = CHARDEV_OUT_NONE;
		break;
	case CHARDEV_PTY:
		input_pause(cd);
		if (cd->out_pending) {
			(void)watch_enable(cd, cd->out_w, DEVICE_WATCH_WRITE,
					   false);
			cd->out_pending = false;
		}
		/* no timer: the guest's next output starts the checks */
		break;
	default:
		/* stdio / fds: output fd broken; keep discarding from now on */
		if (cd->out_pending) {
			(void)watch_enable(cd, cd->out_w, DEVICE_WATCH_WRITE,
					   false);
			cd->out_pending = false;
		}
		cd->out_mode = CHARDEV_OUT_NONE;
		break;
	}
	output_discard(cd);
}

static void
on_hup(void *arg, int fd, unsigned what)
{
	struct chardev *cd = arg;

	if (socket_unread(fd) == 0) {
		connection_lost(cd);
		return;
	}
	/* its last bytes are still queued: EOF will follow once read */
	hup_watch(cd, false);
}

static void
input_ended(struct chardev *cd)
{
	if (cd->kind == CHARDEV_SOCKET || cd->kind == CHARDEV_PTY) {
		connection_lost(cd);
		return;
	}
	input_pause(cd);
	cd->in_eof = true;
}

static void
on_input(void *arg, int fd, unsigned what)
{
	struct chardev *cd = arg;
	uint8_t buf[CHARDEV_READ_CHUNK];
	size_t room = fe_can_receive(cd);
	ssize_t r;

	if (room == 0) {
		/* front end full: leave the bytes in the kernel */
		input_pause(cd);
		return;
	}
	r = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("%s: read: %s", cd->label, strerror(errno));
		input_ended(cd);
		return;
	}
	if (r == 0) {
		input_ended(cd);
		return;
	}
	cd->fe->receive(cd->fe_opaque, buf, (size_t)r);
	if (cd->in_w && fe_can_receive(cd) == 0)
		input_pause(cd);
}

static void
on_output(void *arg, int fd, unsigned what)
{
	chardev_flush(arg);
}

static void
input_resume(struct chardev *cd)
{
	if (cd->in_direct && !cd->in_eof && cd->connected &&
	    fe_can_receive(cd) > 0) {
		/* a file is always readable: one chunk per loop round */
		on_input(cd, cd->in_fd, DEVICE_WATCH_READ);
		if (!cd->in_eof && fe_can_receive(cd) > 0)
			chardev_accept_input(cd);
		return;
	}
	if (!cd->in_w || cd->in_pending || cd->in_eof || !cd->connected)
		return;
	if (fe_can_receive(cd) == 0)
		return;
	hup_watch(cd, false);
	if (watch_enable(cd, cd->in_w, DEVICE_WATCH_READ, true) < 0) {
		/* e.g. stdin is a regular file or /dev/null under epoll */
		log_debug("%s: input not pollable, ignoring input", cd->label);
		cd->in_eof = true;
		return;
	}
	cd->in_pending = true;
}

static void
on_kick(struct device_work *work)
{
	struct chardev *cd = container_of(work, struct chardev, kick_work);

	if (cd->kick_input) {
		cd->kick_input = false;
		input_resume(cd);
	}
	if (cd->kick_flush) {
		cd->kick_flush = false;
		chardev_flush(cd);
	}
}

/* Write once from the ring; returns bytes written, 0 on EAGAIN, -errno. */
static ssize_t
out_write_once(struct chardev *cd)
{
	size_t chunk = cd->out_len;
	ssize_t r;

	if (chunk > CHARDEV_OUT_SIZE - cd->out_head)
		chunk = CHARDEV_OUT_SIZE - cd->out_head;
	if (cd->out_mode == CHARDEV_OUT_POLLED && chunk > PIPE_BUF)
		chunk = PIPE_BUF;
	for (;;) {
		if (cd->out_is_socket)
			r = send(cd->out_fd, cd->out + cd->out_head, chunk,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			r = write(cd->out_fd, cd->out + cd->out_head, chunk);
		if (r >= 0 || errno != EINTR)
			break;
	}
	if (r < 0)
		return errno == EAGAIN ? 0 : -errno;
	cd->out_head = (cd->out_head + (size_t)r) % CHARDEV_OUT_SIZE;
	cd->out_len -= (size_t)r;
	if (cd->out_len == 0)
		cd->out_head = 0;
	return r;
}

static void
out_wait_writable(struct chardev *cd)
{
	if (cd->out_pending)
		return;
	if (!cd->out_w ||
	    watch_enable(cd, cd->out_w, DEVICE_WATCH_WRITE, true) < 0) {
		log_debug("%s: output not pollable, discarding", cd->label);
		cd->out_mode = CHARDEV_OUT_NONE;
		output_discard(cd);
		return;
	}
	cd->out_pending = true;
}

static void
chardev_flush(struct chardev *cd)
{
	while (cd->out_len > 0 && cd->out_mode != CHARDEV_OUT_NONE &&
	       cd->connected) {
		ssize_t r;

		if (cd->out_mode == CHARDEV_OUT_POLLED && !cd->out_pending) {
			/* only write after poll said there is room */
			out_wait_writable(cd);
			break;
		}
		r = out_write_once(cd);
		if (r == 0) {
			out_wait_writable(cd);
			break;
		}
		if (r < 0) {
			log_debug("%s: write: %s", cd->label,
				  strerror((int)-r));
			if (cd->out_mode == CHARDEV_OUT_DIRECT &&
			    cd->kind == CHARDEV_FILE) {
				/* full disk etc.: lose this batch, keep going */
				cd->out_dropped += cd->out_len;
				output_discard(cd);
			} else if (cd->kind == CHARDEV_SOCKET &&
				   socket_unread(cd->in_fd) > 0) {
				/*
				 * The client left but its input is not all
				 * delivered yet: stop output, keep reading
				 * until EOF ends the connection.
				 */
				if (cd->out_pending)
					(void)watch_enable(cd, cd->out_w,
							   DEVICE_WATCH_WRITE,
							   false);
				cd->out_pending = false;
				cd->out_mode = CHARDEV_OUT_NONE;
				output_discard(cd);
			} else {
				connection_lost(cd);
			}
			break;
		}
		if (cd->out_mode == CHARDEV_OUT_POLLED)
			break; /* one chunk per POLLOUT */
	}
	if (cd->out_len == 0 && cd->out_pending) {
		(void)watch_enable(cd, cd->out_w, DEVICE_WATCH_WRITE, false);
		cd->out_pending = false;
	}
	fe_notify_writable(cd);
}

size_t
chardev_write_room(const struct chardev *cd)
{
	if (!cd->connected || cd->out_mode == CHARDEV_OUT_NONE)
		return CHARDEV_OUT_SIZE; /* discarded anyway */
	return CHARDEV_OUT_SIZE - cd->out_len;
}

/*
 * Output for a pty nobody has open is dropped; it is also the cue to look
 * for a reader again.  Polling for one only while the guest writes keeps
 * an idle daemon from waking up at all.
 */
static void
pty_output_dropped(struct chardev *cd)
{
	cd->pty_dropped = true;
	if (!device_timer_armed(cd->ev, cd->retry_timer))
		pty_arm_retry(cd); /* no syscall: a timer-heap insert */
}

/* Append n bytes to the ring; the caller checked there is room. */
static void
ring_put(struct chardev *cd, const uint8_t *buf, size_t n)
{
	size_t tail = (cd->out_head + cd->out_len) % CHARDEV_OUT_SIZE;
	size_t first = CHARDEV_OUT_SIZE - tail < n ? CHARDEV_OUT_SIZE - tail :
						     n;

	memcpy(cd->out + tail, buf, first);
	memcpy(cd->out, buf + first, n - first);
	cd->out_len += n;
}

/* Guest bytes up to and including the first "\n" or NUL (journald ends a
 * line at either), at most max. */
static size_t
line_chunk(const uint8_t *buf, size_t len, size_t max)
{
	size_t n = len < max ? len : max;

	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\0')
			return i + 1;
	return n;
}

/*
 * Queue guest output for a journal stream: every line the journal will
 * see starts with our prefix, so a "<N>" the guest writes is text, never
 * a priority.  Lines past CHARDEV_JOURNAL_LINE_MAX are broken here, since
 * journald would parse a prefix again after breaking them itself.
 * Returns the guest bytes taken.
 */
static size_t
journal_put(struct chardev *cd, const uint8_t *buf, size_t len)
{
	const size_t plen = sizeof(CHARDEV_JOURNAL_PREFIX) - 1;
	size_t done = 0;

	while (done < len) {
		size_t room = CHARDEV_OUT_SIZE - cd->out_len, n;

		if (!cd->journal_bol &&
		    cd->journal_col >= CHARDEV_JOURNAL_LINE_MAX) {
			if (room < 1)
				break;
			ring_put(cd, (const uint8_t *)"\n", 1);
			cd->journal_bol = true;
			continue;
		}
		if (cd->journal_bol) {
			if (room < plen + 1)
				break;
			ring_put(cd, (const uint8_t *)CHARDEV_JOURNAL_PREFIX,
				 plen);
			room -= plen;
			cd->journal_bol = false;
			cd->journal_col = 0;
		}
		n = line_chunk(buf + done, len - done,
			       room < CHARDEV_JOURNAL_LINE_MAX -
						       cd->journal_col ?
				       room :
				       CHARDEV_JOURNAL_LINE_MAX -
					       cd->journal_col);
		ring_put(cd, buf + done, n);
		done += n;
		cd->journal_col += n;
		if (buf[done - 1] == '\n' || buf[done - 1] == '\0')
			cd->journal_bol = true;
	}
	return done;
}

size_t
chardev_write(struct chardev *cd, const uint8_t *buf, size_t len)
{
	size_t n;

	if (!cd->connected && cd->kind == CHARDEV_PTY)
		pty_output_dropped(cd);
	if (!cd->connected || cd->out_mode == CHARDEV_OUT_NONE)
		return len; /* nobody listening: the bytes are gone */
	if (cd->journal) {
		n = journal_put(cd, buf, len);
	} else {
		n = CHARDEV_OUT_SIZE - cd->out_len;
		if (n > len)
			n = len;
		ring_put(cd, buf, n);
	}
	if (n < len)
		cd->want_writable = true;
	if (n > 0 && !cd->out_pending && !cd->kick_flush) {
		cd->kick_flush = true;
		kick(cd);
	}
	return n;
}

void
chardev_accept_input(struct chardev *cd)
{
	if (!cd || cd->in_pending || cd->in_eof ||
	    (!cd->in_w && !cd->in_direct) || cd->kick_input)
		return;
	cd->kick_input = true;
	kick(cd);
}

void
chardev_set_frontend(struct chardev *cd, const struct chardev_frontend_ops *ops,
		     void *opaque)
{
	cd->fe = ops;
	cd->fe_opaque = opaque;
	if (!ops)
		input_pause(cd);
	else
		chardev_accept_input(cd);
}

bool
chardev_connected(const struct chardev *cd)
{
	return cd->connected;
}

const char *
chardev_path(const struct chardev *cd)
{
	return cd->path;
}

void
chardev_describe(const struct chardev *cd, const struct device_info_writer *w)
{
	static const char *const names[] = {
		[CHARDEV_NULL] = "null",     [CHARDEV_FILE] = "file",
		[CHARDEV_SOCKET] = "socket", [CHARDEV_PTY] = "pty",
		[CHARDEV_STDIO] = "stdio",   [CHARDEV_FDS] = "fd",
	};
	char buf[4200];
	const char *name;

	if (!cd) {
		device_info_str(w, "backend", "null");
		return;
	}
	name = names[cd->kind];
	if (cd->path)
		(void)snprintf(buf, sizeof(buf), "%s:%s", name, cd->path);
	else
		(void)snprintf(buf, sizeof(buf), "%s", name);
	device_info_str(w, "backend", buf);
}

enum chardev_in_kind {
	CHARDEV_IN_NONE,   /* not something we can read input from */
	CHARDEV_IN_POLLED, /* pipe, socket, tty */
	CHARDEV_IN_DIRECT, /* regular file, /dev/null: epoll refuses */
};

static enum chardev_in_kind
in_kind_for(int fd)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return CHARDEV_IN_NONE;
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
	    (S_ISCHR(st.st_mode) && isatty(fd)))
		return CHARDEV_IN_POLLED;
	if (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		return CHARDEV_IN_DIRECT;
	return CHARDEV_IN_NONE;
}

/* Set up in/out watches (none watching yet) for the current fds. */
static int
connection_events_new(struct chardev *cd)
{
	enum chardev_in_kind kind = in_kind_for(cd->in_fd);
	int r;

	cd->in_direct = kind == CHARDEV_IN_DIRECT;
	if (kind == CHARDEV_IN_POLLED) {
		r = device_watch_new(cd->ev, cd->in_fd, 0, on_input, cd,
				     &cd->in_w);
		if (r < 0)
			return r;
	}
	if (cd->out_fd >= 0 && cd->out_mode != CHARDEV_OUT_DIRECT &&
	    cd->out_mode != CHARDEV_OUT_NONE) {
		r = device_watch_new(cd->ev, cd->out_fd, 0, on_output, cd,
				     &cd->out_w);
		if (r < 0)
			return r;
	}
	if (cd->kind == CHARDEV_SOCKET && cd->in_fd >= 0) {
		r = device_watch_new(cd->ev, cd->in_fd, 0, on_hup, cd,
				     &cd->hup_w);
		if (r < 0)
			return r;
	}
	cd->in_eof = false;
	return 0;
}

static enum chardev_out_mode
out_mode_for(int fd, bool own)
{
	struct stat st;

	if (fd < 0)
		return CHARDEV_OUT_NONE;
	if (fstat(fd, &st) == 0 &&
	    (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ||
	     (S_ISCHR(st.st_mode) && !isatty(fd))))
		return CHARDEV_OUT_DIRECT; /* epoll refuses these */
	return own ? CHARDEV_OUT_NONBLOCK : CHARDEV_OUT_POLLED;
}

static bool
fd_is_socket(int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/*
 * Has the current client closed its end?  Such a client lingers while the
 * guest has not read all it sent (on_hup cannot end it then), but it must
 * not hold the console: a newcomer replaces it.  POLLHUP, unlike EV_CLOSED
 * (POLLRDHUP), is only set once the peer can neither send nor receive, so
 * a newcomer never replaces a client that only shut down its sending side.
 */
static bool
client_hung_up(struct chardev *cd)
{
	struct pollfd p = { .fd = cd->in_fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void
on_accept(void *arg, int fd, unsigned what)
{
	struct chardev *cd = arg;
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int r;

	if (c < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* back off instead of spinning on a level event */
			(void)watch_enable(cd, cd->listen_w, DEVICE_WATCH_READ,
					   false);
			pty_arm_retry(cd);
		}
		return;
	}
	if (cd->in_fd >= 0 && !client_hung_up(cd)) {
		/* one client at a time: refuse the newcomer */
		log_debug("%s: refusing second socket client", cd->label);
		(void)close(c);
		return;
	}
	if (cd->in_fd >= 0) {
		log_debug("%s: previous client hung up, dropping its %d "
			  "unread bytes",
			  cd->label, socket_unread(cd->in_fd));
		connection_lost(cd);
	}
	cd->in_fd = c;
	cd->out_fd = c;
	cd->out_is_socket = true;
	cd->out_mode = CHARDEV_OUT_NONBLOCK;
	r = connection_events_new(cd);
	if (r < 0) {
		connection_lost(cd);
		return;
	}
	cd->connected = true;
	log_debug("%s: socket client connected", cd->label);
	chardev_accept_input(cd);
}

static void
on_retry(void *arg)
{
	struct chardev *cd = arg;
	struct pollfd p;

	if (cd->kind == CHARDEV_SOCKET) {
		(void)watch_enable(cd, cd->listen_w, DEVICE_WATCH_READ, true);
		return;
	}
	/* pty: a master reports POLLHUP while no process has the slave open */
	p = (struct pollfd){ .fd = cd->in_fd, .events = POLLIN };
	if (poll(&p, 1, 0) < 0 || (p.revents & POLLHUP)) {
		/* keep looking only while there is output to deliver */
		if (cd->pty_dropped)
			pty_arm_retry(cd);
		cd->pty_dropped = false;
		return;
	}
	cd->connected = true;
	chardev_accept_input(cd);
}

/*
 * Is anyone listening at the socket `sa`?  Returns the errno of a
 * non-blocking connect(), 0 when it was accepted at once.
 */
static int
socket_probe(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 :
									 errno;
	(void)close(fd);
	return r;
}

/*
 * Make room for our socket at `path`.  Only a stale socket, one whose
 * server is gone (connect() refused), is removed.  Anything else stays:
 * a non-socket is never ours (-EEXIST), and a socket someone accepts on,
 * or queues us for (EINPROGRESS, EAGAIN: backlog full), belongs to a live
 * server, perhaps another ioreqd, whose clients would be stolen
 * (-EADDRINUSE).
 */
int
chardev_socket_path_clear(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	r = socket_probe(sa);
	if (r == 0 || r == EINPROGRESS || r == EAGAIN)
		return -EADDRINUSE;
	if (r == ENOENT)
		return 0; /* removed meanwhile */
	if (r != ECONNREFUSED)
		return -r; /* cannot tell: leave it */
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int
socket_listen(struct chardev *cd, const char *path)
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
	cd->listen_fd = socket(AF_UNIX,
			       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cd->listen_fd < 0)
		return -errno;
	if (bind(cd->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (stat(path, &st) == 0) {
		cd->sock_dev = st.st_dev;
		cd->sock_ino = st.st_ino;
	}
	if (listen(cd->listen_fd, 4) < 0) {
		r = -errno;
		(void)unlink(path);
		cd->sock_ino = 0;
		return r;
	}
	r = device_watch_new(cd->ev, cd->listen_fd, DEVICE_WATCH_READ,
			     on_accept, cd, &cd->listen_w);
	return r < 0 ? r : 0;
}

static int
pty_open(struct chardev *cd)
{
	struct termios tio;
	const char *name;
	int fd, r;

	fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	cd->in_fd = fd;
	cd->out_fd = fd;
	cd->own_fds = true;
	if (grantpt(fd) < 0 || unlockpt(fd) < 0)
		return -errno;
	r = fd_set_flags(fd, true);
	if (r < 0)
		return r;
	/* raw: the guest's bytes pass unchanged, no echo, no line editing */
	if (tcgetattr(fd, &tio) < 0)
		return -errno;
	cfmakeraw(&tio);
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return -errno;
	name = ptsname(fd);
	if (!name)
		return -errno;
	cd->path = strdup(name);
	if (!cd->path)
		return -ENOMEM;
	/*
	 * A fresh master does not report POLLHUP until a slave has been
	 * opened and closed once; do that so "nobody attached" is visible.
	 */
	r = open(cd->path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (r >= 0)
		(void)close(r);
	cd->out_mode = CHARDEV_OUT_NONBLOCK;
	r = connection_events_new(cd);
	if (r < 0)
		return r;
	log_notice("%s: serial console on pty %s", cd->label, cd->path);
	/* connected once the slave is opened; on_retry polls for it */
	on_retry(cd);
	return 0;
}

static struct chardev *
chardev_alloc(const struct device_events *ev, enum chardev_kind kind,
	      const char *label)
{
	struct chardev *cd = calloc(1, sizeof(*cd));

	if (!cd)
		return NULL;
	cd->kind = kind;
	cd->ev = ev;
	(void)snprintf(cd->label, sizeof(cd->label), "%s",
		       label ? label : "chardev");
	cd->listen_fd = -1;
	cd->in_fd = -1;
	cd->out_fd = -1;
	device_work_init(&cd->kick_work, on_kick);
	if (device_timer_new(ev, on_retry, cd, &cd->retry_timer) < 0) {
		chardev_close(cd);
		return NULL;
	}
	return cd;
}

static int
fds_setup(struct chardev *cd, int in_fd, int out_fd, bool own)
{
	int r;

	cd->in_fd = in_fd;
	cd->out_fd = out_fd;
	cd->own_fds = own;
	if (own) {
		if (in_fd >= 0 && (r = fd_set_flags(in_fd, true)) < 0)
			return r;
		if (out_fd >= 0 && (r = fd_set_flags(out_fd, true)) < 0)
			return r;
	}
	cd->out_is_socket = fd_is_socket(out_fd);
	cd->out_mode = out_mode_for(out_fd, own);
	cd->connected = true;
	return connection_events_new(cd);
}

int
chardev_open_fds(const struct device_events *ev, int in_fd, int out_fd,
		 bool take_ownership, const char *label,
		 struct chardev **ret_cd)
{
	struct chardev *cd;
	int r;

	if (!ev || !ret_cd)
		return -EINVAL;
	cd = chardev_alloc(ev, CHARDEV_FDS, label);
	if (!cd)
		return -ENOMEM;
	r = fds_setup(cd, in_fd, out_fd, take_ownership);
	if (r < 0) {
		if (!take_ownership)
			cd->in_fd = cd->out_fd = -1;
		chardev_close(cd);
		return r;
	}
	*ret_cd = cd;
	return 0;
}

/*
 * The file back-end's open.  O_NONBLOCK because a blocking O_WRONLY open
 * of a FIFO waits for a reader (forever, at start-up, before any signal
 * can be handled), and a serial line may wait for carrier; the kind of
 * file is then checked on the fd itself, so a path swapped after the
 * config check cannot slip through.
 */
static int
file_open(const char *path)
{
	struct stat st;
	int fd = open(path,
		      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY |
			      O_NONBLOCK,
		      0640);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || cfg_file_backend_refusal(st.st_mode)) {
		(void)close(fd);
		return -ENXIO;
	}
	return fd;
}

/*
 * Is fd 1 the journal stream systemd connected us to?  systemd documents
 * $JOURNAL_STREAM as "DEV:INODE" of that stream; comparing it with fd 1
 * itself (not just its presence) keeps a redirected stdout byte-exact.
 *
 * Why prefix guest lines rather than route them elsewhere: journald reads
 * a "<N>" at the start of each stdout line as the priority (the unit must
 * keep SyslogLevelPrefix=yes for our own stderr, lib/log.c), so a
 * guest could forge entries at any priority under our identifier.  Our
 * own "<6>" first makes journald take that and keep the guest's text as
 * it was, where escaping would alter it; and stdout stays the place the
 * unit (or its StandardOutput=) says guest output goes.
 */
static bool
stdout_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (!env || sscanf(env, "%llu:%llu%c", &dev, &ino, &end) != 2 ||
	    fstat(1, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

static int
stdio_setup(struct chardev *cd)
{
	cd->journal = stdout_is_journal();
	cd->journal_bol = true;
	/* stdin may be closed (fd 0 not open): then no input */
	return fds_setup(cd, fcntl(0, F_GETFD) < 0 ? -1 : 0, 1, false);
}

static int
backend_setup(struct chardev *cd, const struct cfg_backend *cfg)
{
	int fd;

	switch (cfg->type) {
	case CFG_BACKEND_NULL:
		return 0;
	case CFG_BACKEND_FILE:
		if (!cfg->path || !(cd->path = strdup(cfg->path)))
			return cfg->path ? -ENOMEM : -EINVAL;
		fd = file_open(cfg->path);
		if (fd < 0)
			return fd;
		return fds_setup(cd, -1, fd, true);
	case CFG_BACKEND_SOCKET:
		if (!cfg->path || !(cd->path = strdup(cfg->path)))
			return cfg->path ? -ENOMEM : -EINVAL;
		return socket_listen(cd, cfg->path);
	case CFG_BACKEND_PTY:
		return pty_open(cd);
	case CFG_BACKEND_STDIO:
		return stdio_setup(cd);
	default:
		return -EINVAL;
	}
}

/* The kind of a config's backend; -EINVAL for a type config never makes. */
static int
kind_of(const struct cfg_backend *cfg, enum chardev_kind *ret)
{
	static const enum chardev_kind kinds[_CFG_BACKEND_COUNT] = {
		[CFG_BACKEND_NULL] = CHARDEV_NULL,
		[CFG_BACKEND_FILE] = CHARDEV_FILE,
		[CFG_BACKEND_SOCKET] = CHARDEV_SOCKET,
		[CFG_BACKEND_PTY] = CHARDEV_PTY,
		[CFG_BACKEND_STDIO] = CHARDEV_STDIO,
	};

	if ((unsigned)cfg->type >= _CFG_BACKEND_COUNT)
		return -EINVAL;
	*ret = kinds[cfg->type];
	return 0;
}

int
chardev_open(const struct cfg_backend *cfg, const struct device_events *ev,
	     const char *label, struct chardev **ret_cd)
{
	static const struct cfg_backend null_backend = {
		.type = CFG_BACKEND_NULL,
	};
	enum chardev_kind kind;
	struct chardev *cd;
	int r;

	if (!cfg)
		cfg = &null_backend;
	if (!ev || !ret_cd || kind_of(cfg, &kind) < 0)
		return -EINVAL;
	cd = chardev_alloc(ev, kind, label);
	if (!cd)
		return -ENOMEM;
	r = backend_setup(cd, cfg);
	if (r < 0) {
		if (cfg->type == CFG_BACKEND_STDIO)
			cd->in_fd = cd->out_fd = -1; /* not ours */
		chardev_close(cd);
		return r;
	}
	*ret_cd = cd;
	return 0;
}

/* Last chance for buffered output: one non-blocking pass. */
static void
final_flush(struct chardev *cd)
{
	while (cd->connected && cd->out_len > 0 &&
	       cd->out_mode != CHARDEV_OUT_NONE && cd->out_fd >= 0) {
		if (cd->out_mode == CHARDEV_OUT_POLLED) {
			struct pollfd p = { .fd = cd->out_fd,
					    .events = POLLOUT };

			if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
				break;
		}
		if (out_write_once(cd) <= 0)
			break;
	}
}

void
chardev_close(struct chardev *cd)
{
	struct stat st;

	if (!cd)
		return;
	final_flush(cd);
	connection_events_free(cd);
	device_work_cancel(cd->ev, &cd->kick_work);
	device_timer_free(cd->ev, cd->retry_timer);
	device_watch_free(cd->ev, cd->listen_w);
	if (cd->listen_fd >= 0)
		(void)close(cd->listen_fd);
	if (cd->kind == CHARDEV_SOCKET && cd->path && cd->sock_ino &&
	    lstat(cd->path, &st) == 0 && st.st_ino == cd->sock_ino &&
	    st.st_dev == cd->sock_dev)
		(void)unlink(cd->path);
	if (cd->kind == CHARDEV_SOCKET || cd->own_fds) {
		if (cd->in_fd >= 0)
			(void)close(cd->in_fd);
		if (cd->out_fd >= 0 && cd->out_fd != cd->in_fd)
			(void)close(cd->out_fd);
	}
	free(cd->path);
	free(cd);
}
