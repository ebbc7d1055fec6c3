/*
 * virtio-rng (devices/virtio/virtio-rng.c) as a driver sees it: built with
 * virtio_rng_new() on fake services with guest RAM and driven through
 * the virtio core's transport-side calls (virtio-driver.h), so that
 * what is checked is the device: negotiation, random bytes in direct,
 * chained and indirect buffers, hostile chains, the rate limit and its
 * timer, an entropy source that is not ready or gives short reads,
 * resets with requests held, and its counters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/device.h"
#include "devices/virtio/virtio-rng.h"
#include "tests/unit/devices/fake-info.h"
#include "tests/unit/devices/fake-services.h"
#include "tests/unit/devices/test-util.h"
#include "tests/unit/devices/virtio-driver.h"
#include "tests/unit/devices/yaml-device.h"

#define MEM_SIZE  (1u << 20)
#define RING_GPA  0x10000u
#define TABLE_GPA 0x30000u
#define BUF_GPA	  0x40000u
#define QSIZE	  16u
#define GUARD	  0xa5u

static struct fake_services f;
static struct vdrv_transport t;
static struct vdrv_queue q;
static struct virtio_dev *vd;

/* A fake entropy source: counts calls, can fail or give short reads. */
static struct {
	unsigned calls;
	unsigned fail_left; /* fail this many calls with fail_errno */
	int fail_errno;
	size_t max; /* != 0: at most this many bytes per call */
	uint8_t next;
} src;

static ssize_t
fake_entropy(void *buf, size_t len)
{
	uint8_t *p = buf;

	src.calls++;
	if (src.fail_left) {
		src.fail_left--;
		errno = src.fail_errno;
		return -1;
	}
	if (src.max && len > src.max)
		len = src.max;
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(src.next++ * 37 + 11);
		if (p[i] == GUARD)
			p[i] = 0; /* so that guard_bytes() counts only ours */
	}
	return (ssize_t)len;
}

static uint64_t
mono_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

/* A device with rate (0: none), entropy (NULL: getrandom), negotiated. */
static void
setup_with(uint64_t rate, ssize_t (*entropy)(void *, size_t), uint64_t feat)
{
	struct virtio_rng_params p = {
		.id = "rng0",
		.rate_limit = rate,
		.entropy = entropy,
	};

	memset(&src, 0, sizeof(src));
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	memset(f.mem + BUF_GPA, GUARD, MEM_SIZE - BUF_GPA);
	vd = NULL;
	CHECK_EQ(virtio_rng_new(&f.svc, &p, &vd), 0);
	if (!vd)
		abort();
	vdrv_attach(vd, &t);
	vdrv_queue_init(&q, &f, RING_GPA, QSIZE);
	CHECK(vdrv_negotiate(vd, VDRV_F_V1 | feat));
	CHECK(vdrv_queue_setup(vd, 0, &q));
	vdrv_driver_ok(vd);
	fake_services_answered(&f);
}

static void
setup(uint64_t rate)
{
	setup_with(rate, NULL, 0);
}

static void
teardown(void)
{
	virtio_dev_fini(vd);
	vd->ops->destroy(vd);
	CHECK_EQ(f.maps_held, 0);
	fake_services_fini(&f);
}

static void
kick(void)
{
	virtio_queue_kick(vd, 0);
	fake_services_answered(&f);
}

/* Bytes at gpa that are still the guard pattern. */
static size_t
guard_bytes(uint64_t gpa, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += f.mem[gpa + i] == GUARD;
	return n;
}

/* The device's own counter `name` (it must emit it). */
static uint64_t
counter(const char *name)
{
	struct stat_count c = { .name = name };
	struct device_stats_writer wr = { .emit = stat_count_emit, .ctx = &c };

	vd->ops->stats(vd, &wr);
	CHECK(c.seen);
	return c.value;
}

static void
test_params(void)
{
	struct virtio_rng_params p = { .rate_limit = VIRTIO_RNG_RATE_MAX + 1 };
	struct device_services no_events;

	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	vd = NULL;
	CHECK_EQ(virtio_rng_new(&f.svc, &p, &vd), -EINVAL);
	CHECK_EQ(virtio_rng_new(NULL, &p, &vd), -EINVAL);
	p.rate_limit = 0;
	CHECK_EQ(virtio_rng_new(&f.svc, NULL, &vd), -EINVAL);
	CHECK_EQ(virtio_rng_new(&f.svc, &p, NULL), -EINVAL);
	no_events = f.svc;
	no_events.events = NULL;
	CHECK_EQ(virtio_rng_new(&no_events, &p, &vd), -EINVAL);
	CHECK(vd == NULL);
	fake_services_fini(&f);
}

