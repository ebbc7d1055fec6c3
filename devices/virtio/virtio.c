/*
 * The transport-independent virtio device; see virtio.h for the rules.
 */
#include "devices/virtio/virtio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/cfg.h"
#include "lib/container.h"

/* Bits the core itself offers on top of the device's. */
#define VIRTIO_CORE_FEATURES                                               \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_INDIRECT_DESC) | \
	 (1ull << VIRTIO_F_EVENT_IDX))

const char *const virtio_dma_choices[] = { "foreign", "grant", NULL };

bool
virtio_cfg_grant(const struct cfg_device *cfg)
{
	return cfg_device_extra_enum(cfg, "dma") == 1;
}

const struct device_services *
virtio_dma_services(const struct cfg_device *cfg,
		    const struct device_services *svc)
{
	if (!svc || !virtio_cfg_grant(cfg))
		return svc;
	return svc->grant_services ? svc->grant_services(svc->opaque) : NULL;
}

static bool
is_pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

static void virtio_serve_kicks(struct device_work *work);

int
virtio_dev_init(struct virtio_dev *vd, const struct virtio_dev_ops *ops,
		const struct device_services *svc,
		const struct virtio_dev_params *p)
{
	if (!vd || !ops || !ops->queue_notify || !ops->reset || !svc || !p ||
	    p->num_queues == 0 || p->num_queues > VIRTIO_QUEUES_MAX ||
	    !is_pow2(p->queue_size_max) || p->queue_size_max > VQ_SIZE_MAX ||
	    p->config_len > VIRTIO_CONFIG_MAX || (p->config_len && !p->config))
		return -EINVAL;
	memset(vd, 0, sizeof(*vd));
	vd->ops = ops;
	vd->svc = svc;
	(void)snprintf(vd->id, sizeof(vd->id), "%s", p->id ? p->id : "virtio");
	vd->device_id = p->device_id;
	vd->host_features = p->features | VIRTIO_CORE_FEATURES;
	if (p->access_platform)
		vd->host_features |= 1ull << VIRTIO_F_ACCESS_PLATFORM;
	vd->config = p->config;
	vd->config_len = p->config_len;
	vd->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
	vd->num_queues = p->num_queues;
	for (unsigned q = 0; q < p->num_queues; q++) {
		struct virtio_queue *vq = &vd->queues[q];

		vq->size_max = p->queue_size_max;
		vq->size = p->queue_size_max;
		vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
		virtqueue_init(&vq->vq, svc);
	}
	device_work_init(&vd->kick_work, virtio_serve_kicks);
	return 0;
}

void
virtio_dev_set_transport(struct virtio_dev *vd,
			 const struct virtio_transport_ops *ops, void *ctx)
{
	vd->transport = ops;
	vd->transport_ctx = ctx;
}

static void
transport_notify(struct virtio_dev *vd, enum virtio_irq kind, unsigned q)
{
	if (kind == VIRTIO_IRQ_CONFIG)
		vd->stats.config_irqs++;
	else
		vd->stats.queue_irqs++;
	if (vd->transport && vd->transport->notify)
		vd->transport->notify(vd->transport_ctx, kind, q);
}

/* Queues back to power-on: not ready, unmapped, sizes at the maximum. */
static void
reset_queues(struct virtio_dev *vd)
{
	for (unsigned q = 0; q < vd->num_queues; q++) {
		struct virtio_queue *vq = &vd->queues[q];

		virtqueue_reset(&vq->vq);
		vq->ready = false;
		vq->size = vq->size_max;
		vq->desc_gpa = vq->driver_gpa = vq->device_gpa = 0;
		vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
	}
}

void
virtio_reset(struct virtio_dev *vd)
{
	/* The device first: it drops what it holds while the rings are still
	 * mapped, then the core forgets the rings. */
	vd->ops->reset(vd);
	if (vd->svc->events)
		device_work_cancel(vd->svc->events, &vd->kick_work);
	vd->kicked = 0;
	reset_queues(vd);
	vd->guest_features = 0;
	vd->status = 0;
	vd->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
}

void
virtio_dev_fini(struct virtio_dev *vd)
{
	if (!vd || !vd->ops)
		return;
	virtio_reset(vd);
}

