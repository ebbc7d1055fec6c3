/*
 * Unit test for devices/chardev.c: file append, file kinds refused without
 * blocking (FIFO, socket, directory), null, socket server (input
 * flow control, second client refused, disconnect/reconnect, slow-client
 * output buffering, socket file lifecycle, what may be replaced at the
 * socket path), fds mode with a pipe, pty, stdio on a journal stream
 * (guest lines cannot forge priorities).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config/cfg.h"
#include "devices/chardev.h"
#include "ioreq/events.h"
#include "test-util.h"

static struct event_base *base;
static struct ioreq_events *events;
static const struct device_events *ev;
static char dir[64];

/* A front end with a small, test-controlled input buffer. */
struct fe {
	uint8_t buf[65536];
	size_t len;
	size_t room;	/* how much it takes before the test drains */
	size_t cap_len; /* len at which it reports full */
	unsigned writable_calls;
};

static size_t
fe_can_receive(void *opaque)
{
	struct fe *f = opaque;

	return f->len >= f->cap_len ? 0 : f->cap_len - f->len;
}

static void
fe_receive(void *opaque, const uint8_t *buf, size_t len)
{
	struct fe *f = opaque;

	if (f->len + len > f->cap_len || f->len + len > sizeof(f->buf)) {
		fprintf(stderr, "front end overfed\n");
		abort();
	}
	memcpy(f->buf + f->len, buf, len);
	f->len += len;
}

static void
fe_writable(void *opaque)
{
	((struct fe *)opaque)->writable_calls++;
}

static const struct chardev_frontend_ops fe_ops = {
	.can_receive = fe_can_receive,
	.receive = fe_receive,
	.writable = fe_writable,
};

static int
client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A listening Unix socket at path (not through chardev). */
static int
listen_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static size_t
slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t r;

	if (fd < 0)
		return 0;
	r = read(fd, buf, size - 1);
	close(fd);
	if (r < 0)
		r = 0;
	buf[r] = 0;
	return (size_t)r;
}

static void
test_null_and_bad(void)
{
	struct cfg_backend cfg = { .type = CFG_BACKEND_NULL };
	struct chardev *cd = NULL;

	CHECK_EQ(chardev_open(&cfg, ev, "n", &cd), 0);
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"abc", 3), 3);
	CHECK(!chardev_connected(cd));
	chardev_accept_input(cd);
	pump_for(base, 5);
	chardev_close(cd);
	chardev_close(NULL);

	/* no config at all: the null back-end too */
	cd = NULL;
	CHECK_EQ(chardev_open(NULL, ev, "n0", &cd), 0);
	CHECK(cd != NULL);
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"abc", 3), 3);
	CHECK(!chardev_connected(cd));
	CHECK(chardev_path(cd) == NULL);
	chardev_close(cd);
	CHECK_EQ(chardev_open(NULL, NULL, "n0", &cd), -EINVAL);

	cfg.type = CFG_BACKEND_FILE; /* path missing */
	CHECK_EQ(chardev_open(&cfg, ev, "f", &cd), -EINVAL);
	cfg.type = CFG_BACKEND_SOCKET;
	CHECK_EQ(chardev_open(&cfg, ev, "s", &cd), -EINVAL);
	cfg.path =
		(char *)"/tmp/"
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	CHECK_EQ(chardev_open(&cfg, ev, "s", &cd), -ENAMETOOLONG);
	cfg.type = _CFG_BACKEND_COUNT;
	CHECK_EQ(chardev_open(&cfg, ev, "x", &cd), -EINVAL);
}

static void
test_file(void)
{
	char path[96], buf[256];
	struct cfg_backend cfg = { .type = CFG_BACKEND_FILE, .path = path };
	struct chardev *cd = NULL;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/out.log", dir);
	/* new file: mode 0640 (under umask 022) */
	CHECK_EQ(chardev_open(&cfg, ev, "f", &cd), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"first\n", 6), 6);
	pump_for(base, 5);
	chardev_close(cd);
	CHECK_EQ(slurp(path, buf, sizeof(buf)), 6);

	/* existing content is kept: append */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "other\n", 6) == 6);
	close(fd);
	CHECK_EQ(chardev_open(&cfg, ev, "f", &cd), 0);
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"hello ", 6), 6);
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"world\n", 6), 6);
	PUMP_UNTIL(base, slurp(path, buf, sizeof(buf)) == 24, 100);
	CHECK(strcmp(buf, "first\nother\nhello world\n") == 0);
	/* bytes written right before close are flushed by close */
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"bye\n", 4), 4);
	chardev_close(cd);
	slurp(path, buf, sizeof(buf));
	CHECK(strcmp(buf, "first\nother\nhello world\nbye\n") == 0);
	unlink(path);
}