static void
test_features(void)
{
	struct virtio_rng_params p = { .id = "rng0" };

	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	CHECK_EQ(virtio_rng_new(&f.svc, &p, &vd), 0);
	vdrv_attach(vd, &t);
	CHECK_EQ(vd->device_id, 4);
	CHECK_EQ(vd->num_queues, 1);
	CHECK_EQ(vd->config_len, 0);
	CHECK_EQ(virtio_queue(vd, 0)->size_max, VIRTIO_RNG_QUEUE_SIZE);
	CHECK(virtio_queue(vd, 1) == NULL);
	/* No feature bits of its own: the core's ring bits and V1 only. */
	CHECK_EQ(virtio_device_features(vd, 0),
		 (1u << VIRTIO_F_INDIRECT_DESC) | (1u << VIRTIO_F_EVENT_IDX));
	CHECK_EQ(virtio_device_features(vd, 1), 1);
	CHECK(!vdrv_negotiate(vd, 0));
	CHECK(!vdrv_negotiate(vd, VDRV_F_V1 | 1));
	CHECK(!vdrv_negotiate(vd,
			      VDRV_F_V1 | (1ull << VIRTIO_F_ACCESS_PLATFORM)));
	CHECK(vdrv_negotiate(vd, VDRV_F_V1 | (1ull << VIRTIO_F_EVENT_IDX)));
	/* Reading the configuration: there is none, all-ones. */
	CHECK_EQ(virtio_config_read(vd, 0, 4), 0xffffffffu);
	virtio_dev_fini(vd);
	vd->ops->destroy(vd);

	/* dma: grant offers ACCESS_PLATFORM (set by the type's create). */
	p.access_platform = true;
	CHECK_EQ(virtio_rng_new(&f.svc, &p, &vd), 0);
	CHECK_EQ(virtio_device_features(vd, 1), 3);
	CHECK(vdrv_negotiate(vd,
			     VDRV_F_V1 | (1ull << VIRTIO_F_ACCESS_PLATFORM)));
	virtio_dev_fini(vd);
	vd->ops->destroy(vd);
	fake_services_fini(&f);
}

/* getrandom's bytes arrive, each buffer whole, all different. */
static void
test_random_bytes(void)
{
	enum { N = 6, LEN = 64 };
	uint16_t id = 0;
	uint32_t len = 0;

	setup(0);
	CHECK_EQ(vdrv_used_idx(&q), 0);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ(vdrv_add_in(&q, BUF_GPA + 0x100 * i, LEN), i);
	kick();
	CHECK_EQ(vdrv_used_idx(&q), N);
	CHECK(t.queue_irqs[0] >= 1);
	for (unsigned i = 0; i < N; i++) {
		CHECK(vdrv_get_used(&q, &id, &len));
		CHECK_EQ(id, i);
		CHECK_EQ(len, LEN);
		/* 64 random bytes are not all still the guard... */
		CHECK(guard_bytes(BUF_GPA + 0x100 * i, LEN) < 8);
		/* ...and the byte after the buffer is. */
		CHECK_EQ(f.mem[BUF_GPA + 0x100 * i + LEN], GUARD);
		for (unsigned j = 0; j < i; j++)
			CHECK(memcmp(f.mem + BUF_GPA + 0x100 * i,
				     f.mem + BUF_GPA + 0x100 * j, LEN) != 0);
	}
	CHECK(!vdrv_get_used(&q, &id, &len));
	CHECK_EQ(counter("rng_bytes"), N * LEN);
	CHECK_EQ(counter("rng_chains"), N);

	/* A large buffer, more than one getrandom chunk. */
	CHECK_EQ(vdrv_add_in(&q, BUF_GPA + 0x10000, 20000), N);
	kick();
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, 20000);
	CHECK(guard_bytes(BUF_GPA + 0x10000, 20000) < 400);
	CHECK_EQ(f.mem[BUF_GPA + 0x10000 + 20000], GUARD);
	teardown();
}

