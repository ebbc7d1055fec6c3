/*
 * A raw image file behind io_uring; see blk-image.h for the contract.
 *
 * Every request on the ring carries its struct blk_image_req as user
 * data; the cancel requests blk_image_cancel() adds carry none, and their
 * completions are dropped.  A request is on the in-flight list from the
 * moment its SQE is prepared until its CQE has been reaped, so the list
 * is exactly what the kernel may still touch.
 */
#include "devices/virtio/blk-image.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

struct blk_image {
	const struct device_events *ev; /* borrowed */
	int fd;
	int efd; /* eventfd the ring signals */
	bool ring_ready;
	struct io_uring ring;
	struct device_watch *watch;

	uint64_t size; /* bytes */
	bool read_only;
	bool direct;
	unsigned block_size; /* O_DIRECT offset/length alignment */
	unsigned mem_align;  /* O_DIRECT buffer alignment */
	unsigned depth;
	unsigned in_flight;
	struct blk_image_req *flight; /* the in-flight list */

	void (*batch_done)(void *ctx);
	void *ctx;
	struct blk_image_stats stats;
};

static bool
is_pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

/*
 * The OFD lock of blk-image.h: whole file, never waiting.  OFD locks
 * belong to the open file, not the process, so they are not lost when
 * some other part of the daemon closes another descriptor of the file.
 */
static int
lock_image(int fd, bool read_only)
{
	struct flock fl = {
		.l_type = read_only ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,
	};

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
}

/* O_DIRECT's alignment from statx, 512 where the kernel does not say. */
static void
direct_alignment(struct blk_image *img)
{
	struct statx sx;

	img->block_size = BLK_IMAGE_SECTOR_SIZE;
	img->mem_align = BLK_IMAGE_SECTOR_SIZE;
	if (!img->direct)
		return;
	if (statx(img->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) < 0 ||
	    !(sx.stx_mask & STATX_DIOALIGN))
		return;
	if (is_pow2(sx.stx_dio_offset_align) &&
	    sx.stx_dio_offset_align > img->block_size)
		img->block_size = sx.stx_dio_offset_align;
	if (is_pow2(sx.stx_dio_mem_align))
		img->mem_align = sx.stx_dio_mem_align;
}