static void
on_alarm(int sig)
{
	static const char msg[] = "timed out: chardev_open blocked\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

/*
 * A file path that is a FIFO, socket or directory is refused at once,
 * with or without a reader on the FIFO; the open never blocks (alarm()
 * turns a hang into a failure).  A character device is accepted.
 */
static void
test_file_refused(void)
{
	char path[96];
	struct cfg_backend cfg = { .type = CFG_BACKEND_FILE, .path = path };
	struct chardev *cd = NULL;
	int reader, lfd;

	(void)signal(SIGALRM, on_alarm);
	(void)alarm(5);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	CHECK_EQ(mkfifo(path, 0600), 0);
	CHECK_EQ(chardev_open(&cfg, ev, "fifo", &cd), -ENXIO);
	reader = open(path, O_RDONLY | O_NONBLOCK);
	CHECK(reader >= 0);
	CHECK_EQ(chardev_open(&cfg, ev, "fifo", &cd), -ENXIO);
	close(reader);
	unlink(path);

	snprintf(path, sizeof(path), "%s/sock", dir);
	lfd = listen_socket(path);
	CHECK(lfd >= 0);
	CHECK_EQ(chardev_open(&cfg, ev, "sock", &cd), -ENXIO);
	close(lfd);
	unlink(path);

	snprintf(path, sizeof(path), "%s", dir);
	CHECK_EQ(chardev_open(&cfg, ev, "dir", &cd), -EISDIR);

	snprintf(path, sizeof(path), "/dev/null");
	CHECK_EQ(chardev_open(&cfg, ev, "null", &cd), 0);
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"x", 1), 1);
	pump_for(base, 2);
	chardev_close(cd);
	(void)alarm(0);

	CHECK(cfg_file_backend_refusal(S_IFREG) == NULL);
	CHECK(cfg_file_backend_refusal(S_IFCHR) == NULL);
	CHECK(strcmp(cfg_file_backend_refusal(S_IFIFO), "a FIFO") == 0);
	CHECK(strcmp(cfg_file_backend_refusal(S_IFBLK), "a block device") == 0);
}

