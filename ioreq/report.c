/* The per-(device, event) rate limit on device reports; see report.h. */
#include "ioreq/report.h"

#include <string.h>

static struct ioreq_report_slot *
find_slot(struct ioreq_report_limit *rl, const struct device *dev,
	  enum device_event event)
{
	struct ioreq_report_slot *s, *victim = NULL;

	for (s = rl->slots; s < rl->slots + IOREQ_REPORT_SLOTS; s++) {
		if (s->dev == dev && s->event == event)
			return s;
		if (!victim || (victim->dev && !s->dev) ||
		    (victim->dev && s->dev &&
		     s->window_start_usec < victim->window_start_usec))
			victim = s;
	}
	*victim = (struct ioreq_report_slot){ .dev = dev, .event = event };
	return victim;
}

bool
ioreq_report_allow(struct ioreq_report_limit *rl, const struct device *dev,
		   enum device_event event, uint64_t now_usec)
{
	struct ioreq_report_slot *s = find_slot(rl, dev, event);

	if (s->count == 0 ||
	    now_usec - s->window_start_usec >= IOREQ_REPORT_WINDOW_USEC) {
		s->window_start_usec = now_usec;
		s->count = 0;
	}
	if (s->count >= IOREQ_REPORT_BURST) {
		s->suppressed++;
		rl->suppressed++;
		return false;
	}
	s->count++;
	rl->delivered++;
	return true;
}

void
ioreq_report_forget(struct ioreq_report_limit *rl, const struct device *dev)
{
	struct ioreq_report_slot *s;

	for (s = rl->slots; s < rl->slots + IOREQ_REPORT_SLOTS; s++)
		if (s->dev == dev)
			memset(s, 0, sizeof(*s));
}
