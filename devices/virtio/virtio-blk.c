/*
 * virtio-blk (virtio 1.2, section 5.2) backed by a raw image file through
 * io_uring (blk-image.h).  One virtqueue per `queues:` (VIRTIO_BLK_F_MQ),
 * all feeding one ring of VIRTIO_BLK_DEPTH requests; requests complete in
 * whatever order the kernel finishes them.
 *
 * A request is a byte stream, not a descriptor layout (2.6.4): the first
 * 16 device-readable bytes are the header, the rest of the readable
 * bytes the data of a write (or the segments of a discard), the
 * device-writable bytes but the last the data of a read (or the id), and
 * the last writable byte the status.  Data is read and written in place:
 * each piece of guest memory is mapped (guest_map) and handed to the
 * kernel as an iovec, so the kernel copies straight between the image
 * and guest RAM.  Where mapping is refused for want of pins or segments
 * (-EBUSY, -E2BIG), the data goes through a bounce buffer copied with
 * guest_read / guest_write instead, bounded by VBLK_BOUNCE_BUDGET bytes
 * in flight.
 *
 * Guest mistakes, and what the driver sees (5.2.6.1):
 *   - no writable byte for the status: the chain is returned with a used
 *     length of 0 and nothing written (there is nowhere to say IOERR);
 *   - a header shorter than 16 bytes, data in the wrong direction, a
 *     length not a multiple of 512, sectors beyond the disk, memory
 *     outside guest RAM, a kernel error: VIRTIO_BLK_S_IOERR;
 *   - a write, discard or write zeroes on a read-only disk:
 *     VIRTIO_BLK_S_IOERR, and the image is not touched;
 *   - an unknown type, discard or write zeroes not negotiated, unknown
 *     segment flags, or discard with the unmap flag: VIRTIO_BLK_S_UNSUPP;
 *   - a broken ring (virtqueue -EIO): DEVICE_NEEDS_RESET.
 * Each is counted and logged, rate-limited.
 *
 * Reset, queue stop and destroy cancel what is in flight and wait for
 * it (blk_image_cancel): once they return, the kernel holds no pointer
 * into guest memory and no completion will push a used element.
 *
 * Left out: VIRTIO_BLK_F_GEOMETRY, TOPOLOGY, CONFIG_WCE (the cache
 * mode is fixed by `cache:`; with FLUSH the driver treats the disk as
 * writeback either way), LIFETIME, SECURE_ERASE, zoned devices; discard
 * and write zeroes take one segment per request.
 */
#include "devices/virtio/virtio-blk.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/cfg.h"
#include "devices/guest-mem.h"
#include "devices/virtio/blk-image.h"
#include "devices/registry.h"
#include "devices/virtio/virtio-mmio.h"
#include "lib/container.h"
#include "lib/le.h"
#include "lib/log.h"

#define SECTOR 512u
/* The largest data of one read or write the config promises. */
#define VBLK_DATA_MAX ((uint64_t)VIRTIO_BLK_SEG_MAX * VIRTIO_BLK_SIZE_MAX)
/* Bounce bytes in flight before the queues wait for completions. */
#define VBLK_BOUNCE_BUDGET (32u << 20)
/* Bytes one small copy to or from a chain may take (header, id). */
#define VBLK_SMALL_COPY 32u
/*
 * Data pieces a pooled request holds without allocating (a 4 KiB read or
 * write is one; a guest splitting at pages makes one per page), and the
 * iovec entries they may map to.  Longer chains allocate their lists.
 */
#define VBLK_INLINE_PIECES 4u
#define VBLK_INLINE_IOV	   (VBLK_INLINE_PIECES * GUEST_SG_MAX)

struct vblk_stats {
	uint64_t reads, writes, flushes, get_ids, discards, write_zeroes;
	uint64_t ioerr;	      /* requests answered VIRTIO_BLK_S_IOERR */
	uint64_t unsupp;      /* ... VIRTIO_BLK_S_UNSUPP */
	uint64_t no_status;   /* chains without a writable status byte */
	uint64_t bad_layout;  /* short header, wrong direction, ... */
	uint64_t ro_writes;   /* writes refused on a read-only disk */
	uint64_t bounced;     /* data copied instead of mapped */
	uint64_t dropped;     /* in flight at reset or queue stop */
	uint64_t waits;	      /* a queue stopped for room (depth, bounce) */
	uint64_t pool_allocs; /* request pools allocated (queue starts) */
	uint64_t heap_lists;  /* requests too long for the inline lists */
};

struct vblk_req;

/*
 * Queue q's requests: one per ring entry, allocated at the queue's first
 * notify (its size is fixed while it is enabled) and freed when it stops
 * or the device resets, after blk_image_cancel() gave every one back.  A
 * driver that keeps the rules has at most `size` heads outstanding, so
 * the free list never runs dry; one that reuses heads in flight finds
 * the queue waiting for a completion (has_room), with the head left in
 * the avail ring.
 */
struct vblk_pool {
	struct vblk_req *reqs; /* size of them, NULL while stopped */
	struct vblk_req *free; /* linked through next_free */
	unsigned size;
	unsigned used; /* taken, not yet given back */
};

struct virtio_blk {
	struct virtio_dev vd;
	char id[CFG_ID_MAX + 1]; /* vd.id points here: the config goes away */
	struct blk_image *img;
	uint8_t config[VIRTIO_BLK_CFG_SIZE]; /* struct virtio_blk_config */
	uint64_t capacity;		     /* sectors */
	bool read_only;
	char serial[VIRTIO_BLK_ID_BYTES]; /* zero-padded, no NUL needed */

	struct vq_chain chain; /* the chain being looked at */
	uint32_t notify_mask;  /* queues with pushes not yet signalled */
	uint32_t starved;      /* queues that stopped for want of room */
	struct device_work retry_work;
	size_t bounce_bytes; /* in flight */
	/* Completions that arrive now are dropped, not pushed. */
	bool dropping_all;
	bool dropping;
	unsigned drop_q;

