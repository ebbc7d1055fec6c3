/*
 * virtio-rng (virtio 1.2, section 5.4): device id 4, one request queue,
 * no feature bits and no configuration space of its own.  Each chain
 * the driver makes available is filled with bytes from getrandom(2) and
 * returned with the number of bytes written.  Transport-free: the
 * device type's create puts it behind virtio-pci or virtio-mmio as the
 * config entry says (virtio_transport_create()).
 *
 * Never blocking the loop:
 *   - getrandom is called with GRND_NONBLOCK.  EAGAIN (the kernel pool
 *     is not initialised yet, early boot of the host) or another error
 *     leaves the chain held, unanswered, and a timer tries again; a short
 *     read is taken as it is: the spec lets the device use less than the
 *     whole buffer (5.4.6.2), so a chain goes back as soon as it holds
 *     one byte or more.
 *   - one round fills at most RNG_ROUND_BYTES or RNG_ROUND_CHAINS, then
 *     continues as deferred work in the loop's next round.
 *   - `rate-limit: N` is a token bucket of N bytes per second holding
 *     one second's worth (full at start).  An empty bucket holds the
 *     chain and arms a timer for the moment enough tokens are back (at
 *     least RNG_WAKE_DIVISOR-th of a second's worth, so a fast limit
 *     does not wake the loop for every byte); no sleeping.  The bucket
 *     survives a device reset, so resetting buys a guest nothing.
 *
 * Guest mistakes (the driver MUST NOT put device-readable buffers in the
 * queue, 5.4.6.1): a chain with any device-readable descriptor is
 * returned with 0 bytes written and nothing filled; a chain of no
 * writable bytes is returned with 0; a buffer outside guest memory ends
 * the fill, and the chain is returned with the bytes written before it.
 * Each is counted and logged, rate-limited.  What breaks the ring itself
 * (loops, bad indices, nested tables) is the virtqueue's -EIO: the device
 * sets DEVICE_NEEDS_RESET and stops until the driver resets it.  A ring
 * the core cannot map again for now (after it revoked the mappings) is
 * retried by the timer, a filled chain kept until its push succeeds.
 *
 * The spec defines no feature bits for it, so nothing of it is left
 * out; entropy comes from the kernel only.
 */
#include "devices/virtio/virtio-rng.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config/cfg.h"
#include "devices/registry.h"
#include "devices/virtio/virtio-mmio.h"
#include "lib/container.h"
#include "lib/log.h"

#define RNG_QUEUE	 0
#define RNG_CHUNK	 4096u	       /* bytes per getrandom call */
#define RNG_ROUND_BYTES	 (256u * 1024) /* per loop round */
#define RNG_ROUND_CHAINS 256u
#define RNG_RETRY_USEC	 100000u /* entropy not ready: try again */
#define RNG_WAKE_DIVISOR 10u
#define USEC_PER_SEC	 1000000ull

struct virtio_rng_stats {
	uint64_t bytes;		/* random bytes given to the guest */
	uint64_t chains;	/* chains returned */
	uint64_t bad_chains;	/* with device-readable descriptors */
	uint64_t empty_chains;	/* no writable bytes */
	uint64_t faults;	/* buffers outside guest memory */
	uint64_t entropy_waits; /* getrandom said EAGAIN or failed */
	uint64_t short_reads;	/* getrandom gave fewer bytes */
	uint64_t throttled;	/* the bucket was empty */
};

struct virtio_rng {
	struct virtio_dev vd;
	const struct device_events *ev;
	struct device_timer *timer; /* refill or entropy retry */
	struct device_work more;    /* a round's budget ran out */
	ssize_t (*entropy)(void *buf, size_t len);

	int source_error;      /* errno of the last failed read */
	bool held;	       /* chain popped, not returned yet */
	bool filled;	       /* ... filled, its push failed for now */
	uint32_t filled_len;   /* ... with this many bytes */
	struct vq_chain chain; /* ... this one */

	uint64_t rate;	     /* bytes per second, 0: no limit */
	uint64_t tokens;     /* in millionths of a byte */
	uint64_t tokens_max; /* rate bytes, in the same unit */
	uint64_t last_usec;  /* when tokens were last added */

	struct virtio_rng_stats stats;
	struct log_ratelimit rl;
	uint8_t buf[RNG_CHUNK];
};

static struct virtio_rng *
to_rng(struct virtio_dev *vd)
{
	return container_of(vd, struct virtio_rng, vd);
}

static uint64_t
now_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static ssize_t
entropy_getrandom(void *buf, size_t len)
{
	return getrandom(buf, len, GRND_NONBLOCK);
}

