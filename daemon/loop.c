/*
 * The event loop (see loop.h).  Stop reasons: a signal (status 0), the
 * domain's death (status 0: a @releaseDomain fire after which our server
 * is gone, the slow fallback probe, or any dm_op returning ESRCH), or a
 * fatal event-channel error (status 1).
 */
#include "daemon/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/control.h"
#include "daemon/notify.h"
#include "ioreq/ioreq.h"
#include "lib/log.h"


static void
loop_stop(struct loop *loop, int status, const char *reason)
{
	if (!loop->stop_reason || status > loop->exit_status)
		loop->stop_reason = reason;
	if (status > loop->exit_status)
		loop->exit_status = status;
	(void)event_base_loopbreak(loop->base);
}

static void
domain_gone(struct loop *loop)
{
	log_notice("domain %u is gone", (unsigned)loop->domid);
	if (!loop->stop_reason)
		ctl_event(loop->ctl, "DOMAIN_GONE",
			  json_pack("{s:i}", "domid", (int)loop->domid));
	loop_stop(loop, 0, "domain-gone");
}

static void
on_evtchn(evutil_socket_t fd, short what, void *arg)
{
	struct loop *loop = arg;
	int r = ioreq_server_handle_event(loop->server);

	if (r < 0 && !ioreq_server_domain_gone(loop->server) &&
	    ioreq_server_probe(loop->server) != -ESRCH) {
		log_errno(LOG_LEVEL_ERROR, r, "domain %u: event channel failed",
			  (unsigned)loop->domid);
		loop_stop(loop, 1, "error");
		return;
	}
	if (ioreq_server_domain_gone(loop->server))
		domain_gone(loop);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct loop *loop = arg;

	log_info("received %s, stopping",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT");
	loop_stop(loop, 0, "signal");
}

static int
add_timer(struct loop *loop, struct event **ret_ev, uint64_t usec,
	  event_callback_fn cb)
{
	struct timeval tv = {
		.tv_sec = (time_t)(usec / 1000000),
		.tv_usec = (suseconds_t)(usec % 1000000),
	};

	*ret_ev = event_new(loop->base, -1, EV_PERSIST, cb, loop);
	if (!*ret_ev || event_add(*ret_ev, &tv) < 0)
		return -ENOMEM;
	return 0;
}

static void
probe(struct loop *loop)
{
	int r = ioreq_server_probe(loop->server);

	if (r == -ESRCH || ioreq_server_domain_gone(loop->server))
		domain_gone(loop);
	else if (r < 0)
		log_errno(LOG_LEVEL_DEBUG, r, "domain %u: probe failed",
			  (unsigned)loop->domid);
}

static void
on_probe(evutil_socket_t fd, short what, void *arg)
{
	probe(arg);
}

static int
start_fallback_probe(struct loop *loop, int why)
{
	log_errno(LOG_LEVEL_WARNING, why,
		  "domain %u: no xenstore watch on @releaseDomain, checking "
		  "for the domain's death every %u s instead",
		  (unsigned)loop->domid,
		  (unsigned)(LOOP_FALLBACK_PROBE_USEC / 1000000));
	return add_timer(loop, &loop->probe, LOOP_FALLBACK_PROBE_USEC,
			 on_probe);
}

static void
on_domain_watch(evutil_socket_t fd, short what, void *arg)
{
	struct loop *loop = arg;
	int r = ioreq_domain_watch_check(loop->domain_watch);

	if (r > 0) {
		probe(loop);
		return;
	}
	if (r == 0)
		return;
	/* xenstored went away: no more fires will come. */
	event_free(loop->domain_watch_ev);
	loop->domain_watch_ev = NULL;
	ioreq_domain_watch_close(loop->domain_watch);
	loop->domain_watch = NULL;
	if (start_fallback_probe(loop, r) < 0) {
		log_error("domain %u: cannot start the fallback probe",
			  (unsigned)loop->domid);
		loop_stop(loop, 1, "error");
	}
}

static int
watch_domain(struct loop *loop)
{
	int r = ioreq_domain_watch_open(&loop->domain_watch);

	if (r < 0) {
		loop->domain_watch = NULL;
		return start_fallback_probe(loop, r);
	}
	loop->domain_watch_ev =
		event_new(loop->base, ioreq_domain_watch_fd(loop->domain_watch),
			  EV_READ | EV_PERSIST, on_domain_watch, loop);
	if (!loop->domain_watch_ev ||
	    event_add(loop->domain_watch_ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)notify_send("WATCHDOG=1");
}

/* SIGTERM or SIGINT caught before loop_attach(), else 0. */
static volatile sig_atomic_t setup_signal;

static void
on_setup_signal(int sig)
{
	setup_signal = sig;
}

/*
 * Until loop_attach() hands signals to libevent, SIGTERM/SIGINT are only
 * noted, for set-up to check between steps.  Without SA_RESTART, so a
 * step blocked in a system call fails with EINTR instead of waiting on:
 * libevent's handler restarts calls and its events run only once the
 * loop does, which left a daemon stuck in set-up unkillable but by
 * SIGKILL (with its IOREQ server left behind).
 */
static int
catch_setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_setup_signal };

	(void)sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int
loop_setup_signal(void)
{
	return setup_signal;
}

static int
add_signal(struct loop *loop, struct event **ret_ev, int sig)
{
	*ret_ev = evsignal_new(loop->base, sig, on_signal, loop);
	if (!*ret_ev || event_add(*ret_ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

int
loop_init(struct loop *loop, uint16_t domid)
{
	memset(loop, 0, sizeof(*loop));
	loop->domid = domid;
	loop->base = event_base_new();
	if (!loop->base)
		return -ENOMEM;
	return catch_setup_signals();
}

int
loop_attach(struct loop *loop, struct ioreq_server *server)
{
	uint64_t watchdog_usec = 0;
	int r;

	loop->server = server;
	/* From here a signal reaches libevent; loop_setup_signal() has any
	 * that came before. */
	r = add_signal(loop, &loop->sigterm, SIGTERM);
	if (r < 0)
		return r;
	r = add_signal(loop, &loop->sigint, SIGINT);
	if (r < 0)
		return r;
	loop->evtchn = event_new(loop->base, ioreq_server_fd(server),
				 EV_READ | EV_PERSIST, on_evtchn, loop);
	if (!loop->evtchn || event_add(loop->evtchn, NULL) < 0)
		return -ENOMEM;
	r = watch_domain(loop);
	if (r < 0)
		return r;
	if (notify_watchdog_usec(&watchdog_usec) > 0)
		r = add_timer(loop, &loop->watchdog, watchdog_usec / 2,
			      on_watchdog);
	return r;
}

int
loop_run(struct loop *loop)
{
	if (event_base_dispatch(loop->base) < 0) {
		log_error("event loop failed");
		return 1;
	}
	return loop->exit_status;
}

void
loop_quit(void *arg)
{
	loop_stop(arg, 0, "quit");
}

static void
free_event(struct event **ev)
{
	if (*ev)
		event_free(*ev);
	*ev = NULL;
}

void
loop_fini(struct loop *loop)
{
	free_event(&loop->evtchn);
	free_event(&loop->sigterm);
	free_event(&loop->sigint);
	free_event(&loop->domain_watch_ev);
	ioreq_domain_watch_close(loop->domain_watch);
	loop->domain_watch = NULL;
	free_event(&loop->probe);
	free_event(&loop->watchdog);
	if (loop->base)
		event_base_free(loop->base);
	loop->base = NULL;
}
