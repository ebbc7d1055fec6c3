/* Device services for guest memory in place (guest-svc.h). */
#include "ioreq/guest-svc.h"

#include "ioreq/server-internal.h"

#include <xengnttab.h>

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

int
ioreq_grant_svc_map(void *opaque, uint64_t addr, size_t len, bool writable,
		    struct guest_sg *sg)
{
	struct ioreq_server *s = opaque;

	return ioreq_guest_map(&s->grant_guest, addr, len, writable, sg);
}

void
ioreq_grant_svc_unmap(void *opaque, struct guest_sg *sg)
{
	struct ioreq_server *s = opaque;

	ioreq_guest_unmap(&s->grant_guest, sg);
}

static int
svc_grant_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
	struct ioreq_server *s = opaque;

	return ioreq_guest_read(&s->grant_guest, addr, buf, len);
}

static int
svc_grant_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
	struct ioreq_server *s = opaque;

	return ioreq_guest_write(&s->grant_guest, addr, buf, len);
}

/*
 * The grant-mode services: opened on first use, so a guest without grant
 * DMA devices costs no grant handle.  Mapping another domain's grants
 * needs /dev/xen/gntdev (xengnttab_open); without it grant DMA is
 * unavailable and the device's creation fails.
 */
const struct device_services *
ioreq_grant_services(void *opaque)
{
	struct ioreq_server *s = opaque;

	if (s->grant_ready)
		return &s->grant_services;
	s->xgt = xengnttab_open(NULL, 0);
	if (!s->xgt)
		return NULL;
	ioreq_guest_init(&s->grant_guest, s->fmem, s->domid);
	if (ioreq_guest_set_mode(&s->grant_guest, IOREQ_GUEST_GRANT, s->xgt) <
	    0) {
		ioreq_guest_fini(&s->grant_guest);
		(void)xengnttab_close(s->xgt);
		s->xgt = NULL;
		return NULL;
	}
	s->grant_services = s->services;
	s->grant_services.guest_read = svc_grant_read;
	s->grant_services.guest_write = svc_grant_write;
	s->grant_services.guest_map = ioreq_grant_svc_map;
	s->grant_services.guest_unmap = ioreq_grant_svc_unmap;
	s->grant_ready = true;
	return &s->grant_services;
}