	struct vblk_pool pool[VIRTIO_BLK_QUEUES_MAX];
	struct vblk_stats stats;
	struct log_ratelimit rl;
	char *path;  /* the image's, for describe and blockdev_change */
	bool direct; /* `cache: none`, for a new image */
};

/* One piece of a chain's byte stream in guest memory. */
struct piece {
	uint64_t gpa;
	size_t len;
};

struct vblk_req {
	struct blk_image_req ir;
	struct virtio_blk *blk;
	struct vblk_req *next_free; /* in the pool's free list */
	unsigned q;
	uint16_t head;
	bool to_guest;	     /* a read: data goes to the guest */
	uint64_t status_gpa; /* the status byte */
	size_t data_len;
	unsigned piece_count;
	struct piece *pieces; /* inline_pieces, or allocated */
	unsigned sg_count;    /* mapped so far */
	struct guest_sg *sg;  /* inline_sg, or allocated */
	unsigned iov_count;
	struct iovec *iov; /* inline_iov, or allocated */
	size_t iov_max;	   /* entries at iov */
	void *bounce;	   /* the data when not mapped, else NULL */

	struct piece inline_pieces[VBLK_INLINE_PIECES];
	struct guest_sg inline_sg[VBLK_INLINE_PIECES];
	struct iovec inline_iov[VBLK_INLINE_IOV];
};

/*
 * Bytes [off, off + len) of the chain's readable (or writable) stream as
 * pieces of guest memory, at most max of them.  The count, or -E2BIG.
 * The caller made sure the stream is long enough.
 */
static int
chain_pieces(const struct vq_chain *c, bool writable, uint64_t off,
	     uint64_t len, struct piece *out, unsigned max)
{
	unsigned first = writable ? c->readable_count : 0;
	unsigned last = writable ? c->count : c->readable_count;
	unsigned n = 0;

	for (unsigned i = first; i < last && len; i++) {
		uint64_t take;

		if (off >= c->elem[i].len) {
			off -= c->elem[i].len;
			continue;
		}
		take = c->elem[i].len - off;
		if (take > len)
			take = len;
		if (n == max)
			return -E2BIG;
		out[n++] = (struct piece){ c->elem[i].gpa + off, (size_t)take };
		len -= take;
		off = 0;
	}
	return (int)n;
}

/* Copy a few bytes out of (or into) the chain's stream: 0 or -EFAULT. */
static int
stream_copy(struct virtio_blk *blk, bool writable, uint64_t off, void *buf,
	    size_t len)
{
	const struct device_services *svc = blk->vd.svc;
	struct piece p[VBLK_SMALL_COPY];
	int n = chain_pieces(&blk->chain, writable, off, len, p,
			     VBLK_SMALL_COPY);
	size_t o = 0;

	for (int i = 0; i < n; i++) {
		int r = writable ? svc->guest_write(svc->opaque, p[i].gpa,
						    (char *)buf + o, p[i].len) :
				   svc->guest_read(svc->opaque, p[i].gpa,
						   (char *)buf + o, p[i].len);

		if (r < 0)
			return -EFAULT;
		o += p[i].len;
	}
	return n < 0 || o != len ? -EFAULT : 0;
}

/* The status byte is the last writable byte of the chain. */
static bool
find_status(const struct vq_chain *c, uint64_t *ret_gpa)
{
	for (unsigned i = c->count; i > c->readable_count; i--)
		if (c->elem[i - 1].len) {
			*ret_gpa = c->elem[i - 1].gpa + c->elem[i - 1].len - 1;
			return true;
		}
	return false;
}

/*
 * Answer a chain: status byte, used element.  written counts what the
 * device wrote (data and status); a status that cannot be written makes
 * it 0.  The interrupt comes with the batch (notify_mask).
 */
static void
answer(struct virtio_blk *blk, unsigned q, uint16_t head, uint64_t status_gpa,
       uint8_t status, uint32_t written)
{
	const struct device_services *svc = blk->vd.svc;
	struct virtqueue *vq = virtio_vq(&blk->vd, q);

	if (status == VIRTIO_BLK_S_IOERR)
		blk->stats.ioerr++;
	else if (status == VIRTIO_BLK_S_UNSUPP)
		blk->stats.unsupp++;
	if (svc->guest_write(svc->opaque, status_gpa, &status, 1) < 0)
		written = 0;
	if (virtqueue_push(vq, head, written) == -EIO)
		virtio_needs_reset(&blk->vd,
				   vq_error_name(virtqueue_error(vq)));
	blk->notify_mask |= 1u << q;
}

static void
bad_request(struct virtio_blk *blk, unsigned q, uint64_t status_gpa,
	    uint8_t status, const char *why)
{
	blk->stats.bad_layout++;
	log_ratelimited(&blk->rl, LOG_LEVEL_WARNING,
			"%s: queue %u request %u: %s; answering %s", blk->vd.id,
			q, (unsigned)blk->chain.head, why,
			status == VIRTIO_BLK_S_UNSUPP ? "UNSUPP" : "IOERR");
	answer(blk, q, blk->chain.head, status_gpa, status, 1);
}

/* Give req back to its pool, with its mappings and memory. */
static void
req_free(struct vblk_req *req)
{
	const struct device_services *svc = req->blk->vd.svc;
	struct vblk_pool *pool = &req->blk->pool[req->q];

	for (unsigned i = 0; i < req->sg_count; i++)
		svc->guest_unmap(svc->opaque, &req->sg[i]);
	if (req->bounce)
		req->blk->bounce_bytes -= req->data_len;
	free(req->bounce);
	if (req->sg != req->inline_sg)
		free(req->sg);
	if (req->iov != req->inline_iov)
		free(req->iov);
	if (req->pieces != req->inline_pieces)
		free(req->pieces);
	req->next_free = pool->free;
	pool->free = req;
	pool->used--;
}

