/*
 * The transport-independent virtio core (devices/virtio/virtio.c): status
 * rules, feature negotiation, configuration space, queue programming,
 * deferred kicks, DEVICE_NEEDS_RESET and reset, with a toy device and a
 * transport that records what it is asked to deliver.
 */
#include <errno.h>
#include <string.h>

#include "devices/virtio/virtio.h"
#include "tests/unit/devices/fake-services.h"
#include "tests/unit/devices/test-util.h"

#define MEM_SIZE  (1u << 20)
#define DESC_GPA  0x10000u
#define AVAIL_GPA 0x11000u
#define USED_GPA  0x12000u
#define TOY_F_X	  3 /* a device-specific feature bit */

struct toy {
	struct virtio_dev vd;
	uint8_t config[8];
	unsigned notified[2]; /* queue_notify calls per queue */
	unsigned resets, stops, driver_oks;
	bool refuse_x; /* features_ok says no to TOY_F_X */
	unsigned config_writes;
};

struct rec {
	unsigned queue_irqs[2];
	unsigned config_irqs;
};

static struct fake_services f;
static struct toy toy;
static struct rec rec;

static bool
toy_features_ok(struct virtio_dev *vd, uint64_t features)
{
	(void)vd;
	return !(toy.refuse_x && (features & (1ull << TOY_F_X)));
}

static void
toy_driver_ok(struct virtio_dev *vd)
{
	(void)vd;
	toy.driver_oks++;
}

static void
toy_queue_notify(struct virtio_dev *vd, unsigned q)
{
	(void)vd;
	toy.notified[q]++;
}

static void
toy_queue_stop(struct virtio_dev *vd, unsigned q)
{
	(void)vd;
	(void)q;
	toy.stops++;
}

static void
toy_reset(struct virtio_dev *vd)
{
	(void)vd;
	toy.resets++;
}

static void
toy_config_write(struct virtio_dev *vd, unsigned offset, unsigned size,
		 uint32_t value)
{
	toy.config_writes++;
	if (offset == 4 && size == 1)
		vd->config[4] = (uint8_t)value;
}

static const struct virtio_dev_ops toy_ops = {
	.features_ok = toy_features_ok,
	.driver_ok = toy_driver_ok,
	.queue_notify = toy_queue_notify,
	.queue_stop = toy_queue_stop,
	.reset = toy_reset,
	.config_write = toy_config_write,
};

static void
rec_notify(void *ctx, enum virtio_irq kind, unsigned q)
{
	struct rec *r = ctx;

	if (kind == VIRTIO_IRQ_CONFIG)
		r->config_irqs++;
	else if (q < 2)
		r->queue_irqs[q]++;
}

static const struct virtio_transport_ops rec_ops = { .notify = rec_notify };

static void
setup(void)
{
	static const uint8_t cfg_bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	const struct virtio_dev_params p = {
		.id = "toy",
		.device_id = 42,
		.features = 1ull << TOY_F_X,
		.num_queues = 2,
		.queue_size_max = 8,
		.config = toy.config,
		.config_len = sizeof(toy.config),
	};

	memset(&toy, 0, sizeof(toy));
	memset(&rec, 0, sizeof(rec));
	memcpy(toy.config, cfg_bytes, sizeof(cfg_bytes));
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	CHECK_EQ(virtio_dev_init(&toy.vd, &toy_ops, &f.svc, &p), 0);
	virtio_dev_set_transport(&toy.vd, &rec_ops, &rec);
}

static void
teardown(void)
{
	virtio_dev_fini(&toy.vd);
	CHECK_EQ(f.maps_held, 0);
	fake_services_fini(&f);
}

/* ACKNOWLEDGE | DRIVER, the features, FEATURES_OK: did it stick? */
static bool
negotiate(uint64_t features)
{
	struct virtio_dev *vd = &toy.vd;

	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(vd, 0, (uint32_t)features);
	virtio_set_driver_features(vd, 1, (uint32_t)(features >> 32));
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_FEATURES_OK);
	return virtio_status(vd) & VIRTIO_STATUS_FEATURES_OK;
}