static int
open_file(struct blk_image *img, const char *path)
{
	int flags = O_CLOEXEC | O_NOCTTY | (img->read_only ? O_RDONLY : O_RDWR);
	struct stat st;
	int r;

	if (img->direct)
		flags |= O_DIRECT;
	img->fd = open(path, flags);
	/* open(2) says EINVAL when the file system cannot do O_DIRECT. */
	if (img->fd < 0 && errno == EINVAL && img->direct)
		return -EOPNOTSUPP;
	if (img->fd < 0)
		return -errno;
	if (fstat(img->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    st.st_size % BLK_IMAGE_SECTOR_SIZE)
		return -EINVAL;
	img->size = (uint64_t)st.st_size;
	r = lock_image(img->fd, img->read_only);
	if (r < 0)
		return r;
	direct_alignment(img);
	return 0;
}

static void reap(struct blk_image *img);

static void
on_eventfd(void *arg, int fd, unsigned what)
{
	struct blk_image *img = arg;
	uint64_t n;

	(void)what;
	/* Drain the counter first: a CQE posted after the reap below
	 * signals again, so none is left behind. */
	while (read(fd, &n, sizeof(n)) == sizeof(n))
		;
	reap(img);
	if (img->batch_done)
		img->batch_done(img->ctx);
}

static int
open_ring(struct blk_image *img)
{
	int r;

	r = io_uring_queue_init(img->depth, &img->ring, 0);
	if (r < 0)
		return r;
	img->ring_ready = true;
	img->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (img->efd < 0)
		return -errno;
	r = io_uring_register_eventfd(&img->ring, img->efd);
	if (r < 0)
		return r;
	return device_watch_new(img->ev, img->efd, DEVICE_WATCH_READ,
				on_eventfd, img, &img->watch);
}

static void
free_image(struct blk_image *img)
{
	device_watch_free(img->ev, img->watch);
	if (img->ring_ready)
		io_uring_queue_exit(&img->ring);
	if (img->efd >= 0)
		(void)close(img->efd);
	if (img->fd >= 0)
		(void)close(img->fd); /* drops the OFD lock */
	free(img);
}

int
blk_image_open(const struct blk_image_params *p, const struct device_events *ev,
	       struct blk_image **ret_img)
{
	struct blk_image *img;
	int r;

	if (!p || !p->path || !ev || !ret_img || p->depth == 0 ||
	    p->depth > BLK_IMAGE_DEPTH_MAX)
		return -EINVAL;
	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	img->ev = ev;
	img->fd = img->efd = -1;
	img->read_only = p->read_only;
	img->direct = p->direct;
	img->depth = p->depth;
	img->batch_done = p->batch_done;
	img->ctx = p->ctx;
	r = open_file(img, p->path);
	if (r == 0)
		r = open_ring(img);
	if (r < 0) {
		free_image(img);
		return r;
	}
	*ret_img = img;
	return 0;
}

void
blk_image_close(struct blk_image *img)
{
	if (!img)
		return;
	blk_image_cancel(img, true, 0);
	free_image(img);
}

uint64_t
blk_image_size(const struct blk_image *img)
{
	return img->size;
}

bool
blk_image_read_only(const struct blk_image *img)
{
	return img->read_only;
}

unsigned
blk_image_block_size(const struct blk_image *img)
{
	return img->block_size;
}

unsigned
blk_image_in_flight(const struct blk_image *img)
{
	return img->in_flight;
}

bool
blk_image_full(const struct blk_image *img)
{
	return img->in_flight >= img->depth;
}

const struct blk_image_stats *
blk_image_stats(const struct blk_image *img)
{
	return &img->stats;
}

/* A free SQE, handing the queued ones to the kernel if the SQ is full. */
static struct io_uring_sqe *
get_sqe(struct blk_image *img)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&img->ring);

	if (!sqe) {
		(void)io_uring_submit(&img->ring);
		sqe = io_uring_get_sqe(&img->ring);
	}
	return sqe;
}

static void
link_req(struct blk_image *img, struct blk_image_req *req,
	 struct io_uring_sqe *sqe)
{
	io_uring_sqe_set_data(sqe, req);
	req->next = img->flight;
	req->pprev = &img->flight;
	if (img->flight)
		img->flight->pprev = &req->next;
	img->flight = req;
	img->in_flight++;
	if (img->in_flight > img->stats.in_flight_max)
		img->stats.in_flight_max = img->in_flight;
}

static void
unlink_req(struct blk_image *img, struct blk_image_req *req)
{
	*req->pprev = req->next;
	if (req->next)
		req->next->pprev = req->pprev;
	req->next = NULL;
	req->pprev = NULL;
	img->in_flight--;
}

/*
 * Is [offset, offset + len) inside the image, and aligned as O_DIRECT
 * needs when it moves data (fallocate has no such rule)?
 */
static int
check_range(const struct blk_image *img, uint64_t offset, uint64_t len,
	    bool data)
{
	if (offset > img->size || len > img->size - offset)
		return -EINVAL;
	if (data && img->direct && ((offset | len) & (img->block_size - 1)))
		return -EINVAL;
	return 0;
}

static bool
iov_aligned(const struct blk_image *img, const struct iovec *iov,
	    unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) &
		    (img->mem_align - 1))
			return false;
	return true;
}

/* Sum of the lengths, 0 when it overflows or the list is bad. */
static size_t
iov_total(const struct iovec *iov, unsigned count)
{
	size_t total = 0;

	if (!iov || count == 0 || count > BLK_IMAGE_IOV_MAX)
		return 0;
	for (unsigned i = 0; i < count; i++) {
		if (iov[i].iov_len > SIZE_MAX - total)
			return 0;
		total += iov[i].iov_len;
	}
	return total;
}

