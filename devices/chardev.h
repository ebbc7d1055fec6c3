/*
 * Character back-ends for serial-like front ends (uart16550, debugcon, and
 * later PCI serial cards): where the guest's output goes and where its input
 * comes from.  Created from a struct cfg_backend:
 *
 *   null    output discarded, no input.
 *   file    output appended to `path` (O_APPEND|O_CREAT, mode 0640); no input.
 *           `path` must be a regular file (created if absent) or a
 *           character device such as /dev/null or a serial line; anything
 *           else (a FIFO, socket, directory, block device) is refused.
 *           The open never blocks.
 *   socket  a Unix stream socket SERVER at `path`.  One client at a time:
 *           while a client is connected further connections are accepted
 *           and closed at once (refused), so a second viewer cannot steal
 *           or split the console.  A client that has closed its
 *           connection before the front end took all it sent keeps
 *           feeding the rest as the front end makes room (a paste followed
 *           by a hang-up is not cut short), but only until the next client
 *           connects: that one replaces it and the dead client's bytes
 *           still unread are dropped.  What the front end already took
 *           (the UART's RX FIFO) stays there, so a guest that never reads
 *           cannot lock the console.  A stale socket file at `path`
 *           (connect() refused) is removed at start; anything else there
 *           is an error and left alone: -EEXIST for a non-socket,
 *           -EADDRINUSE for a socket a live server listens on.  The file
 *           is removed at close.  Guest output with no client connected is
 *           discarded, like a serial line nobody listens to; when a client
 *           disconnects, output still buffered for it is discarded and the
 *           server listens again.
 *   pty     a pseudo-terminal in raw mode; its slave path is logged at
 *           notice level.  While no process has the slave open, output is
 *           discarded; whether a reader has come is checked once a second,
 *           but only while the guest writes, so an idle daemon never wakes.
 *           A reader that attaches and types while the guest is silent is
 *           therefore read from once the guest next writes.
 *   stdio   the daemon's stdin/stdout.  stdin may be absent or at EOF;
 *           input stops at EOF.  Neither fd is made non-blocking (they may
 *           be shared with stderr); writes happen only when poll says the
 *           fd is writable, in chunks of at most PIPE_BUF bytes.  When
 *           stdout is the journal stream in $JOURNAL_STREAM, every guest
 *           line (ended by "\n" or NUL, or broken after 4096 bytes) is
 *           sent with a "<6>" priority prefix, so a guest's "<N>" is text;
 *           otherwise output is byte-exact.
 *
 * Flow control, both directions:
 *   input   the back-end reads only as many bytes as the front end's
 *           can_receive() says fit, and stops reading (leaving the bytes in
 *           the kernel) when it returns 0.  The front end calls
 *           chardev_accept_input() when it has room again (the UART does so
 *           when its RX FIFO drains).  No input byte is ever dropped here.
 *   output  chardev_write() copies into a bounded buffer (CHARDEV_OUT_SIZE)
 *           and returns how many bytes it took; a short count means "full".
 *           Once room returns, the front end's writable() hook is called
 *           (once per short write).  Back-ends that discard (null, socket
 *           with no client, pty with no reader) always accept everything.
 *
 * Everything runs on the loop thread of the event services `ev`
 * (devices/events.h), which must outlive the back-end; all fds the back-end
 * owns are non-blocking and close-on-exec.  chardev_write() makes no syscall:
 * output is flushed from the event loop.
 */
#ifndef IOREQD_DEVICES_CHARDEV_H
#define IOREQD_DEVICES_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cfg_backend;
struct sockaddr_un;

/*
 * Make room for a listening socket at `path` (sa: its address): remove a
 * stale socket, one whose server is gone (connect() refused), and nothing
 * else.  0, -EEXIST (not a socket: never ours), -EADDRINUSE (a live
 * server, perhaps another ioreqd, listens there) or -errno.  The socket
 * backend and the daemon's control socket both use it.
 */
int chardev_socket_path_clear(const char *path, const struct sockaddr_un *sa);
struct device_events;
struct device_info_writer;
struct chardev;

/* Bytes of output buffered for a slow reader before chardev_write() stalls. */
#define CHARDEV_OUT_SIZE (64 * 1024)

/* Hooks of the front end; all optional, called on the loop thread. */
struct chardev_frontend_ops {
	/* How many input bytes the front end can take right now. */
	size_t (*can_receive)(void *opaque);
	/* Input bytes; len is never more than the last can_receive(). */
	void (*receive)(void *opaque, const uint8_t *buf, size_t len);
	/* Output room is available again after a short chardev_write(). */
	void (*writable)(void *opaque);
};

/*
 * Create a back-end from its config; cfg NULL is the null back-end, for a
 * device whose config has no `backend`.  `label` names it in log messages
 * (the device id; copied).  Returns 0 and *ret_cd, or -errno (-EINVAL for a
 * missing path or unknown type, -ENAMETOOLONG for a socket path that does
 * not fit sockaddr_un, -EEXIST when a non-socket file sits at the socket
 * path, -EADDRINUSE when another server listens there, -ENXIO when a
 * file path is something cfg_file_backend_refusal() refuses, or the error of
 * open/bind/listen/posix_openpt).  Never blocks.  Logs nothing except the
 * pty path (notice).
 */
int chardev_open(const struct cfg_backend *cfg, const struct device_events *ev,
		 const char *label, struct chardev **ret_cd);

/*
 * A back-end on fds the caller already has (tests, embedding).  in_fd and
 * out_fd may be -1 (no input / discard output) and may be equal.  If
 * take_ownership, the fds are made non-blocking and closed by
 * chardev_close(); otherwise they are left as they are (like stdio).
 */
int chardev_open_fds(const struct device_events *ev, int in_fd, int out_fd,
		     bool take_ownership, const char *label,
		     struct chardev **ret_cd);

/*
 * Attach (or with ops NULL, detach) the front end.  Input is read only
 * while a front end with a receive hook is attached.
 */
void chardev_set_frontend(struct chardev *cd,
			  const struct chardev_frontend_ops *ops, void *opaque);

/*
 * Queue output.  Returns the number of bytes accepted (0..len); fewer than
 * len means the buffer is full and writable() will follow.  No syscall.
 */
size_t chardev_write(struct chardev *cd, const uint8_t *buf, size_t len);

/* Bytes chardev_write() would accept right now. */
size_t chardev_write_room(const struct chardev *cd);

/*
 * The front end can take input again: resume reading if it was paused.
 * Cheap when nothing is paused (no syscall); safe to call often.
 */
void chardev_accept_input(struct chardev *cd);

/* True when a reader is attached (socket client connected, pty opened). */
bool chardev_connected(const struct chardev *cd);

/* The pty slave path or socket/file path; NULL for other types. */
const char *chardev_path(const struct chardev *cd);

/*
 * What the operator sees of it (the control socket's `devices`): one
 * "backend" fact, "null", "file:PATH", "socket:PATH", "pty:/dev/pts/N",
 * "stdio", or "fd" (chardev_open_fds).  cd NULL is "null".
 */
void chardev_describe(const struct chardev *cd,
		      const struct device_info_writer *w);

/*
 * Flush what can be flushed without blocking, then free everything; the
 * socket file is removed.  Accepts NULL.
 */
void chardev_close(struct chardev *cd);

#endif
