/*
 * virtio-rng, the entropy device (virtio 1.2, section 5.4): see
 * virtio-rng.c.
 */
#ifndef IOREQD_DEVICES_VIRTIO_RNG_H
#define IOREQD_DEVICES_VIRTIO_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "devices/device.h"
#include "devices/virtio/virtio.h"

/* The `rate-limit:` key's largest value, bytes per second (1 GiB/s). */
#define VIRTIO_RNG_RATE_MAX (1ull << 30)

/* Queue size offered (the driver may choose less). */
#define VIRTIO_RNG_QUEUE_SIZE 64u

struct virtio_rng_params {
	const char *id;	      /* for logs; copied */
	bool access_platform; /* offer VIRTIO_F_ACCESS_PLATFORM (grant) */
	/*
	 * Bytes per second handed to the guest, at most; 0: no limit.  Up to
	 * VIRTIO_RNG_RATE_MAX.  The bucket holds one second's worth.
	 */
	uint64_t rate_limit;
	/*
	 * Where the bytes come from, with getrandom(2)'s contract: bytes
	 * written (maybe fewer than len), or -1 with errno (EAGAIN: none
	 * yet, try later).  Must not block.  NULL: getrandom(2) with
	 * GRND_NONBLOCK.  Tests put their own here.
	 */
	ssize_t (*entropy)(void *buf, size_t len);
};

/* The `type: virtio-rng` device type (listed in devices/registry.h). */
extern const struct device_type virtio_rng_type;

/*
 * A virtio-rng device on svc (the DMA services: virtio_dma_services()),
 * set up but tied to no transport: give it to virtio_transport_create()
 * or drive it through the virtio_* calls.  Free it with
 * virtio_dev_fini() then (*ret_vd)->ops->destroy(*ret_vd) when no
 * transport owns it.  -EINVAL (bad params, no event services), -ENOMEM.
 */
int virtio_rng_new(const struct device_services *svc,
		   const struct virtio_rng_params *params,
		   struct virtio_dev **ret_vd);

#endif
