/*
 * The device event services (devices/events.h) on a libevent base: the
 * only place that turns timers, fd watches, deferred work and completions
 * into libevent events.  Xen-free, so the unit tests use it as it is.
 *
 * Deferred work runs at two points: from ioreq_events_answered(), which
 * the server calls once it has answered a batch of requests and released
 * the vCPU, and from an internal event made active (no system call) when
 * work is deferred, for work deferred outside an ioreq.
 *
 * Threading: the thread running the base, except where devices/events.h
 * says otherwise.
 */
#ifndef IOREQD_IOREQ_EVENTS_H
#define IOREQD_IOREQ_EVENTS_H

#include "devices/events.h"

struct event_base;
struct ioreq_events;

/*
 * Services on `base` (borrowed: must outlive them).  0 and *ret_events,
 * or -ENOMEM.
 */
int ioreq_events_new(struct event_base *base, struct ioreq_events **ret_events);

/* What devices get in struct device_services. */
const struct device_events *ioreq_events_services(struct ioreq_events *events);

/*
 * A batch of requests has been answered: run the work deferred so far
 * (not work that it defers in turn).  Cheap when nothing is queued.
 */
void ioreq_events_answered(struct ioreq_events *events);

/* Work queued and not run yet (for tests and statistics). */
unsigned ioreq_events_queued(const struct ioreq_events *events);

/*
 * Free.  Every timer, watch and completion must have been freed first;
 * queued work is dropped unrun.  Accepts NULL.
 */
void ioreq_events_free(struct ioreq_events *events);

#endif