static void
pool_free(struct vblk_pool *pool)
{
	/* blk_image_cancel() came first: every request is back. */
	assert(pool->used == 0);
	free(pool->reqs);
	*pool = (struct vblk_pool){ 0 };
}

/* Queue q's pool, made for its size on first use: 0 or -ENOMEM. */
static int
pool_ensure(struct virtio_blk *blk, unsigned q)
{
	struct vblk_pool *pool = &blk->pool[q];
	unsigned size = virtio_vq(&blk->vd, q)->size;

	if (pool->reqs)
		return 0;
	pool->reqs = calloc(size, sizeof(*pool->reqs));
	if (!pool->reqs)
		return -ENOMEM;
	pool->size = size;
	for (unsigned i = size; i-- > 0;) {
		pool->reqs[i].next_free = pool->free;
		pool->free = &pool->reqs[i];
	}
	blk->stats.pool_allocs++;
	return 0;
}

/* Copy between the bounce buffer and the guest's pieces: 0 or -EFAULT. */
static int
bounce_copy(struct vblk_req *req, bool to_guest)
{
	const struct device_services *svc = req->blk->vd.svc;
	size_t o = 0;

	for (unsigned i = 0; i < req->piece_count; i++) {
		const struct piece *p = &req->pieces[i];
		char *b = (char *)req->bounce + o;
		int r = to_guest ?
				svc->guest_write(svc->opaque, p->gpa, b,
						 p->len) :
				svc->guest_read(svc->opaque, p->gpa, b, p->len);

		if (r < 0)
			return -EFAULT;
		o += p->len;
	}
	return 0;
}

static void vblk_report_io_error(struct virtio_blk *blk, int result);

static void
req_done(struct blk_image_req *ir, int result)
{
	struct vblk_req *req = container_of(ir, struct vblk_req, ir);
	struct virtio_blk *blk = req->blk;
	uint8_t status = result >= 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
	uint32_t written = 1;

	if (blk->dropping_all || (blk->dropping && blk->drop_q == req->q)) {
		blk->stats.dropped++;
		req_free(req);
		return;
	}
	if (status == VIRTIO_BLK_S_OK && req->to_guest && req->bounce &&
	    bounce_copy(req, true) < 0)
		status = VIRTIO_BLK_S_IOERR;
	if (status == VIRTIO_BLK_S_OK && req->to_guest)
		written += (uint32_t)req->data_len;
	if (result < 0) {
		log_ratelimited(&blk->rl, LOG_LEVEL_WARNING,
				"%s: queue %u request %u: %s; answering IOERR",
				blk->vd.id, req->q, (unsigned)req->head,
				strerror(-result));
		vblk_report_io_error(blk, result);
	}
	/* The kernel is done with the buffers: let them go first. */
	answer(blk, req->q, req->head, req->status_gpa, status, written);
	req_free(req);
}

/*
 * A request from queue q's pool, or NULL (the pool could not be made;
 * has_room kept the queue from popping while it is empty).
 */
static struct vblk_req *
req_new(struct virtio_blk *blk, unsigned q, uint64_t status_gpa)
{
	struct vblk_pool *pool = &blk->pool[q];
	struct vblk_req *req = pool->free;

	if (!req)
		return NULL;
	pool->free = req->next_free;
	pool->used++;
	/* Only the fields before the inline lists: they are overwritten. */
	memset(req, 0, offsetof(struct vblk_req, inline_pieces));
	req->pieces = req->inline_pieces;
	req->sg = req->inline_sg;
	req->iov = req->inline_iov;
	req->iov_max = VBLK_INLINE_IOV;
	req->ir.done = req_done;
	req->ir.group = q;
	req->blk = blk;
	req->q = q;
	req->head = blk->chain.head;
	req->status_gpa = status_gpa;
	return req;
}

/*
 * Map the data pieces in place; 0, -EFAULT (outside guest memory), or
 * another error after which the caller bounces (nothing stays mapped).
 */
static int
map_pieces(struct vblk_req *req)
{
	const struct device_services *svc = req->blk->vd.svc;
	size_t iov_max = (size_t)req->piece_count * GUEST_SG_MAX;
	int r = 0;

	if (!svc->guest_map || !svc->guest_unmap)
		return -EOPNOTSUPP;
	if (iov_max > BLK_IMAGE_IOV_MAX)
		iov_max = BLK_IMAGE_IOV_MAX;
	if (req->piece_count > VBLK_INLINE_PIECES) {
		req->sg = calloc(req->piece_count, sizeof(*req->sg));
		if (!req->sg)
			return -ENOMEM;
	}
	if (iov_max > req->iov_max) {
		req->iov = calloc(iov_max, sizeof(*req->iov));
		if (!req->iov)
			return -ENOMEM;
		req->iov_max = iov_max;
	}
	for (unsigned i = 0; i < req->piece_count && r == 0; i++) {
		struct guest_sg *sg = &req->sg[i];

		r = svc->guest_map(svc->opaque, req->pieces[i].gpa,
				   req->pieces[i].len, req->to_guest, sg);
		if (r < 0)
			break;
		req->sg_count++;
		for (unsigned s = 0; s < sg->n && r == 0; s++) {
			if (req->iov_count == iov_max)
				r = -E2BIG;
			else
				req->iov[req->iov_count++] = (struct iovec){
					sg->seg[s].hva, sg->seg[s].len
				};
		}
	}
	if (r == 0)
		return 0;
	for (unsigned i = 0; i < req->sg_count; i++)
		svc->guest_unmap(svc->opaque, &req->sg[i]);
	req->sg_count = 0;
	req->iov_count = 0;
	return r;
}

