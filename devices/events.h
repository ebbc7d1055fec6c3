/*
 * Event services for devices and their back-ends: one-shot timers, fd
 * watches, deferred work and completions of work done on other threads.
 * A device reaches them through struct device_services (svc->events); the
 * daemon implements them on its event loop (ioreq/events.c), and the unit
 * tests use the same implementation on a loop of their own.  Neither this
 * header nor a device sees the event library.
 *
 * Threading: everything runs on the loop thread, every callback is called
 * there, and none is ever called from inside the function that arms it.
 * The one exception is device_completion_signal(), callable from any
 * thread.  struct device_events never changes after it is handed out, so
 * another thread may read it.
 *
 * Cost: arming or cancelling a timer and deferring work allocate nothing
 * and make no system call, so the fast path (an ioreq and its answer) may
 * use them; changing a watch's mask makes a system call only for the bits
 * that change.  Creating handles allocates.
 */
#ifndef IOREQD_DEVICES_EVENTS_H
#define IOREQD_DEVICES_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct device_timer;
struct device_watch;
struct device_completion;

/* Bits of a watch's mask and of what its callback is told. */
#define DEVICE_WATCH_READ  (1u << 0) /* readable (or EOF, error) */
#define DEVICE_WATCH_WRITE (1u << 1) /* writable */
#define DEVICE_WATCH_HUP   (1u << 2) /* peer closed its end (sockets) */
#define DEVICE_WATCH_ALL   0x7u

/*
 * One piece of deferred work, embedded by its owner (no allocation), who
 * gets back to its state with container_of().  Queued at most once: a
 * second device_defer() before it ran does nothing.  The fields belong to
 * the implementation; set them with device_work_init().
 */
struct device_work {
	void (*fn)(struct device_work *work);
	struct device_work *next;
	struct device_work **pprev; /* NULL while not queued */
};

/*
 * The services.  Call them through the device_* wrappers below.  Every
 * `int` is 0 or -errno; handles passed in are ones this same struct made.
 */
struct device_events {
	void *opaque;

	int (*timer_new)(void *opaque, void (*cb)(void *arg), void *arg,
			 struct device_timer **ret_timer);
	int (*timer_arm)(void *opaque, struct device_timer *timer,
			 uint64_t usec);
	void (*timer_cancel)(void *opaque, struct device_timer *timer);
	bool (*timer_armed)(void *opaque, const struct device_timer *timer);
	void (*timer_free)(void *opaque, struct device_timer *timer);

	int (*watch_new)(void *opaque, int fd, unsigned mask,
			 void (*cb)(void *arg, int fd, unsigned what),
			 void *arg, struct device_watch **ret_watch);
	int (*watch_set)(void *opaque, struct device_watch *watch,
			 unsigned mask);
	void (*watch_free)(void *opaque, struct device_watch *watch);

	void (*defer)(void *opaque, struct device_work *work);
	void (*work_cancel)(void *opaque, struct device_work *work);

	int (*completion_new)(void *opaque, void (*cb)(void *arg), void *arg,
			      struct device_completion **ret_completion);
	void (*completion_signal)(void *opaque,
				  struct device_completion *completion);
	void (*completion_free)(void *opaque,
				struct device_completion *completion);
};

/*
 * A one-shot timer calling cb(arg) once it expires; created disarmed.
 * -ENOMEM.
 */
static inline int
device_timer_new(const struct device_events *ev, void (*cb)(void *arg),
		 void *arg, struct device_timer **ret_timer)
{
	return ev->timer_new(ev->opaque, cb, arg, ret_timer);
}

/* Fire once, usec microseconds from now; an armed timer is re-armed. */
static inline int
device_timer_arm(const struct device_events *ev, struct device_timer *timer,
		 uint64_t usec)
{
	return ev->timer_arm(ev->opaque, timer, usec);
}

/* Disarm; the callback will not run until armed again.  Harmless twice. */
static inline void
device_timer_cancel(const struct device_events *ev, struct device_timer *timer)
{
	ev->timer_cancel(ev->opaque, timer);
}

/* Armed and not fired yet. */
static inline bool
device_timer_armed(const struct device_events *ev,
		   const struct device_timer *timer)
{
	return ev->timer_armed(ev->opaque, timer);
}

/* Disarm and free; accepts NULL. */
static inline void
device_timer_free(const struct device_events *ev, struct device_timer *timer)
{
	if (timer)
		ev->timer_free(ev->opaque, timer);
}

/*
 * Watch fd (not owned: the caller closes it after freeing the watch) for
 * the DEVICE_WATCH_* conditions in mask (0: none yet).  cb(arg, fd, what)
 * runs once per condition that holds, each time the loop finds it holds,
 * with what a single bit, until the mask drops it.  -ENOMEM, or the
 * error of watching the fd (-EPERM: a regular file cannot be polled).
 */
static inline int
device_watch_new(const struct device_events *ev, int fd, unsigned mask,
		 void (*cb)(void *arg, int fd, unsigned what), void *arg,
		 struct device_watch **ret_watch)
{
	return ev->watch_new(ev->opaque, fd, mask, cb, arg, ret_watch);
}

/*
 * Watch for exactly mask from now on, without reallocating (a system call
 * only for bits that change).  On failure the mask stays as it was;
 * -EINVAL for bits beyond DEVICE_WATCH_ALL.
 */
static inline int
device_watch_set(const struct device_events *ev, struct device_watch *watch,
		 unsigned mask)
{
	return ev->watch_set(ev->opaque, watch, mask);
}

/* Stop watching and free; accepts NULL.  Callable from the callback. */
static inline void
device_watch_free(const struct device_events *ev, struct device_watch *watch)
{
	if (watch)
		ev->watch_free(ev->opaque, watch);
}

static inline void
device_work_init(struct device_work *work, void (*fn)(struct device_work *))
{
	work->fn = fn;
	work->next = NULL;
	work->pprev = NULL;
}

static inline bool
device_work_queued(const struct device_work *work)
{
	return work->pprev != NULL;
}

/*
 * Run work->fn(work) soon on the loop thread.  During an ioreq it runs
 * right after the request has been answered and the vCPU released (so a
 * device can answer a doorbell first and do the work after); otherwise
 * in the loop's current or next round.  Work deferred by a running work
 * item waits for the next round, so a batch is bounded.  No allocation,
 * no system call.
 */
static inline void
device_defer(const struct device_events *ev, struct device_work *work)
{
	ev->defer(ev->opaque, work);
}

/* Unqueue work that has not run yet (before freeing its owner). */
static inline void
device_work_cancel(const struct device_events *ev, struct device_work *work)
{
	ev->work_cancel(ev->opaque, work);
}

/*
 * A completion: work done elsewhere (another thread) signals it, and
 * cb(arg) runs on the loop thread.  Signals that arrive before the
 * callback has run merge into one call.  -ENOMEM, -EMFILE.
 */
static inline int
device_completion_new(const struct device_events *ev, void (*cb)(void *arg),
		      void *arg, struct device_completion **ret_completion)
{
	return ev->completion_new(ev->opaque, cb, arg, ret_completion);
}

/* Callable from any thread, never blocks. */
static inline void
device_completion_signal(const struct device_events *ev,
			 struct device_completion *completion)
{
	ev->completion_signal(ev->opaque, completion);
}

/*
 * Free, on the loop thread, once no other thread can signal it any more;
 * accepts NULL.  A pending callback does not run.
 */
static inline void
device_completion_free(const struct device_events *ev,
		       struct device_completion *completion)
{
	if (completion)
		ev->completion_free(ev->opaque, completion);
}

#endif