/* Tokens for the time since the last refill, up to a full bucket. */
static void
bucket_refill(struct virtio_rng *r)
{
	uint64_t now = now_usec(), elapsed = now - r->last_usec;

	r->last_usec = now;
	/* A second refills the bucket: no overflow past that. */
	if (elapsed >= USEC_PER_SEC ||
	    elapsed * r->rate >= r->tokens_max - r->tokens)
		r->tokens = r->tokens_max;
	else
		r->tokens += elapsed * r->rate;
}

/* Whole bytes the bucket allows now. */
static uint64_t
bucket_bytes(struct virtio_rng *r)
{
	if (r->rate == 0)
		return UINT64_MAX;
	bucket_refill(r);
	return r->tokens / USEC_PER_SEC;
}

static void
bucket_take(struct virtio_rng *r, uint64_t bytes)
{
	if (r->rate != 0)
		r->tokens -= bytes * USEC_PER_SEC;
}

/* Microseconds until the bucket holds enough for the held chain. */
static uint64_t
bucket_wait_usec(const struct virtio_rng *r)
{
	uint64_t want = r->rate / RNG_WAKE_DIVISOR, need;

	if (want > r->chain.writable_len)
		want = r->chain.writable_len;
	if (want == 0)
		want = 1;
	need = want * USEC_PER_SEC;
	if (need <= r->tokens)
		return 1;
	return (need - r->tokens + r->rate - 1) / r->rate;
}

/*
 * Random bytes, up to len: > 0 bytes, or -errno (-EAGAIN when the
 * source has none yet).
 */
static ssize_t
entropy_read(struct virtio_rng *r, void *buf, size_t len)
{
	for (unsigned tries = 0; tries < 3; tries++) {
		ssize_t n = r->entropy(buf, len);

		if (n > 0)
			return n > (ssize_t)len ? (ssize_t)len : n;
		if (n == 0)
			return -EAGAIN;
		if (errno != EINTR)
			return errno ? -errno : -EIO;
	}
	return -EAGAIN;
}

/* How filling a chain ended. */
enum fill_end {
	FILL_DONE,   /* as many bytes as asked or the chain holds */
	FILL_SHORT,  /* the source gave fewer: return what is there */
	FILL_SOURCE, /* the source failed (r->source_error) */
	FILL_FAULT,  /* a buffer outside guest memory */
};

/*
 * Write up to max bytes into the held chain's (writable) buffers; the
 * count written goes to *ret_len.
 */
static enum fill_end
fill_chain(struct virtio_rng *r, uint64_t max, uint32_t *ret_len)
{
	const struct device_services *svc = r->vd.svc;
	uint64_t done = 0;

	*ret_len = 0;
	for (unsigned i = r->chain.readable_count;
	     i < r->chain.count && done < max; i++) {
		const struct vq_elem *e = &r->chain.elem[i];

		for (uint32_t off = 0; off < e->len && done < max;) {
			size_t want = e->len - off;
			ssize_t n;

			if (want > max - done)
				want = (size_t)(max - done);
			if (want > sizeof(r->buf))
				want = sizeof(r->buf);
			n = entropy_read(r, r->buf, want);
			if (n < 0) {
				r->source_error = (int)-n;
				return FILL_SOURCE;
			}
			if (!svc->guest_write ||
			    svc->guest_write(svc->opaque, e->gpa + off, r->buf,
					     (size_t)n) < 0)
				return FILL_FAULT;
			off += (uint32_t)n;
			done += (uint64_t)n;
			*ret_len = (uint32_t)done;
			if ((size_t)n < want) {
				r->stats.short_reads++;
				return FILL_SHORT;
			}
		}
	}
	return FILL_DONE;
}

static void
wait_for(struct virtio_rng *r, uint64_t usec)
{
	(void)device_timer_arm(r->ev, r->timer, usec);
}

/*
 * Return the held chain with len bytes.  false when the round has to
 * stop: the ring broke, or the push failed for now (the ring could not
 * be mapped again after the core revoked it): the chain then stays held,
 * filled, and a timer retries the push.
 */
static bool
chain_return(struct virtio_rng *r, uint32_t len)
{
	struct virtqueue *vq = virtio_vq(&r->vd, RNG_QUEUE);
	int rc = virtqueue_push(vq, r->chain.head, len);

	if (rc < 0 && rc != -EIO && rc != -EINVAL) {
		r->filled = true;
		r->filled_len = len;
		wait_for(r, RNG_RETRY_USEC);
		return false;
	}
	r->held = r->filled = false;
	if (rc == -EIO)
		virtio_needs_reset(&r->vd, vq_error_name(virtqueue_error(vq)));
	if (rc < 0)
		return false;
	r->stats.chains++;
	r->stats.bytes += len;
	return true;
}

