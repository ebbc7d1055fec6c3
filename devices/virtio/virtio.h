/*
 * The transport-independent virtio device (virtio 1.2, sections 2 and 3):
 * device status and its state machine, feature negotiation, the device
 * configuration space with its generation counter, and up to
 * VIRTIO_QUEUES_MAX split virtqueues (devices/virtio/virtqueue.h).
 *
 * Three parties meet here:
 *   - a device (virtio-blk.c, virtio-rng.c, virtio-console.c) embeds a
 *     struct virtio_dev in its state, fills a struct virtio_dev_params and
 *     implements struct virtio_dev_ops: it pops chains when a queue is
 *     kicked and pushes them back, then calls virtio_notify_used();
 *   - a transport (virtio-pci.c, virtio-mmio.c) owns the struct device the
 *     bus sees, maps its registers onto the virtio_* calls below and
 *     delivers the interrupts the core asks for (struct
 *     virtio_transport_ops);
 *   - this core keeps the state both share, so that both transports
 *     behave alike.
 *
 * Only modern devices (VIRTIO_F_VERSION_1 is always offered and required,
 * no legacy interface).  The core always offers VIRTIO_F_INDIRECT_DESC and
 * VIRTIO_F_EVENT_IDX (the virtqueue core implements both) and, when the
 * device is set up for grant DMA, VIRTIO_F_ACCESS_PLATFORM.
 *
 * Status rules (2.1, 3.1.1): writing 0 resets the device; the driver
 * cannot clear a bit otherwise (such a write is ignored) nor set
 * DEVICE_NEEDS_RESET (device-owned); setting FEATURES_OK fails (the bit
 * stays clear, the driver reads that back) unless the driver's features
 * are a subset of the offered ones, include VIRTIO_F_VERSION_1 and the
 * device's features_ok accepts them; DRIVER_OK is refused before
 * FEATURES_OK.  Driver feature writes after FEATURES_OK are ignored: the
 * negotiated set never changes until reset.  Queue fields can only be
 * written while the queue is not ready.  A queue is processed (the
 * device's queue_notify runs) only while DRIVER_OK is set, the queue is
 * ready and the device does not need a reset; kicks that arrive earlier
 * are remembered and served at DRIVER_OK.
 *
 * Kicks are answered at once: virtio_queue_kick() only marks the queue
 * and defers the device's work (device_defer), so it runs after the
 * guest's vCPU has been released.
 *
 * Threading: the event-loop thread only.
 */
#ifndef IOREQD_DEVICES_VIRTIO_VIRTIO_H
#define IOREQD_DEVICES_VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/events.h"
#include "devices/virtio/virtqueue.h"
#include "lib/log.h"

/* Device types (5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	 0x01u
#define VIRTIO_STATUS_DRIVER		 0x02u
#define VIRTIO_STATUS_DRIVER_OK		 0x04u
#define VIRTIO_STATUS_FEATURES_OK	 0x08u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED		 0x80u

/* Reserved feature bits (6) beyond the ring ones of virtqueue.h. */
#define VIRTIO_F_VERSION_1	 32
#define VIRTIO_F_ACCESS_PLATFORM 33

/* Queues one device may have, and "no MSI-X vector" (4.1.4.3). */
#define VIRTIO_QUEUES_MAX    32
#define VIRTIO_MSI_NO_VECTOR 0xffffu

/* Bytes of device configuration space, at most. */
#define VIRTIO_CONFIG_MAX 256

/* Why the core asks a transport for an interrupt. */
enum virtio_irq {
	VIRTIO_IRQ_QUEUE,  /* used buffer notification of queue q */
	VIRTIO_IRQ_CONFIG, /* configuration change notification */
};

struct virtio_dev;

