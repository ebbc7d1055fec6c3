/*
 * The split virtqueue (virtio 1.2, section 2.7) as a device sees it:
 * descriptor table, available ring and used ring in guest memory, walked
 * and completed on the device side.  Transport-free and Xen-free: a
 * transport (virtio-pci, virtio-mmio) hands over the size, the three guest
 * addresses and the negotiated features; a device model pops chains,
 * moves their data with the device services and pushes them back.
 *
 * Guest memory: virtqueue_enable() maps the three areas once with the
 * guest_map service and keeps the mappings (devices/guest-mem.h); every
 * operation first checks guest_sg_revoked() and maps again when the core
 * revoked them.  An area may come back as several segments (it crosses a
 * mapping chunk): ring entries and descriptors are copied through a helper
 * that walks the segments, so an entry split between two segments is
 * still read and written whole; the six 16-bit index and flag fields,
 * which need single loads and stores with ordering, must each lie in one
 * segment at a naturally aligned host address (true for any core that
 * splits at page granularity, since the rings are aligned) or enable
 * fails with -EINVAL.  Indirect descriptor tables are not mapped: they
 * are read descriptor by descriptor with guest_read (copies through the
 * core's cache, any number of chunks, nothing held).
 *
 * Everything the guest wrote is hostile.  Each descriptor is copied once
 * and only the copy is used; indices are checked before use; a chain is
 * bounded (see VQ_CHAIN_MAX); no guest value can make an operation loop
 * without bound.  A guest that breaks the ring rules breaks the queue:
 * the operation returns -EIO, virtqueue_error() tells why, and every later
 * operation fails with -EIO until virtqueue_reset() (the device sets
 * DEVICE_NEEDS_RESET, spec 2.1.1, when it sees -EIO).
 *
 * Left out: the packed ring, VIRTIO_F_IN_ORDER, legacy (non-1.0)
 * layouts, big-endian hosts (fields are converted with le16toh & co.).
 *
 * Threading: the event-loop thread only, like every device.
 */
#ifndef IOREQD_DEVICES_VIRTIO_VIRTQUEUE_H
#define IOREQD_DEVICES_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/guest-mem.h"

/* Feature bit numbers that change how the ring is used (spec 6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29

/* Ring layout (spec 2.7.5 - 2.7.8), all fields little-endian. */
#define VIRTQ_DESC_F_NEXT	   1u /* next is valid */
#define VIRTQ_DESC_F_WRITE	   2u /* device-writable buffer */
#define VIRTQ_DESC_F_INDIRECT	   4u /* buffer is a descriptor table */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u /* avail.flags: driver wants none */
#define VIRTQ_USED_F_NO_NOTIFY	   1u /* used.flags: device wants none */

#define VQ_DESC_SIZE	  16u /* struct virtq_desc */
#define VQ_USED_ELEM_SIZE 8u  /* struct virtq_used_elem */

/* Queue sizes this implementation takes: powers of two up to this. */
#define VQ_SIZE_MAX 1024u
/* Entries of one indirect table, at most (len / 16). */
#define VQ_INDIRECT_MAX 1024u
/*
 * Elements of one chain, at most, direct and indirect together (the
 * spec's "no chain longer than the queue size", with QEMU's cap of 1024
 * so that a table behind a small queue still works).
 */
#define VQ_CHAIN_MAX 1024u

/* Why a queue broke (virtqueue_error()); the guest's fault in each case. */
enum vq_error {
	VQ_ERR_NONE,
	VQ_ERR_AVAIL_IDX,	 /* avail.idx moved by more than the size */
	VQ_ERR_HEAD,		 /* avail ring entry >= size */
	VQ_ERR_NEXT,		 /* next >= size (or >= table entries) */
	VQ_ERR_CHAIN_LONG,	 /* loop, or longer than size / VQ_CHAIN_MAX */
	VQ_ERR_ORDER,		 /* device-readable after device-writable */
	VQ_ERR_INDIRECT_FEATURE, /* INDIRECT without VIRTIO_F_INDIRECT_DESC */
	VQ_ERR_INDIRECT_NEXT,	 /* INDIRECT together with NEXT */
	VQ_ERR_INDIRECT_NESTED,	 /* INDIRECT inside an indirect table */
	VQ_ERR_INDIRECT_LEN, /* table len 0, not 16k, or > VQ_INDIRECT_MAX */
	VQ_ERR_ADDR,	     /* buffer or table wraps past 2^64 */
	VQ_ERR_FAULT,	     /* indirect table or ring not in guest memory */
	_VQ_ERR_COUNT,
};

/* One buffer of a chain: [gpa, gpa + len) of guest memory. */
struct vq_elem {
	uint64_t gpa;
	uint32_t len;  /* bytes, may be 0 */
	bool writable; /* device-writable (VIRTQ_DESC_F_WRITE) */
};

/*
 * A popped chain.  elem[0..readable_count) are device-readable,
 * elem[readable_count..count) device-writable (the spec's order, checked).
 * About 16 KiB: embed it in the device state or allocate it, not on a
 * small stack.
 */
struct vq_chain {
	uint16_t head;		 /* id for virtqueue_push() */
	unsigned count;		 /* elements */
	unsigned readable_count; /* of which device-readable */
	uint64_t readable_len;	 /* bytes, sum over readable */
	uint64_t writable_len;	 /* bytes, sum over writable */
	struct vq_elem elem[VQ_CHAIN_MAX];
};