uint32_t
virtio_device_features(const struct virtio_dev *vd, unsigned word)
{
	if (word > 1)
		return 0;
	return (uint32_t)(vd->host_features >> (32 * word));
}

void
virtio_set_driver_features(struct virtio_dev *vd, unsigned word, uint32_t value)
{
	uint64_t mask;

	if (word > 1 || (vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		vd->stats.bad_status_writes++;
		return;
	}
	mask = 0xffffffffull << (32 * word);
	vd->guest_features = (vd->guest_features & ~mask) |
			     ((uint64_t)value << (32 * word));
}

uint32_t
virtio_driver_features(const struct virtio_dev *vd, unsigned word)
{
	if (word > 1)
		return 0;
	return (uint32_t)(vd->guest_features >> (32 * word));
}

uint8_t
virtio_status(const struct virtio_dev *vd)
{
	return vd->status;
}

/* The FEATURES_OK check of 2.2 / 6.1: a subset, with VERSION_1. */
static bool
features_acceptable(struct virtio_dev *vd)
{
	uint64_t f = vd->guest_features;

	if (f & ~vd->host_features) {
		log_ratelimited(&vd->rl, LOG_LEVEL_WARNING,
				"%s: driver asked for features 0x%llx not "
				"offered; refusing FEATURES_OK",
				vd->id,
				(unsigned long long)(f & ~vd->host_features));
		return false;
	}
	if (!(f & (1ull << VIRTIO_F_VERSION_1))) {
		log_ratelimited(&vd->rl, LOG_LEVEL_WARNING,
				"%s: driver did not accept VIRTIO_F_VERSION_1 "
				"(legacy drivers are not supported); refusing "
				"FEATURES_OK",
				vd->id);
		return false;
	}
	return !vd->ops->features_ok || vd->ops->features_ok(vd, f);
}

/* Serve every queue once: at DRIVER_OK, for kicks that came early. */
static void
kick_all(struct virtio_dev *vd)
{
	uint32_t all = vd->num_queues == 32 ? 0xffffffffu :
					      (1u << vd->num_queues) - 1;

	vd->kicked |= all;
	if (vd->svc->events)
		device_defer(vd->svc->events, &vd->kick_work);
}

void
virtio_set_status(struct virtio_dev *vd, uint8_t status)
{
	uint8_t old = vd->status, add;

	if (status == 0) {
		vd->stats.resets++;
		virtio_reset(vd);
		return;
	}
	/* The device's bit is not the driver's to set, nor to clear. */
	status = (uint8_t)((status & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) |
			   (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	if (old & ~status) {
		vd->stats.bad_status_writes++;
		log_ratelimited(&vd->rl, LOG_LEVEL_WARNING,
				"%s: driver cleared status bits 0x%x without a "
				"reset; ignored",
				vd->id, (unsigned)(old & ~status));
		return;
	}
	add = (uint8_t)(status & ~old);
	if ((add & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(vd)) {
		vd->stats.features_refused++;
		status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		add &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((add & VIRTIO_STATUS_DRIVER_OK) &&
	    !(status & VIRTIO_STATUS_FEATURES_OK)) {
		vd->stats.bad_status_writes++;
		log_ratelimited(&vd->rl, LOG_LEVEL_WARNING,
				"%s: driver set DRIVER_OK before FEATURES_OK; "
				"ignored",
				vd->id);
		status &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
		add &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
	}
	vd->status = status;
	if (add & VIRTIO_STATUS_DRIVER_OK) {
		if (vd->ops->driver_ok)
			vd->ops->driver_ok(vd);
		kick_all(vd);
	}
}

uint32_t
virtio_config_read(struct virtio_dev *vd, unsigned offset, unsigned size)
{
	uint32_t v = 0;

	if ((size != 1 && size != 2 && size != 4) || offset > vd->config_len ||
	    size > vd->config_len - offset)
		return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)vd->config[offset + i] << (8 * i);
	return v;
}

void
virtio_config_write(struct virtio_dev *vd, unsigned offset, unsigned size,
		    uint32_t value)
{
	if ((size != 1 && size != 2 && size != 4) || offset > vd->config_len ||
	    size > vd->config_len - offset || !vd->ops->config_write)
		return;
	vd->ops->config_write(vd, offset, size, value);
}

struct virtio_queue *
virtio_queue(struct virtio_dev *vd, unsigned q)
{
	return q < vd->num_queues ? &vd->queues[q] : NULL;
}

struct virtqueue *
virtio_vq(struct virtio_dev *vd, unsigned q)
{
	return q < vd->num_queues ? &vd->queues[q].vq : NULL;
}

/* May the driver change queue q's fields now? */
static struct virtio_queue *
writable_queue(struct virtio_dev *vd, unsigned q)
{
	struct virtio_queue *vq = virtio_queue(vd, q);

	if (!vq || vq->ready) {
		vd->stats.bad_queue_writes++;
		return NULL;
	}
	return vq;
}

void
virtio_queue_set_size(struct virtio_dev *vd, unsigned q, uint16_t size)
{
	struct virtio_queue *vq = writable_queue(vd, q);

	if (!vq)
		return;
	if (!is_pow2(size) || size > vq->size_max) {
		vd->stats.bad_queue_writes++;
		log_ratelimited(&vd->rl, LOG_LEVEL_WARNING,
				"%s: queue %u size %u is not a power of two up "
				"to %u; ignored",
				vd->id, q, (unsigned)size,
				(unsigned)vq->size_max);
		return;
	}
	vq->size = size;
}

void
virtio_queue_set_addr(struct virtio_dev *vd, unsigned q, uint64_t *field,
		      uint64_t value)
{
	struct virtio_queue *vq = writable_queue(vd, q);

	if (!vq || (field != &vq->desc_gpa && field != &vq->driver_gpa &&
		    field != &vq->device_gpa))
		return;
	*field = value;
}

void
virtio_queue_set_ready(struct virtio_dev *vd, unsigned q, bool ready)
{
	struct virtio_queue *vq = virtio_queue(vd, q);
	int r;

	if (!vq) {
		vd->stats.bad_queue_writes++;
		return;
	}
	if (ready == vq->ready)
		return;
	if (!ready) {
		if (vd->ops->queue_stop)
			vd->ops->queue_stop(vd, q);
		vd->kicked &= ~(1u << q);
		virtqueue_disable(&vq->vq);
		vq->ready = false;
		return;
	}
	if (!(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		vd->stats.bad_queue_writes++;
		log_ratelimited(&vd->rl, LOG_LEVEL_WARNING,
				"%s: queue %u enabled before FEATURES_OK; "
				"ignored",
				vd->id, q);
		return;
	}
	r = virtqueue_configure(&vq->vq, vq->size, vq->desc_gpa, vq->driver_gpa,
				vq->device_gpa, vd->guest_features);
	if (r == 0)
		r = virtqueue_enable(&vq->vq);
	if (r < 0) {
		char why[96];

		snprintf(why, sizeof(why),
			 "queue %u layout (desc 0x%llx driver 0x%llx device "
			 "0x%llx) unusable: %s",
			 q, (unsigned long long)vq->desc_gpa,
			 (unsigned long long)vq->driver_gpa,
			 (unsigned long long)vq->device_gpa, strerror(-r));
		virtio_needs_reset(vd, why);
		return;
	}
	vq->ready = true;
	/* Buffers made available before the enable are served at
	 * DRIVER_OK, or now when the driver enables a queue late. */
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_queue_kick(vd, q);
}

bool
virtio_queue_usable(const struct virtio_dev *vd, unsigned q)
{
	return q < vd->num_queues && vd->queues[q].ready &&
	       (vd->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vd->status &
		 (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

void
virtio_queue_kick(struct virtio_dev *vd, unsigned q)
{
	if (q >= vd->num_queues) {
		vd->stats.bad_queue_writes++;
		return;
	}
	vd->stats.kicks++;
	if (!virtio_queue_usable(vd, q)) {
		/* Remembered: DRIVER_OK serves every queue once anyway. */
		vd->stats.kicks_early++;
		return;
	}
	vd->kicked |= 1u << q;
	if (vd->svc->events)
		device_defer(vd->svc->events, &vd->kick_work);
}

/* Deferred: after the guest's request has been answered. */
static void
virtio_serve_kicks(struct device_work *work)
{
	struct virtio_dev *vd = container_of(work, struct virtio_dev,
					     kick_work);
	uint32_t kicked = vd->kicked;

	vd->kicked = 0;
	for (unsigned q = 0; q < vd->num_queues; q++)
		if ((kicked & (1u << q)) && virtio_queue_usable(vd, q))
			vd->ops->queue_notify(vd, q);
}

void
virtio_notify_used(struct virtio_dev *vd, unsigned q)
{
	if (q >= vd->num_queues || !vd->queues[q].ready)
		return;
	if (virtqueue_should_notify(&vd->queues[q].vq))
		transport_notify(vd, VIRTIO_IRQ_QUEUE, q);
}

void
virtio_config_changed(struct virtio_dev *vd)
{
	vd->config_generation++;
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		transport_notify(vd, VIRTIO_IRQ_CONFIG, 0);
}

void
virtio_needs_reset(struct virtio_dev *vd, const char *why)
{
	log_ratelimited(&vd->rl, LOG_LEVEL_WARNING,
			"%s: device needs reset: %s", vd->id,
			why ? why : "error");
	if (vd->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	vd->stats.needs_reset++;
	vd->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	if (vd->dev)
		device_report(vd->dev, DEVICE_EVENT_NEEDS_RESET,
			      why ? why : "error");
	/* 2.1.2: with DRIVER_OK set the device must notify the driver. */
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		transport_notify(vd, VIRTIO_IRQ_CONFIG, 0);
}

void
virtio_describe(const struct virtio_dev *vd, const struct device_info_writer *w)
{
	if (vd->ops->describe)
		vd->ops->describe(vd, w);
}

int
virtio_chardev_attach(struct virtio_dev *vd, const struct cfg_backend *backend)
{
	if (!vd->ops->chardev_attach)
		return -EOPNOTSUPP;
	return vd->ops->chardev_attach(vd, backend);
}

int
virtio_blockdev_change(struct virtio_dev *vd, const char *path, int read_only)
{
	if (!vd->ops->blockdev_change)
		return -EOPNOTSUPP;
	return vd->ops->blockdev_change(vd, path, read_only);
}

void
virtio_emit_stats(const struct virtio_dev *vd,
		  const struct device_stats_writer *w)
{
	struct vq_stats sum = { 0 };

	device_stats_emit(w, "virtio_kicks", vd->stats.kicks);
	device_stats_emit(w, "virtio_kicks_early", vd->stats.kicks_early);
	device_stats_emit(w, "virtio_queue_irqs", vd->stats.queue_irqs);
	device_stats_emit(w, "virtio_config_irqs", vd->stats.config_irqs);
	device_stats_emit(w, "virtio_resets", vd->stats.resets);
	device_stats_emit(w, "virtio_needs_reset", vd->stats.needs_reset);
	device_stats_emit(w, "virtio_features_refused",
			  vd->stats.features_refused);
	device_stats_emit(w, "virtio_bad_status_writes",
			  vd->stats.bad_status_writes);
	device_stats_emit(w, "virtio_bad_queue_writes",
			  vd->stats.bad_queue_writes);
	/* Summed over the queues: counter names are constant strings. */
	for (unsigned q = 0; q < vd->num_queues; q++) {
		const struct vq_stats *s = &vd->queues[q].vq.stats;

		sum.pops += s->pops;
		sum.pushes += s->pushes;
		sum.bytes_read += s->bytes_read;
		sum.bytes_written += s->bytes_written;
		sum.errors += s->errors;
		sum.notifies += s->notifies;
		sum.suppressed += s->suppressed;
		sum.remaps += s->remaps;
	}
	device_stats_emit(w, "vq_pops", sum.pops);
	device_stats_emit(w, "vq_pushes", sum.pushes);
	device_stats_emit(w, "vq_bytes_read", sum.bytes_read);
	device_stats_emit(w, "vq_bytes_written", sum.bytes_written);
	device_stats_emit(w, "vq_errors", sum.errors);
	device_stats_emit(w, "vq_notifies", sum.notifies);
	device_stats_emit(w, "vq_suppressed", sum.suppressed);
	device_stats_emit(w, "vq_remaps", sum.remaps);
}
