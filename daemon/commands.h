/*
 * The control socket's commands (docs/control-protocol.md, "Commands"):
 * one request line in, one reply line out.  No I/O here, so that the unit
 * tests can drive the whole command layer with strings.
 */
#ifndef IOREQD_DAEMON_COMMANDS_H
#define IOREQD_DAEMON_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct device;
struct ioreq_server;

/* What the commands see of the daemon; owned by main.c. */
struct ctl_daemon {
	uint16_t domid;
	const char *name;	     /* --name, or NULL */
	struct ioreq_server *server; /* NULL: no server (unit tests) */
	struct device *devices;	     /* newest first (config order reversed) */
	bool restricted;	     /* xentoolcore_restrict_all succeeded */
	uint64_t ready_usec;	     /* CLOCK_MONOTONIC when ready */
	bool stopping;
	/* quit: stop the loop as on SIGTERM, exit status 0 */
	void (*quit)(void *ctx);
	void *quit_ctx;
};

/* The greeting line (malloc'd, no '\n'). */
char *ctl_greeting(void);

/*
 * Answer one request (`line`, `len` bytes without the '\n', untrusted):
 * the reply line (malloc'd, no '\n'; NULL only when out of memory).  Sets
 * *ret_subscribe when the request was a successful subscribe.  A request
 * that gets an error changes nothing.
 */
char *ctl_handle_request(struct ctl_daemon *d, const char *line, size_t len,
			 bool *ret_subscribe);

/* An error line without id (TooLong, TooManyClients, PermissionDenied). */
char *ctl_error_line(const char *class_name, const char *desc);

/* An event line with a timestamp; `data` is stolen (NULL: {}). */
char *ctl_event_line(const char *name, json_t *data);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t ctl_now_usec(void);

#endif
