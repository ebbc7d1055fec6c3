/*
 * The io_uring image back-end (devices/virtio/blk-image.c) against a
 * temporary file: reads and writes at offsets, many in flight, flush,
 * discard and write zeroes as seen in the file, the OFD lock against a
 * second opener, O_DIRECT alignment (bounced buffers, refused offsets),
 * cancel (nothing touched afterwards) and a ring that cannot be set up.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devices/virtio/blk-image.h"
#include "tests/unit/devices/fake-services.h"
#include "tests/unit/devices/test-util.h"

#define IMG_SIZE (1u << 20)
#define NREQ	 64

struct treq {
	struct blk_image_req r;
	int result;
	unsigned calls;
	struct iovec iov[4];
};

static struct fake_services f;
static char path[64];
static unsigned batches;

static void
treq_done(struct blk_image_req *r, int result)
{
	struct treq *t = (struct treq *)((char *)r - offsetof(struct treq, r));

	t->result = result;
	t->calls++;
}

static void
on_batch(void *ctx)
{
	(void)ctx;
	batches++;
}

static void
treq_init(struct treq *t, unsigned group)
{
	memset(t, 0, sizeof(*t));
	t->r.done = treq_done;
	t->r.group = group;
	t->result = 1; /* neither a byte count we ask for nor an error */
}

/* A fresh image file of `size` bytes, byte i = i * 7 + 1. */
static void
make_file(size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	int fd;

	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	snprintf(path, sizeof(path), "/tmp/test-blk-image-XXXXXX");
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, buf, size), size);
	(void)close(fd);
	free(buf);
}

static void
file_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	CHECK_EQ(pread(fd, buf, len, (off_t)off), len);
	(void)close(fd);
}

static int
open_img(bool ro, bool direct, unsigned depth, struct blk_image **img)
{
	const struct blk_image_params p = {
		.path = path,
		.read_only = ro,
		.direct = direct,
		.depth = depth,
		.batch_done = on_batch,
	};

	return blk_image_open(&p, f.svc.events, img);
}

static void
wait_done(struct treq *t, unsigned n)
{
	bool all;

	for (int i = 0; i < 4000; i++) {
		all = true;
		for (unsigned k = 0; k < n; k++)
			all = all && t[k].calls;
		if (all)
			break;
		pump_for(f.evbase, 1);
	}
}

static void
test_open_errors(void)
{
	struct blk_image *img = NULL;
	struct blk_image_params p = { .path = "/nonexistent/x.img",
				      .depth = 8 };

	CHECK_EQ(blk_image_open(&p, f.svc.events, &img), -ENOENT);
	p.path = "/tmp";
	CHECK_EQ(blk_image_open(&p, f.svc.events, &img), -EISDIR);
	p.read_only = true;
	CHECK_EQ(blk_image_open(&p, f.svc.events, &img), -EINVAL);
	make_file(1000); /* not a multiple of 512 */
	p.path = path;
	CHECK_EQ(blk_image_open(&p, f.svc.events, &img), -EINVAL);
	p.depth = 0;
	CHECK_EQ(blk_image_open(&p, f.svc.events, &img), -EINVAL);
	p.depth = BLK_IMAGE_DEPTH_MAX + 1;
	CHECK_EQ(blk_image_open(&p, f.svc.events, &img), -EINVAL);
	CHECK(img == NULL);
	(void)unlink(path);
}