/* Counters for the control socket; kept across reset. */
struct vq_stats {
	uint64_t pops;		/* chains popped */
	uint64_t pushes;	/* chains completed */
	uint64_t bytes_read;	/* readable_len of popped chains */
	uint64_t bytes_written; /* written_len pushed */
	uint64_t errors;	/* times the queue broke */
	uint64_t notifies;	/* should_notify said yes */
	uint64_t suppressed;	/* ... and no, after a push */
	uint64_t remaps;	/* revoked mappings mapped again */
};

/* One mapped area of the ring. */
struct vq_area {
	uint64_t gpa;
	size_t size; /* bytes */
	bool writable;
	struct guest_sg sg; /* empty while unmapped */
};

struct virtqueue {
	const struct device_services *svc; /* borrowed */

	/* Set by virtqueue_configure(). */
	uint16_t size;	      /* Queue Size, power of 2 */
	uint64_t features;    /* negotiated feature bits */
	struct vq_area desc;  /* 16 * size, read-only */
	struct vq_area avail; /* 6 + 2 * size, read-only */
	struct vq_area used;  /* 6 + 8 * size, writable */

	bool enabled;	     /* between enable and disable */
	bool mapped;	     /* all three areas mapped */
	bool notify;	     /* driver kicks wanted (set_notify) */
	enum vq_error error; /* != NONE: broken until reset */

	/* Host pointers of the 16-bit fields, while mapped. */
	void *avail_flags_p, *avail_idx_p, *used_event_p;
	void *used_flags_p, *used_idx_p, *avail_event_p;

	uint16_t last_avail_idx; /* next avail entry to pop */
	uint16_t used_idx;	 /* shadow of used.idx, never read back */
	uint16_t signalled_used; /* used_idx at the last should_notify */
	bool signalled_valid;	 /* ... which happened since enable */

	struct vq_stats stats;
};

/* Set up an unconfigured, disabled queue using `svc` (borrowed). */
void virtqueue_init(struct virtqueue *vq, const struct device_services *svc);

/*
 * Record the layout the driver chose: `size` entries (a power of two,
 * 1 .. VQ_SIZE_MAX), the guest addresses of the descriptor table (16-byte
 * aligned), available ring (2) and used ring (4), and the negotiated
 * features (only VIRTIO_F_INDIRECT_DESC and VIRTIO_F_EVENT_IDX matter
 * here).  Only while disabled (-EBUSY); -EINVAL for a bad size, a
 * misaligned address or an area that wraps past 2^64.  Maps nothing.
 */
int virtqueue_configure(struct virtqueue *vq, unsigned size, uint64_t desc_gpa,
			uint64_t avail_gpa, uint64_t used_gpa,
			uint64_t features);

/*
 * Start using the queue (the driver set queue_enable / DRIVER_OK): map
 * the three areas and keep them.  Indices start at 0.  0, -EINVAL when
 * not configured or a 16-bit field is split between segments,
 * -EOPNOTSUPP without a guest_map service, or guest_map's error
 * (-EFAULT, -E2BIG, -EBUSY); on failure nothing stays mapped.
 */
int virtqueue_enable(struct virtqueue *vq);

/* Stop using the queue: unmap; the configuration stays.  Idempotent. */
void virtqueue_disable(struct virtqueue *vq);

/*
 * Device reset: disable, forget the configuration and any error.  The
 * statistics stay.
 */
void virtqueue_reset(struct virtqueue *vq);

/*
 * Take the next available chain into *chain.  0: a chain; -EAGAIN:
 * nothing new; -EIO: the queue is broken (now or before, see
 * virtqueue_error()); -EINVAL: not enabled; a transient error of the
 * core while mapping again after a revocation (-EBUSY: retry later).
 * On error *chain is unspecified and nothing was consumed.
 */
int virtqueue_pop(struct virtqueue *vq, struct vq_chain *chain);

/*
 * Return chain `head` to the driver with `written_len` bytes written to
 * its writable buffers: write the used element, then used.idx with
 * release order.  0, -EINVAL for a head >= size or a disabled queue, -EIO
 * when broken, or a transient remap error as for pop.  The caller asks
 * virtqueue_should_notify() afterwards (once for a batch of pushes).
 */
int virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t written_len);

/*
 * Does the driver want a used buffer notification for the pushes since
 * the last call?  Without VIRTIO_F_EVENT_IDX: unless avail.flags has
 * VIRTQ_AVAIL_F_NO_INTERRUPT; with it: when used.idx passed used_event
 * (vring_need_event).  false when nothing was pushed since the last call,
 * or the queue is disabled or broken; true when the flags cannot be read
 * (a spurious interrupt is harmless, a lost one is not).
 */
bool virtqueue_should_notify(struct virtqueue *vq);

/*
 * Ask the driver for available buffer notifications (kicks) or not.
 * Without VIRTIO_F_EVENT_IDX: used.flags VIRTQ_USED_F_NO_NOTIFY; with
 * it: enabling writes avail_event = the next entry to pop (pop keeps it
 * there while enabled), disabling stops updating it.  Returns 1 when
 * enabling found entries already available (the device polls again
 * rather than wait for a kick that will not come), 0, or -errno as for
 * pop.
 */
int virtqueue_set_notify(struct virtqueue *vq, bool enable);

/* Why the queue broke, VQ_ERR_NONE while it works. */
static inline enum vq_error
virtqueue_error(const struct virtqueue *vq)
{
	return vq->error;
}

/* A constant [a-z_] name for an error (stats, logs). */
const char *vq_error_name(enum vq_error error);

#endif