static void
setup_queue(unsigned q)
{
	struct virtio_dev *vd = &toy.vd;
	struct virtio_queue *vq = virtio_queue(vd, q);

	virtio_queue_set_size(vd, q, 4);
	virtio_queue_set_addr(vd, q, &vq->desc_gpa, DESC_GPA + 0x3000 * q);
	virtio_queue_set_addr(vd, q, &vq->driver_gpa, AVAIL_GPA + 0x3000 * q);
	virtio_queue_set_addr(vd, q, &vq->device_gpa, USED_GPA + 0x3000 * q);
	virtio_queue_set_ready(vd, q, true);
}

#define V1 (1ull << VIRTIO_F_VERSION_1)
#define STATUS_FEATURES                                     \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
	 VIRTIO_STATUS_FEATURES_OK)

static void
test_init_params(void)
{
	struct virtio_dev vd;
	struct virtio_dev_params p = { .num_queues = 1, .queue_size_max = 8 };

	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	CHECK_EQ(virtio_dev_init(&vd, &toy_ops, &f.svc, &p), 0);
	/* The core's own offers: VERSION_1 and both ring features. */
	CHECK_EQ(virtio_device_features(&vd, 1) & 1, 1);
	CHECK(virtio_device_features(&vd, 0) & (1u << VIRTIO_F_INDIRECT_DESC));
	CHECK(virtio_device_features(&vd, 0) & (1u << VIRTIO_F_EVENT_IDX));
	CHECK_EQ(virtio_device_features(&vd, 1) & 2, 0); /* no grant */
	CHECK_EQ(virtio_device_features(&vd, 2), 0);
	p.access_platform = true;
	CHECK_EQ(virtio_dev_init(&vd, &toy_ops, &f.svc, &p), 0);
	CHECK_EQ(virtio_device_features(&vd, 1) & 2, 2);

	/* The id is kept in the device: the config entry it came from is
	 * freed once the daemon has set everything up. */
	char id[] = "vda";
	p.id = id;
	CHECK_EQ(virtio_dev_init(&vd, &toy_ops, &f.svc, &p), 0);
	memset(id, 'x', sizeof(id) - 1);
	CHECK(strcmp(vd.id, "vda") == 0);
	p.id = NULL;

	p.num_queues = 0;
	CHECK_EQ(virtio_dev_init(&vd, &toy_ops, &f.svc, &p), -EINVAL);
	p.num_queues = VIRTIO_QUEUES_MAX + 1;
	CHECK_EQ(virtio_dev_init(&vd, &toy_ops, &f.svc, &p), -EINVAL);
	p.num_queues = 1;
	p.queue_size_max = 6;
	CHECK_EQ(virtio_dev_init(&vd, &toy_ops, &f.svc, &p), -EINVAL);
	p.queue_size_max = 2048;
	CHECK_EQ(virtio_dev_init(&vd, &toy_ops, &f.svc, &p), -EINVAL);
	p.queue_size_max = 8;
	p.config_len = 4; /* without bytes */
	CHECK_EQ(virtio_dev_init(&vd, &toy_ops, &f.svc, &p), -EINVAL);
	fake_services_fini(&f);
}