static void
test_socket(void)
{
	char path[96], buf[4096];
	struct cfg_backend cfg = { .type = CFG_BACKEND_SOCKET, .path = path };
	struct chardev *cd = NULL;
	struct fe *f = calloc(1, sizeof(*f));
	uint8_t *msg = malloc(5000);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int c, c2, stale;
	ssize_t r;
	struct stat st;

	snprintf(path, sizeof(path), "%s/con.sock", dir);
	/* a non-socket at the path is never removed */
	c = open(path, O_CREAT | O_WRONLY, 0600);
	close(c);
	CHECK_EQ(chardev_open(&cfg, ev, "s", &cd), -EEXIST);
	unlink(path);
	/* a stale socket file is replaced */
	stale = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK_EQ(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(stale);
	CHECK_EQ(chardev_open(&cfg, ev, "s", &cd), 0);
	if (!cd || !f || !msg)
		goto out;
	CHECK(chardev_path(cd) && strcmp(chardev_path(cd), path) == 0);
	f->cap_len = 10;
	chardev_set_frontend(cd, &fe_ops, f);

	/* output with no client is discarded */
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"lost", 4), 4);
	c = client_connect(path);
	CHECK(c >= 0);
	PUMP_UNTIL(base, chardev_connected(cd), 200);
	CHECK(chardev_connected(cd));

	/* second client refused: sees EOF, first one keeps working */
	c2 = client_connect(path);
	pump_for(base, 10);
	CHECK(c2 >= 0 && recv(c2, buf, sizeof(buf), MSG_DONTWAIT) == 0);
	if (c2 >= 0)
		close(c2);

	/* client sends 5000 bytes to a front end taking 10 at a time */
	for (int i = 0; i < 5000; i++)
		msg[i] = (uint8_t)(i * 31 + 7);
	CHECK_EQ(send(c, msg, 5000, 0), 5000);
	for (unsigned round = 0; round < 5000 && f->cap_len < 5000; round++) {
		PUMP_UNTIL(base, f->len == f->cap_len, 100);
		if (f->len != f->cap_len)
			break;
		pump_for(base, 0); /* full: must not read more */
		f->cap_len = f->len + 10 > 5000 ? 5000 : f->len + 10;
		chardev_accept_input(cd);
	}
	PUMP_UNTIL(base, f->len == 5000, 200);
	CHECK_EQ(f->len, 5000);
	CHECK(memcmp(f->buf, msg, 5000) == 0);

	/* output reaches the client (and not the discarded "lost") */
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"hello", 5), 5);
	pump_for(base, 10);
	r = recv(c, buf, sizeof(buf), MSG_DONTWAIT);
	CHECK_EQ(r, 5);
	CHECK(r == 5 && memcmp(buf, "hello", 5) == 0);

	/* disconnect: back to listening, output discarded meanwhile */
	close(c);
	PUMP_UNTIL(base, !chardev_connected(cd), 200);
	CHECK(!chardev_connected(cd));
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"gone", 4), 4);
	pump_for(base, 5);
	c = client_connect(path);
	CHECK(c >= 0);
	PUMP_UNTIL(base, chardev_connected(cd), 200);
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"again", 5), 5);
	pump_for(base, 10);
	r = recv(c, buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(r == 5 && memcmp(buf, "again", 5) == 0);
	/* input works on the new connection */
	f->len = 0;
	f->cap_len = 100;
	chardev_accept_input(cd);
	CHECK_EQ(send(c, "xyz", 3, 0), 3);
	PUMP_UNTIL(base, f->len == 3, 200);
	CHECK(f->len == 3 && memcmp(f->buf, "xyz", 3) == 0);
	close(c);
	pump_for(base, 5);
out:
	chardev_close(cd);
	CHECK(lstat(path, &st) < 0 && errno == ENOENT); /* removed */
	free(f);
	free(msg);
}

/*
 * Only a stale socket is replaced: a regular file at the path, or a socket
 * a live server listens on, is left exactly as it was.
 */
static void
test_socket_path_guard(void)
{
	char path[96], buf[16];
	struct cfg_backend cfg = { .type = CFG_BACKEND_SOCKET, .path = path };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct chardev *cd = NULL;
	struct stat before, after;
	int fd, lfd, c, a;

	snprintf(path, sizeof(path), "%s/guard.sock", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && write(fd, "keep", 4) == 4);
	close(fd);
	CHECK_EQ(chardev_open(&cfg, ev, "g", &cd), -EEXIST);
	chardev_close(cd); /* NULL unless it wrongly succeeded */
	cd = NULL;
	CHECK_EQ(slurp(path, buf, sizeof(buf)), 4);
	CHECK(strcmp(buf, "keep") == 0);
	unlink(path);

	/* a live server: not unlinked, not stolen, its clients still reach it */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(lfd, 4), 0);
	CHECK_EQ(stat(path, &before), 0);
	CHECK_EQ(chardev_open(&cfg, ev, "g", &cd), -EADDRINUSE);
	chardev_close(cd); /* NULL unless it wrongly succeeded */
	cd = NULL;
	CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino &&
	      after.st_dev == before.st_dev);
	/* the probe's connection, then ours, reach the listener */
	a = accept(lfd, NULL, NULL);
	if (a >= 0)
		close(a);
	c = client_connect(path);
	CHECK(c >= 0);
	a = accept(lfd, NULL, NULL);
	CHECK(a >= 0);
	if (a >= 0)
		close(a);
	if (c >= 0)
		close(c);
	close(lfd);
	unlink(path);
}