/* Chains of several buffers, and an indirect table. */
static void
test_chained_and_indirect(void)
{
	struct vdrv_buf chain[3] = {
		{ BUF_GPA, 16, true },
		{ BUF_GPA + 0x100, 1, true },
		{ BUF_GPA + 0x200, 100, true },
	};
	struct vdrv_buf table[2] = {
		{ BUF_GPA + 0x1000, 32, true },
		{ BUF_GPA + 0x1100, 48, true },
	};
	uint16_t id = 0;
	uint32_t len = 0;

	setup_with(0, fake_entropy, 1ull << VIRTIO_F_INDIRECT_DESC);
	CHECK_EQ(vdrv_add(&q, chain, 3), 0);
	CHECK_EQ(vdrv_add_indirect(&q, TABLE_GPA, table, 2), 3);
	kick();
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 117);
	/* The source's bytes, in order, across the three buffers. */
	CHECK_EQ(f.mem[BUF_GPA], 11);
	CHECK_EQ(f.mem[BUF_GPA + 15], (uint8_t)(15 * 37 + 11));
	CHECK_EQ(f.mem[BUF_GPA + 16], GUARD);
	CHECK_EQ(f.mem[BUF_GPA + 0x100], (uint8_t)(16 * 37 + 11));
	CHECK_EQ(f.mem[BUF_GPA + 0x101], GUARD);
	CHECK_EQ(f.mem[BUF_GPA + 0x200 + 99], (uint8_t)(116 * 37 + 11));
	CHECK_EQ(f.mem[BUF_GPA + 0x200 + 100], GUARD);
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(id, 3);
	CHECK_EQ(len, 80);
	CHECK_EQ(guard_bytes(BUF_GPA + 0x1000, 32), 0);
	CHECK_EQ(f.mem[BUF_GPA + 0x1000 + 32], GUARD);
	CHECK_EQ(guard_bytes(BUF_GPA + 0x1100, 48), 0);
	CHECK_EQ(f.mem[BUF_GPA + 0x1100 + 48], GUARD);
	teardown();
}