/* Is the held chain one the device may fill?  If not, return it empty. */
static bool
chain_check(struct virtio_rng *r)
{
	if (r->chain.readable_count > 0) {
		r->stats.bad_chains++;
		log_ratelimited(&r->rl, LOG_LEVEL_WARNING,
				"%s: request %u has device-readable buffers; "
				"returned unfilled",
				r->vd.id, (unsigned)r->chain.head);
		(void)chain_return(r, 0);
		return false;
	}
	if (r->chain.writable_len == 0) {
		r->stats.empty_chains++;
		(void)chain_return(r, 0);
		return false;
	}
	return true;
}

/* Pop the next chain into r->chain: 0, -EAGAIN (none) or another -errno. */
static int
chain_pop(struct virtio_rng *r)
{
	struct virtqueue *vq = virtio_vq(&r->vd, RNG_QUEUE);
	int rc = virtqueue_pop(vq, &r->chain);

	if (rc == -EIO)
		virtio_needs_reset(&r->vd, vq_error_name(virtqueue_error(vq)));
	if (rc == 0)
		r->held = true;
	return rc;
}


/*
 * Fill the held chain with what the bucket allows; false when the
 * round has to stop here (waiting for tokens or the source, or broken).
 */
static bool
serve_one(struct virtio_rng *r, uint64_t *budget)
{
	uint64_t allowed = bucket_bytes(r);
	enum fill_end end;
	uint32_t len;

	if (allowed == 0) {
		r->stats.throttled++;
		wait_for(r, bucket_wait_usec(r));
		return false;
	}
	if (allowed > *budget)
		allowed = *budget;
	end = fill_chain(r, allowed, &len);
	bucket_take(r, len);
	*budget -= len;
	if (end == FILL_SOURCE && len == 0) {
		r->stats.entropy_waits++;
		log_ratelimited(&r->rl, LOG_LEVEL_WARNING,
				"%s: no random bytes from the kernel: %s; "
				"request waits",
				r->vd.id, strerror(r->source_error));
		wait_for(r, RNG_RETRY_USEC);
		return false;
	}
	if (end == FILL_FAULT) {
		r->stats.faults++;
		log_ratelimited(&r->rl, LOG_LEVEL_WARNING,
				"%s: request %u has a buffer outside guest "
				"memory; returned with %u bytes",
				r->vd.id, (unsigned)r->chain.head,
				(unsigned)len);
	}
	return chain_return(r, len);
}