static void
test_rw(void)
{
	struct blk_image *img;
	struct treq t[3];
	uint8_t a[1024], b[512], back[1536], want[1536];

	make_file(IMG_SIZE);
	CHECK_EQ(open_img(false, false, 8, &img), 0);
	CHECK_EQ(blk_image_size(img), IMG_SIZE);
	CHECK_EQ(blk_image_block_size(img), 512);
	CHECK(!blk_image_read_only(img));

	/* A read at an offset: the file's bytes. */
	treq_init(&t[0], 0);
	t[0].iov[0] = (struct iovec){ a, 100 };
	t[0].iov[1] = (struct iovec){ a + 100, 412 };
	CHECK_EQ(blk_image_readv(img, &t[0].r, t[0].iov, 2, 4096), 0);
	CHECK_EQ(blk_image_in_flight(img), 1);
	CHECK_EQ(t[0].calls, 0); /* never from inside the submit */
	blk_image_submit(img);
	wait_done(t, 1);
	CHECK_EQ(t[0].calls, 1);
	CHECK_EQ(t[0].result, 512);
	file_read(4096, want, 512);
	CHECK(memcmp(a, want, 512) == 0);
	CHECK(batches > 0);

	/* Writes gathered from two buffers land at their offset. */
	memset(a, 0xa5, sizeof(a));
	memset(b, 0x5a, sizeof(b));
	treq_init(&t[1], 0);
	t[1].iov[0] = (struct iovec){ a, sizeof(a) };
	t[1].iov[1] = (struct iovec){ b, sizeof(b) };
	CHECK_EQ(blk_image_writev(img, &t[1].r, t[1].iov, 2, 8192), 0);
	treq_init(&t[2], 0);
	CHECK_EQ(blk_image_flush(img, &t[2].r), 0);
	blk_image_submit(img);
	wait_done(&t[1], 2);
	CHECK_EQ(t[1].result, 1536);
	CHECK_EQ(t[2].result, 0);
	file_read(8192, back, sizeof(back));
	memcpy(want, a, sizeof(a));
	memcpy(want + sizeof(a), b, sizeof(b));
	CHECK(memcmp(back, want, sizeof(back)) == 0);
	file_read(8192 - 1, back, 1); /* the byte before is untouched */
	CHECK_EQ(back[0], (uint8_t)((8192 - 1) * 7 + 1));
	CHECK_EQ(blk_image_stats(img)->bytes_written, 1536);
	CHECK_EQ(blk_image_stats(img)->flushes, 1);

	/* Ranges beyond the end, empty ones, bad lists: refused at once. */
	treq_init(&t[0], 0);
	t[0].iov[0] = (struct iovec){ a, 512 };
	CHECK_EQ(blk_image_readv(img, &t[0].r, t[0].iov, 1, IMG_SIZE), -EINVAL);
	CHECK_EQ(blk_image_readv(img, &t[0].r, t[0].iov, 1, IMG_SIZE - 511),
		 -EINVAL);
	CHECK_EQ(blk_image_readv(img, &t[0].r, t[0].iov, 1, UINT64_MAX - 10),
		 -EINVAL);
	CHECK_EQ(blk_image_readv(img, &t[0].r, t[0].iov, 0, 0), -EINVAL);
	CHECK_EQ(blk_image_readv(img, &t[0].r, t[0].iov, BLK_IMAGE_IOV_MAX + 1,
				 0),
		 -EINVAL);
	CHECK_EQ(blk_image_discard(img, &t[0].r, IMG_SIZE - 512, 1024),
		 -EINVAL);
	CHECK_EQ(blk_image_in_flight(img), 0);
	pump_for(f.evbase, 5);
	CHECK_EQ(t[0].calls, 0);
	blk_image_close(img);
	(void)unlink(path);
}