/* Wrong-direction, empty and out-of-RAM buffers: answered, no harm. */
static void
test_bad_chains(void)
{
	struct vdrv_buf mixed[2] = {
		{ BUF_GPA + 0x100, 8, false },
		{ BUF_GPA + 0x200, 8, true },
	};
	struct vdrv_buf part[2] = {
		{ BUF_GPA + 0x300, 8, true },
		{ MEM_SIZE - 4, 64, true },
	};
	uint16_t id = 0;
	uint32_t len = 0;

	setup_with(0, fake_entropy, 0);
	vdrv_add_out(&q, BUF_GPA, 8);		/* readable only */
	vdrv_add(&q, mixed, 2);			/* readable, then writable */
	vdrv_add_in(&q, BUF_GPA + 0x280, 0);	/* nothing to write */
	vdrv_add_in(&q, MEM_SIZE + 0x1000, 64); /* beyond RAM */
	vdrv_add(&q, part, 2);			/* 8 bytes, then beyond RAM */
	vdrv_add_in(&q, BUF_GPA + 0x400, 8);	/* a good one after all that */
	kick();
	CHECK_EQ(vdrv_used_idx(&q), 6);
	for (unsigned i = 0; i < 4; i++) {
		CHECK(vdrv_get_used(&q, &id, &len));
		CHECK_EQ(len, 0);
	}
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, 8);
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, 8);
	CHECK_EQ(guard_bytes(BUF_GPA, 8), 8);	      /* readable: untouched */
	CHECK_EQ(guard_bytes(BUF_GPA + 0x200, 8), 8); /* mixed: untouched */
	CHECK_EQ(guard_bytes(BUF_GPA + 0x300, 8), 0);
	CHECK_EQ(guard_bytes(BUF_GPA + 0x400, 8), 0);
	CHECK_EQ(counter("rng_bad_chains"), 2);
	CHECK_EQ(counter("rng_empty_chains"), 1);
	CHECK_EQ(counter("rng_faults"), 2);
	CHECK_EQ(counter("rng_bytes"), 16);
	CHECK(!(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	teardown();
}

/* A ring the driver broke: DEVICE_NEEDS_RESET, then work after reset. */
static void
test_broken_ring(void)
{
	uint16_t id = 0;
	uint32_t len = 0;

	setup_with(0, fake_entropy, 0);
	/* Descriptors 0 and 1 point at each other. */
	vdrv_desc(&q, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	vdrv_desc(&q, 1, BUF_GPA + 8, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
		  0);
	vdrv_avail(&q, 0);
	kick();
	CHECK_EQ(vdrv_used_idx(&q), 0);
	CHECK(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(t.config_irqs, 1);
	CHECK_EQ(guard_bytes(BUF_GPA, 16), 16);
	/* Kicks after that do nothing. */
	kick();
	CHECK_EQ(vdrv_used_idx(&q), 0);
	CHECK_EQ(t.config_irqs, 1);

	/* INDIRECT never negotiated; avail.idx jumping past the size. */
	vdrv_queue_init(&q, &f, RING_GPA, QSIZE);
	CHECK(vdrv_negotiate(vd, VDRV_F_V1));
	CHECK(vdrv_queue_setup(vd, 0, &q));
	vdrv_driver_ok(vd);
	fake_services_answered(&f);
	vdrv_add_in(&q, BUF_GPA, 8);
	kick();
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, 8);
	vdrv_desc(&q, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_avail(&q, 1);
	kick();
	CHECK(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(vdrv_used_idx(&q), 1);

	vdrv_queue_init(&q, &f, RING_GPA, QSIZE);
	CHECK(vdrv_negotiate(vd, VDRV_F_V1));
	CHECK(vdrv_queue_setup(vd, 0, &q));
	vdrv_driver_ok(vd);
	fake_services_answered(&f);
	vdrv_put(&f, q.avail + 2, QSIZE + 1, 2);
	kick();
	CHECK(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(vdrv_used_idx(&q), 0);
	teardown();
}

/* rate-limit: the bucket's second, then refills by a timer, no kick. */
static void
test_rate_limit(void)
{
	enum { RATE = 1000, LEN = 256, N = 16 };
	uint64_t start, first, later, elapsed;
	uint16_t id = 0;
	uint32_t len = 0;

	setup_with(RATE, fake_entropy, 0);
	for (unsigned i = 0; i < N; i++)
		vdrv_add_in(&q, BUF_GPA + 0x200 * i, LEN);
	start = mono_usec();
	kick();
	/* A full bucket: one second's worth at once, then nothing. */
	first = counter("rng_bytes");
	CHECK(first >= RATE && first <= RATE + 1);
	CHECK_EQ(vdrv_used_idx(&q), 4); /* 256 * 3 + a partial 232 */
	CHECK(counter("rng_throttled") >= 1);
	for (unsigned i = 0; i < 3; i++) {
		CHECK(vdrv_get_used(&q, &id, &len));
		CHECK_EQ(len, LEN);
	}
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, first - 3 * LEN);
	/* Kicking does not get around the limit. */
	kick();
	CHECK(counter("rng_bytes") <= RATE + 1);
	/* The timer brings more, without a kick, at the rate. */
	pump_for(f.evbase, 600);
	later = counter("rng_bytes");
	elapsed = mono_usec() - start;
	CHECK(later > first + 100);
	CHECK(later <= RATE + RATE * elapsed / 1000000 + 1);
	CHECK(vdrv_used_idx(&q) > 4);
	CHECK(vdrv_used_idx(&q) < N);
	CHECK_EQ(src.calls > 0, 1);
	teardown();
}

/* A rate so slow the driver's buffer is bigger than the bucket. */
static void
test_rate_limit_small(void)
{
	uint16_t id = 0;
	uint32_t len = 0;

	setup_with(10, fake_entropy, 0);
	vdrv_add_in(&q, BUF_GPA, 64);
	vdrv_add_in(&q, BUF_GPA + 0x100, 64);
	kick();
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK(len == 10 || len == 11);
	CHECK(!vdrv_get_used(&q, &id, &len));
	/* One byte takes 100 ms: after ~350 ms a few, not more. */
	pump_for(f.evbase, 350);
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK(len >= 1 && len <= 5);
	teardown();
}

/* The kernel has no entropy yet: the request waits, then is served. */
static void
test_entropy_not_ready(void)
{
	uint16_t id = 0;
	uint32_t len = 0;

	setup_with(0, fake_entropy, 0);
	src.fail_left = 2;
	src.fail_errno = EAGAIN;
	vdrv_add_in(&q, BUF_GPA, 32);
	kick();
	CHECK_EQ(vdrv_used_idx(&q), 0);
	CHECK_EQ(counter("rng_entropy_waits"), 1);
	CHECK_EQ(guard_bytes(BUF_GPA, 32), 32);
	/* A retry timer, not a busy loop: few calls in the meantime. */
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&q) == 1, 1000);
	CHECK_EQ(vdrv_used_idx(&q), 1);
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, 32);
	CHECK_EQ(src.calls, 3);
	CHECK_EQ(guard_bytes(BUF_GPA, 32), 0);

	/* EINTR is retried at once; another error waits like EAGAIN. */
	src.fail_left = 1;
	src.fail_errno = EINTR;
	vdrv_add_in(&q, BUF_GPA + 0x100, 8);
	kick();
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, 8);
	src.fail_left = 1;
	src.fail_errno = ENOSYS;
	vdrv_add_in(&q, BUF_GPA + 0x200, 8);
	kick();
	CHECK(!vdrv_get_used(&q, &id, &len));
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&q) == 3, 1000);
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, 8);

	/* Short reads: the chain goes back with what there is. */
	src.max = 10;
	vdrv_add_in(&q, BUF_GPA + 0x300, 64);
	kick();
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, 10);
	CHECK_EQ(guard_bytes(BUF_GPA + 0x300, 64), 54);
	CHECK_EQ(counter("rng_short_reads"), 1);
	teardown();
}