/* What a device implements.  Every hook runs on the loop thread. */
struct virtio_dev_ops {
	/*
	 * Optional: may the driver use these (negotiated) features?  false
	 * refuses FEATURES_OK.  Called with a subset of the offered ones
	 * that includes VIRTIO_F_VERSION_1.
	 */
	bool (*features_ok)(struct virtio_dev *vd, uint64_t features);
	/* Optional: the driver set DRIVER_OK. */
	void (*driver_ok)(struct virtio_dev *vd);
	/*
	 * Queue q may have new buffers: pop what is there.  Called from
	 * deferred work, never inside a guest request, only while the
	 * device may use the queue (see the top).  A -EIO from the
	 * virtqueue means the driver broke the ring: call
	 * virtio_needs_reset() and stop using the queue.
	 */
	void (*queue_notify)(struct virtio_dev *vd, unsigned q);
	/*
	 * Optional: the driver took queue q out of use (ready 0).  Before
	 * returning, the device forgets every chain it holds from q: it
	 * waits for what it cannot cancel and pushes nothing.  The core
	 * then disables the virtqueue.
	 */
	void (*queue_stop)(struct virtio_dev *vd, unsigned q);
	/*
	 * Device reset (status 0, or the transport's reset): the same for
	 * every queue, and the device's own state back to power-on.  The
	 * core resets the queues and the negotiation afterwards.
	 */
	void (*reset)(struct virtio_dev *vd);
	/*
	 * Optional: the driver wrote [offset, offset + size) of the device
	 * configuration (within config_len; size 1, 2 or 4).  The device
	 * updates vd->config itself for fields it lets the driver write;
	 * without the hook every write is ignored.
	 */
	void (*config_write)(struct virtio_dev *vd, unsigned offset,
			     unsigned size, uint32_t value);
	/* Optional: the device's own counters (device_stats_emit). */
	void (*stats)(const struct virtio_dev *vd,
		      const struct device_stats_writer *w);
	/*
	 * Optional operator hooks, as struct device_ops' (the transport
	 * forwards them; absent: -EOPNOTSUPP): the device's own facts
	 * (the transport says "interrupt" itself), a new character
	 * backend, a new medium or read-only state.
	 */
	void (*describe)(const struct virtio_dev *vd,
			 const struct device_info_writer *w);
	int (*chardev_attach)(struct virtio_dev *vd,
			      const struct cfg_backend *backend);
	int (*blockdev_change)(struct virtio_dev *vd, const char *path,
			       int read_only);
	/*
	 * Free the device's state (which embeds vd).  The transport calls
	 * it from its own destroy, after reset, with nothing in flight.
	 */
	void (*destroy)(struct virtio_dev *vd);
};

/* What the core asks of its transport. */
struct virtio_transport_ops {
	/*
	 * Deliver an interrupt: for VIRTIO_IRQ_QUEUE queue q's vector (or
	 * the ISR queue bit and the line), for VIRTIO_IRQ_CONFIG the
	 * configuration vector (or the ISR config bit and the line).
	 */
	void (*notify)(void *ctx, enum virtio_irq kind, unsigned q);
};

/* One queue: what the driver programmed, and the ring behind it. */
struct virtio_queue {
	uint16_t size_max;    /* the device's maximum, a power of two */
	uint16_t size;	      /* as the driver set it (starts at size_max) */
	bool ready;	      /* queue_enable / QueueReady */
	uint64_t desc_gpa;    /* descriptor area */
	uint64_t driver_gpa;  /* driver area (available ring) */
	uint64_t device_gpa;  /* device area (used ring) */
	uint16_t msix_vector; /* virtio-pci only; VIRTIO_MSI_NO_VECTOR */
	struct virtqueue vq;  /* enabled while ready */
};

/* Counters; kept across resets. */
struct virtio_stats {
	uint64_t kicks;		    /* driver notifications */
	uint64_t kicks_early;	    /* ... before the queue could be used */
	uint64_t queue_irqs;	    /* used buffer notifications sent */
	uint64_t config_irqs;	    /* configuration change notifications */
	uint64_t resets;	    /* device resets by the driver */
	uint64_t needs_reset;	    /* times DEVICE_NEEDS_RESET was set */
	uint64_t features_refused;  /* FEATURES_OK attempts refused */
	uint64_t bad_status_writes; /* clears, DRIVER_OK too early, ... */
	uint64_t bad_queue_writes;  /* queue fields written while ready, ... */
};

