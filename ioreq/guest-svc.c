/* Device services for guest memory in place (guest-svc.h). */
#include "ioreq/guest-svc.h"

#include "ioreq/server-internal.h"

int
ioreq_guest_svc_map(void *opaque, uint64_t gpa, size_t len, bool writable,
		    struct guest_sg *sg)
{
	struct ioreq_server *s = opaque;

	return ioreq_guest_map(&s->guest, gpa, len, writable, sg);
}

void
ioreq_guest_svc_unmap(void *opaque, struct guest_sg *sg)
{
	struct ioreq_server *s = opaque;

	ioreq_guest_unmap(&s->guest, sg);
}