static void
test_many_in_flight(void)
{
	static struct treq t[NREQ];
	static uint8_t bufs[NREQ][4096];
	struct blk_image *img;
	struct treq extra;
	bool ok = true;

	make_file(IMG_SIZE);
	CHECK_EQ(open_img(false, false, NREQ, &img), 0);
	/* Every other request writes its own pattern, the others read. */
	for (unsigned i = 0; i < NREQ; i++) {
		treq_init(&t[i], 0);
		t[i].iov[0] = (struct iovec){ bufs[i], 4096 };
		if (i % 2) {
			memset(bufs[i], (int)i, 4096);
			CHECK_EQ(blk_image_writev(img, &t[i].r, t[i].iov, 1,
						  (uint64_t)i * 4096),
				 0);
		} else {
			CHECK_EQ(blk_image_readv(img, &t[i].r, t[i].iov, 1,
						 (uint64_t)i * 4096),
				 0);
		}
	}
	CHECK(blk_image_full(img));
	treq_init(&extra, 0); /* not queued: the ring is full */
	CHECK_EQ(blk_image_flush(img, &extra.r), -EBUSY);
	extra.iov[0] = (struct iovec){ bufs[0], 4096 };
	CHECK_EQ(blk_image_readv(img, &extra.r, extra.iov, 1, 0), -EBUSY);
	CHECK_EQ(blk_image_in_flight(img), NREQ);
	blk_image_submit(img);
	wait_done(t, NREQ);
	CHECK_EQ(blk_image_in_flight(img), 0);
	CHECK_EQ(extra.calls, 0);
	for (unsigned i = 0; i < NREQ; i++) {
		uint8_t want[4096];

		ok = ok && t[i].calls == 1 && t[i].result == 4096;
		file_read((uint64_t)i * 4096, want, 4096);
		ok = ok && memcmp(bufs[i], want, 4096) == 0;
	}
	CHECK(ok);
	CHECK_EQ(blk_image_stats(img)->in_flight_max, NREQ);
	blk_image_close(img);
	(void)unlink(path);
}

