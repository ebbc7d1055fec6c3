/*
 * A raw disk image file as a block back-end, driven through io_uring
 * (liburing): many requests in flight, completions reaped on the event
 * loop.  The ring signals completions on an eventfd registered with it
 * (io_uring_register_eventfd), which the back-end watches through the
 * device event services (devices/events.h); nothing here blocks except
 * blk_image_cancel(), which waits for what the kernel still holds.
 *
 * Opening: O_DIRECT when asked (`cache: none`), and an OFD lock on the
 * whole file (fcntl F_OFD_SETLK, never waiting): a writable image takes
 * the write lock, so no other process may hold any lock on it, and a
 * read-only image takes the read lock, which other read-only users may
 * share but a writer cannot get.  So two daemons can never both use a
 * disk one of them writes, while several may share a read-only base
 * image.  A regular file only, its size a multiple of 512.
 *
 * O_DIRECT needs buffers, offsets and lengths aligned (statx
 * STATX_DIOALIGN, 512 when the kernel does not say): offsets and lengths
 * that are not give -EINVAL at submission, buffers that are not are
 * copied through an aligned bounce buffer of the back-end's own, so a
 * caller's scatter-gather never has to be.
 *
 * Left out: resizing, block devices as images, retrying short
 * reads and writes (they complete with -EIO).
 *
 * Threading: the event-loop thread only.
 */
#ifndef IOREQD_DEVICES_VIRTIO_BLK_IMAGE_H
#define IOREQD_DEVICES_VIRTIO_BLK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/events.h"

/* Requests in flight at once, at most (the ring's size). */
#define BLK_IMAGE_DEPTH_MAX 1024u
/* iovec entries one request may carry (the kernel's UIO_MAXIOV). */
#define BLK_IMAGE_IOV_MAX 1024u
/* Images are measured in these, and must be a whole number of them. */
#define BLK_IMAGE_SECTOR_SIZE 512u

struct blk_image;

/*
 * One request, embedded in the caller's state.  The caller sets done and
 * group before submitting; the rest belongs to the back-end.
 */
struct blk_image_req {
	/*
	 * The request finished: result is the bytes transferred (reads and
	 * writes; short transfers come as -EIO), 0 (flush, discard, write
	 * zeroes), -ECANCELED when blk_image_cancel() stopped it first, or
	 * the kernel's -errno.  Called on the loop thread, never from inside
	 * the call that submitted; after it returns the back-end never
	 * touches req or its buffers again, so done may free both.
	 */
	void (*done)(struct blk_image_req *req, int result);
	unsigned group; /* blk_image_cancel() key (a queue index, say) */

	/* Private. */
	struct blk_image_req *next, **pprev; /* in flight */
	const struct iovec *iov;	     /* caller's, for a bounced read */
	unsigned iov_count;
	struct iovec bounce; /* aligned copy under O_DIRECT, or empty */
	size_t expect;	     /* bytes a read or write must move */
	bool read;
};

struct blk_image_params {
	const char *path;
	bool read_only; /* open O_RDONLY; writes refused with -EROFS */
	bool direct;	/* O_DIRECT (`cache: none`) */
	unsigned depth; /* requests in flight, 1 .. BLK_IMAGE_DEPTH_MAX */
	/*
	 * Optional: after a batch of done calls (one wake-up of the loop,
	 * or a cancel), so the caller can send one interrupt per batch and
	 * submit what waited for room.
	 */
	void (*batch_done)(void *ctx);
	void *ctx;
};

/* Counters, kept for the life of the image. */
struct blk_image_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes;
	uint64_t bytes_read, bytes_written;
	uint64_t errors;    /* completions with a kernel error */
	uint64_t cancelled; /* completions with -ECANCELED */
	uint64_t bounced;   /* O_DIRECT requests copied for alignment */
	uint64_t in_flight_max;
};

/*
 * Open and lock the image, set up its ring and watch its completions
 * through ev (borrowed, must outlive the image).  0 and *ret_img, or
 * -errno: open's and fstat's (-ENOENT, -EACCES, ...; -EOPNOTSUPP when
 * the file system cannot do O_DIRECT), -EINVAL for bad
 * params, a file that is not regular or a size not a multiple of 512,
 * -EBUSY when another process holds a conflicting lock, io_uring's
 * (-ENOSYS where the kernel or a seccomp filter refuses it, -ENOMEM,
 * -EPERM), -ENOMEM.  Nothing stays open or locked on failure.
 */
int blk_image_open(const struct blk_image_params *params,
		   const struct device_events *ev, struct blk_image **ret_img);

/*
 * Cancel and wait for everything in flight (done is called for each),
 * then close and unlock.  Accepts NULL.
 */
void blk_image_close(struct blk_image *img);

/* The size in bytes (a multiple of BLK_IMAGE_SECTOR_SIZE). */
uint64_t blk_image_size(const struct blk_image *img);
bool blk_image_read_only(const struct blk_image *img);
/*
 * Alignment O_DIRECT needs of offsets and lengths, a power of two
 * (BLK_IMAGE_SECTOR_SIZE without O_DIRECT).
 */
unsigned blk_image_block_size(const struct blk_image *img);
/* Requests in flight now; no room for more when == depth. */
unsigned blk_image_in_flight(const struct blk_image *img);
bool blk_image_full(const struct blk_image *img);
const struct blk_image_stats *blk_image_stats(const struct blk_image *img);

/*
 * Queue a request; it goes to the kernel at the next blk_image_submit()
 * (or earlier when the ring's submission queue fills).  0: queued, done
 * will be called exactly once; else nothing was queued and done will
 * not be called: -EBUSY when depth requests are in flight, -EROFS for a
 * write to a read-only image, -EINVAL for a range beyond the image, a
 * length of 0 (reads, writes), more than BLK_IMAGE_IOV_MAX entries or,
 * under O_DIRECT, an offset or length not a multiple of
 * blk_image_block_size(), -ENOMEM.
 *
 * iov (and the memory it points to) stays the caller's and must stay
 * valid until done.
 */
int blk_image_readv(struct blk_image *img, struct blk_image_req *req,
		    const struct iovec *iov, unsigned iov_count,
		    uint64_t offset);
int blk_image_writev(struct blk_image *img, struct blk_image_req *req,
		     const struct iovec *iov, unsigned iov_count,
		     uint64_t offset);
/* fdatasync: what completed before it is on stable storage. */
int blk_image_flush(struct blk_image *img, struct blk_image_req *req);
/* Deallocate [offset, offset + len): fallocate PUNCH_HOLE | KEEP_SIZE. */
int blk_image_discard(struct blk_image *img, struct blk_image_req *req,
		      uint64_t offset, uint64_t len);
/*
 * Make [offset, offset + len) read as zeroes: fallocate ZERO_RANGE |
 * KEEP_SIZE, or PUNCH_HOLE | KEEP_SIZE when unmap allows deallocating.
 */
int blk_image_write_zeroes(struct blk_image *img, struct blk_image_req *req,
			   uint64_t offset, uint64_t len, bool unmap);

/* Hand the queued requests to the kernel (one system call). */
void blk_image_submit(struct blk_image *img);

/*
 * Stop the requests of `group` (every request when all), queued or in
 * flight: ask the kernel to cancel them and wait, blocking, until each
 * has completed, cancelled or not; done is called for every one of them
 * (and for requests of other groups that complete meanwhile) before this
 * returns, and batch_done once at the end.  Afterwards the kernel holds
 * no buffer of theirs.
 */
void blk_image_cancel(struct blk_image *img, bool all, unsigned group);

#endif