/* Make the data reachable as req->iov: mapped, else bounced. */
static int
prepare_data(struct vblk_req *req)
{
	int r = map_pieces(req);

	if (r == 0 || r == -EFAULT)
		return r;
	if (posix_memalign(&req->bounce, 4096, req->data_len)) {
		req->bounce = NULL;
		return -ENOMEM;
	}
	req->blk->bounce_bytes += req->data_len;
	req->blk->stats.bounced++;
	if (!req->to_guest && bounce_copy(req, false) < 0)
		return -EFAULT;
	req->iov[0] = (struct iovec){ req->bounce, req->data_len };
	req->iov_count = 1;
	return 0;
}

/* Why a read or write cannot be done (NULL: it can), and its length. */
static const char *
rw_refusal(struct virtio_blk *blk, bool to_guest, uint64_t sector,
	   uint64_t *ret_len)
{
	const struct vq_chain *c = &blk->chain;
	uint64_t len;

	if (!to_guest && blk->read_only) {
		blk->stats.ro_writes++;
		return "write to a read-only disk";
	}
	if (to_guest ? c->readable_len != VIRTIO_BLK_HDR_SIZE :
		       c->writable_len != 1)
		return "data buffers in the wrong direction";
	len = to_guest ? c->writable_len - 1 :
			 c->readable_len - VIRTIO_BLK_HDR_SIZE;
	if (len % SECTOR || len > VBLK_DATA_MAX)
		return "data length not a multiple of 512 or too long";
	if (sector > blk->capacity || len / SECTOR > blk->capacity - sector)
		return "sectors beyond the end of the disk";
	*ret_len = len;
	return NULL;
}

/* Map (or bounce) the data of req and hand it to the image. */
static int
rw_submit(struct virtio_blk *blk, struct vblk_req *req, uint64_t sector)
{
	const struct vq_chain *c = &blk->chain;
	uint64_t off = req->to_guest ? 0 : VIRTIO_BLK_HDR_SIZE;
	/* No more pieces than writable (or readable) elements. */
	unsigned max = req->to_guest ? c->count - c->readable_count :
				       c->readable_count;
	int r;

	if (max > VBLK_INLINE_PIECES) {
		req->pieces = calloc(max, sizeof(*req->pieces));
		if (!req->pieces)
			return -ENOMEM;
		blk->stats.heap_lists++;
	}
	r = chain_pieces(c, req->to_guest, off, req->data_len, req->pieces,
			 max > VBLK_INLINE_PIECES ? max : VBLK_INLINE_PIECES);
	if (r <= 0)
		return r < 0 ? r : -EINVAL;
	req->piece_count = (unsigned)r;
	r = prepare_data(req);
	if (r < 0)
		return r;
	if (req->to_guest)
		return blk_image_readv(blk->img, &req->ir, req->iov,
				       req->iov_count, sector * SECTOR);
	return blk_image_writev(blk->img, &req->ir, req->iov, req->iov_count,
				sector * SECTOR);
}

/* A read (to_guest) or a write at sector. */
static void
do_rw(struct virtio_blk *blk, unsigned q, uint64_t status_gpa, bool to_guest,
      uint64_t sector)
{
	struct vblk_req *req;
	const char *why;
	uint64_t len = 0;
	int r;

	why = rw_refusal(blk, to_guest, sector, &len);
	if (why) {
		bad_request(blk, q, status_gpa, VIRTIO_BLK_S_IOERR, why);
		return;
	}
	if (to_guest)
		blk->stats.reads++;
	else
		blk->stats.writes++;
	if (len == 0) {
		answer(blk, q, blk->chain.head, status_gpa, VIRTIO_BLK_S_OK, 1);
		return;
	}
	req = req_new(blk, q, status_gpa);
	if (!req) {
		answer(blk, q, blk->chain.head, status_gpa, VIRTIO_BLK_S_IOERR,
		       1);
		return;
	}
	req->to_guest = to_guest;
	req->data_len = (size_t)len;
	r = rw_submit(blk, req, sector);
	if (r < 0) {
		req_free(req);
		bad_request(blk, q, status_gpa, VIRTIO_BLK_S_IOERR,
			    r == -EFAULT ? "data outside guest memory" :
					   strerror(-r));
	}
}

static void
do_flush(struct virtio_blk *blk, unsigned q, uint64_t status_gpa)
{
	struct vblk_req *req = req_new(blk, q, status_gpa);

	blk->stats.flushes++;
	if (!req || blk_image_flush(blk->img, &req->ir) < 0) {
		if (req)
			req_free(req);
		answer(blk, q, blk->chain.head, status_gpa, VIRTIO_BLK_S_IOERR,
		       1);
	}
}

static void
do_get_id(struct virtio_blk *blk, unsigned q, uint64_t status_gpa)
{
	const struct vq_chain *c = &blk->chain;

	blk->stats.get_ids++;
	if (c->writable_len - 1 < VIRTIO_BLK_ID_BYTES) {
		bad_request(blk, q, status_gpa, VIRTIO_BLK_S_IOERR,
			    "GET_ID buffer shorter than 20 bytes");
		return;
	}
	if (stream_copy(blk, true, 0, blk->serial, VIRTIO_BLK_ID_BYTES) < 0) {
		bad_request(blk, q, status_gpa, VIRTIO_BLK_S_IOERR,
			    "GET_ID buffer outside guest memory");
		return;
	}
	answer(blk, q, c->head, status_gpa, VIRTIO_BLK_S_OK,
	       VIRTIO_BLK_ID_BYTES + 1);
}

/* A discard or write zeroes segment (5.2.6). */
struct vblk_range {
	uint64_t sector;
	uint32_t count; /* sectors */
	uint32_t flags; /* VIRTIO_BLK_WZ_F_* */
};

/*
 * Why a discard or write zeroes cannot be done, and *ret_status the
 * answer; NULL when it can, with the segment in *ret.
 */