static bool
file_is_zero(uint64_t off, size_t len)
{
	uint8_t buf[8192];

	file_read(off, buf, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

static void
test_discard_zeroes(void)
{
	struct blk_image *img;
	struct treq t[2];
	struct stat st1, st2;
	uint8_t edge[2];

	make_file(IMG_SIZE);
	CHECK_EQ(stat(path, &st1), 0);
	CHECK_EQ(open_img(false, false, 8, &img), 0);
	treq_init(&t[0], 0);
	CHECK_EQ(blk_image_discard(img, &t[0].r, 65536, 65536), 0);
	treq_init(&t[1], 0);
	CHECK_EQ(blk_image_write_zeroes(img, &t[1].r, 4096, 1024, false), 0);
	blk_image_submit(img);
	wait_done(t, 2);
	CHECK_EQ(t[0].result, 0);
	CHECK_EQ(t[1].result, 0);
	/* A hole reads as zeroes and gives its blocks back; the size stays. */
	CHECK(file_is_zero(65536, 8192));
	CHECK(file_is_zero(65536 + 65536 - 8192, 8192));
	CHECK(file_is_zero(4096, 1024));
	file_read(4096 - 1, edge, 1);
	file_read(4096 + 1024, edge + 1, 1);
	CHECK_EQ(edge[0], (uint8_t)((4096 - 1) * 7 + 1));
	CHECK_EQ(edge[1], (uint8_t)((4096 + 1024) * 7 + 1));
	CHECK_EQ(stat(path, &st2), 0);
	CHECK_EQ(st2.st_size, IMG_SIZE);
	CHECK(st2.st_blocks < st1.st_blocks);

	/* Unmapping write zeroes: zeroes again, fewer blocks again. */
	treq_init(&t[0], 0);
	CHECK_EQ(blk_image_write_zeroes(img, &t[0].r, 262144, 131072, true), 0);
	blk_image_submit(img);
	wait_done(t, 1);
	CHECK_EQ(t[0].result, 0);
	CHECK(file_is_zero(262144, 8192));
	CHECK_EQ(stat(path, &st1), 0);
	CHECK(st1.st_blocks < st2.st_blocks);
	CHECK_EQ(blk_image_stats(img)->discards, 1);
	CHECK_EQ(blk_image_stats(img)->write_zeroes, 2);
	blk_image_close(img);
	(void)unlink(path);
}

static void
test_read_only_and_lock(void)
{
	struct blk_image *rw1, *rw2 = NULL, *ro1, *ro2;
	struct treq t;
	uint8_t buf[512];
	uint8_t before[512], after[512];

	make_file(IMG_SIZE);
	CHECK_EQ(open_img(false, false, 4, &rw1), 0);
	/* A writer excludes everyone: other writers and readers. */
	CHECK_EQ(open_img(false, false, 4, &rw2), -EBUSY);
	CHECK_EQ(open_img(true, false, 4, &ro1), -EBUSY);
	blk_image_close(rw1);
	/* Closed: the lock went with it. */
	CHECK_EQ(open_img(true, false, 4, &ro1), 0);
	CHECK_EQ(open_img(true, true, 4, &ro2), 0); /* readers share */
	CHECK_EQ(open_img(false, false, 4, &rw2), -EBUSY);
	CHECK(rw2 == NULL);
	CHECK(blk_image_read_only(ro1));

	file_read(0, before, sizeof(before));
	memset(buf, 0xee, sizeof(buf));
	treq_init(&t, 0);
	t.iov[0] = (struct iovec){ buf, sizeof(buf) };
	CHECK_EQ(blk_image_writev(ro1, &t.r, t.iov, 1, 0), -EROFS);
	CHECK_EQ(blk_image_discard(ro1, &t.r, 0, 512), -EROFS);
	CHECK_EQ(blk_image_write_zeroes(ro1, &t.r, 0, 512, false), -EROFS);
	CHECK_EQ(blk_image_in_flight(ro1), 0);
	file_read(0, after, sizeof(after));
	CHECK(memcmp(before, after, sizeof(after)) == 0);
	blk_image_close(ro1);
	blk_image_close(ro2);
	(void)unlink(path);
}

static void
test_direct(void)
{
	struct blk_image *img;
	struct treq t[3];
	uint8_t *mem, want[4096];
	unsigned bs;

	make_file(IMG_SIZE);
	CHECK_EQ(open_img(false, true, 8, &img), 0);
	bs = blk_image_block_size(img);
	CHECK(bs >= 512 && !(bs & (bs - 1)));
	CHECK_EQ(posix_memalign((void **)&mem, 4096, 6 * 4096), 0);

	/* Aligned buffers go straight to the kernel. */
	treq_init(&t[0], 0);
	t[0].iov[0] = (struct iovec){ mem, 4096 };
	CHECK_EQ(blk_image_readv(img, &t[0].r, t[0].iov, 1, 4096), 0);
	/* A buffer at an odd address is bounced, in both directions. */
	treq_init(&t[1], 0);
	t[1].iov[0] = (struct iovec){ mem + 2 * 4096 + 3, 4096 };
	CHECK_EQ(blk_image_readv(img, &t[1].r, t[1].iov, 1, 8192), 0);
	memset(mem + 4 * 4096 + 1, 0x77, 4096);
	treq_init(&t[2], 0);
	t[2].iov[0] = (struct iovec){ mem + 4 * 4096 + 1, 4096 };
	CHECK_EQ(blk_image_writev(img, &t[2].r, t[2].iov, 1, 16384), 0);
	CHECK_EQ(blk_image_stats(img)->bounced, 2);
	blk_image_submit(img);
	wait_done(t, 3);
	CHECK_EQ(t[0].result, 4096);
	CHECK_EQ(t[1].result, 4096);
	CHECK_EQ(t[2].result, 4096);
	file_read(4096, want, 4096);
	CHECK(memcmp(mem, want, 4096) == 0);
	file_read(8192, want, 4096);
	CHECK(memcmp(mem + 2 * 4096 + 3, want, 4096) == 0);
	file_read(16384, want, 4096);
	CHECK(memcmp(mem + 4 * 4096 + 1, want, 4096) == 0);

	/* Offsets and lengths O_DIRECT cannot do are refused. */
	treq_init(&t[0], 0);
	t[0].iov[0] = (struct iovec){ mem, 4096 };
	CHECK_EQ(blk_image_readv(img, &t[0].r, t[0].iov, 1, bs / 2), -EINVAL);
	t[0].iov[0] = (struct iovec){ mem, bs / 2 };
	CHECK_EQ(blk_image_readv(img, &t[0].r, t[0].iov, 1, 0), -EINVAL);
	CHECK_EQ(blk_image_in_flight(img), 0);
	blk_image_close(img);
	free(mem);
	(void)unlink(path);
}

static void
test_cancel(void)
{
	static struct treq t[NREQ];
	static uint8_t bufs[NREQ][65536];
	struct blk_image *img;
	unsigned calls = 0, group1 = 0, errors = 0;
	uint8_t copy[65536];

	make_file(IMG_SIZE * 8);
	CHECK_EQ(open_img(false, true, NREQ, &img), 0);
	for (unsigned i = 0; i < NREQ; i++) {
		treq_init(&t[i], i % 2);
		t[i].iov[0] = (struct iovec){ bufs[i], 65536 };
		CHECK_EQ(blk_image_readv(img, &t[i].r, t[i].iov, 1,
					 (uint64_t)i * 65536),
			 0);
	}
	blk_image_submit(img);
	/* Group 1 first: every one of its requests is over when this returns;
	 * group 0's may be too, and must be reported properly if so. */
	blk_image_cancel(img, false, 1);
	for (unsigned i = 1; i < NREQ; i += 2) {
		group1 += t[i].calls;
		errors += t[i].result != 65536 && t[i].result != -ECANCELED;
	}
	CHECK_EQ(group1, NREQ / 2);
	CHECK_EQ(errors, 0);
	blk_image_cancel(img, true, 0);
	CHECK_EQ(blk_image_in_flight(img), 0);
	for (unsigned i = 0; i < NREQ; i++) {
		calls += t[i].calls == 1;
		errors += t[i].result != 65536 && t[i].result != -ECANCELED;
	}
	CHECK_EQ(calls, NREQ);
	CHECK_EQ(errors, 0);
	/* Nothing touches the buffers or calls back afterwards. */
	for (unsigned i = 0; i < NREQ; i++)
		memset(bufs[i], 0xcc, sizeof(bufs[i]));
	memset(copy, 0xcc, sizeof(copy));
	pump_for(f.evbase, 20);
	calls = 0;
	for (unsigned i = 0; i < NREQ; i++) {
		calls += t[i].calls;
		errors += memcmp(bufs[i], copy, sizeof(copy)) != 0;
	}
	CHECK_EQ(calls, NREQ);
	CHECK_EQ(errors, 0);
	/* Still usable after a cancel. */
	treq_init(&t[0], 0);
	CHECK_EQ(blk_image_flush(img, &t[0].r), 0);
	blk_image_submit(img);
	wait_done(t, 1);
	CHECK_EQ(t[0].result, 0);
	/* Close with requests queued: they are reported, then freed. */
	treq_init(&t[1], 0);
	t[1].iov[0] = (struct iovec){ bufs[1], 65536 };
	CHECK_EQ(blk_image_readv(img, &t[1].r, t[1].iov, 1, 0), 0);
	blk_image_close(img);
	CHECK_EQ(t[1].calls, 1);
	(void)unlink(path);
}

/*
 * A kernel that refuses io_uring (a seccomp filter, as container runtimes
 * install): open fails with io_uring's error and leaves nothing locked.
 * In a child, since the filter cannot be removed again.
 */
static void
test_no_ring(void)
{
	struct sock_filter filt[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = filt };
	struct blk_image *img = NULL;
	int status = -1;
	pid_t pid;

	make_file(IMG_SIZE);
	pid = fork();
	if (pid == 0) {
		int r;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
			_exit(2);
		r = open_img(false, false, 8, &img);
		if (r != -ENOSYS || img)
			_exit(3);
		/* The lock went with the file: a second try gets as far. */
		_exit(open_img(false, false, 8, &img) == -ENOSYS ? 0 : 4);
	}
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	CHECK_EQ(open_img(false, false, 8, &img), 0);
	blk_image_close(img);
	(void)unlink(path);
}

int
main(void)
{
	CHECK_EQ(fake_services_init(&f, 0), 0);
	test_open_errors();
	test_rw();
	test_many_in_flight();
	test_discard_zeroes();
	test_read_only_and_lock();
	test_direct();
	test_cancel();
	test_no_ring();
	fake_services_fini(&f);
	return test_finish();
}
