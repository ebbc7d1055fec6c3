/*
 * The daemon's single libevent loop: the event-channel fd, SIGTERM/SIGINT,
 * the xenstore watch that tells of domain death, and the systemd watchdog.
 * Nothing periodic runs while the guest is idle (unless the unit asks for
 * a watchdog, or xenstore is unavailable).  Everything runs on the thread
 * that calls loop_run().
 */
#ifndef IOREQD_DAEMON_LOOP_H
#define IOREQD_DAEMON_LOOP_H

#include <stdint.h>

struct event;
struct event_base;
struct ioreq_domain_watch;
struct ioreq_server;
struct ctl;

/*
 * Without xenstore (no xenstored, or its connection lost), how often the
 * domain is probed for death instead (one dm_op): slow on purpose, with a
 * warning in the log, so a missing xenstored never turns into fast polling.
 */
#define LOOP_FALLBACK_PROBE_USEC (10 * 1000 * 1000)

struct loop {
	struct event_base *base;
	struct ioreq_server *server; /* borrowed, set by loop_attach */
	uint16_t domid;
	struct event *evtchn;
	struct event *sigterm;
	struct event *sigint;
	struct ioreq_domain_watch *domain_watch; /* NULL: fallback timer */
	struct event *domain_watch_ev;
	struct event *probe; /* fallback timer, or NULL */
	struct event *watchdog;
	int exit_status; /* what main() exits with */
	/* why it stopped: "signal", "quit", "domain-gone", "error" */
	const char *stop_reason;
	struct ctl *ctl; /* control socket for DOMAIN_GONE, or NULL */
};

/*
 * Create the event base and catch SIGTERM/SIGINT for set-up: until
 * loop_attach() they interrupt blocking system calls (EINTR, no restart)
 * and are reported by loop_setup_signal().  0 or -errno.
 */
int loop_init(struct loop *loop, uint16_t domid);
/*
 * SIGTERM or SIGINT if one arrived between loop_init() and the end of
 * loop_attach(), else 0.  Set-up checks it between steps and stops.
 */
int loop_setup_signal(void);
/*
 * Hand SIGTERM/SIGINT to the loop; watch the server's event channel,
 * domain death (the xenstore watch, or the slow fallback probe with a
 * warning when xenstore is unavailable) and (if the unit asks for it) the
 * watchdog.  Call after the handles are
 * restricted (see ioreq_domain_watch_open).  0 or -errno.
 */
int loop_attach(struct loop *loop, struct ioreq_server *server);
/* Run until stopped; returns the exit status (0 clean / guest gone). */
int loop_run(struct loop *loop);
/* Stop the loop for the control socket's quit (exit status 0). */
void loop_quit(void *loop);
/* Free events and the base.  Accepts a partially set-up loop. */
void loop_fini(struct loop *loop);

#endif