static void
test_negotiation(void)
{
	struct virtio_dev *vd = &toy.vd;

	setup();
	/* Without VERSION_1: refused, and the device says so. */
	CHECK(!negotiate(1ull << TOY_F_X));
	CHECK_EQ(vd->stats.features_refused, 1);
	/* A bit never offered: refused. */
	virtio_set_status(vd, 0);
	CHECK(!negotiate(V1 | (1ull << 20)));
	/* The device's own veto. */
	virtio_set_status(vd, 0);
	toy.refuse_x = true;
	CHECK(!negotiate(V1 | (1ull << TOY_F_X)));
	toy.refuse_x = false;
	/* DRIVER_OK before FEATURES_OK is refused too. */
	virtio_set_status(vd, 0);
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				      VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(virtio_status(vd) & VIRTIO_STATUS_DRIVER_OK, 0);
	CHECK_EQ(toy.driver_oks, 0);

	virtio_set_status(vd, 0);
	CHECK(negotiate(V1 | (1ull << TOY_F_X)));
	CHECK(virtio_has_feature(vd, TOY_F_X));
	CHECK(virtio_has_feature(vd, VIRTIO_F_VERSION_1));
	CHECK(!virtio_has_feature(vd, VIRTIO_F_EVENT_IDX));
	/* Frozen after FEATURES_OK. */
	virtio_set_driver_features(vd, 0, 0);
	CHECK_EQ(virtio_driver_features(vd, 0), 1u << TOY_F_X);
	CHECK_EQ(virtio_driver_features(vd, 1), 1);
	/* Clearing a bit without reset is ignored; so is NEEDS_RESET. */
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK_EQ(virtio_status(vd), STATUS_FEATURES);
	virtio_set_status(vd,
			  STATUS_FEATURES | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(virtio_status(vd), STATUS_FEATURES);
	/* Reset forgets everything and tells the device. */
	unsigned resets = toy.resets;
	virtio_set_status(vd, 0);
	CHECK_EQ(virtio_status(vd), 0);
	CHECK_EQ(virtio_driver_features(vd, 0), 0);
	CHECK_EQ(virtio_driver_features(vd, 1), 0);
	CHECK_EQ(toy.resets, resets + 1);
	teardown();
}

static void
test_config_space(void)
{
	struct virtio_dev *vd = &toy.vd;

	setup();
	CHECK_EQ(virtio_config_read(vd, 0, 1), 1);
	CHECK_EQ(virtio_config_read(vd, 0, 2), 0x0201);
	CHECK_EQ(virtio_config_read(vd, 4, 4), 0x08070605);
	CHECK_EQ(virtio_config_read(vd, 7, 1), 8);
	/* Past the end, partly or wholly, or a bad width: all-ones. */
	CHECK_EQ(virtio_config_read(vd, 6, 4), 0xffffffffu);
	CHECK_EQ(virtio_config_read(vd, 8, 1), 0xff);
	CHECK_EQ(virtio_config_read(vd, 7, 2), 0xffff);
	CHECK_EQ(virtio_config_read(vd, 0, 3), 0xffffff);
	CHECK_EQ(virtio_config_read(vd, 0xffffffffu, 4), 0xffffffffu);
	/* Writes reach the device only in range. */
	virtio_config_write(vd, 4, 1, 0x55);
	CHECK_EQ(virtio_config_read(vd, 4, 1), 0x55);
	virtio_config_write(vd, 8, 1, 0x55);
	virtio_config_write(vd, 6, 4, 0x55);
	virtio_config_write(vd, 0, 8, 0x55);
	CHECK_EQ(toy.config_writes, 1);
	/* A change: new generation; an interrupt only after DRIVER_OK. */
	uint8_t gen = vd->config_generation;
	virtio_config_changed(vd);
	CHECK_EQ(vd->config_generation, (uint8_t)(gen + 1));
	CHECK_EQ(rec.config_irqs, 0);
	CHECK(negotiate(V1));
	virtio_set_status(vd, STATUS_FEATURES | VIRTIO_STATUS_DRIVER_OK);
	virtio_config_changed(vd);
	CHECK_EQ(rec.config_irqs, 1);
	teardown();
}

static void
test_queues(void)
{
	struct virtio_dev *vd = &toy.vd;
	struct virtio_queue *vq;

	setup();
	CHECK(virtio_queue(vd, 2) == NULL);
	CHECK(virtio_vq(vd, 2) == NULL);
	vq = virtio_queue(vd, 0);
	CHECK_EQ(vq->size, 8);
	CHECK_EQ(vq->msix_vector, VIRTIO_MSI_NO_VECTOR);
	/* Sizes: powers of two up to the maximum. */
	virtio_queue_set_size(vd, 0, 3);
	virtio_queue_set_size(vd, 0, 16);
	virtio_queue_set_size(vd, 0, 0);
	CHECK_EQ(vq->size, 8);
	/* Enabling before FEATURES_OK is refused. */
	setup_queue(0);
	CHECK(!vq->ready);
	CHECK(negotiate(V1));
	setup_queue(0);
	CHECK(vq->ready);
	CHECK_EQ(vq->size, 4);
	CHECK_EQ(f.maps_held, 3);
	/* Fields of a ready queue stay as they are. */
	uint64_t bad = vd->stats.bad_queue_writes;
	virtio_queue_set_size(vd, 0, 2);
	virtio_queue_set_addr(vd, 0, &vq->desc_gpa, 0x5000);
	CHECK_EQ(vq->size, 4);
	CHECK_EQ(vq->desc_gpa, DESC_GPA);
	CHECK_EQ(vd->stats.bad_queue_writes, bad + 2);
	/* Only the queue's own three fields can be written. */
	uint64_t other = 7;
	virtio_queue_set_addr(vd, 1, &other, 0x5000);
	CHECK_EQ(other, 7);

	/* Kicks before DRIVER_OK wait; DRIVER_OK serves every queue once. */
	virtio_queue_kick(vd, 0);
	fake_services_answered(&f);
	CHECK_EQ(toy.notified[0], 0);
	CHECK_EQ(vd->stats.kicks_early, 1);
	virtio_set_status(vd, STATUS_FEATURES | VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(toy.driver_oks, 1);
	CHECK_EQ(toy.notified[0], 0); /* deferred, not inside the write */
	fake_services_answered(&f);
	CHECK_EQ(toy.notified[0], 1);
	CHECK_EQ(toy.notified[1], 0); /* not ready */

	/* A kick is answered at once and served after the answer. */
	virtio_queue_kick(vd, 0);
	virtio_queue_kick(vd, 0);
	CHECK_EQ(toy.notified[0], 1);
	fake_services_answered(&f);
	CHECK_EQ(toy.notified[0], 2); /* two kicks, one serving */
	virtio_queue_kick(vd, 5);     /* no such queue */
	fake_services_answered(&f);
	CHECK_EQ(toy.notified[0], 2);

	/* A queue enabled after DRIVER_OK is served at once. */
	setup_queue(1);
	fake_services_answered(&f);
	CHECK_EQ(toy.notified[1], 1);

	/* Disabling stops it through the device and unmaps. */
	virtio_queue_set_ready(vd, 1, false);
	CHECK_EQ(toy.stops, 1);
	CHECK_EQ(f.maps_held, 3);
	virtio_queue_kick(vd, 1);
	fake_services_answered(&f);
	CHECK_EQ(toy.notified[1], 1);

	/* Reset: the device first, then the queues are forgotten. */
	virtio_set_status(vd, 0);
	CHECK(!vq->ready);
	CHECK_EQ(vq->size, 8);
	CHECK_EQ(vq->desc_gpa, 0);
	CHECK_EQ(f.maps_held, 0);
	teardown();
}

static void
test_bad_layout_needs_reset(void)
{
	struct virtio_dev *vd = &toy.vd;
	struct virtio_queue *vq;

	setup();
	CHECK(negotiate(V1));
	virtio_set_status(vd, STATUS_FEATURES | VIRTIO_STATUS_DRIVER_OK);
	vq = virtio_queue(vd, 0);
	/* The used ring outside guest memory. */
	virtio_queue_set_addr(vd, 0, &vq->desc_gpa, DESC_GPA);
	virtio_queue_set_addr(vd, 0, &vq->driver_gpa, AVAIL_GPA);
	virtio_queue_set_addr(vd, 0, &vq->device_gpa, MEM_SIZE + 0x1000);
	virtio_queue_set_ready(vd, 0, true);
	CHECK(!vq->ready);
	CHECK(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(rec.config_irqs, 1);
	CHECK_EQ(f.maps_held, 0);
	/* Once is enough: no second interrupt. */
	virtio_needs_reset(vd, "again");
	CHECK_EQ(rec.config_irqs, 1);
	CHECK_EQ(vd->stats.needs_reset, 1);
	/* A misaligned ring: same. */
	virtio_set_status(vd, 0);
	CHECK_EQ(virtio_status(vd), 0);
	CHECK(negotiate(V1));
	virtio_queue_set_addr(vd, 0, &vq->desc_gpa, DESC_GPA + 8);
	virtio_queue_set_addr(vd, 0, &vq->driver_gpa, AVAIL_GPA);
	virtio_queue_set_addr(vd, 0, &vq->device_gpa, USED_GPA);
	virtio_queue_set_ready(vd, 0, true);
	CHECK(!vq->ready);
	CHECK(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* Before DRIVER_OK there is no interrupt to send. */
	CHECK_EQ(rec.config_irqs, 1);
	teardown();
}

static void
test_needs_reset_stops_queues(void)
{
	struct virtio_dev *vd = &toy.vd;

	setup();
	CHECK(negotiate(V1));
	setup_queue(0);
	virtio_set_status(vd, STATUS_FEATURES | VIRTIO_STATUS_DRIVER_OK);
	fake_services_answered(&f);
	CHECK_EQ(toy.notified[0], 1);
	CHECK(virtio_queue_usable(vd, 0));
	virtio_needs_reset(vd, "test");
	CHECK(!virtio_queue_usable(vd, 0));
	virtio_queue_kick(vd, 0);
	fake_services_answered(&f);
	CHECK_EQ(toy.notified[0], 1);
	/* A pending kick is dropped when the device breaks before it ran. */
	virtio_set_status(vd, 0);
	CHECK(negotiate(V1));
	setup_queue(0);
	virtio_set_status(vd, STATUS_FEATURES | VIRTIO_STATUS_DRIVER_OK);
	virtio_needs_reset(vd, "test");
	fake_services_answered(&f);
	CHECK_EQ(toy.notified[0], 1);
	teardown();
}

static void
stats_sum(void *ctx, const char *name, uint64_t value)
{
	if (strcmp(name, "virtio_kicks") == 0)
		*(uint64_t *)ctx += value;
}

static void
test_used_notify_and_stats(void)
{
	struct virtio_dev *vd = &toy.vd;
	uint64_t kicks = 0;
	struct device_stats_writer w = { .emit = stats_sum, .ctx = &kicks };

	setup();
	CHECK(negotiate(V1));
	setup_queue(0);
	virtio_set_status(vd, STATUS_FEATURES | VIRTIO_STATUS_DRIVER_OK);
	/* Nothing pushed: no interrupt. */
	virtio_notify_used(vd, 0);
	CHECK_EQ(rec.queue_irqs[0], 0);
	/* A pushed chain (head 0 of an empty ring is still a valid id). */
	CHECK_EQ(virtqueue_push(virtio_vq(vd, 0), 0, 0), 0);
	virtio_notify_used(vd, 0);
	CHECK_EQ(rec.queue_irqs[0], 1);
	virtio_notify_used(vd, 1); /* not ready */
	virtio_notify_used(vd, 9); /* no such queue */
	CHECK_EQ(rec.queue_irqs[1], 0);
	virtio_queue_kick(vd, 0);
	virtio_emit_stats(vd, &w);
	CHECK_EQ(kicks, 1);
	teardown();
}

static void
test_dma_key(void)
{
	CHECK(strcmp(virtio_dma_choices[0], "foreign") == 0);
	CHECK(strcmp(virtio_dma_choices[1], "grant") == 0);
	CHECK(virtio_dma_choices[2] == NULL);
}

int
main(void)
{
	test_init_params();
	test_negotiation();
	test_config_space();
	test_queues();
	test_bad_layout_needs_reset();
	test_needs_reset_stops_queues();
	test_used_notify_and_stats();
	test_dma_key();
	return test_finish();
}