static const char *
range_refusal(struct virtio_blk *blk, bool discard, struct vblk_range *ret,
	      uint8_t *ret_status)
{
	const struct vq_chain *c = &blk->chain;
	uint8_t seg[16];

	*ret_status = VIRTIO_BLK_S_IOERR;
	/* A read-only disk is never written, offered the feature or not. */
	if (blk->read_only) {
		blk->stats.ro_writes++;
		return "write to a read-only disk";
	}
	*ret_status = VIRTIO_BLK_S_UNSUPP;
	if (!virtio_has_feature(&blk->vd, discard ? VIRTIO_BLK_F_DISCARD :
						    VIRTIO_BLK_F_WRITE_ZEROES))
		return "discard or write zeroes not negotiated";
	*ret_status = VIRTIO_BLK_S_IOERR;
	if (c->readable_len != VIRTIO_BLK_HDR_SIZE + sizeof(seg) ||
	    c->writable_len != 1)
		return "not one segment and a status byte";
	if (stream_copy(blk, false, VIRTIO_BLK_HDR_SIZE, seg, sizeof(seg)) < 0)
		return "segment outside guest memory";
	ret->sector = get_le64(seg);
	ret->count = get_le32(seg + 8);
	ret->flags = get_le32(seg + 12);
	*ret_status = VIRTIO_BLK_S_UNSUPP;
	if ((ret->flags & ~VIRTIO_BLK_WZ_F_UNMAP) ||
	    (discard && (ret->flags & VIRTIO_BLK_WZ_F_UNMAP)))
		return "segment flags not supported";
	*ret_status = VIRTIO_BLK_S_IOERR;
	if (ret->count > VIRTIO_BLK_MAX_DISCARD ||
	    ret->sector > blk->capacity ||
	    ret->count > blk->capacity - ret->sector)
		return "segment beyond the disk or too long";
	return NULL;
}

/* Discard and write zeroes: one segment per request. */
static void
do_fallocate(struct virtio_blk *blk, unsigned q, uint64_t status_gpa,
	     uint32_t type)
{
	bool discard = type == VIRTIO_BLK_T_DISCARD;
	struct vblk_range rg;
	struct vblk_req *req;
	const char *why;
	uint8_t status;
	uint64_t off, len;
	int r;

	if (discard)
		blk->stats.discards++;
	else
		blk->stats.write_zeroes++;
	why = range_refusal(blk, discard, &rg, &status);
	if (why) {
		bad_request(blk, q, status_gpa, status, why);
		return;
	}
	if (rg.count == 0) {
		answer(blk, q, blk->chain.head, status_gpa, VIRTIO_BLK_S_OK, 1);
		return;
	}
	off = rg.sector * SECTOR;
	len = (uint64_t)rg.count * SECTOR;
	req = req_new(blk, q, status_gpa);
	if (!req)
		r = -ENOMEM;
	else if (discard)
		r = blk_image_discard(blk->img, &req->ir, off, len);
	else
		r = blk_image_write_zeroes(blk->img, &req->ir, off, len,
					   rg.flags & VIRTIO_BLK_WZ_F_UNMAP);
	if (r < 0) {
		if (req)
			req_free(req);
		answer(blk, q, blk->chain.head, status_gpa, VIRTIO_BLK_S_IOERR,
		       1);
	}
}

static void
handle_chain(struct virtio_blk *blk, unsigned q)
{
	const struct vq_chain *c = &blk->chain;
	uint8_t hdr[VIRTIO_BLK_HDR_SIZE];
	uint64_t status_gpa;
	uint32_t type;

	if (!find_status(c, &status_gpa)) {
		struct virtqueue *vq = virtio_vq(&blk->vd, q);

		blk->stats.no_status++;
		log_ratelimited(&blk->rl, LOG_LEVEL_WARNING,
				"%s: queue %u request %u has no writable "
				"status byte; returned unanswered",
				blk->vd.id, q, (unsigned)c->head);
		if (virtqueue_push(vq, c->head, 0) == -EIO)
			virtio_needs_reset(&blk->vd,
					   vq_error_name(virtqueue_error(vq)));
		blk->notify_mask |= 1u << q;
		return;
	}
	if (c->readable_len < VIRTIO_BLK_HDR_SIZE) {
		bad_request(blk, q, status_gpa, VIRTIO_BLK_S_IOERR,
			    "header shorter than 16 bytes");
		return;
	}
	if (stream_copy(blk, false, 0, hdr, sizeof(hdr)) < 0) {
		bad_request(blk, q, status_gpa, VIRTIO_BLK_S_IOERR,
			    "header outside guest memory");
		return;
	}
	type = get_le32(hdr);
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		do_rw(blk, q, status_gpa, type == VIRTIO_BLK_T_IN,
		      get_le64(hdr + 8));
		break;
	case VIRTIO_BLK_T_FLUSH:
		do_flush(blk, q, status_gpa);
		break;
	case VIRTIO_BLK_T_GET_ID:
		do_get_id(blk, q, status_gpa);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		do_fallocate(blk, q, status_gpa, type);
		break;
	default:
		bad_request(blk, q, status_gpa, VIRTIO_BLK_S_UNSUPP,
			    "unknown request type");
		break;
	}
}

/*
 * May queue q pop another chain?  Room on the image, in the bounce
 * budget and in q's pool (a pool that could not be made lets the chains
 * through, to be answered IOERR).
 */
static bool
has_room(const struct virtio_blk *blk, unsigned q)
{
	const struct vblk_pool *pool = &blk->pool[q];

	return !blk_image_full(blk->img) &&
	       blk->bounce_bytes < VBLK_BOUNCE_BUDGET &&
	       (pool->free || !pool->reqs);
}

static void
flush_notifies(struct virtio_blk *blk)
{
	uint32_t mask = blk->notify_mask;

	blk->notify_mask = 0;
	for (unsigned q = 0; q < blk->vd.num_queues; q++)
		if (mask & (1u << q))
			virtio_notify_used(&blk->vd, q);
}

