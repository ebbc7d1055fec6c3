/*
 * virtio-blk (virtio 1.2, section 5.2) on a raw image file: see
 * virtio-blk.c.  The device type is virtio_blk_type (devices/registry.h);
 * virtio_blk_new() builds the device alone, without a transport, for
 * whoever ties it to one (the type's create, the unit tests).
 */
#ifndef IOREQD_DEVICES_VIRTIO_VIRTIO_BLK_H
#define IOREQD_DEVICES_VIRTIO_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/virtio/virtio.h"

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_MQ		  12
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types (5.2.6). */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

/* Status byte values. */
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

/* Discard / write zeroes segment flags. */
#define VIRTIO_BLK_WZ_F_UNMAP 1u

/* Bytes of the request header and of the GET_ID answer. */
#define VIRTIO_BLK_HDR_SIZE 16u
#define VIRTIO_BLK_ID_BYTES 20u

/* Device configuration offsets (struct virtio_blk_config, 5.2.4). */
#define VIRTIO_BLK_CFG_CAPACITY			0  /* le64 sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX			8  /* le32 */
#define VIRTIO_BLK_CFG_SEG_MAX			12 /* le32 */
#define VIRTIO_BLK_CFG_BLK_SIZE			20 /* le32 */
#define VIRTIO_BLK_CFG_NUM_QUEUES		34 /* le16 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS	36 /* le32 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG		40 /* le32 */
#define VIRTIO_BLK_CFG_DISCARD_ALIGNMENT	44 /* le32 sectors */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48 /* le32 */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG	52 /* le32 */
#define VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP	56 /* u8 */
#define VIRTIO_BLK_CFG_SIZE			60 /* through unused1 */

/* What the device offers in its configuration. */
#define VIRTIO_BLK_QUEUE_SIZE  256u
#define VIRTIO_BLK_SIZE_MAX    65536u /* bytes per segment */
#define VIRTIO_BLK_SEG_MAX     (VIRTIO_BLK_QUEUE_SIZE - 2)
#define VIRTIO_BLK_MAX_DISCARD (1u << 22) /* sectors: 2 GiB */
#define VIRTIO_BLK_QUEUES_MAX  VIRTIO_QUEUES_MAX
#define VIRTIO_BLK_SERIAL_MAX  VIRTIO_BLK_ID_BYTES
/* Requests in flight on the image, all queues together. */
#define VIRTIO_BLK_DEPTH 256u

struct virtio_blk_params {
	const char *id;	      /* for logs; copied (63 bytes at most) */
	const char *path;     /* the image file */
	bool read_only;	      /* offer VIRTIO_BLK_F_RO, open read-only */
	const char *serial;   /* GET_ID, up to 20 bytes; NULL: none */
	bool direct;	      /* O_DIRECT (`cache: none`) */
	unsigned queues;      /* 1 .. VIRTIO_BLK_QUEUES_MAX */
	bool access_platform; /* grant DMA: VIRTIO_F_ACCESS_PLATFORM */
};

/*
 * Open the image and build the device on svc (the DMA services the
 * rings and buffers are reached through, see virtio_dma_services()).
 * 0 and *ret_vd (not tied to a transport; free it with
 * virtio_dev_fini() then (*ret_vd)->ops->destroy()), or -errno:
 * blk_image_open()'s (-ENOENT, -EBUSY for a locked image, -EINVAL for a
 * size not a multiple of 512, io_uring's), -EINVAL for bad params,
 * -ENOMEM.
 */
int virtio_blk_new(const struct device_services *svc,
		   const struct virtio_blk_params *params,
		   struct virtio_dev **ret_vd);

#endif