/* How a device is set up (virtio_dev_init). */
struct virtio_dev_params {
	const char *id;		 /* config id, for logs; copied */
	uint16_t device_id;	 /* VIRTIO_ID_* */
	uint64_t features;	 /* device-specific feature bits offered */
	bool access_platform;	 /* offer VIRTIO_F_ACCESS_PLATFORM (grant) */
	unsigned num_queues;	 /* 1 .. VIRTIO_QUEUES_MAX */
	uint16_t queue_size_max; /* power of two, 1 .. VQ_SIZE_MAX */
	void *config;		 /* device configuration bytes (device-owned) */
	size_t config_len;	 /* 0 .. VIRTIO_CONFIG_MAX */
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	const struct device_services *svc; /* borrowed */
	char id[64]; /* a copy: the config entry is freed after set-up */

	uint16_t device_id;
	uint64_t host_features;	 /* offered, core bits included */
	uint64_t guest_features; /* as the driver wrote them */
	uint8_t status;
	uint8_t config_generation;
	uint8_t *config;
	size_t config_len;
	uint16_t config_msix_vector; /* virtio-pci only */

	unsigned num_queues;
	struct virtio_queue queues[VIRTIO_QUEUES_MAX];

	const struct virtio_transport_ops *transport;
	void *transport_ctx;
	/* the transport's device, named in reports (NULL: none sent) */
	const struct device *dev;

	uint32_t kicked; /* queues kicked, not served yet */
	struct device_work kick_work;
	struct virtio_stats stats;
	struct log_ratelimit rl;
};

/*
 * Set up vd for a device: status 0, nothing negotiated, every queue at
 * size queue_size_max and not ready.  -EINVAL for bad parameters.
 */
int virtio_dev_init(struct virtio_dev *vd, const struct virtio_dev_ops *ops,
		    const struct device_services *svc,
		    const struct virtio_dev_params *params);

/* Tie vd to its transport (before the guest can reach it). */
void virtio_dev_set_transport(struct virtio_dev *vd,
			      const struct virtio_transport_ops *ops,
			      void *ctx);

/*
 * Reset (as the driver's status 0, device hooks included) and release
 * what the core holds (mappings, deferred work).  Before destroy.
 */
void virtio_dev_fini(struct virtio_dev *vd);

/*
 * Create the device's transport from its config entry: virtio-pci when
 * it has `pci`, virtio-mmio when it has `mmio` (and `irq`).  On success
 * the transport owns vd (its destroy calls vd->ops->destroy) and
 * *ret_dev is what the bus sees; on failure vd is untouched and still
 * the caller's.  -EINVAL, -ENOMEM.  (virtio-transport.c)
 */
int virtio_transport_create(const struct cfg_device *cfg,
			    const struct device_type *type,
			    const struct device_services *svc,
			    struct virtio_dev *vd, struct device **ret_dev);

/*
 * Transport side: the common register semantics.
 */

/* Feature bits 32 * word .. 32 * word + 31 offered; 0 beyond word 1. */
uint32_t virtio_device_features(const struct virtio_dev *vd, unsigned word);
/* The driver's feature word (ignored after FEATURES_OK or beyond word 1). */
void virtio_set_driver_features(struct virtio_dev *vd, unsigned word,
				uint32_t value);
uint32_t virtio_driver_features(const struct virtio_dev *vd, unsigned word);

uint8_t virtio_status(const struct virtio_dev *vd);
/* The driver writes the status (rules at the top); 0 resets. */
void virtio_set_status(struct virtio_dev *vd, uint8_t status);
/* Full reset as by status 0 (the transport's own reset calls this). */
void virtio_reset(struct virtio_dev *vd);

/*
 * Device configuration: size 1, 2 or 4, little-endian, within
 * config_len; other reads are all-ones and writes are ignored.
 */
uint32_t virtio_config_read(struct virtio_dev *vd, unsigned offset,
			    unsigned size);
void virtio_config_write(struct virtio_dev *vd, unsigned offset, unsigned size,
			 uint32_t value);