/* A client that does not read: output buffers to the bound, then stalls. */
static void
test_socket_slow_client(void)
{
	enum { TOTAL = 400000 };
	char path[96];
	struct cfg_backend cfg = { .type = CFG_BACKEND_SOCKET, .path = path };
	struct chardev *cd = NULL;
	struct fe *f = calloc(1, sizeof(*f));
	uint8_t *got = malloc(TOTAL), chunk[1000];
	size_t sent = 0, recvd = 0;
	unsigned iter = 0;
	int c, small = 4096;
	bool stalled = false, ok = true;

	snprintf(path, sizeof(path), "%s/slow.sock", dir);
	CHECK_EQ(chardev_open(&cfg, ev, "slow", &cd), 0);
	if (!cd || !f || !got)
		goto out;
	chardev_set_frontend(cd, &fe_ops, f);
	c = client_connect(path);
	CHECK(c >= 0);
	(void)setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	PUMP_UNTIL(base, chardev_connected(cd), 200);

	/* fill: the client does not read */
	while (sent < TOTAL && iter++ < 100000) {
		size_t n;

		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = (uint8_t)((sent + i) % 251);
		n = chardev_write(cd, chunk, sizeof(chunk));
		sent += n;
		if (n < sizeof(chunk)) {
			stalled = true;
			break;
		}
		(void)event_base_loop(base, EVLOOP_NONBLOCK);
	}
	CHECK(stalled);
	CHECK_EQ(chardev_write_room(cd), 0);
	CHECK_EQ(f->writable_calls, 0);
	pump_for(base, 10);
	CHECK_EQ(f->writable_calls, 0); /* still nobody reading */

	/* the client reads slowly; the writer resumes on writable() */
	iter = 0;
	while (recvd < TOTAL && iter++ < 400000) {
		ssize_t r = recv(c, got + recvd, 1500, MSG_DONTWAIT);

		if (r > 0)
			recvd += (size_t)r;
		if (sent < TOTAL && chardev_write_room(cd) > 0) {
			size_t want = TOTAL - sent < sizeof(chunk) ?
					      TOTAL - sent :
					      sizeof(chunk);

			for (size_t i = 0; i < want; i++)
				chunk[i] = (uint8_t)((sent + i) % 251);
			sent += chardev_write(cd, chunk, want);
		}
		(void)event_base_loop(base, EVLOOP_NONBLOCK);
	}
	CHECK(f->writable_calls > 0);
	CHECK_EQ(sent, TOTAL);
	CHECK_EQ(recvd, TOTAL);
	for (size_t i = 0; i < recvd; i++)
		if (got[i] != (uint8_t)(i % 251))
			ok = false;
	CHECK(ok);
	close(c);
out:
	chardev_close(cd);
	free(f);
	free(got);
}

/*
 * Guest output is flushed as deferred work: not inside chardev_write(),
 * but at the point the server has answered the request, before the loop
 * runs again.
 */
static void
test_flush_after_answer(void)
{
	struct chardev *cd = NULL;
	char buf[8];
	int sv[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	CHECK_EQ(chardev_open_fds(ev, sv[0], sv[0], true, "ans", &cd), 0);
	if (!cd)
		return;
	pump_for(base, 2);
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"hi", 2), 2);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	CHECK_EQ(ioreq_events_queued(events), 1);
	ioreq_events_answered(events);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 2);
	CHECK(memcmp(buf, "hi", 2) == 0);
	/* closing with a flush still queued drops it from the queue */
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"yo", 2), 2);
	chardev_close(cd);
	CHECK_EQ(ioreq_events_queued(events), 0);
	pump_for(base, 2);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 2);
	close(sv[1]);
}

