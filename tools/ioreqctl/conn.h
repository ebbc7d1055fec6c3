/*
 * ioreqctl's side of the control protocol (docs/control-protocol.md):
 * connect to the Unix socket, read and check the greeting, send requests
 * with an id and wait for their reply, skipping event lines.  Single
 * threaded; one request outstanding at a time (the daemon answers in
 * order, so nothing more is needed).  Every function here prints its own
 * "ioreqctl: ..." message on failure and returns an exit status from
 * exit-codes.h, so a caller only passes the status on.
 */
#ifndef IOREQCTL_CONN_H
#define IOREQCTL_CONN_H

#include <signal.h>
#include <stddef.h>
#include <jansson.h>

/* The longest line accepted from the daemon (its output queue is bounded
 * at 1 MiB, so a longer line is not ioreqd's). */
#define CONN_LINE_MAX (4u << 20)

struct conn {
	int fd;
	char *buf;	  /* bytes received, not yet taken as lines */
	size_t len;	  /* bytes in buf */
	size_t cap;	  /* bytes allocated for buf */
	json_int_t id;	  /* id of the last request sent */
	int timeout_msec; /* wait for a reply at most this long; -1: forever */
	const char *path; /* the socket path, for messages */
	json_t *greeting; /* the "ioreqd" object of the greeting */
};

/* Set by the SIGINT handler that watch and stats --interval install; a
 * wait interrupted with it set returns -EINTR. */
extern volatile sig_atomic_t conn_interrupted;

/*
 * Connects to path and checks the greeting.  guest, when not NULL, is the
 * guest name path was derived from (it only changes the message when
 * nothing listens).  timeout_msec bounds every later wait (-1: none).
 * Returns IOREQCTL_OK, or IOREQCTL_NO_DAEMON, IOREQCTL_PERMISSION,
 * IOREQCTL_PROTOCOL or IOREQCTL_ERROR_REPLY (the daemon refused us with
 * an error line, e.g. TooManyClients).
 */
int conn_open(struct conn *c, const char *path, const char *guest,
	      int timeout_msec);
void conn_close(struct conn *c);

/*
 * Sends {"execute": name, "arguments": args, "id": N} (arguments left out
 * when args is NULL; args is consumed either way) and waits for the reply
 * with id N, skipping events.  On IOREQCTL_OK, *ret_value holds a new
 * reference to the "return" value.  An error reply prints "ioreqctl:
 * CLASS: DESC" and returns IOREQCTL_ERROR_REPLY (IOREQCTL_PERMISSION for
 * PermissionDenied).
 */
int conn_call(struct conn *c, const char *name, json_t *args,
	      json_t **ret_value);

/*
 * Waits for the next event line (for watch, after subscribe).  Returns
 * IOREQCTL_OK with *ret_event set (a new reference), or with *ret_event
 * NULL when the daemon closed the connection at a line boundary or
 * SIGINT arrived; IOREQCTL_PROTOCOL for anything but an event.  Waits
 * without a timeout.
 */
int conn_next_event(struct conn *c, json_t **ret_event);

#endif
