/*
 * The guest_map / guest_unmap device services (devices/device.h) over the
 * server's guest-memory cache; opaque is the struct ioreq_server.
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

#endif