static void
vblk_queue_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_blk *blk = container_of(vd, struct virtio_blk, vd);
	struct virtqueue *vq = virtio_vq(vd, q);
	int r;

	if (pool_ensure(blk, q) < 0)
		log_ratelimited(&blk->rl, LOG_LEVEL_WARNING,
				"%s: queue %u: no memory for its requests",
				vd->id, q);
	for (;;) {
		if (!has_room(blk, q)) {
			/* A completion frees room and serves q again. */
			blk->starved |= 1u << q;
			blk->stats.waits++;
			break;
		}
		r = virtqueue_pop(vq, &blk->chain);
		if (r == -EIO) {
			virtio_needs_reset(vd,
					   vq_error_name(virtqueue_error(vq)));
			break;
		}
		if (r < 0)
			break; /* -EAGAIN: all served; else the next kick */
		handle_chain(blk, q);
	}
	blk_image_submit(blk->img);
	flush_notifies(blk);
}

/* After completions: one interrupt per queue, then what waited. */
static void
vblk_batch_done(void *ctx)
{
	struct virtio_blk *blk = ctx;
	bool retry = false;

	flush_notifies(blk);
	for (unsigned q = 0; q < blk->vd.num_queues && !retry; q++)
		retry = (blk->starved & (1u << q)) && has_room(blk, q);
	if (retry && blk->vd.svc->events)
		device_defer(blk->vd.svc->events, &blk->retry_work);
}

static void
vblk_retry(struct device_work *work)
{
	struct virtio_blk *blk = container_of(work, struct virtio_blk,
					      retry_work);
	uint32_t mask = blk->starved;

	blk->starved = 0;
	for (unsigned q = 0; q < blk->vd.num_queues; q++)
		if ((mask & (1u << q)) && virtio_queue_usable(&blk->vd, q))
			vblk_queue_notify(&blk->vd, q);
}

static void
vblk_queue_stop(struct virtio_dev *vd, unsigned q)
{
	struct virtio_blk *blk = container_of(vd, struct virtio_blk, vd);

	blk->dropping = true;
	blk->drop_q = q;
	blk_image_cancel(blk->img, false, q);
	blk->dropping = false;
	blk->starved &= ~(1u << q);
	blk->notify_mask &= ~(1u << q);
	pool_free(&blk->pool[q]);
}

static void
vblk_reset(struct virtio_dev *vd)
{
	struct virtio_blk *blk = container_of(vd, struct virtio_blk, vd);

	blk->dropping_all = true;
	blk_image_cancel(blk->img, true, 0);
	blk->dropping_all = false;
	blk->starved = 0;
	blk->notify_mask = 0;
	for (unsigned q = 0; q < VIRTIO_BLK_QUEUES_MAX; q++)
		pool_free(&blk->pool[q]);
	if (vd->svc->events)
		device_work_cancel(vd->svc->events, &blk->retry_work);
}

static void
vblk_stats(const struct virtio_dev *vd, const struct device_stats_writer *w)
{
	const struct virtio_blk *blk = container_of(vd, struct virtio_blk, vd);
	const struct blk_image_stats *is = blk_image_stats(blk->img);

	device_stats_emit(w, "blk_reads", blk->stats.reads);
	device_stats_emit(w, "blk_writes", blk->stats.writes);
	device_stats_emit(w, "blk_flushes", blk->stats.flushes);
	device_stats_emit(w, "blk_get_ids", blk->stats.get_ids);
	device_stats_emit(w, "blk_discards", blk->stats.discards);
	device_stats_emit(w, "blk_write_zeroes", blk->stats.write_zeroes);
	device_stats_emit(w, "blk_ioerr", blk->stats.ioerr);
	device_stats_emit(w, "blk_unsupp", blk->stats.unsupp);
	device_stats_emit(w, "blk_no_status", blk->stats.no_status);
	device_stats_emit(w, "blk_bad_layout", blk->stats.bad_layout);
	device_stats_emit(w, "blk_ro_writes", blk->stats.ro_writes);
	device_stats_emit(w, "blk_bounced", blk->stats.bounced);
	device_stats_emit(w, "blk_dropped", blk->stats.dropped);
	device_stats_emit(w, "blk_waits", blk->stats.waits);
	device_stats_emit(w, "blk_pool_allocs", blk->stats.pool_allocs);
	device_stats_emit(w, "blk_heap_lists", blk->stats.heap_lists);
	device_stats_emit(w, "blk_image_bytes_read", is->bytes_read);
	device_stats_emit(w, "blk_image_bytes_written", is->bytes_written);
	device_stats_emit(w, "blk_image_errors", is->errors);
	device_stats_emit(w, "blk_image_in_flight_max", is->in_flight_max);
}

static void
vblk_destroy(struct virtio_dev *vd)
{
	struct virtio_blk *blk = container_of(vd, struct virtio_blk, vd);

	/* What is still in flight goes back to the pools, unanswered. */
	blk->dropping_all = true;
	blk_image_close(blk->img);
	for (unsigned q = 0; q < VIRTIO_BLK_QUEUES_MAX; q++)
		pool_free(&blk->pool[q]);
	if (vd->svc && vd->svc->events)
		device_work_cancel(vd->svc->events, &blk->retry_work);
	free(blk->path);
	free(blk);
}

static void vblk_describe(const struct virtio_dev *vd,
			  const struct device_info_writer *w);
static int vblk_blockdev_change(struct virtio_dev *vd, const char *path,
				int read_only);

static const struct virtio_dev_ops vblk_ops = {
	.queue_notify = vblk_queue_notify,
	.queue_stop = vblk_queue_stop,
	.reset = vblk_reset,
	.stats = vblk_stats,
	.describe = vblk_describe,
	.blockdev_change = vblk_blockdev_change,
	.destroy = vblk_destroy,
};