/* Caller's fds, not owned and left blocking: a pipe for output. */
static void
test_fds_pipe(void)
{
	enum { TOTAL = 20000 };
	struct chardev *cd = NULL;
	int p[2], in[2];
	uint8_t data[TOTAL], got[TOTAL];
	size_t recvd = 0;
	struct fe *f = calloc(1, sizeof(*f));

	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(pipe(in), 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	CHECK_EQ(chardev_open_fds(ev, in[0], p[1], false, "pipe", &cd), 0);
	if (!cd || !f)
		goto out;
	CHECK(!(fcntl(p[1], F_GETFL) & O_NONBLOCK)); /* left untouched */
	f->cap_len = 1000;
	chardev_set_frontend(cd, &fe_ops, f);
	CHECK_EQ(chardev_write(cd, data, TOTAL), TOTAL);
	for (int i = 0; i < 2000 && recvd < TOTAL; i++) {
		ssize_t r = read(p[0], got + recvd, TOTAL - recvd);

		if (r > 0)
			recvd += (size_t)r;
		pump_for(base, 0);
		usleep(200);
	}
	CHECK_EQ(recvd, TOTAL);
	CHECK(memcmp(data, got, TOTAL) == 0);
	/* input, then EOF on the input pipe */
	CHECK_EQ(write(in[1], "ping", 4), 4);
	close(in[1]);
	PUMP_UNTIL(base, f->len == 4, 200);
	CHECK(f->len == 4 && memcmp(f->buf, "ping", 4) == 0);
	pump_for(base, 5);
out:
	chardev_close(cd);
	/* not owned: still open */
	CHECK(fcntl(p[1], F_GETFD) >= 0);
	close(p[0]);
	close(p[1]);
	close(in[0]);
	free(f);
}

/* A regular file as input (stdin redirected from a file): flow controlled. */
static void
test_fds_file_input(void)
{
	char path[96];
	struct chardev *cd = NULL;
	struct fe *f = calloc(1, sizeof(*f));
	uint8_t data[1000];
	int fd;

	snprintf(path, sizeof(path), "%s/in.txt", dir);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 3);
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, data, sizeof(data)) == sizeof(data));
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK_EQ(chardev_open_fds(ev, fd, -1, true, "file-in", &cd), 0);
	if (!cd || !f)
		goto out;
	/* output to nowhere is accepted and discarded */
	CHECK_EQ(chardev_write(cd, data, 10), 10);
	f->cap_len = 7;
	chardev_set_frontend(cd, &fe_ops, f);
	for (int i = 0; i < 1000 && f->len < sizeof(data); i++) {
		pump_for(base, 0);
		CHECK(f->len <= f->cap_len);
		if (f->len == f->cap_len) {
			f->cap_len += 7;
			chardev_accept_input(cd);
		}
	}
	CHECK_EQ(f->len, sizeof(data));
	CHECK(memcmp(f->buf, data, sizeof(data)) == 0);
out:
	chardev_close(cd);
	unlink(path);
	free(f);
}

static void
test_pty(void)
{
	struct cfg_backend cfg = { .type = CFG_BACKEND_PTY };
	struct chardev *cd = NULL;
	struct fe *f = calloc(1, sizeof(*f));
	char buf[64];
	ssize_t r = -1;
	int s;

	CHECK_EQ(chardev_open(&cfg, ev, "pty", &cd), 0);
	if (!cd || !f)
		goto out;
	f->cap_len = 100;
	chardev_set_frontend(cd, &fe_ops, f);
	CHECK(chardev_path(cd) &&
	      strncmp(chardev_path(cd), "/dev/pts/", 9) == 0);
	CHECK(!chardev_connected(cd));
	/* nobody on the slave: output discarded */
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"void", 4), 4);
	s = open(chardev_path(cd), O_RDWR | O_NOCTTY | O_NONBLOCK);
	CHECK(s >= 0);
	PUMP_UNTIL(base, chardev_connected(cd), 2500);
	CHECK(chardev_connected(cd));
	CHECK_EQ(chardev_write(cd, (const uint8_t *)"out\n", 4), 4);
	for (int i = 0; i < 200 && r <= 0; i++) {
		pump_for(base, 1);
		r = read(s, buf, sizeof(buf));
	}
	CHECK(r == 4 && memcmp(buf, "out\n", 4) == 0); /* raw: no \r */
	CHECK_EQ(write(s, "in", 2), 2);
	PUMP_UNTIL(base, f->len == 2, 500);
	CHECK(f->len == 2 && memcmp(f->buf, "in", 2) == 0);
	close(s);
	PUMP_UNTIL(base, !chardev_connected(cd), 500);
	CHECK(!chardev_connected(cd));
out:
	chardev_close(cd);
	free(f);
}

/*
 * The stdio backend with fd 1 on a pipe; journal_stream NULL leaves
 * $JOURNAL_STREAM unset, "match" sets it to the pipe's dev:ino.  Writes
 * `in` as the guest would and returns what arrived on the pipe in got.
 */