/* Queue q, or NULL when q >= num_queues (reads 0, writes are ignored). */
struct virtio_queue *virtio_queue(struct virtio_dev *vd, unsigned q);

/*
 * Queue fields (size, the three addresses, the MSI-X vector) are written
 * by the transport into struct virtio_queue through these, which refuse
 * (and count) writes while the queue is ready and sizes that are not a
 * power of two within size_max.
 */
void virtio_queue_set_size(struct virtio_dev *vd, unsigned q, uint16_t size);
void virtio_queue_set_addr(struct virtio_dev *vd, unsigned q, uint64_t *field,
			   uint64_t value);
/*
 * The driver enables (true) or disables the queue.  Enabling configures
 * and maps the ring (needs FEATURES_OK; a bad layout or an address
 * outside guest memory sets DEVICE_NEEDS_RESET and leaves the queue not
 * ready); disabling calls queue_stop and unmaps.
 */
void virtio_queue_set_ready(struct virtio_dev *vd, unsigned q, bool ready);
/* A driver notification (the notify register): answered, served later. */
void virtio_queue_kick(struct virtio_dev *vd, unsigned q);

/*
 * Device side.
 */

/* The negotiated features (after FEATURES_OK). */
static inline bool
virtio_has_feature(const struct virtio_dev *vd, unsigned bit)
{
	return (vd->status & VIRTIO_STATUS_FEATURES_OK) &&
	       ((vd->guest_features >> bit) & 1);
}

/* May the device use queue q now (see the top)? */
bool virtio_queue_usable(const struct virtio_dev *vd, unsigned q);

/* The virtqueue behind queue q (for pop and push), NULL if q is bad. */
struct virtqueue *virtio_vq(struct virtio_dev *vd, unsigned q);

/*
 * After pushing used buffers to queue q: send the used buffer
 * notification if the driver wants one (virtqueue_should_notify).
 */
void virtio_notify_used(struct virtio_dev *vd, unsigned q);

/* The device changed its configuration: new generation, interrupt. */
void virtio_config_changed(struct virtio_dev *vd);

/*
 * The device cannot go on (a broken ring, a failed mapping): set
 * DEVICE_NEEDS_RESET, send a configuration change notification and stop
 * serving queues until reset.  why goes to a rate-limited log line.
 */
void virtio_needs_reset(struct virtio_dev *vd, const char *why);

/*
 * The operator hooks for the transports' device_ops: the model's, or
 * nothing / -EOPNOTSUPP when it has none.
 */
void virtio_describe(const struct virtio_dev *vd,
		     const struct device_info_writer *w);
int virtio_chardev_attach(struct virtio_dev *vd,
			  const struct cfg_backend *backend);
int virtio_blockdev_change(struct virtio_dev *vd, const char *path,
			   int read_only);

/* Core counters, and the virtqueues' summed as vq_NAME, through w. */
void virtio_emit_stats(const struct virtio_dev *vd,
		       const struct device_stats_writer *w);

/*
 * Shared config keys for virtio device types: `dma: foreign|grant`.  A
 * type puts VIRTIO_CFG_EXTRA_KEYS in its extra_keys table and reads the
 * choice with virtio_cfg_grant().
 */
extern const char *const virtio_dma_choices[];
#define VIRTIO_CFG_EXTRA_KEYS                                             \
	{                                                                 \
		.name = "dma", .type = CFG_EXTRA_ENUM,                    \
		.choices = virtio_dma_choices, .default_value = "foreign" \
	}
bool virtio_cfg_grant(const struct cfg_device *cfg);

/*
 * The services a virtio device uses for everything, chosen by its
 * `dma:` key: svc itself for foreign, svc->grant_services() for grant
 * (rings and buffers then live behind grant references, and the device
 * offers VIRTIO_F_ACCESS_PLATFORM: set params.access_platform from
 * virtio_cfg_grant()).  NULL when grant DMA is unavailable: the device's
 * create then fails with -EOPNOTSUPP.
 */
const struct device_services *
virtio_dma_services(const struct cfg_device *cfg,
		    const struct device_services *svc);

#endif