static void
fill_config(struct virtio_blk *blk, unsigned queues)
{
	uint8_t *c = blk->config;
	unsigned bs = blk_image_block_size(blk->img);

	put_le64(c + VIRTIO_BLK_CFG_CAPACITY, blk->capacity);
	put_le32(c + VIRTIO_BLK_CFG_SIZE_MAX, VIRTIO_BLK_SIZE_MAX);
	put_le32(c + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX);
	put_le32(c + VIRTIO_BLK_CFG_BLK_SIZE, bs);
	put_le16(c + VIRTIO_BLK_CFG_NUM_QUEUES, (uint16_t)queues);
	put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS,
		 VIRTIO_BLK_MAX_DISCARD);
	put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 1);
	put_le32(c + VIRTIO_BLK_CFG_DISCARD_ALIGNMENT, bs / SECTOR);
	put_le32(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS,
		 VIRTIO_BLK_MAX_DISCARD);
	put_le32(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, 1);
	c[VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP] = 1;
}

static uint64_t
offered_features(bool read_only)
{
	uint64_t f = 1ull << VIRTIO_BLK_F_SIZE_MAX |
		     1ull << VIRTIO_BLK_F_SEG_MAX |
		     1ull << VIRTIO_BLK_F_BLK_SIZE |
		     1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_MQ;

	if (read_only)
		return f | 1ull << VIRTIO_BLK_F_RO;
	return f | 1ull << VIRTIO_BLK_F_DISCARD |
	       1ull << VIRTIO_BLK_F_WRITE_ZEROES;
}

int
virtio_blk_new(const struct device_services *svc,
	       const struct virtio_blk_params *p, struct virtio_dev **ret_vd)
{
	struct virtio_blk *blk;
	struct virtio_dev_params vp;
	struct blk_image_params ip;
	int r;

	if (!svc || !svc->events || !svc->guest_read || !svc->guest_write ||
	    !p || !p->path || !ret_vd || p->queues == 0 ||
	    p->queues > VIRTIO_BLK_QUEUES_MAX ||
	    (p->serial && strlen(p->serial) > VIRTIO_BLK_SERIAL_MAX))
		return -EINVAL;
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	ip = (struct blk_image_params){
		.path = p->path,
		.read_only = p->read_only,
		.direct = p->direct,
		.depth = VIRTIO_BLK_DEPTH,
		.batch_done = vblk_batch_done,
		.ctx = blk,
	};
	blk->path = strdup(p->path);
	r = blk->path ? blk_image_open(&ip, svc->events, &blk->img) : -ENOMEM;
	if (r < 0) {
		free(blk->path);
		free(blk);
		return r;
	}
	blk->direct = p->direct;
	blk->read_only = p->read_only;
	blk->capacity = blk_image_size(blk->img) / SECTOR;
	if (p->serial) /* 20 bytes exactly are not NUL-terminated */
		memcpy(blk->serial, p->serial, strlen(p->serial));
	device_work_init(&blk->retry_work, vblk_retry);
	fill_config(blk, p->queues);
	(void)snprintf(blk->id, sizeof(blk->id), "%s", p->id ? p->id : "vblk");
	vp = (struct virtio_dev_params){
		.id = blk->id,
		.device_id = VIRTIO_ID_BLOCK,
		.features = offered_features(p->read_only),
		.access_platform = p->access_platform,
		.num_queues = p->queues,
		.queue_size_max = VIRTIO_BLK_QUEUE_SIZE,
		.config = blk->config,
		.config_len = sizeof(blk->config),
	};
	r = virtio_dev_init(&blk->vd, &vblk_ops, svc, &vp);
	if (r < 0) {
		blk_image_close(blk->img);
		free(blk->path);
		free(blk);
		return r;
	}
	*ret_vd = &blk->vd;
	return 0;
}

/* ---- the device type ------------------------------------------------ */

static const char *const cache_choices[] = { "writeback", "none", NULL };

static int
check_serial(const char *value, char *err, size_t errlen)
{
	if (strlen(value) <= VIRTIO_BLK_SERIAL_MAX)
		return 0;
	(void)snprintf(err, errlen, "must be at most %u bytes",
		       VIRTIO_BLK_SERIAL_MAX);
	return -EINVAL;
}

static int
check_queues(const char *value, char *err, size_t errlen)
{
	unsigned long long n = strtoull(value, NULL, 0);

	if (n >= 1 && n <= VIRTIO_BLK_QUEUES_MAX)
		return 0;
	(void)snprintf(err, errlen, "must be from 1 to %u",
		       VIRTIO_BLK_QUEUES_MAX);
	return -EINVAL;
}

/*
 * What blk_image_open() would refuse of the file itself: missing, not a
 * regular file, a size that is not a whole number of sectors.  Other
 * stat() failures (permissions) are left to start-up, which may run
 * with other rights than the check.
 */