/* One round: fill chains until none is left or the round must end. */
static void
rng_serve(struct virtio_rng *r)
{
	uint64_t budget = RNG_ROUND_BYTES;
	unsigned chains = 0;
	bool pushed = false;

	if (!virtio_queue_usable(&r->vd, RNG_QUEUE))
		return;
	device_timer_cancel(r->ev, r->timer);
	for (;;) {
		if (budget == 0 || chains >= RNG_ROUND_CHAINS) {
			device_defer(r->ev, &r->more);
			break;
		}
		if (!r->held) {
			int rc = chain_pop(r);

			if (rc != 0 && rc != -EAGAIN && rc != -EIO)
				wait_for(r, RNG_RETRY_USEC); /* remap later */
			if (rc != 0)
				break;
		}
		chains++;
		if (r->filled) {
			if (!chain_return(r, r->filled_len))
				break;
			pushed = true;
			continue;
		}
		if (!chain_check(r)) {
			pushed = true;
			continue;
		}
		if (!serve_one(r, &budget))
			break;
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(&r->vd, RNG_QUEUE);
}

static void
rng_queue_notify(struct virtio_dev *vd, unsigned q)
{
	if (q == RNG_QUEUE)
		rng_serve(to_rng(vd));
}

static void
on_timer(void *arg)
{
	rng_serve(arg);
}

static void
on_more(struct device_work *work)
{
	rng_serve(container_of(work, struct virtio_rng, more));
}

/* Drop the held chain (it is never returned) and stop waiting. */
static void
rng_forget(struct virtio_rng *r)
{
	r->held = r->filled = false;
	device_timer_cancel(r->ev, r->timer);
	device_work_cancel(r->ev, &r->more);
}

static void
rng_queue_stop(struct virtio_dev *vd, unsigned q)
{
	if (q == RNG_QUEUE)
		rng_forget(to_rng(vd));
}

static void
rng_reset(struct virtio_dev *vd)
{
	rng_forget(to_rng(vd));
}

static void
rng_stats(const struct virtio_dev *vd, const struct device_stats_writer *w)
{
	const struct virtio_rng *r = container_of(vd, struct virtio_rng, vd);

	device_stats_emit(w, "rng_bytes", r->stats.bytes);
	device_stats_emit(w, "rng_chains", r->stats.chains);
	device_stats_emit(w, "rng_bad_chains", r->stats.bad_chains);
	device_stats_emit(w, "rng_empty_chains", r->stats.empty_chains);
	device_stats_emit(w, "rng_faults", r->stats.faults);
	device_stats_emit(w, "rng_entropy_waits", r->stats.entropy_waits);
	device_stats_emit(w, "rng_short_reads", r->stats.short_reads);
	device_stats_emit(w, "rng_throttled", r->stats.throttled);
}

static void
rng_destroy(struct virtio_dev *vd)
{
	struct virtio_rng *r = to_rng(vd);

	rng_forget(r);
	device_timer_free(r->ev, r->timer);
	free(r);
}

/* Entropy comes from the kernel; there is nothing to configure. */
static void
rng_describe(const struct virtio_dev *vd, const struct device_info_writer *w)
{
	(void)vd;
	device_info_str(w, "backend", "getrandom");
}

static const struct virtio_dev_ops rng_ops = {
	.queue_notify = rng_queue_notify,
	.queue_stop = rng_queue_stop,
	.reset = rng_reset,
	.stats = rng_stats,
	.describe = rng_describe,
	.destroy = rng_destroy,
};

int
virtio_rng_new(const struct device_services *svc,
	       const struct virtio_rng_params *params,
	       struct virtio_dev **ret_vd)
{
	struct virtio_dev_params p = {
		.device_id = VIRTIO_ID_RNG,
		.num_queues = 1,
		.queue_size_max = VIRTIO_RNG_QUEUE_SIZE,
	};
	struct virtio_rng *r;
	int rc;

	if (!svc || !svc->events || !params || !ret_vd ||
	    params->rate_limit > VIRTIO_RNG_RATE_MAX)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	p.id = params->id ? params->id : "virtio-rng";
	p.access_platform = params->access_platform;
	rc = virtio_dev_init(&r->vd, &rng_ops, svc, &p);
	if (rc < 0)
		goto err_free;
	r->ev = svc->events;
	rc = device_timer_new(r->ev, on_timer, r, &r->timer);
	if (rc < 0)
		goto err_free;
	device_work_init(&r->more, on_more);
	r->entropy = params->entropy ? params->entropy : entropy_getrandom;
	r->rate = params->rate_limit;
	r->tokens_max = r->rate * USEC_PER_SEC;
	r->tokens = r->tokens_max;
	r->last_usec = now_usec();
	*ret_vd = &r->vd;
	return 0;

err_free:
	free(r);
	return rc;
}

static const struct cfg_extra_key rng_extra_keys[] = {
	VIRTIO_CFG_EXTRA_KEYS,
	{
		.name = "rate-limit",
		.type = CFG_EXTRA_UINT,
		.max = VIRTIO_RNG_RATE_MAX,
		.default_value = "0",
	},
	{ .name = NULL },
};

static int
rng_create(const struct cfg_device *cfg, const struct device_services *svc,
	   struct device **ret_dev)
{
	const struct cfg_extra_value *rate;
	struct virtio_rng_params params = { 0 };
	const struct device_services *dma;
	struct virtio_dev *vd;
	int rc;

	if (!cfg || !svc || !ret_dev)
		return -EINVAL;
	dma = virtio_dma_services(cfg, svc);
	if (!dma)
		return -EOPNOTSUPP;
	rate = cfg_device_extra(cfg, "rate-limit");
	params.id = cfg->id;
	params.access_platform = virtio_cfg_grant(cfg);
	params.rate_limit = rate && rate->set ? rate->num : 0;
	rc = virtio_rng_new(dma, &params, &vd);
	if (rc < 0)
		return rc;
	rc = virtio_transport_create(cfg, &virtio_rng_type, svc, vd, ret_dev);
	if (rc < 0) {
		virtio_dev_fini(vd);
		vd->ops->destroy(vd);
	}
	return rc;
}

static const struct cfg_type_desc rng_cfg = {
	.name = "virtio-rng",
	.keys = CFG_KEY_PCI | CFG_KEY_MMIO | CFG_KEY_IRQ,
	.placement = CFG_KEY_PCI | CFG_KEY_MMIO,
	VIRTIO_MMIO_CFG_DESC,
	.extra_keys = rng_extra_keys,
};

const struct device_type virtio_rng_type = {
	.name = "virtio-rng",
	.cfg = &rng_cfg,
	.create = rng_create,
};
