/*
 * Device event services on libevent; see ioreq/events.h and
 * devices/events.h for the contract.
 *
 * Shapes: a timer is one non-persistent timeout event; a watch holds one
 * persistent event per condition (read, write, closed), all made at
 * creation, so changing the mask is event_add/event_del and never an
 * allocation or event_assign on a live event; deferred work is an
 * intrusive FIFO; a completion is an eventfd with a persistent read
 * event, since a write(2) to an eventfd is the one wake-up that is safe
 * from any thread and costs the idle loop nothing.
 */
#include "ioreq/events.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

struct ioreq_events {
	struct device_events ops; /* ops.opaque points back here */
	struct event_base *base;
	struct event *run_ev; /* fd -1: runs work deferred outside
					 * an ioreq */
	bool run_scheduled;   /* run_ev made active, not run yet */
	struct device_work *head;
	struct device_work **tail; /* &head, or &last->next */
	unsigned queued;
};

struct device_timer {
	struct event *ev;
	void (*cb)(void *arg);
	void *arg;
};

enum { WATCH_READ, WATCH_WRITE, WATCH_HUP, _WATCH_COUNT };

static const short watch_ev_flags[_WATCH_COUNT] = {
	[WATCH_READ] = EV_READ,
	[WATCH_WRITE] = EV_WRITE,
	[WATCH_HUP] = EV_CLOSED,
};

static const unsigned watch_bits[_WATCH_COUNT] = {
	[WATCH_READ] = DEVICE_WATCH_READ,
	[WATCH_WRITE] = DEVICE_WATCH_WRITE,
	[WATCH_HUP] = DEVICE_WATCH_HUP,
};

struct device_watch {
	struct event *ev[_WATCH_COUNT];
	unsigned mask; /* bits whose event is added */
	void (*cb)(void *arg, int fd, unsigned what);
	void *arg;
};

struct device_completion {
	int fd; /* eventfd */
	struct event *ev;
	void (*cb)(void *arg);
	void *arg;
};

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct device_timer *t = arg;

	t->cb(t->arg);
}

static void
ev_timer_free(void *opaque, struct device_timer *t)
{
	if (t->ev)
		event_free(t->ev);
	free(t);
}

static int
ev_timer_new(void *opaque, void (*cb)(void *arg), void *arg,
	     struct device_timer **ret_timer)
{
	struct ioreq_events *e = opaque;
	struct device_timer *t;

	if (!cb || !ret_timer)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cb = cb;
	t->arg = arg;
	t->ev = evtimer_new(e->base, on_timer, t);
	if (!t->ev) {
		ev_timer_free(opaque, t);
		return -ENOMEM;
	}
	*ret_timer = t;
	return 0;
}

static int
ev_timer_arm(void *opaque, struct device_timer *t, uint64_t usec)
{
	const struct timeval tv = {
		.tv_sec = (time_t)(usec / 1000000),
		.tv_usec = (suseconds_t)(usec % 1000000),
	};

	/* a timeout alone is a heap insert: no system call */
	return evtimer_add(t->ev, &tv) < 0 ? -EINVAL : 0;
}

static void
ev_timer_cancel(void *opaque, struct device_timer *t)
{
	(void)evtimer_del(t->ev);
}

static bool
ev_timer_armed(void *opaque, const struct device_timer *t)
{
	return evtimer_pending(t->ev, NULL) != 0;
}

static void
on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct device_watch *w = arg;
	unsigned bit = 0;

	for (unsigned i = 0; i < _WATCH_COUNT; i++)
		if (what & watch_ev_flags[i])
			bit = watch_bits[i];
	if (bit & w->mask)
		w->cb(w->arg, (int)fd, bit);
}

static void
ev_watch_free(void *opaque, struct device_watch *w)
{
	for (unsigned i = 0; i < _WATCH_COUNT; i++)
		if (w->ev[i])
			event_free(w->ev[i]);
	free(w);
}

/*
 * Add the events of bits newly in mask first, undoing them if one fails,
 * and only then drop the bits leaving it: a failure changes nothing.
 */
static int
ev_watch_set(void *opaque, struct device_watch *w, unsigned mask)
{
	unsigned add = mask & ~w->mask;
	unsigned del = w->mask & ~mask;

	if (mask & ~DEVICE_WATCH_ALL)
		return -EINVAL;
	for (unsigned i = 0; i < _WATCH_COUNT; i++) {
		if (!(add & watch_bits[i]) || event_add(w->ev[i], NULL) == 0)
			continue;
		while (i-- > 0)
			if (add & watch_bits[i])
				(void)event_del(w->ev[i]);
		return errno > 0 ? -errno : -EINVAL;
	}
	for (unsigned i = 0; i < _WATCH_COUNT; i++)
		if (del & watch_bits[i])
			(void)event_del(w->ev[i]);
	w->mask = mask;
	return 0;
}

static int
ev_watch_new(void *opaque, int fd, unsigned mask,
	     void (*cb)(void *arg, int fd, unsigned what), void *arg,
	     struct device_watch **ret_watch)
{
	struct ioreq_events *e = opaque;
	struct device_watch *w;
	int r;