/* Reset and queue disable while requests are held: nothing comes back. */
static void
test_reset_in_flight(void)
{
	uint16_t id = 0;
	uint32_t len = 0;

	setup_with(100, fake_entropy, 0);
	for (unsigned i = 0; i < 4; i++)
		vdrv_add_in(&q, BUF_GPA + 0x100 * i, 64);
	kick();
	CHECK_EQ(vdrv_used_idx(&q), 2); /* 64 + 36 */
	virtio_set_status(vd, 0);
	CHECK_EQ(virtio_status(vd), 0);
	CHECK_EQ(f.maps_held, 0);
	pump_for(f.evbase, 250);
	CHECK_EQ(vdrv_used_idx(&q), 2);
	CHECK_EQ(guard_bytes(BUF_GPA + 0x200, 128), 128);
	/* The bucket is not refilled by the reset: ~25 bytes by now. */
	vdrv_queue_init(&q, &f, RING_GPA, QSIZE);
	CHECK(vdrv_negotiate(vd, VDRV_F_V1));
	CHECK(vdrv_queue_setup(vd, 0, &q));
	vdrv_driver_ok(vd);
	fake_services_answered(&f);
	vdrv_add_in(&q, BUF_GPA + 0x1000, 64);
	kick();
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK(len >= 20 && len < 64);

	/* QueueReady 0 drops the held request the same way. */
	vdrv_add_in(&q, BUF_GPA + 0x2000, 64);
	kick();
	CHECK_EQ(vdrv_used_idx(&q), 1);
	virtio_queue_set_ready(vd, 0, false);
	pump_for(f.evbase, 250);
	CHECK_EQ(vdrv_used_idx(&q), 1);
	CHECK_EQ(guard_bytes(BUF_GPA + 0x2000, 64), 64);
	teardown();
}

/*
 * The core revoked the ring's mappings and cannot map them again for a
 * while (-EBUSY): the request is served by a retry once it can, without
 * a kick (Linux's driver kicks once and waits).
 */
