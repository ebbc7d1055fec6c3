/*
 * The guest_map / guest_unmap device services (devices/device.h) over the
 * server's guest-memory caches; opaque is the struct ioreq_server.
 */
#ifndef IOREQD_IOREQ_GUEST_SVC_H
#define IOREQD_IOREQ_GUEST_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_sg;

int ioreq_guest_svc_map(void *opaque, uint64_t gpa, size_t len, bool writable,
			struct guest_sg *sg);
void ioreq_guest_svc_unmap(void *opaque, struct guest_sg *sg);

/*
 * The grant_services service: the server's services over a second cache
 * in grant mode, set up on first use; NULL without a grant device.
 */
struct device_services;
const struct device_services *ioreq_grant_services(void *opaque);

/* guest_map / guest_unmap over the grant-mode cache. */
int ioreq_grant_svc_map(void *opaque, uint64_t addr, size_t len, bool writable,
			struct guest_sg *sg);
void ioreq_grant_svc_unmap(void *opaque, struct guest_sg *sg);

#endif
