/*
 * virtio-console, a serial console on a character back-end (virtio 1.2,
 * section 5.3): see virtio-console.c.
 */
#ifndef IOREQD_DEVICES_VIRTIO_CONSOLE_H
#define IOREQD_DEVICES_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/chardev.h"
#include "devices/device.h"
#include "devices/virtio/virtio.h"

/* Feature bits (5.3.3). */
#define VIRTIO_CONSOLE_F_SIZE	     0
#define VIRTIO_CONSOLE_F_MULTIPORT   1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* Queues of port 0 (5.3.2), and the size offered for each. */
#define VIRTIO_CONSOLE_RXQ	  0
#define VIRTIO_CONSOLE_TXQ	  1
#define VIRTIO_CONSOLE_QUEUE_SIZE 128u

/* struct virtio_console_config (5.3.4): bytes and field offsets. */
#define VIRTIO_CONSOLE_CONFIG_SIZE 12u
#define VIRTIO_CONSOLE_CFG_COLS	   0u /* le16 */
#define VIRTIO_CONSOLE_CFG_ROWS	   2u /* le16 */
#define VIRTIO_CONSOLE_CFG_PORTS   4u /* le32 max_nr_ports */
#define VIRTIO_CONSOLE_CFG_EMERG   8u /* le32 emerg_wr */

/* The `type: virtio-console` device type (listed in devices/registry.h). */
extern const struct device_type virtio_console_type;

struct virtio_console_params {
	const char *id;	      /* for logs; copied */
	bool access_platform; /* offer VIRTIO_F_ACCESS_PLATFORM (grant) */
	/*
	 * The console size offered with VIRTIO_CONSOLE_F_SIZE; both 0:
	 * the feature is not offered.
	 */
	uint16_t cols, rows;
	/* The back-end; the device owns it from a successful return. */
	struct chardev *cd;
};

/*
 * A virtio-console device on svc (the DMA services: virtio_dma_services())
 * with its back-end, tied to no transport yet: give it to
 * virtio_transport_create() or drive it through the virtio_* calls.  Free
 * it with virtio_dev_fini() then (*ret_vd)->ops->destroy(*ret_vd) (which
 * closes the back-end) when no transport owns it.  -EINVAL (bad params,
 * no event services, no back-end; params->cd stays the caller's),
 * -ENOMEM.
 */
int virtio_console_new(const struct device_services *svc,
		       const struct virtio_console_params *params,
		       struct virtio_dev **ret_vd);

#endif