static int
check_image(const char *value, char *err, size_t errlen)
{
	struct stat st;

	if (stat(value, &st) < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return 0;
		(void)snprintf(err, errlen, "names no file");
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)snprintf(err, errlen, "is not a regular file");
		return -EINVAL;
	}
	if (st.st_size % SECTOR) {
		(void)snprintf(err, errlen,
			       "is %lld bytes long, not a multiple of %u",
			       (long long)st.st_size, SECTOR);
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_extra_key virtio_blk_keys[] = {
	{ .name = "path",
	  .type = CFG_EXTRA_STRING,
	  .required = true,
	  .check_file = check_image },
	{ .name = "read-only",
	  .type = CFG_EXTRA_BOOL,
	  .default_value = "false" },
	{ .name = "serial", .type = CFG_EXTRA_STRING, .check = check_serial },
	{ .name = "cache",
	  .type = CFG_EXTRA_ENUM,
	  .choices = cache_choices,
	  .default_value = "writeback" },
	{ .name = "queues",
	  .type = CFG_EXTRA_UINT,
	  .max = UINT32_MAX,
	  .default_value = "1",
	  .check = check_queues },
	VIRTIO_CFG_EXTRA_KEYS,
	{ .name = NULL },
};

static const struct cfg_type_desc virtio_blk_cfg = {
	.name = "virtio-blk",
	.keys = CFG_KEY_PCI | CFG_KEY_MMIO | CFG_KEY_IRQ,
	.placement = CFG_KEY_PCI | CFG_KEY_MMIO,
	VIRTIO_MMIO_CFG_DESC,
	.extra_keys = virtio_blk_keys,
};

static int
virtio_blk_create(const struct cfg_device *cfg,
		  const struct device_services *svc, struct device **ret_dev)
{
	const struct device_services *dma = virtio_dma_services(cfg, svc);
	const struct cfg_extra_value *path = cfg_device_extra(cfg, "path");
	const struct cfg_extra_value *ro = cfg_device_extra(cfg, "read-only");
	const struct cfg_extra_value *serial = cfg_device_extra(cfg, "serial");
	const struct cfg_extra_value *queues = cfg_device_extra(cfg, "queues");
	struct virtio_blk_params p;
	struct virtio_dev *vd;
	int r;

	if (!dma)
		return -EOPNOTSUPP;
	if (!path || !queues)
		return -EINVAL;
	p = (struct virtio_blk_params){
		.id = cfg->id,
		.path = path->str,
		.read_only = ro && ro->num,
		.serial = serial ? serial->str : NULL,
		.direct = cfg_device_extra_enum(cfg, "cache") == 1,
		.queues = (unsigned)queues->num,
		.access_platform = virtio_cfg_grant(cfg),
	};
	if (queues->num > VIRTIO_BLK_QUEUES_MAX)
		return -EINVAL;
	r = virtio_blk_new(dma, &p, &vd);
	if (r < 0)
		return r;
	r = virtio_transport_create(cfg, &virtio_blk_type, svc, vd, ret_dev);
	if (r < 0) {
		virtio_dev_fini(vd);
		vd->ops->destroy(vd);
	}
	return r;
}

const struct device_type virtio_blk_type = {
	.name = "virtio-blk",
	.cfg = &virtio_blk_cfg,
	.create = virtio_blk_create,
};

/* ---- operator side: describe, reports, blockdev_change -------------- */

static void
vblk_describe(const struct virtio_dev *vd, const struct device_info_writer *w)
{
	const struct virtio_blk *blk = container_of(vd, const struct virtio_blk,
						    vd);
	char buf[4200];

	(void)snprintf(buf, sizeof(buf), "file:%s", blk->path);
	device_info_str(w, "backend", buf);
	device_info_str(w, "read-only", blk->read_only ? "true" : "false");
}

/* A kernel error reached the guest as IOERR (guest mistakes do not). */
static void
vblk_report_io_error(struct virtio_blk *blk, int result)
{
	char desc[128];

	if (!blk->vd.dev)
		return;
	(void)snprintf(desc, sizeof(desc), "%s", strerror(-result));
	device_report(blk->vd.dev, DEVICE_EVENT_IO_ERROR, desc);
}

/*
 * The offered features follow the read-only state: RO, or DISCARD and
 * WRITE_ZEROES.  A driver sees the change at its next negotiation; the
 * device refuses writes (IOERR) from now on either way.
 */
static void
vblk_set_read_only(struct virtio_blk *blk, bool read_only)
{
	uint64_t mask = offered_features(true) ^ offered_features(false);

	blk->read_only = read_only;
	blk->vd.host_features = (blk->vd.host_features & ~mask) |
				(offered_features(read_only) & mask);
}

/* Swap in a new image at path (opened as read_only); all or nothing. */
static int
vblk_new_medium(struct virtio_blk *blk, const char *path, bool read_only)
{
	struct blk_image_params ip = {
		.path = path,
		.read_only = read_only,
		.direct = blk->direct,
		.depth = VIRTIO_BLK_DEPTH,
		.batch_done = vblk_batch_done,
		.ctx = blk,
	};
	struct blk_image *img;
	char *copy;
	int r;

	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	r = blk_image_open(&ip, blk->vd.svc->events, &img);
	if (r < 0) {
		free(copy);
		return r;
	}
	blk_image_close(blk->img);
	blk->img = img;
	free(blk->path);
	blk->path = copy;
	return 0;
}

/*
 * A new medium (path) and/or read-only state.  Refused with -EBUSY while
 * requests are in flight: a request must complete on the image it was
 * submitted to, and waiting (blk_image_cancel) would make the operator
 * wait on the guest's disk.  The driver sees the new capacity and block
 * size in config space with a new generation and a config interrupt.
 *
 * Without a path only the device's read-only state changes; the image
 * stays open as it was.  A disk opened read-only (lock shared) cannot
 * become writable that way (-EROFS), nor by giving its own path again:
 * the new write lock conflicts with the read lock still held (-EBUSY).
 */
static int
vblk_blockdev_change(struct virtio_dev *vd, const char *path, int read_only)
{
	struct virtio_blk *blk = container_of(vd, struct virtio_blk, vd);
	bool ro = read_only < 0 ? blk->read_only : read_only != 0;
	int r;

	if (read_only > 1 || (!path && read_only < 0))
		return -EINVAL;
	if (blk_image_in_flight(blk->img) > 0)
		return -EBUSY;
	if (path) {
		r = vblk_new_medium(blk, path, ro);
		if (r < 0)
			return r;
	} else if (!ro && blk_image_read_only(blk->img)) {
		return -EROFS;
	}
	vblk_set_read_only(blk, ro);
	blk->capacity = blk_image_size(blk->img) / SECTOR;
	fill_config(blk, vd->num_queues);
	virtio_config_changed(vd);
	return 0;
}