static void
test_transient_ring_error(void)
{
	uint16_t id;
	uint32_t len;

	setup_with(0, fake_entropy, 0);
	f.map_epoch++;
	f.fail_map = -EBUSY;
	vdrv_add_in(&q, BUF_GPA, 32);
	kick();
	CHECK_EQ(vdrv_used_idx(&q), 0);
	CHECK_EQ(guard_bytes(BUF_GPA, 32), 32);
	f.fail_map = 0;
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&q) == 1, 1000);
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, 32);
	CHECK(!(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	teardown();

	/* The push fails after the fill: the chain is kept, filled. */
	setup_with(100, fake_entropy, 0);
	vdrv_add_in(&q, BUF_GPA, 64);
	vdrv_add_in(&q, BUF_GPA + 0x100, 64);
	vdrv_add_in(&q, BUF_GPA + 0x200, 64);
	kick();
	CHECK_EQ(vdrv_used_idx(&q), 2); /* the third waits for tokens */
	f.map_epoch++;
	f.fail_map = -EBUSY;
	pump_for(f.evbase, 250);
	CHECK_EQ(vdrv_used_idx(&q), 2);
	CHECK(guard_bytes(BUF_GPA + 0x200, 64) < 64); /* filled meanwhile */
	f.fail_map = 0;
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&q) == 3, 1000);
	for (unsigned i = 0; i < 3; i++)
		CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(id, 2);
	CHECK_EQ(len, 64 - guard_bytes(BUF_GPA + 0x200, 64));
	teardown();
}

/* More than one round's budget: the rest follows in later rounds. */
static void
test_round_budget(void)
{
	setup_with(0, fake_entropy, 0);
	for (unsigned i = 0; i < QSIZE; i++)
		vdrv_add_in(&q, BUF_GPA + 0x8000 * i, 0x8000);
	kick();
	/* 256 KiB per round: 8 of the 16 buffers. */
	CHECK_EQ(vdrv_used_idx(&q), 8);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&q) == QSIZE, 1000);
	CHECK_EQ(vdrv_used_idx(&q), QSIZE);
	CHECK_EQ(counter("rng_bytes"), QSIZE * 0x8000);
	teardown();
}

/*
 * A random hostile driver: thousands of moves of random descriptors,
 * tables and indices, resets when the device gives up.  Nothing crashes
 * (ASan watches), writes stay inside guest RAM, the used ring never
 * runs ahead of what was made available, mappings are balanced.
 */
static void
test_random_hostile(void)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned resets = 0;

	setup_with(0, fake_entropy,
		   (1ull << VIRTIO_F_INDIRECT_DESC) |
			   (1ull << VIRTIO_F_EVENT_IDX));
	for (unsigned i = 0; i < 3000; i++) {
		uint16_t used_before = vdrv_used_idx(&q);

		vdrv_scribble(&q, &seed, TABLE_GPA);
		kick();
		CHECK((uint16_t)(vdrv_used_idx(&q) - used_before) <= QSIZE);
		if ((virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) ||
		    vdrv_rand(&seed) % 200 == 0) {
			resets++;
			vdrv_queue_init(&q, &f, RING_GPA, QSIZE);
			CHECK(vdrv_negotiate(
				vd,
				VDRV_F_V1 | (1ull << VIRTIO_F_INDIRECT_DESC)));
			CHECK(vdrv_queue_setup(vd, 0, &q));
			vdrv_driver_ok(vd);
			fake_services_answered(&f);
			CHECK_EQ(f.maps_held, 3);
		}
	}
	CHECK(resets > 10);
	CHECK(counter("rng_chains") > 100);
	teardown();
}

