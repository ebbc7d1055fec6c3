/*
 * The daemon's single libevent loop: the event-channel fd, SIGTERM/SIGINT,
 * the domain-death probe and the systemd watchdog.  Everything runs on the
 * thread that calls loop_run().
 */
#ifndef IOREQD_DAEMON_LOOP_H
#define IOREQD_DAEMON_LOOP_H

#include <stdint.h>

struct event;
struct event_base;
struct ioreq_server;

/* How often the domain is probed for death (a cheap dm_op). */
#define LOOP_PROBE_INTERVAL_USEC (500 * 1000)

struct loop {
	struct event_base *base;
	struct ioreq_server *server;	/* borrowed, set by loop_attach */
	uint16_t domid;
	struct event *evtchn;
	struct event *sigterm;
	struct event *sigint;
	struct event *probe;
	struct event *watchdog;
	int exit_status;		/* what main() exits with */
};

/* Create the event base and catch SIGTERM/SIGINT.  0 or -errno. */
int loop_init(struct loop *loop, uint16_t domid);
/*
 * Watch the server's event channel, the domain probe and (if
 * the unit asks for it) the watchdog.  0 or -errno.
 */
int loop_attach(struct loop *loop, struct ioreq_server *server);
/* Run until stopped; returns the exit status (0 clean / guest gone). */
int loop_run(struct loop *loop);
/* Free events and the base.  Accepts a partially set-up loop. */
void loop_fini(struct loop *loop);

#endif