/* An aligned copy of the caller's buffers for O_DIRECT, filled for writes. */
static int
make_bounce(struct blk_image *img, struct blk_image_req *req, size_t total,
	    bool write)
{
	void *buf;
	size_t o = 0;

	if (posix_memalign(&buf, img->mem_align, total) != 0)
		return -ENOMEM;
	if (write)
		for (unsigned i = 0; i < req->iov_count; i++) {
			memcpy((char *)buf + o, req->iov[i].iov_base,
			       req->iov[i].iov_len);
			o += req->iov[i].iov_len;
		}
	req->bounce = (struct iovec){ .iov_base = buf, .iov_len = total };
	img->stats.bounced++;
	return 0;
}

static int
rw(struct blk_image *img, struct blk_image_req *req, const struct iovec *iov,
   unsigned count, uint64_t offset, bool write)
{
	struct io_uring_sqe *sqe;
	size_t total = iov_total(iov, count);
	int r;

	if (!img || !req)
		return -EINVAL;
	if (write && img->read_only)
		return -EROFS;
	if (total == 0 || check_range(img, offset, total, true) < 0)
		return -EINVAL;
	if (blk_image_full(img))
		return -EBUSY;
	req->iov = iov;
	req->iov_count = count;
	req->expect = total;
	req->read = !write;
	req->bounce = (struct iovec){ 0 };
	if (img->direct && !iov_aligned(img, iov, count)) {
		r = make_bounce(img, req, total, write);
		if (r < 0)
			return r;
		iov = &req->bounce;
		count = 1;
	}
	sqe = get_sqe(img);
	if (!sqe) {
		free(req->bounce.iov_base);
		req->bounce = (struct iovec){ 0 };
		return -EBUSY;
	}
	if (write)
		io_uring_prep_writev(sqe, img->fd, iov, count, offset);
	else
		io_uring_prep_readv(sqe, img->fd, iov, count, offset);
	link_req(img, req, sqe);
	if (write)
		img->stats.writes++;
	else
		img->stats.reads++;
	return 0;
}

int
blk_image_readv(struct blk_image *img, struct blk_image_req *req,
		const struct iovec *iov, unsigned iov_count, uint64_t offset)
{
	return rw(img, req, iov, iov_count, offset, false);
}

int
blk_image_writev(struct blk_image *img, struct blk_image_req *req,
		 const struct iovec *iov, unsigned iov_count, uint64_t offset)
{
	return rw(img, req, iov, iov_count, offset, true);
}

/* Flush, discard and write zeroes: no buffers. */
static struct io_uring_sqe *
plain_sqe(struct blk_image *img, struct blk_image_req *req, int *ret)
{
	struct io_uring_sqe *sqe;

	*ret = -EBUSY;
	if (blk_image_full(img) || !(sqe = get_sqe(img)))
		return NULL;
	req->iov = NULL;
	req->iov_count = 0;
	req->expect = 0;
	req->read = false;
	req->bounce = (struct iovec){ 0 };
	*ret = 0;
	return sqe;
}

int
blk_image_flush(struct blk_image *img, struct blk_image_req *req)
{
	struct io_uring_sqe *sqe;
	int r;

	if (!img || !req)
		return -EINVAL;
	sqe = plain_sqe(img, req, &r);
	if (!sqe)
		return r;
	io_uring_prep_fsync(sqe, img->fd, IORING_FSYNC_DATASYNC);
	link_req(img, req, sqe);
	img->stats.flushes++;
	return 0;
}

static int
fallocate_req(struct blk_image *img, struct blk_image_req *req, int mode,
	      uint64_t offset, uint64_t len)
{
	struct io_uring_sqe *sqe;
	int r;

	if (!img || !req)
		return -EINVAL;
	if (img->read_only)
		return -EROFS;
	if (len == 0 || check_range(img, offset, len, false) < 0)
		return -EINVAL;
	sqe = plain_sqe(img, req, &r);
	if (!sqe)
		return r;
	io_uring_prep_fallocate(sqe, img->fd, mode, (off_t)offset, (off_t)len);
	link_req(img, req, sqe);
	return 0;
}