/* Through the type's create and a real transport, from YAML. */
static void
transport_case(const char *yaml, bool pci, bool grant)
{
	uint64_t feat = VDRV_F_V1;
	struct vdrv_grant g;
	const struct device_type *type = device_type_find("virtio-rng");
	struct device *dev = NULL;
	struct vdrv_bus b;
	struct cfg *cfg;
	uint16_t id = 0;
	uint32_t len = 0;

	CHECK(type != NULL);
	if (!type)
		return;
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	memset(f.mem + BUF_GPA, GUARD, MEM_SIZE - BUF_GPA);
	cfg = load(yaml);
	vdrv_grant_init(&g, &f.svc);
	CHECK_EQ(type->create(&cfg->devices[0], &g.outer, &dev), 0);
	/* As the daemon does: the config is gone once devices exist. */
	cfg_free(cfg);
	if (!dev)
		abort();
	CHECK(strcmp(dev->id, "rng0") == 0);
	CHECK_EQ(dev->is_pci, pci);
	vdrv_bus_init(&b, dev);
	CHECK_EQ(vdrv_bus_device_id(&b), 4);
	vdrv_queue_init(&q, &f, RING_GPA, QSIZE);
	if (grant) {
		/* Grant addresses everywhere; ACCESS_PLATFORM offered. */
		q.dma_bias = VDRV_GRANT_BIT;
		feat |= 1ull << VIRTIO_F_ACCESS_PLATFORM;
	}
	/* Before DRIVER_OK virtio-pci sends nothing; mmio has its line. */
	CHECK(strcmp(fake_info(dev, "interrupt"), pci ? "none" : "isa 5") == 0);
	CHECK(strcmp(fake_info(dev, "backend"), "getrandom") == 0);
	{
		struct cfg_backend nb = { .type = CFG_BACKEND_NULL };

		CHECK_EQ(dev->ops->chardev_attach(dev, &nb), -EOPNOTSUPP);
		CHECK_EQ(dev->ops->blockdev_change(dev, NULL, 1), -EOPNOTSUPP);
	}
	CHECK(vdrv_bus_negotiate(&b, feat));
	CHECK(vdrv_bus_queue_setup(&b, 0, &q));
	vdrv_bus_driver_ok(&b);
	fake_services_answered(&f);
	CHECK(strcmp(fake_info(dev, "interrupt"), pci ? "intx" : "isa 5") == 0);
	vdrv_add_in(&q, BUF_GPA, 64);
	vdrv_add_in(&q, BUF_GPA + 0x100, 64);
	vdrv_bus_kick(&b, 0);
	fake_services_answered(&f);
	/* rate-limit: 100 from the YAML: 64, then 36. */
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK_EQ(len, 64);
	CHECK(vdrv_get_used(&q, &id, &len));
	CHECK(len == 36 || len == 37);
	CHECK(guard_bytes(BUF_GPA, 64) < 8);
	if (pci)
		CHECK(f.intx_level[5][0]);
	else
		CHECK(f.isa_level[5]);
	/* Through the grant layer, or never. */
	CHECK_EQ(g.calls > 0, grant);
	/* The transport's counters and the device's, each once. */
	CHECK_EQ(dev_counter(dev, "rng_bytes").seen, 1);
	CHECK(dev_counter(dev, "rng_bytes").value >= 100);
	CHECK_EQ(dev_counter(dev, "virtio_kicks").seen, 1);
	dev->ops->destroy(dev);
	CHECK_EQ(f.maps_held, 0);
	fake_services_fini(&f);
}

static void
test_transports(void)
{
	struct device *dev = NULL;
	struct cfg *cfg;

	transport_case("devices:\n"
		       "  - type: virtio-rng\n"
		       "    id: rng0\n"
		       "    mmio: 0xfe000000\n"
		       "    irq: 5\n"
		       "    rate-limit: 100\n",
		       false, false);
	transport_case("devices:\n"
		       "  - type: virtio-rng\n"
		       "    id: rng0\n"
		       "    pci: \"00:05.0\"\n"
		       "    rate-limit: 100\n"
		       "    dma: foreign\n",
		       true, false);
	transport_case("devices:\n"
		       "  - type: virtio-rng\n"
		       "    id: rng0\n"
		       "    mmio: 0xfe000000\n"
		       "    irq: 5\n"
		       "    rate-limit: 100\n"
		       "    dma: grant\n",
		       false, true);
	transport_case("devices:\n"
		       "  - type: virtio-rng\n"
		       "    id: rng0\n"
		       "    pci: \"00:05.0\"\n"
		       "    rate-limit: 100\n"
		       "    dma: grant\n",
		       true, true);
	/* dma: grant where the core has no grant services: refused. */
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	cfg = load("devices:\n"
		   "  - type: virtio-rng\n"
		   "    id: rng0\n"
		   "    pci: \"00:05.0\"\n"
		   "    dma: grant\n");
	CHECK_EQ(device_type_find("virtio-rng")
			 ->create(&cfg->devices[0], &f.svc, &dev),
		 -EOPNOTSUPP);
	CHECK(dev == NULL);
	cfg_free(cfg);
	fake_services_fini(&f);
}

int
main(void)
{
	test_params();
	test_features();
	test_random_bytes();
	test_chained_and_indirect();
	test_bad_chains();
	test_broken_ring();
	test_rate_limit();
	test_rate_limit_small();
	test_entropy_not_ready();
	test_reset_in_flight();
	test_round_budget();
	test_transient_ring_error();
	test_random_hostile();
	test_transports();
	return test_finish();
}
