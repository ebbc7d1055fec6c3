/*
 * The control socket (docs/control-protocol.md): a Unix stream listener on
 * the daemon's event loop, its clients (peer-credential check, line
 * framing, bounded input and output) and the events sent to subscribers.
 * What a request means is commands.c's business; this file only moves
 * lines.  Everything is non-blocking and runs on the event-loop thread; a
 * wake-up does a bounded amount of work, so the guest's requests never
 * wait long behind a client.
 */
#ifndef IOREQD_DAEMON_CONTROL_H
#define IOREQD_DAEMON_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "devices/device.h"

struct ctl;
struct ctl_daemon;
struct event_base;

#define CTL_MAX_CLIENTS	   16
#define CTL_LINE_MAX	   65536u	  /* bytes before the '\n' */
#define CTL_OUTPUT_MAX	   (1024u * 1024) /* queued for one client */
#define CTL_LINES_PER_WAKE 64		  /* requests handled per wake-up */

/* The default path for --name NAME; NULL for a name unfit for a path. */
char *ctl_default_path(const char *name);

/*
 * Listen on `path`: a stale socket there (nobody accepts) is replaced,
 * anything else is refused (-EEXIST: not a socket, -EADDRINUSE: a live
 * server).  Mode 0600, or 0660 owned by `gid` when has_group.  `d`
 * answers the requests and must outlive the listener.  0 or -errno.
 */
int ctl_open(struct event_base *base, const char *path, bool has_group,
	     gid_t gid, struct ctl_daemon *d, struct ctl **ret_ctl);

/*
 * Send an event to every subscriber; `data` is stolen (NULL: {}).  A
 * subscriber whose output would pass CTL_OUTPUT_MAX is disconnected.
 */
void ctl_event(struct ctl *ctl, const char *name, json_t *data);

/*
 * The devices' reports (an ioreq_event_sink_fn, ctx the struct ctl): never
 * blocks and never allocates; the event is queued and sent from the loop
 * a moment later (the core rate-limits reports, ioreq/report.c).
 */
void ctl_device_report(void *ctx, const struct device *dev,
		       enum device_event ev, const char *desc);

/*
 * Send STOPPING (reason: "signal", "quit", "domain-gone" or "error"),
 * try once to write out what every client still has queued, close every
 * client and the listener, and remove the socket file if it is still
 * ours.  Accepts NULL.
 */
void ctl_close(struct ctl *ctl, const char *reason);

#endif