int
blk_image_discard(struct blk_image *img, struct blk_image_req *req,
		  uint64_t offset, uint64_t len)
{
	int r = fallocate_req(img, req,
			      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      offset, len);

	if (r == 0)
		img->stats.discards++;
	return r;
}

int
blk_image_write_zeroes(struct blk_image *img, struct blk_image_req *req,
		       uint64_t offset, uint64_t len, bool unmap)
{
	/* A hole reads as zeroes too, and gives the space back. */
	int mode = (unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
		   FALLOC_FL_KEEP_SIZE;
	int r = fallocate_req(img, req, mode, offset, len);

	if (r == 0)
		img->stats.write_zeroes++;
	return r;
}

void
blk_image_submit(struct blk_image *img)
{
	if (img && img->ring_ready)
		(void)io_uring_submit(&img->ring);
}

/* Copy a bounced read back into the caller's buffers. */
static void
unbounce(struct blk_image_req *req, int res)
{
	size_t o = 0;

	if (res > 0 && req->read)
		for (unsigned i = 0; i < req->iov_count; i++) {
			memcpy(req->iov[i].iov_base,
			       (char *)req->bounce.iov_base + o,
			       req->iov[i].iov_len);
			o += req->iov[i].iov_len;
		}
	free(req->bounce.iov_base);
	req->bounce = (struct iovec){ 0 };
}

/* One CQE: the request leaves the list, then its owner hears of it. */
static void
finish(struct blk_image *img, struct blk_image_req *req, int res)
{
	unlink_req(img, req);
	if (res >= 0 && req->expect && (size_t)res != req->expect)
		res = -EIO; /* short: the image shrank under us, or ENOSPC */
	if (req->bounce.iov_base)
		unbounce(req, res);
	if (res == -ECANCELED)
		img->stats.cancelled++;
	else if (res < 0)
		img->stats.errors++;
	else if (req->expect && req->read)
		img->stats.bytes_read += req->expect;
	else if (req->expect)
		img->stats.bytes_written += req->expect;
	req->done(req, res);
}

/* Reap every CQE there is; cancel requests' own CQEs carry no request. */
static void
reap(struct blk_image *img)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&img->ring, &cqe) == 0) {
		struct blk_image_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&img->ring, cqe);
		if (req)
			finish(img, req, res);
	}
}

static bool
matches(const struct blk_image_req *req, bool all, unsigned group)
{
	return all || req->group == group;
}

static unsigned
count_matching(const struct blk_image *img, bool all, unsigned group)
{
	unsigned n = 0;

	for (const struct blk_image_req *req = img->flight; req;
	     req = req->next)
		n += matches(req, all, group);
	return n;
}

void
blk_image_cancel(struct blk_image *img, bool all, unsigned group)
{
	if (!img || !img->ring_ready)
		return;
	/* Queued SQEs first, so that the kernel knows what to cancel. */
	(void)io_uring_submit(&img->ring);
	for (struct blk_image_req *req = img->flight; req; req = req->next) {
		struct io_uring_sqe *sqe;

		if (!matches(req, all, group))
			continue;
		sqe = get_sqe(img);
		if (!sqe)
			break; /* the wait below still reaps it */
		io_uring_prep_cancel(sqe, req, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	(void)io_uring_submit(&img->ring);
	/* What could not be cancelled (a read the kernel is doing now)
	 * completes by itself; a stuck disk blocks here, which is better
	 * than the kernel writing into memory the guest got back. */
	while (count_matching(img, all, group) > 0) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&img->ring, &cqe);

		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0) {
			log_error("blk-image: waiting for cancelled requests: "
				  "%s",
				  strerror(-r));
			break;
		}
		reap(img);
	}
	if (img->batch_done)
		img->batch_done(img->ctx);
}