	if (fd < 0 || !cb || !ret_watch)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->cb = cb;
	w->arg = arg;
	for (unsigned i = 0; i < _WATCH_COUNT; i++) {
		w->ev[i] = event_new(e->base, fd,
				     watch_ev_flags[i] | EV_PERSIST, on_watch,
				     w);
		if (!w->ev[i]) {
			ev_watch_free(opaque, w);
			return -ENOMEM;
		}
	}
	r = ev_watch_set(opaque, w, mask);
	if (r < 0) {
		ev_watch_free(opaque, w);
		return r;
	}
	*ret_watch = w;
	return 0;
}

static void
work_unlink(struct ioreq_events *e, struct device_work *work)
{
	if (work->next)
		work->next->pprev = work->pprev;
	else
		e->tail = work->pprev;
	*work->pprev = work->next;
	work->next = NULL;
	work->pprev = NULL;
	e->queued--;
}

static void
schedule_run(struct ioreq_events *e)
{
	if (e->run_scheduled)
		return;
	/* an fd-less event made active: no system call, runs this round */
	event_active(e->run_ev, EV_TIMEOUT, 0);
	e->run_scheduled = true;
}

/* Run what is queued now; what that defers waits for run_ev. */
static void
run_deferred(struct ioreq_events *e)
{
	unsigned n = e->queued;

	while (n-- > 0 && e->head) {
		struct device_work *work = e->head;

		work_unlink(e, work);
		work->fn(work);
	}
	if (e->head)
		schedule_run(e);
}

static void
on_run(evutil_socket_t fd, short what, void *arg)
{
	struct ioreq_events *e = arg;

	e->run_scheduled = false;
	run_deferred(e);
}

static void
ev_defer(void *opaque, struct device_work *work)
{
	struct ioreq_events *e = opaque;

	if (device_work_queued(work))
		return;
	work->next = NULL;
	work->pprev = e->tail;
	*e->tail = work;
	e->tail = &work->next;
	e->queued++;
	schedule_run(e);
}

static void
ev_work_cancel(void *opaque, struct device_work *work)
{
	if (device_work_queued(work))
		work_unlink(opaque, work);
}

static void
on_completion(evutil_socket_t fd, short what, void *arg)
{
	struct device_completion *c = arg;
	uint64_t count;

	/* reading resets the counter: signals so far merge into this call */
	if (read(c->fd, &count, sizeof(count)) != sizeof(count))
		return;
	c->cb(c->arg);
}

static void
ev_completion_free(void *opaque, struct device_completion *c)
{
	if (c->ev)
		event_free(c->ev);
	if (c->fd >= 0)
		(void)close(c->fd);
	free(c);
}

static int
ev_completion_new(void *opaque, void (*cb)(void *arg), void *arg,
		  struct device_completion **ret_completion)
{
	struct ioreq_events *e = opaque;
	struct device_completion *c;

	if (!cb || !ret_completion)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cb = cb;
	c->arg = arg;
	c->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->fd < 0) {
		int r = -errno;

		c->fd = -1;
		ev_completion_free(opaque, c);
		return r;
	}
	c->ev = event_new(e->base, c->fd, EV_READ | EV_PERSIST, on_completion,
			  c);
	if (!c->ev || event_add(c->ev, NULL) < 0) {
		ev_completion_free(opaque, c);
		return -ENOMEM;
	}
	*ret_completion = c;
	return 0;
}

static void
ev_completion_signal(void *opaque, struct device_completion *c)
{
	const uint64_t one = 1;

	/* EAGAIN: the counter is about to overflow, so a signal is pending */
	while (write(c->fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

int
ioreq_events_new(struct event_base *base, struct ioreq_events **ret_events)
{
	struct ioreq_events *e;

	if (!base || !ret_events)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->base = base;
	e->tail = &e->head;
	e->run_ev = event_new(base, -1, 0, on_run, e);
	if (!e->run_ev) {
		free(e);
		return -ENOMEM;
	}
	e->ops = (struct device_events){
		.opaque = e,
		.timer_new = ev_timer_new,
		.timer_arm = ev_timer_arm,
		.timer_cancel = ev_timer_cancel,
		.timer_armed = ev_timer_armed,
		.timer_free = ev_timer_free,
		.watch_new = ev_watch_new,
		.watch_set = ev_watch_set,
		.watch_free = ev_watch_free,
		.defer = ev_defer,
		.work_cancel = ev_work_cancel,
		.completion_new = ev_completion_new,
		.completion_signal = ev_completion_signal,
		.completion_free = ev_completion_free,
	};
	*ret_events = e;
	return 0;
}

const struct device_events *
ioreq_events_services(struct ioreq_events *e)
{
	return &e->ops;
}

void
ioreq_events_answered(struct ioreq_events *e)
{
	if (e->head)
		run_deferred(e);
}

unsigned
ioreq_events_queued(const struct ioreq_events *e)
{
	return e->queued;
}

void
ioreq_events_free(struct ioreq_events *e)
{
	if (!e)
		return;
	while (e->head)
		work_unlink(e, e->head);
	event_free(e->run_ev);
	free(e);
}