static size_t
stdio_through(const char *journal_stream, const uint8_t *in, size_t len,
	      uint8_t *got, size_t size)
{
	struct cfg_backend cfg = { .type = CFG_BACKEND_STDIO };
	struct chardev *cd = NULL;
	char env[64];
	struct stat st;
	size_t n = 0, done = 0;
	int p[2], saved = dup(1);

	CHECK(saved >= 0 && pipe(p) == 0 && dup2(p[1], 1) == 1);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	CHECK(fstat(1, &st) == 0);
	(void)snprintf(env, sizeof(env), "%llu:%llu",
		       (unsigned long long)st.st_dev,
		       (unsigned long long)st.st_ino);
	if (journal_stream)
		setenv("JOURNAL_STREAM",
		       strcmp(journal_stream, "match") == 0 ? env :
							      journal_stream,
		       1);
	else
		unsetenv("JOURNAL_STREAM");
	CHECK_EQ(chardev_open(&cfg, ev, "stdio", &cd), 0);
	for (int i = 0; cd && i < 2000 && (done < len || n < size); i++) {
		ssize_t r;

		if (done < len)
			done += chardev_write(cd, in + done, len - done);
		pump_for(base, 0);
		r = read(p[0], got + n, size - n);
		if (r > 0)
			n += (size_t)r;
		else if (done == len && i > 200)
			break;
		usleep(100);
	}
	chardev_close(cd);
	CHECK(dup2(saved, 1) == 1);
	close(saved);
	close(p[0]);
	close(p[1]);
	unsetenv("JOURNAL_STREAM");
	return n;
}

/*
 * Under systemd, guest lines on a journal stdout must not be read as
 * ioreqd's priority prefixes: each gets "<6>" (also after a NUL, which
 * ends a journal line, and where an over-long line is broken); anywhere
 * else stdout gets the guest's bytes unchanged.
 */
static void
test_stdio_journal(void)
{
	static const char guest[] = "hello\n<0>ioreqd: error: forged\n"
				    "a\0<1>b\n<2>";
	static const char want[] = "<6>hello\n<6><0>ioreqd: error: forged\n"
				   "<6>a\0<6><1>b\n<6><2>";
	enum { LONG = 5000 };
	uint8_t *in = malloc(LONG), *got = malloc(LONG + 64);
	size_t n;

	if (!in || !got)
		goto out;
	n = stdio_through("match", (const uint8_t *)guest, sizeof(guest) - 1,
			  got, LONG + 64);
	CHECK_EQ(n, sizeof(want) - 1);
	CHECK(n == sizeof(want) - 1 && memcmp(got, want, n) == 0);

	/* no journal, or a journal stream that is not our stdout: exact */
	n = stdio_through(NULL, (const uint8_t *)guest, sizeof(guest) - 1, got,
			  LONG + 64);
	CHECK(n == sizeof(guest) - 1 && memcmp(got, guest, n) == 0);
	n = stdio_through("1:1", (const uint8_t *)guest, sizeof(guest) - 1, got,
			  LONG + 64);
	CHECK(n == sizeof(guest) - 1 && memcmp(got, guest, n) == 0);

	/* a line of 5000 bytes is broken after 4096, prefix again */
	memset(in, 'x', LONG);
	memcpy(in + 4096, "<0>", 3);
	n = stdio_through("match", in, LONG, got, LONG + 64);
	CHECK_EQ(n, LONG + 7);
	CHECK(memcmp(got, "<6>", 3) == 0 && got[3 + 4096] == '\n' &&
	      memcmp(got + 4100, "<6><0>", 6) == 0);
out:
	free(in);
	free(got);
}

int
main(void)
{
	umask(022);
	base = event_base_new();
	snprintf(dir, sizeof(dir), "/tmp/ioreqd-chardev-XXXXXX");
	if (!base || ioreq_events_new(base, &events) < 0 || !mkdtemp(dir))
		return 2;
	ev = ioreq_events_services(events);
	test_null_and_bad();
	test_file();
	test_file_refused();
	test_socket();
	test_socket_path_guard();
	test_socket_slow_client();
	test_flush_after_answer();
	test_fds_pipe();
	test_fds_file_input();
	test_pty();
	test_stdio_journal();
	rmdir(dir);
	ioreq_events_free(events);
	event_base_free(base);
	return test_finish();
}
