/*
 * The rate limit on device reports (device_services.report): at most
 * IOREQ_REPORT_BURST events per IOREQ_REPORT_WINDOW_USEC for each pair of
 * (device, event), so a guest that writes pvpanic's port in a loop or
 * keeps breaking its virtqueues cannot flood the operator.  The rest are
 * counted, per pair and in total.  A fixed table, no allocation: more
 * pairs than slots reuse the slot whose window started longest ago (its
 * count starts again, which lets at most one extra burst through).
 * Event-loop thread only.
 */
#ifndef IOREQD_IOREQ_REPORT_H
#define IOREQD_IOREQ_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

#define IOREQ_REPORT_BURST	 10
#define IOREQ_REPORT_WINDOW_USEC 1000000u
#define IOREQ_REPORT_SLOTS	 64

struct ioreq_report_slot {
	const struct device *dev; /* NULL: free */
	enum device_event event;
	uint64_t window_start_usec;
	unsigned count;	     /* delivered in this window */
	uint64_t suppressed; /* for this pair, ever */
};

struct ioreq_report_limit {
	struct ioreq_report_slot slots[IOREQ_REPORT_SLOTS];
	uint64_t delivered;  /* all pairs, ever */
	uint64_t suppressed; /* all pairs, ever */
};

/*
 * May event `event` of `dev` go out at time now_usec (monotonic)?  Counts
 * it as delivered or suppressed.
 */
bool ioreq_report_allow(struct ioreq_report_limit *rl, const struct device *dev,
			enum device_event event, uint64_t now_usec);

/* Forget a device's slots (it is going away; its address may be reused). */
void ioreq_report_forget(struct ioreq_report_limit *rl,
			 const struct device *dev);

#endif
