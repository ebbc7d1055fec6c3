/*
 * virtio-blk (devices/virtio/virtio-blk.c) as a driver sees it: split
 * rings laid out in the fake guest RAM, requests of every type, several
 * queues, a read-only disk, GET_ID, and hostile layouts (short header,
 * no writable status, data outside RAM, sectors past the end or
 * overflowing, data in the wrong direction, a descriptor loop), reset
 * and queue stop with requests in flight, the bounce path, and the
 * device created through its type on virtio-mmio and virtio-pci.  Data
 * is checked byte for byte in the image file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cfg.h"
#include "devices/registry.h"
#include "devices/virtio/virtio-blk.h"
#include "devices/virtio/virtio.h"
#include "tests/unit/devices/fake-info.h"
#include "tests/unit/devices/fake-services.h"
#include "tests/unit/devices/test-util.h"
#include "tests/unit/devices/virtio-driver.h"

#define MEM_SIZE (4u << 20)
#define IMG_SIZE (1u << 20) /* 2048 sectors */
#define QSIZE	 64u
#define PER_Q	 16u	  /* requests of 3 descriptors in flight per queue */
#define RING_GPA 0x10000u /* queue q's rings at RING_GPA + q * 0x4000 */
#define HDR_GPA	 0x100000u
#define DATA_GPA 0x200000u
#define STAT_GPA 0x180000u
#define QUEUES	 4

#define F(bit) (1ull << (bit))

struct rec {
	unsigned queue_irqs[VIRTIO_QUEUES_MAX];
	unsigned config_irqs;
};

/* The driver's view of one queue. */
struct drv_queue {
	uint16_t avail_idx;
	uint16_t next_desc;
};

static struct fake_services f;
static struct rec rec;
static struct virtio_dev *vd;
static struct drv_queue dq[QUEUES];
static char path[64];

static void
rec_notify(void *ctx, enum virtio_irq kind, unsigned q)
{
	struct rec *r = ctx;

	if (kind == VIRTIO_IRQ_CONFIG)
		r->config_irqs++;
	else if (q < VIRTIO_QUEUES_MAX)
		r->queue_irqs[q]++;
}

static const struct virtio_transport_ops rec_ops = { .notify = rec_notify };

static void
put16(uint64_t gpa, uint16_t v)
{
	memcpy(f.mem + gpa, &v, 2);
}

static uint16_t
get16(uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, f.mem + gpa, 2);
	return v;
}

static uint32_t
get32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, f.mem + gpa, 4);
	return v;
}

static uint64_t
desc_gpa(unsigned q)
{
	return RING_GPA + q * 0x4000u;
}

static uint64_t
avail_gpa(unsigned q)
{
	return desc_gpa(q) + 0x1000;
}

static uint64_t
used_gpa(unsigned q)
{
	return desc_gpa(q) + 0x2000;
}

/* The image: byte i is i * 13 + 5, so every offset is recognisable. */
static uint8_t
pattern(uint64_t off)
{
	return (uint8_t)(off * 13 + 5);
}

static void
make_image(size_t size)
{
	uint8_t *buf = malloc(size);
	int fd;

	for (size_t i = 0; i < size; i++)
		buf[i] = pattern(i);
	snprintf(path, sizeof(path), "/tmp/test-virtio-blk-XXXXXX");
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

/* Does the file hold the pattern at [off, off + len)? */
static bool
file_is_pattern(uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	bool ok = true;

	file_read(off, buf, len);
	for (size_t i = 0; i < len && ok; i++)
		ok = buf[i] == pattern(off + i);
	free(buf);
	return ok;
}

static void
setup_queue(unsigned q)
{
	struct virtio_queue *vq = virtio_queue(vd, q);

	memset(f.mem + desc_gpa(q), 0, 0x4000);
	dq[q] = (struct drv_queue){ 0 };
	virtio_queue_set_size(vd, q, QSIZE);
	virtio_queue_set_addr(vd, q, &vq->desc_gpa, desc_gpa(q));
	virtio_queue_set_addr(vd, q, &vq->driver_gpa, avail_gpa(q));
	virtio_queue_set_addr(vd, q, &vq->device_gpa, used_gpa(q));
	virtio_queue_set_ready(vd, q, true);
}

#define ALL_FEATURES                                              \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_BLK_F_FLUSH) |          \
	 F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES) | \
	 F(VIRTIO_BLK_F_MQ) | F(VIRTIO_BLK_F_BLK_SIZE) |          \
	 F(VIRTIO_BLK_F_SEG_MAX) | F(VIRTIO_BLK_F_SIZE_MAX))

/* A device on a fresh image, queues ready, DRIVER_OK. */
static int
start_ex(bool ro, const char *serial, bool direct, unsigned queues,
	 uint64_t features)
{
	const struct virtio_blk_params p = {
		.id = "vda",
		.path = path,
		.read_only = ro,
		.serial = serial,
		.direct = direct,
		.queues = queues,
	};
	int r;

	memset(&rec, 0, sizeof(rec));
	r = virtio_blk_new(&f.svc, &p, &vd);
	if (r < 0)
		return r;
	virtio_dev_set_transport(vd, &rec_ops, &rec);
	CHECK(vdrv_negotiate(vd, features));
	for (unsigned q = 0; q < queues && q < QUEUES; q++)
		setup_queue(q);
	virtio_set_status(vd, virtio_status(vd) | VIRTIO_STATUS_DRIVER_OK);
	fake_services_answered(&f);
	return 0;
}

static void
start(void)
{
	make_image(IMG_SIZE);
	CHECK_EQ(start_ex(false, "vda-serial", false, QUEUES, ALL_FEATURES), 0);
}

static void
stop(void)
{
	virtio_dev_fini(vd);
	vd->ops->destroy(vd);
	vd = NULL;
	CHECK_EQ(f.maps_held, 0);
	(void)unlink(path);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/* Write a chain of n descriptors into queue q's table; its head. */
static uint16_t
put_chain(unsigned q, const struct seg *s, unsigned n)
{
	uint16_t head = dq[q].next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % QSIZE);
		uint8_t *p = f.mem + desc_gpa(q) + 16u * d;
		uint16_t flags = (uint16_t)((s[i].writable ? 2 : 0) |
					    (i + 1 < n ? 1 : 0));
		uint16_t next = (uint16_t)((d + 1) % QSIZE);

		memcpy(p, &s[i].gpa, 8);
		memcpy(p + 8, &s[i].len, 4);
		memcpy(p + 12, &flags, 2);
		memcpy(p + 14, &next, 2);
	}
	dq[q].next_desc = (uint16_t)((head + n) % QSIZE);
	return head;
}

/* Make head available (without a kick). */
static void
make_avail(unsigned q, uint16_t head)
{
	put16(avail_gpa(q) + 4 + 2u * (dq[q].avail_idx % QSIZE), head);
	dq[q].avail_idx++;
	put16(avail_gpa(q) + 2, dq[q].avail_idx);
}

static void
kick(unsigned q)
{
	virtio_queue_kick(vd, q);
	fake_services_answered(&f);
}

static uint16_t
used_idx(unsigned q)
{
	return get16(used_gpa(q) + 2);
}

static bool
wait_used(unsigned q, uint16_t idx)
{
	PUMP_UNTIL(f.evbase, used_idx(q) == idx, 2000);
	return used_idx(q) == idx;
}

/* The used element for the n-th completion of queue q. */
static uint32_t
used_len(unsigned q, uint16_t n)
{
	return get32(used_gpa(q) + 4 + 8u * (n % QSIZE) + 4);
}

static uint32_t
used_id(unsigned q, uint16_t n)
{
	return get32(used_gpa(q) + 4 + 8u * (n % QSIZE));
}

static void
put_hdr(uint64_t gpa, uint32_t type, uint64_t sector)
{
	uint32_t zero = 0;

	memcpy(f.mem + gpa, &type, 4);
	memcpy(f.mem + gpa + 4, &zero, 4);
	memcpy(f.mem + gpa + 8, &sector, 8);
}

/*
 * One request on queue q: a header of type/sector, then segs, then the
 * status byte.  Waits for it; returns the status byte (0xee if none was
 * written) and *ret_len the used length.
 */
static uint8_t
request(unsigned q, uint32_t type, uint64_t sector, const struct seg *data,
	unsigned n, uint32_t *ret_len)
{
	struct seg s[8];
	uint16_t idx = used_idx(q), head;

	put_hdr(HDR_GPA, type, sector);
	f.mem[STAT_GPA] = 0xee;
	s[0] = (struct seg){ HDR_GPA, 16, false };
	if (n)
		memcpy(s + 1, data, n * sizeof(*data));
	s[n + 1] = (struct seg){ STAT_GPA, 1, true };
	head = put_chain(q, s, n + 2);
	make_avail(q, head);
	kick(q);
	CHECK(wait_used(q, (uint16_t)(idx + 1)));
	CHECK_EQ(used_id(q, idx), head);
	if (ret_len)
		*ret_len = used_len(q, idx);
	return f.mem[STAT_GPA];
}

static uint8_t
rw1(unsigned q, bool read, uint64_t sector, uint64_t gpa, uint32_t len,
    uint32_t *ret_len)
{
	struct seg d = { gpa, len, read };

	return request(q, read ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, sector, &d,
		       1, ret_len);
}

static uint32_t
config32(unsigned off)
{
	return virtio_config_read(vd, off, 4);
}

static void
test_config(void)
{
	start();
	CHECK_EQ(vd->device_id, VIRTIO_ID_BLOCK);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_CAPACITY), IMG_SIZE / 512);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_CAPACITY + 4), 0);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_SIZE_MAX), VIRTIO_BLK_SIZE_MAX);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_SEG_MAX), VIRTIO_BLK_SEG_MAX);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_BLK_SIZE), 512);
	CHECK_EQ(virtio_config_read(vd, VIRTIO_BLK_CFG_NUM_QUEUES, 2), QUEUES);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS),
		 VIRTIO_BLK_MAX_DISCARD);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_MAX_DISCARD_SEG), 1);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_DISCARD_ALIGNMENT), 1);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG), 1);
	CHECK_EQ(virtio_config_read(vd, VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP,
				    1),
		 1);
	CHECK_EQ(virtio_config_read(vd, VIRTIO_BLK_CFG_SIZE, 1), 0xff);
	/* The config is the device's: driver writes change nothing. */
	virtio_config_write(vd, VIRTIO_BLK_CFG_CAPACITY, 4, 7);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_CAPACITY), IMG_SIZE / 512);
	CHECK((virtio_device_features(vd, 0) & ALL_FEATURES) ==
	      (ALL_FEATURES & 0xffffffffu));
	CHECK(!(virtio_device_features(vd, 0) & F(VIRTIO_BLK_F_RO)));
	stop();
}

static void
test_read_write(void)
{
	uint8_t want[8192], got[8192];
	uint32_t len = 0;

	start();
	/* A read: the file's bytes, used length data + status. */
	memset(f.mem + DATA_GPA, 0, 4096);
	CHECK_EQ(rw1(0, true, 8, DATA_GPA, 4096, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 4097);
	file_read(8 * 512, want, 4096);
	CHECK(memcmp(f.mem + DATA_GPA, want, 4096) == 0);

	/* A write: in the file exactly there, nothing around it. */
	for (unsigned i = 0; i < 4096; i++)
		f.mem[DATA_GPA + i] = (uint8_t)(i ^ 0x5a);
	CHECK_EQ(rw1(0, false, 100, DATA_GPA, 4096, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 1);
	file_read(100 * 512, got, 4096);
	CHECK(memcmp(got, f.mem + DATA_GPA, 4096) == 0);
	CHECK(file_is_pattern(100 * 512 - 512, 512));
	CHECK(file_is_pattern(104 * 512 + 4096 - 2048, 512));

	/* The stream, not the descriptors: data in three pieces. */
	{
		struct seg d[3] = {
			{ DATA_GPA + 0x10000, 1000, false },
			{ DATA_GPA + 0x20000, 2000, false },
			{ DATA_GPA + 0x30000, 1096, false },
		};

		memset(f.mem + DATA_GPA + 0x10000, 1, 1000);
		memset(f.mem + DATA_GPA + 0x20000, 2, 2000);
		memset(f.mem + DATA_GPA + 0x30000, 3, 1096);
		CHECK_EQ(request(1, VIRTIO_BLK_T_OUT, 200, d, 3, &len),
			 VIRTIO_BLK_S_OK);
		file_read(200 * 512, got, 4096);
		memset(want, 1, 1000);
		memset(want + 1000, 2, 2000);
		memset(want + 3000, 3, 1096);
		CHECK(memcmp(got, want, 4096) == 0);
		/* ... and read back scattered the other way. */
		for (unsigned i = 0; i < 3; i++)
			d[i].writable = true;
		memset(f.mem + DATA_GPA + 0x10000, 0, 0x30000);
		CHECK_EQ(request(1, VIRTIO_BLK_T_IN, 200, d, 3, &len),
			 VIRTIO_BLK_S_OK);
		CHECK_EQ(len, 4097);
		CHECK_EQ(f.mem[DATA_GPA + 0x10000 + 999], 1);
		CHECK_EQ(f.mem[DATA_GPA + 0x20000 + 1999], 2);
		CHECK_EQ(f.mem[DATA_GPA + 0x30000 + 1095], 3);
		CHECK_EQ(f.mem[DATA_GPA + 0x30000 + 1096], 0);
	}

	/* A header split over two descriptors, status after read data in
	 * the same descriptor. */
	{
		struct seg s[3] = {
			{ HDR_GPA, 5, false },
			{ HDR_GPA + 0x100, 11, false },
			{ DATA_GPA, 513, true },
		};
		uint16_t idx = used_idx(2), head;
		uint32_t in = VIRTIO_BLK_T_IN;
		uint64_t sector = 3;

		memcpy(f.mem + HDR_GPA, &in, 4);
		memset(f.mem + HDR_GPA + 4, 0, 1);
		memset(f.mem + HDR_GPA + 0x100, 0, 3);
		memcpy(f.mem + HDR_GPA + 0x100 + 3, &sector, 8);
		f.mem[DATA_GPA + 512] = 0xee;
		head = put_chain(2, s, 3);
		make_avail(2, head);
		kick(2);
		CHECK(wait_used(2, (uint16_t)(idx + 1)));
		CHECK_EQ(f.mem[DATA_GPA + 512], VIRTIO_BLK_S_OK);
		CHECK_EQ(used_len(2, idx), 513);
		file_read(3 * 512, want, 512);
		CHECK(memcmp(f.mem + DATA_GPA, want, 512) == 0);
	}

	/* The last sector works, one beyond it does not. */
	CHECK_EQ(rw1(0, true, IMG_SIZE / 512 - 1, DATA_GPA, 512, NULL),
		 VIRTIO_BLK_S_OK);
	CHECK(rec.queue_irqs[0] > 0 && rec.queue_irqs[1] > 0);
	stop();
}

static void
test_flush_get_id(void)
{
	struct seg id = { DATA_GPA, 20, true };
	uint32_t len;

	start();
	CHECK_EQ(request(0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &len),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 1);
	memset(f.mem + DATA_GPA, 0xff, 32);
	id.len = 24;
	CHECK_EQ(request(0, VIRTIO_BLK_T_GET_ID, 0, &id, 1, &len),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 21);
	CHECK(memcmp(f.mem + DATA_GPA, "vda-serial", 10) == 0);
	CHECK_EQ(f.mem[DATA_GPA + 10], 0); /* zero-padded to 20 */
	CHECK_EQ(f.mem[DATA_GPA + 19], 0);
	CHECK_EQ(f.mem[DATA_GPA + 20], 0xff);
	id.len = 19;
	CHECK_EQ(request(0, VIRTIO_BLK_T_GET_ID, 0, &id, 1, &len),
		 VIRTIO_BLK_S_IOERR);
	stop();

	/* 20 bytes: all of them, no NUL. */
	make_image(IMG_SIZE);
	CHECK_EQ(start_ex(false, "ABCDEFGHIJKLMNOPQRST", false, 1,
			  ALL_FEATURES),
		 0);
	memset(f.mem + DATA_GPA, 0xff, 32);
	id.len = 20;
	CHECK_EQ(request(0, VIRTIO_BLK_T_GET_ID, 0, &id, 1, &len),
		 VIRTIO_BLK_S_OK);
	CHECK(memcmp(f.mem + DATA_GPA, "ABCDEFGHIJKLMNOPQRST", 20) == 0);
	CHECK_EQ(f.mem[DATA_GPA + 20], 0xff);
	stop();

	/* No serial: 20 zero bytes. */
	make_image(IMG_SIZE);
	CHECK_EQ(start_ex(false, NULL, false, 1, ALL_FEATURES), 0);
	memset(f.mem + DATA_GPA, 0xff, 32);
	CHECK_EQ(request(0, VIRTIO_BLK_T_GET_ID, 0, &id, 1, &len),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(f.mem[DATA_GPA], 0);
	CHECK_EQ(f.mem[DATA_GPA + 19], 0);
	stop();
}

static uint8_t
range_req(unsigned q, uint32_t type, uint64_t sector, uint32_t count,
	  uint32_t flags)
{
	struct seg d = { DATA_GPA + 0x1000, 16, false };
	uint8_t *p = f.mem + DATA_GPA + 0x1000;

	memcpy(p, &sector, 8);
	memcpy(p + 8, &count, 4);
	memcpy(p + 12, &flags, 4);
	return request(q, type, 0, &d, 1, NULL);
}

static bool
file_is_zero(uint64_t off, size_t len)
{
	uint8_t buf[4096];

	file_read(off, buf, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

static void
test_discard_write_zeroes(void)
{
	start();
	CHECK_EQ(range_req(0, VIRTIO_BLK_T_WRITE_ZEROES, 16, 2, 0),
		 VIRTIO_BLK_S_OK);
	CHECK(file_is_zero(16 * 512, 1024));
	CHECK(file_is_pattern(15 * 512, 512));
	CHECK(file_is_pattern(18 * 512, 512));
	CHECK_EQ(range_req(0, VIRTIO_BLK_T_WRITE_ZEROES, 64, 8,
			   VIRTIO_BLK_WZ_F_UNMAP),
		 VIRTIO_BLK_S_OK);
	CHECK(file_is_zero(64 * 512, 4096));
	CHECK(file_is_pattern(72 * 512, 512));
	CHECK_EQ(range_req(0, VIRTIO_BLK_T_DISCARD, 256, 256, 0),
		 VIRTIO_BLK_S_OK);
	CHECK(file_is_zero(256 * 512, 4096)); /* a hole, on ext4 and tmpfs */
	CHECK(file_is_pattern(512 * 512, 512));
	/* The spec's UNSUPP cases: unmap on discard, unknown flags. */
	CHECK_EQ(range_req(0, VIRTIO_BLK_T_DISCARD, 600, 8,
			   VIRTIO_BLK_WZ_F_UNMAP),
		 VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(range_req(0, VIRTIO_BLK_T_WRITE_ZEROES, 600, 8, 2),
		 VIRTIO_BLK_S_UNSUPP);
	CHECK(file_is_pattern(600 * 512, 4096));
	/* Past the end, overflowing. */
	CHECK_EQ(range_req(0, VIRTIO_BLK_T_WRITE_ZEROES, IMG_SIZE / 512 - 1, 2,
			   0),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(range_req(0, VIRTIO_BLK_T_DISCARD, UINT64_MAX, 1, 0),
		 VIRTIO_BLK_S_IOERR);
	CHECK(file_is_pattern(IMG_SIZE - 512, 512));
	/* Two segments are more than max_discard_seg. */
	{
		struct seg d = { DATA_GPA + 0x1000, 32, false };

		memset(f.mem + DATA_GPA + 0x1000, 0, 32);
		CHECK_EQ(request(0, VIRTIO_BLK_T_DISCARD, 0, &d, 1, NULL),
			 VIRTIO_BLK_S_IOERR);
	}
	stop();

	/* Not negotiated: UNSUPP. */
	make_image(IMG_SIZE);
	CHECK_EQ(start_ex(false, NULL, false, 1, F(VIRTIO_F_VERSION_1)), 0);
	CHECK_EQ(range_req(0, VIRTIO_BLK_T_WRITE_ZEROES, 16, 2, 0),
		 VIRTIO_BLK_S_UNSUPP);
	CHECK(file_is_pattern(16 * 512, 1024));
	stop();
}

struct stat_find {
	const char *name;
	uint64_t value;
	bool found;
};

static void
stat_emit(void *ctx, const char *name, uint64_t value)
{
	struct stat_find *sf = ctx;

	if (strcmp(name, sf->name) == 0) {
		sf->value = value;
		sf->found = true;
	}
}

/* One of the device's own counters, or UINT64_MAX when it has none. */
static uint64_t
stat_value(const char *name)
{
	struct stat_find sf = { .name = name };
	const struct device_stats_writer w = { .emit = stat_emit, .ctx = &sf };

	vd->ops->stats(vd, &w);
	return sf.found ? sf.value : UINT64_MAX;
}

static void
test_read_only(void)
{
	uint32_t len;

	make_image(IMG_SIZE);
	CHECK_EQ(start_ex(true, NULL, false, 1,
			  F(VIRTIO_F_VERSION_1) | F(VIRTIO_BLK_F_RO) |
				  F(VIRTIO_BLK_F_FLUSH)),
		 0);
	CHECK(virtio_device_features(vd, 0) & F(VIRTIO_BLK_F_RO));
	CHECK(!(virtio_device_features(vd, 0) & F(VIRTIO_BLK_F_DISCARD)));
	memset(f.mem + DATA_GPA, 0x11, 4096);
	CHECK_EQ(rw1(0, false, 0, DATA_GPA, 4096, &len), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(len, 1);
	CHECK_EQ(range_req(0, VIRTIO_BLK_T_DISCARD, 0, 8, 0),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(range_req(0, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0),
		 VIRTIO_BLK_S_IOERR);
	CHECK(file_is_pattern(0, 8192));
	/* Refused by the device itself, not left to the read-only file. */
	CHECK_EQ(stat_value("blk_ro_writes"), 3);
	CHECK_EQ(stat_value("blk_image_errors"), 0);
	/* Reads and flushes still work. */
	CHECK_EQ(rw1(0, true, 0, DATA_GPA, 4096, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(f.mem[DATA_GPA + 1], pattern(1));
	CHECK_EQ(request(0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL),
		 VIRTIO_BLK_S_OK);
	stop();
}

static void
test_hostile(void)
{
	struct seg s[3];
	uint16_t idx, head;
	uint32_t len;

	start();
	/* Unknown type. */
	CHECK_EQ(request(0, 99, 0, NULL, 0, NULL), VIRTIO_BLK_S_UNSUPP);
	/* Short header: 8 readable bytes. */
	s[0] = (struct seg){ HDR_GPA, 8, false };
	s[1] = (struct seg){ STAT_GPA, 1, true };
	put_hdr(HDR_GPA, VIRTIO_BLK_T_IN, 0);
	f.mem[STAT_GPA] = 0xee;
	idx = used_idx(0);
	make_avail(0, put_chain(0, s, 2));
	kick(0);
	CHECK(wait_used(0, (uint16_t)(idx + 1)));
	CHECK_EQ(f.mem[STAT_GPA], VIRTIO_BLK_S_IOERR);

	/* No writable status byte: returned with nothing written. */
	put_hdr(HDR_GPA, VIRTIO_BLK_T_OUT, 0);
	s[0] = (struct seg){ HDR_GPA, 16, false };
	s[1] = (struct seg){ DATA_GPA, 512, false };
	s[2] = (struct seg){ STAT_GPA, 1, false };
	memset(f.mem + DATA_GPA, 0x22, 512);
	f.mem[STAT_GPA] = 0xee;
	idx = used_idx(0);
	head = put_chain(0, s, 3);
	make_avail(0, head);
	kick(0);
	CHECK(wait_used(0, (uint16_t)(idx + 1)));
	CHECK_EQ(used_len(0, idx), 0);
	CHECK_EQ(f.mem[STAT_GPA], 0xee);
	CHECK(file_is_pattern(0, 512));

	/* Data beyond guest RAM, and straddling its end. */
	CHECK_EQ(rw1(0, true, 0, MEM_SIZE + 0x1000, 512, &len),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(len, 1);
	CHECK_EQ(rw1(0, false, 0, MEM_SIZE - 256, 512, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK(file_is_pattern(0, 512));
	/* Sectors: past the end, wrapping, a length not of sectors. */
	CHECK_EQ(rw1(0, true, IMG_SIZE / 512, DATA_GPA, 512, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw1(0, true, IMG_SIZE / 512 - 1, DATA_GPA, 1024, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw1(0, false, UINT64_MAX / 512 + 1, DATA_GPA, 512, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw1(0, false, UINT64_MAX, DATA_GPA, 512, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw1(0, false, 0, DATA_GPA, 100, NULL), VIRTIO_BLK_S_IOERR);
	CHECK(file_is_pattern(0, 1024));
	CHECK(file_is_pattern(IMG_SIZE - 1024, 1024));

	/* Wrong direction: a read with readable data, a write into
	 * writable buffers. */
	{
		struct seg d = { DATA_GPA, 512, false };

		memset(f.mem + DATA_GPA, 0x33, 512);
		CHECK_EQ(request(0, VIRTIO_BLK_T_IN, 0, &d, 1, NULL),
			 VIRTIO_BLK_S_IOERR);
		CHECK_EQ(f.mem[DATA_GPA], 0x33);
		d.writable = true;
		CHECK_EQ(request(0, VIRTIO_BLK_T_OUT, 0, &d, 1, NULL),
			 VIRTIO_BLK_S_IOERR);
		CHECK(file_is_pattern(0, 512));
	}
	CHECK(!(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));

	/* A descriptor loop breaks the ring: DEVICE_NEEDS_RESET. */
	{
		uint8_t *d0 = f.mem + desc_gpa(3), *d1 = d0 + 16;
		uint64_t gpa = HDR_GPA;
		uint32_t l = 16;
		uint16_t fl = 1, n0 = 1, n1 = 0;

		memcpy(d0, &gpa, 8);
		memcpy(d0 + 8, &l, 4);
		memcpy(d0 + 12, &fl, 2);
		memcpy(d0 + 14, &n0, 2);
		memcpy(d1, &gpa, 8);
		memcpy(d1 + 8, &l, 4);
		memcpy(d1 + 12, &fl, 2);
		memcpy(d1 + 14, &n1, 2);
		make_avail(3, 0);
		kick(3);
		pump_for(f.evbase, 5);
		CHECK(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
		CHECK_EQ(used_idx(3), 0);
		CHECK(rec.config_irqs > 0);
	}
	stop();
}

static void
test_multi_queue_many(void)
{
	uint16_t base[QUEUES];
	bool ok = true;

	start();
	/* PER_Q reads on every queue, one kick each, all in flight. */
	for (unsigned q = 0; q < QUEUES; q++) {
		base[q] = used_idx(q);
		for (unsigned i = 0; i < PER_Q; i++) {
			unsigned k = q * QSIZE + i;
			uint64_t hdr = HDR_GPA + 0x100u * k;
			struct seg s[3] = {
				{ hdr, 16, false },
				{ DATA_GPA + 0x1000u * k, 4096, true },
				{ STAT_GPA + k, 1, true },
			};

			put_hdr(hdr, VIRTIO_BLK_T_IN, 8u * k);
			f.mem[STAT_GPA + k] = 0xee;
			make_avail(q, put_chain(q, s, 3));
		}
	}
	for (unsigned q = 0; q < QUEUES; q++)
		virtio_queue_kick(vd, q);
	fake_services_answered(&f);
	for (unsigned q = 0; q < QUEUES; q++)
		CHECK(wait_used(q, (uint16_t)(base[q] + PER_Q)));
	for (unsigned q = 0; q < QUEUES; q++)
		for (unsigned i = 0; i < PER_Q; i++) {
			unsigned k = q * QSIZE + i;
			uint8_t want[4096];

			file_read(8u * k * 512, want, 4096);
			ok = ok && f.mem[STAT_GPA + k] == VIRTIO_BLK_S_OK &&
			     memcmp(f.mem + DATA_GPA + 0x1000u * k, want,
				    4096) == 0;
		}
	CHECK(ok);
	for (unsigned q = 0; q < QUEUES; q++)
		CHECK(rec.queue_irqs[q] >= 1);
	stop();
}

static void
test_bounce(void)
{
	uint8_t want[65536];

	start();
	/* No pins left: copied instead, same bytes. */
	f.fail_map = -EBUSY;
	for (unsigned i = 0; i < 8192; i++)
		f.mem[DATA_GPA + i] = (uint8_t)(i * 3);
	CHECK_EQ(rw1(0, false, 40, DATA_GPA, 8192, NULL), VIRTIO_BLK_S_OK);
	file_read(40 * 512, want, 8192);
	CHECK(memcmp(want, f.mem + DATA_GPA, 8192) == 0);
	memset(f.mem + DATA_GPA, 0, 8192);
	CHECK_EQ(rw1(0, true, 40, DATA_GPA, 8192, NULL), VIRTIO_BLK_S_OK);
	CHECK(memcmp(want, f.mem + DATA_GPA, 8192) == 0);
	CHECK_EQ(rw1(0, true, 40, MEM_SIZE - 512, 1024, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(stat_value("blk_bounced"), 3);
	f.fail_map = 0;
	/* More segments than a mapping holds: copied too. */
	f.map_granule = 512;
	memset(f.mem + DATA_GPA, 0, 65536);
	CHECK_EQ(rw1(0, true, 0, DATA_GPA, 65536, NULL), VIRTIO_BLK_S_OK);
	file_read(0, want, 65536);
	CHECK(memcmp(want, f.mem + DATA_GPA, 65536) == 0);
	/* Fewer: mapped in several segments. */
	f.map_granule = 8192;
	memset(f.mem + DATA_GPA, 0, 65536);
	CHECK_EQ(rw1(0, true, 0, DATA_GPA + 100, 65536, NULL), VIRTIO_BLK_S_OK);
	CHECK(memcmp(want, f.mem + DATA_GPA + 100, 65536) == 0);
	f.map_granule = 0;
	stop();
}

/*
 * More bounced data than the budget in flight: the queue waits, and the
 * completions serve the rest.  Header in one descriptor, data and status
 * in one writable descriptor: the status is its last byte.
 */
static void
test_bounce_budget(void)
{
	const uint32_t len = 1536u << 10;
	const unsigned n = 24; /* 36 MiB */
	uint16_t base;
	bool ok = true;

	make_image(2u << 20);
	CHECK_EQ(start_ex(false, NULL, false, 1, ALL_FEATURES), 0);
	f.fail_map = -EBUSY;
	base = used_idx(0);
	put_hdr(HDR_GPA, VIRTIO_BLK_T_IN, 0);
	for (unsigned i = 0; i < n; i++) {
		struct seg s[2] = {
			{ HDR_GPA, 16, false },
			{ DATA_GPA, len + 1, true },
		};

		make_avail(0, put_chain(0, s, 2));
	}
	kick(0);
	CHECK(stat_value("blk_waits") >= 1);
	CHECK(wait_used(0, (uint16_t)(base + n)));
	for (unsigned i = 0; i < n; i++)
		ok = ok && used_len(0, (uint16_t)(base + i)) == len + 1;
	CHECK(ok);
	CHECK_EQ(stat_value("blk_bounced"), n);
	CHECK_EQ(f.mem[DATA_GPA + len], VIRTIO_BLK_S_OK);
	CHECK_EQ(f.mem[DATA_GPA + len - 1], pattern(len - 1));
	f.fail_map = 0;
	stop();
}

/* Requests in flight when the driver resets or stops the queue. */
static void
test_reset_in_flight(void)
{
	uint16_t idx;
	static uint8_t copy[PER_Q * 4096];

	for (unsigned round = 0; round < 2; round++) {
		start();
		idx = used_idx(0);
		for (unsigned i = 0; i < PER_Q; i++) {
			struct seg s[3] = {
				{ HDR_GPA + 0x100u * i, 16, false },
				{ DATA_GPA + 0x1000u * i, 4096, true },
				{ STAT_GPA + i, 1, true },
			};

			put_hdr(HDR_GPA + 0x100u * i, VIRTIO_BLK_T_IN, 8u * i);
			f.mem[STAT_GPA + i] = 0xee;
			make_avail(0, put_chain(0, s, 3));
		}
		memset(f.mem + DATA_GPA, 0xcc, sizeof(copy));
		kick(0); /* popped and submitted, not reaped */
		if (round == 0)
			virtio_set_status(vd, 0);
		else
			virtio_queue_set_ready(vd, 0, false);
		CHECK_EQ(f.maps_held, 3u * (QUEUES - (round ? 1 : QUEUES)));
		/* Nothing pushed, and nothing lands in guest memory later. */
		memset(f.mem + DATA_GPA, 0xcc, sizeof(copy));
		memcpy(copy, f.mem + DATA_GPA, sizeof(copy));
		pump_for(f.evbase, 20);
		CHECK_EQ(used_idx(0), idx);
		CHECK(memcmp(copy, f.mem + DATA_GPA, sizeof(copy)) == 0);
		CHECK_EQ(f.mem[STAT_GPA], 0xee);
		if (round == 1) {
			/* The other queues still work, and so does 0 again. */
			CHECK_EQ(rw1(1, true, 0, DATA_GPA, 512, NULL),
				 VIRTIO_BLK_S_OK);
			setup_queue(0);
			CHECK_EQ(rw1(0, true, 0, DATA_GPA, 512, NULL),
				 VIRTIO_BLK_S_OK);
		}
		stop();
	}
}

/* PER_Q reads on queue q at once, waited for; all OK with the right data. */
static bool
reads_in_flight(unsigned q, unsigned round)
{
	uint16_t base = used_idx(q);
	bool ok = true;

	for (unsigned i = 0; i < PER_Q; i++) {
		uint64_t sector = 8u * ((round * PER_Q + i) % 256u);
		struct seg s[3] = {
			{ HDR_GPA + 0x100u * i, 16, false },
			{ DATA_GPA + 0x1000u * i, 4096, true },
			{ STAT_GPA + i, 1, true },
		};

		put_hdr(HDR_GPA + 0x100u * i, VIRTIO_BLK_T_IN, sector);
		f.mem[STAT_GPA + i] = 0xee;
		make_avail(q, put_chain(q, s, 3));
	}
	kick(q);
	if (!wait_used(q, (uint16_t)(base + PER_Q)))
		return false;
	for (unsigned i = 0; i < PER_Q; i++) {
		uint64_t sector = 8u * ((round * PER_Q + i) % 256u);

		ok = ok && f.mem[STAT_GPA + i] == VIRTIO_BLK_S_OK &&
		     f.mem[DATA_GPA + 0x1000u * i] == pattern(sector * 512) &&
		     f.mem[DATA_GPA + 0x1000u * i + 4095] ==
			     pattern(sector * 512 + 4095);
	}
	return ok;
}

/*
 * Requests come from a pool made once per queue start: many times the
 * queue size of them, in flight together or one by one, allocate it
 * once; a chain longer than the inline lists still works.  A driver
 * that reuses a head in flight until the pool is dry finds its further
 * heads served after the completions.
 */
static void
test_pool(void)
{
	struct seg d[8];
	uint16_t base, head;
	bool ok = true;

	start();
	/* DRIVER_OK served every queue once: one pool each. */
	CHECK_EQ(stat_value("blk_pool_allocs"), QUEUES);
	for (unsigned round = 0; round < 4u * QSIZE / PER_Q; round++)
		ok = ok && reads_in_flight(0, round);
	CHECK(ok);
	for (unsigned i = 0; i < 2u * QSIZE; i++)
		ok = ok && rw1(0, true, 8u * (i % 256u), DATA_GPA, 4096,
			       NULL) == VIRTIO_BLK_S_OK;
	CHECK(ok);
	CHECK_EQ(stat_value("blk_pool_allocs"), QUEUES);
	CHECK_EQ(stat_value("blk_heap_lists"), 0);
	/* Six pieces of 512 bytes: more than the inline lists hold. */
	for (unsigned i = 0; i < 6; i++)
		d[i] = (struct seg){ DATA_GPA + 0x1000u * i, 512, true };
	memset(f.mem + DATA_GPA, 0, 0x8000);
	CHECK_EQ(request(0, VIRTIO_BLK_T_IN, 16, d, 6, NULL), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 6; i++)
		ok = ok &&
		     f.mem[DATA_GPA + 0x1000u * i] ==
			     pattern(16 * 512 + 512u * i) &&
		     f.mem[DATA_GPA + 0x1000u * i + 511] ==
			     pattern(16 * 512 + 512u * i + 511);
	CHECK(ok);
	CHECK_EQ(stat_value("blk_heap_lists"), 1);
	CHECK_EQ(stat_value("blk_pool_allocs"), QUEUES);

	/* One head offered QSIZE times, then 8 more while all are out. */
	base = used_idx(0);
	put_hdr(HDR_GPA, VIRTIO_BLK_T_IN, 0);
	d[0] = (struct seg){ HDR_GPA, 16, false };
	d[1] = (struct seg){ DATA_GPA, 4096, true };
	d[2] = (struct seg){ STAT_GPA, 1, true };
	head = put_chain(0, d, 3);
	for (unsigned i = 0; i < QSIZE; i++)
		make_avail(0, head);
	kick(0);
	for (unsigned i = 0; i < 8; i++)
		make_avail(0, head);
	kick(0);
	CHECK(wait_used(0, (uint16_t)(base + QSIZE + 8)));
	CHECK_EQ(f.mem[STAT_GPA], VIRTIO_BLK_S_OK);
	CHECK_EQ(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	CHECK(stat_value("blk_waits") >= 1);
	CHECK_EQ(stat_value("blk_pool_allocs"), QUEUES);
	stop();
}

/*
 * A device reset with requests in flight, then a new negotiation: the
 * new queue gets a new pool and serves many requests.
 */
static void
test_reset_then_new(void)
{
	bool ok = true;

	start();
	for (unsigned i = 0; i < PER_Q; i++) {
		struct seg s[3] = {
			{ HDR_GPA + 0x100u * i, 16, false },
			{ DATA_GPA + 0x1000u * i, 4096, true },
			{ STAT_GPA + i, 1, true },
		};

		put_hdr(HDR_GPA + 0x100u * i, VIRTIO_BLK_T_IN, 8u * i);
		make_avail(0, put_chain(0, s, 3));
	}
	kick(0); /* submitted, not reaped */
	CHECK_EQ(stat_value("blk_pool_allocs"), QUEUES);
	virtio_set_status(vd, 0);
	CHECK_EQ(f.maps_held, 0);
	CHECK_EQ(stat_value("blk_dropped"), PER_Q);
	CHECK(vdrv_negotiate(vd, ALL_FEATURES));
	for (unsigned q = 0; q < QUEUES; q++)
		setup_queue(q);
	virtio_set_status(vd, virtio_status(vd) | VIRTIO_STATUS_DRIVER_OK);
	fake_services_answered(&f);
	for (unsigned round = 0; round < 2u * QSIZE / PER_Q; round++)
		ok = ok && reads_in_flight(0, round);
	CHECK(ok);
	CHECK_EQ(stat_value("blk_pool_allocs"), 2 * QUEUES);
	stop();
}

static void
test_direct(void)
{
	uint8_t want[4096];

	make_image(IMG_SIZE);
	CHECK_EQ(start_ex(false, NULL, true, 1, ALL_FEATURES), 0);
	for (unsigned i = 0; i < 4096; i++)
		f.mem[DATA_GPA + 7 + i] = (uint8_t)(i * 11);
	/* A guest buffer O_DIRECT cannot take as it is still works. */
	CHECK_EQ(rw1(0, false, 24, DATA_GPA + 7, 4096, NULL), VIRTIO_BLK_S_OK);
	file_read(24 * 512, want, 4096);
	CHECK(memcmp(want, f.mem + DATA_GPA + 7, 4096) == 0);
	memset(f.mem + DATA_GPA, 0, 8192);
	CHECK_EQ(rw1(0, true, 24, DATA_GPA, 4096, NULL), VIRTIO_BLK_S_OK);
	CHECK(memcmp(want, f.mem + DATA_GPA, 4096) == 0);
	stop();
}

static void
test_new_errors(void)
{
	struct virtio_blk_params p = { .path = "/nonexistent.img",
				       .queues = 1 };
	struct virtio_dev *v = NULL;
	int fd;

	CHECK_EQ(virtio_blk_new(&f.svc, &p, &v), -ENOENT);
	make_image(IMG_SIZE);
	p.path = path;
	p.queues = 0;
	CHECK_EQ(virtio_blk_new(&f.svc, &p, &v), -EINVAL);
	p.queues = VIRTIO_BLK_QUEUES_MAX + 1;
	CHECK_EQ(virtio_blk_new(&f.svc, &p, &v), -EINVAL);
	p.queues = 1;
	p.serial = "123456789012345678901";
	CHECK_EQ(virtio_blk_new(&f.svc, &p, &v), -EINVAL);
	p.serial = NULL;
	/* Locked: a second device on the same image is refused. */
	CHECK_EQ(virtio_blk_new(&f.svc, &p, &v), 0);
	CHECK_EQ(virtio_blk_new(&f.svc, &p, &vd), -EBUSY);
	virtio_dev_fini(v);
	v->ops->destroy(v);
	/* A size that is not whole sectors. */
	fd = open(path, O_WRONLY);
	CHECK_EQ(ftruncate(fd, IMG_SIZE - 1), 0);
	(void)close(fd);
	CHECK_EQ(virtio_blk_new(&f.svc, &p, &v), -EINVAL);
	(void)unlink(path);
}

/* Through the type: config text, create, a real transport. */
static void
test_type(const char *placement, bool pci)
{
	char yaml[512];
	struct cfg *cfg = NULL;
	struct device *dev = NULL;
	const struct device_type *type = device_type_find("virtio-blk");
	FILE *errs = tmpfile();

	make_image(IMG_SIZE);
	CHECK(type != NULL);
	snprintf(yaml, sizeof(yaml),
		 "devices:\n"
		 "  - type: virtio-blk\n"
		 "    id: vda\n"
		 "%s"
		 "    path: %s\n"
		 "    serial: s1\n"
		 "    queues: 2\n",
		 placement, path);
	CHECK_EQ(cfg_load_string("t.yaml", yaml, strlen(yaml),
				 device_type_cfg_find, errs, &cfg),
		 0);
	CHECK_EQ(type->create(&cfg->devices[0], &f.svc, &dev), 0);
	if (dev && pci) {
		/* 1af4:1042, the modern id of a block device. */
		CHECK(dev->ops->config_read != NULL);
		if (dev->ops->config_read)
			CHECK_EQ(dev->ops->config_read(dev, 0, 4), 0x10421af4u);
		CHECK(dev->is_pci);
	} else if (dev) {
		CHECK_EQ(dev->ops->read(dev, 0, 0x008, 4), VIRTIO_ID_BLOCK);
		CHECK_EQ(dev->ops->read(dev, 0, 0x100, 4), IMG_SIZE / 512);
		CHECK_EQ(dev->ops->read(dev, 0,
					0x100 + VIRTIO_BLK_CFG_NUM_QUEUES, 2) &
				 0xffff,
			 2);
	}
	if (dev)
		dev->ops->destroy(dev);
	cfg_free(cfg);
	cfg = NULL;
	/* Grant DMA where the core has no grant services. */
	snprintf(yaml, sizeof(yaml),
		 "devices:\n"
		 "  - type: virtio-blk\n"
		 "    id: vda\n"
		 "%s"
		 "    path: %s\n"
		 "    dma: grant\n",
		 placement, path);
	CHECK_EQ(cfg_load_string("t.yaml", yaml, strlen(yaml),
				 device_type_cfg_find, errs, &cfg),
		 0);
	dev = NULL;
	CHECK_EQ(type->create(&cfg->devices[0], &f.svc, &dev), -EOPNOTSUPP);
	CHECK(dev == NULL);
	cfg_free(cfg);
	fclose(errs);
	CHECK_EQ(f.maps_held, 0);
	(void)unlink(path);
}

static void
mmio_w(struct device *dev, uint64_t off, uint32_t v)
{
	dev->ops->write(dev, 0, off, 4, v);
}

/* A post-and-notify of one chain through the transport's registers. */
static void
mmio_post(struct device *dev, const struct seg *s, unsigned n)
{
	make_avail(0, put_chain(0, s, n));
	mmio_w(dev, 0x050, 0); /* QueueNotify */
	fake_services_answered(&f);
}

/*
 * A driver on virtio-mmio: negotiation and queue set-up through the
 * registers, a write and a read, the interrupt on the ISA line, and a
 * destroy with a request in flight.
 */
static void
test_mmio_io(void)
{
	static const char yaml_fmt[] = "devices:\n"
				       "  - type: virtio-blk\n"
				       "    id: vda\n"
				       "    mmio: 0xfe000000\n"
				       "    irq: 5\n"
				       "    path: %s\n";
	char yaml[256];
	struct cfg *cfg = NULL;
	struct device *dev = NULL;
	uint8_t got[4096];
	struct seg s[3] = {
		{ HDR_GPA, 16, false },
		{ DATA_GPA, 4096, false },
		{ STAT_GPA, 1, true },
	};

	make_image(IMG_SIZE);
	snprintf(yaml, sizeof(yaml), yaml_fmt, path);
	CHECK_EQ(cfg_load_string("t.yaml", yaml, strlen(yaml),
				 device_type_cfg_find, NULL, &cfg),
		 0);
	CHECK_EQ(virtio_blk_type.create(&cfg->devices[0], &f.svc, &dev), 0);
	cfg_free(cfg);
	if (!dev)
		return;
	memset(f.mem + desc_gpa(0), 0, 0x4000);
	dq[0] = (struct drv_queue){ 0 };
	mmio_w(dev, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mmio_w(dev, 0x024, 0);
	mmio_w(dev, 0x020, (uint32_t)F(VIRTIO_BLK_F_FLUSH));
	mmio_w(dev, 0x024, 1);
	mmio_w(dev, 0x020, 1); /* VIRTIO_F_VERSION_1 */
	mmio_w(dev, 0x070, 0x0b);
	CHECK_EQ(dev->ops->read(dev, 0, 0x070, 4), 0x0b);
	mmio_w(dev, 0x030, 0);
	CHECK_EQ(dev->ops->read(dev, 0, 0x034, 4), VIRTIO_BLK_QUEUE_SIZE);
	mmio_w(dev, 0x038, QSIZE);
	mmio_w(dev, 0x080, (uint32_t)desc_gpa(0));
	mmio_w(dev, 0x090, (uint32_t)avail_gpa(0));
	mmio_w(dev, 0x0a0, (uint32_t)used_gpa(0));
	mmio_w(dev, 0x044, 1);
	mmio_w(dev, 0x070, 0x0f);

	put_hdr(HDR_GPA, VIRTIO_BLK_T_OUT, 30);
	memset(f.mem + DATA_GPA, 0x6b, 4096);
	f.mem[STAT_GPA] = 0xee;
	mmio_post(dev, s, 3);
	CHECK(wait_used(0, 1));
	CHECK_EQ(f.mem[STAT_GPA], VIRTIO_BLK_S_OK);
	file_read(30 * 512, got, sizeof(got));
	CHECK(memcmp(got, f.mem + DATA_GPA, sizeof(got)) == 0);
	CHECK(f.isa_level[5]);
	CHECK_EQ(dev->ops->read(dev, 0, 0x060, 4) & 1, 1);
	mmio_w(dev, 0x064, 1); /* InterruptACK */
	CHECK(!f.isa_level[5]);

	put_hdr(HDR_GPA, VIRTIO_BLK_T_IN, 2);
	s[1].writable = true;
	mmio_post(dev, s, 3);
	CHECK(wait_used(0, 2));
	file_read(2 * 512, got, sizeof(got));
	CHECK(memcmp(got, f.mem + DATA_GPA, sizeof(got)) == 0);
	CHECK(f.isa_level[5]);

	/* Gone with a read in flight: nothing left behind, nothing later. */
	mmio_post(dev, s, 3);
	dev->ops->destroy(dev);
	CHECK_EQ(f.maps_held, 0);
	memset(f.mem + DATA_GPA, 0xcc, 4096);
	pump_for(f.evbase, 10);
	CHECK_EQ(used_idx(0), 2);
	CHECK_EQ(f.mem[DATA_GPA + 4095], 0xcc);
	(void)unlink(path);
}

/* What vd's own describe says under key (the transport adds interrupt). */
static const char *
vd_info(const char *key)
{
	static struct fake_info fi;
	const struct device_info_writer w = { fake_info_str, &fi };

	memset(&fi, 0, sizeof(fi));
	virtio_describe(vd, &w);
	for (unsigned i = 0; i < fi.count && i < FAKE_INFO_MAX; i++)
		if (strcmp(fi.keys[i], key) == 0)
			return fi.values[i];
	return "(absent)";
}

static void
make_file(const char *p, size_t size)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)size), 0);
	(void)close(fd);
}

/* blockdev_change: a new medium, read-only state, and what fails. */
static void
test_blockdev_change(void)
{
	char other[80], want[96];
	uint8_t gen;
	uint32_t len;
	int fd;
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	start();
	snprintf(want, sizeof(want), "file:%s", path);
	CHECK(strcmp(vd_info("backend"), want) == 0);
	CHECK(strcmp(vd_info("read-only"), "false") == 0);
	snprintf(other, sizeof(other), "%s-2", path);

	/* Failures change nothing: missing, odd size, locked, bad args. */
	gen = vd->config_generation;
	CHECK_EQ(virtio_blockdev_change(vd, "/nonexistent/x.img", -1), -ENOENT);
	make_file(other, 4 * IMG_SIZE + 100);
	CHECK_EQ(virtio_blockdev_change(vd, other, -1), -EINVAL);
	make_file(other, 4 * IMG_SIZE);
	fd = open(other, O_RDWR);
	CHECK(fd >= 0 && fcntl(fd, F_OFD_SETLK, &lk) == 0);
	CHECK_EQ(virtio_blockdev_change(vd, other, -1), -EBUSY);
	(void)close(fd);
	CHECK_EQ(virtio_blockdev_change(vd, NULL, -1), -EINVAL);
	CHECK_EQ(virtio_blockdev_change(vd, NULL, 2), -EINVAL);
	CHECK_EQ(vd->config_generation, gen);
	CHECK_EQ(rec.config_irqs, 0);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_CAPACITY), IMG_SIZE / 512);
	CHECK(strcmp(vd_info("backend"), want) == 0);
	CHECK_EQ(rw1(0, true, 0, DATA_GPA, 4096, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(f.mem[DATA_GPA + 7], pattern(7));

	/* A new, bigger medium: capacity, generation, config interrupt. */
	CHECK_EQ(virtio_blockdev_change(vd, other, -1), 0);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_CAPACITY), 4 * IMG_SIZE / 512);
	CHECK_EQ(vd->config_generation, (uint8_t)(gen + 1));
	CHECK_EQ(rec.config_irqs, 1);
	snprintf(want, sizeof(want), "file:%s", other);
	CHECK(strcmp(vd_info("backend"), want) == 0);
	/* The new image is the one served (zeroes, beyond the old end). */
	CHECK_EQ(rw1(0, true, 3 * IMG_SIZE / 512, DATA_GPA, 512, NULL),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(f.mem[DATA_GPA + 7], 0);

	/* Read-only: writes fail with IOERR and leave the image alone. */
	CHECK_EQ(virtio_blockdev_change(vd, NULL, 1), 0);
	CHECK_EQ(rec.config_irqs, 2);
	CHECK(strcmp(vd_info("read-only"), "true") == 0);
	CHECK(virtio_device_features(vd, 0) & F(VIRTIO_BLK_F_RO));
	memset(f.mem + DATA_GPA, 0x11, 512);
	CHECK_EQ(rw1(0, false, 0, DATA_GPA, 512, &len), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rw1(0, true, 0, DATA_GPA, 512, NULL), VIRTIO_BLK_S_OK);
	CHECK_EQ(f.mem[DATA_GPA], 0);
	/* Writable again (the image was opened writable). */
	CHECK_EQ(virtio_blockdev_change(vd, NULL, 0), 0);
	CHECK(!(virtio_device_features(vd, 0) & F(VIRTIO_BLK_F_RO)));
	CHECK_EQ(rw1(0, false, 0, DATA_GPA, 512, &len), VIRTIO_BLK_S_OK);
	/* Back to the first image, read-only: opened read-only. */
	CHECK_EQ(virtio_blockdev_change(vd, path, 1), 0);
	CHECK_EQ(config32(VIRTIO_BLK_CFG_CAPACITY), IMG_SIZE / 512);
	CHECK_EQ(virtio_blockdev_change(vd, NULL, 0), -EROFS);
	CHECK(strcmp(vd_info("read-only"), "true") == 0);
	CHECK(file_is_pattern(0, 8192));
	CHECK_EQ(f.reports, 0);
	stop();
	(void)unlink(other);
}

/* A kernel error is reported; a guest's mistake is not. */
static void
test_reports(void)
{
	struct device dummy = { .id = "vda", .svc = &f.svc };
	int fd;

	start();
	vd->dev = &dummy;
	fake_services_clear(&f);
	/* Beyond the disk: the guest's fault, IOERR, no report. */
	CHECK_EQ(rw1(0, true, IMG_SIZE / 512, DATA_GPA, 512, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(f.reports, 0);
	/* The file shrinks under the device: a short read, -EIO. */
	fd = open(path, O_RDWR);
	CHECK(fd >= 0 && ftruncate(fd, 0) == 0);
	(void)close(fd);
	CHECK_EQ(rw1(0, true, 0, DATA_GPA, 512, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(f.reports, 1);
	CHECK_EQ(f.report_counts[DEVICE_EVENT_IO_ERROR], 1);
	CHECK(f.last_report_dev == &dummy);
	/* The virtio core's DEVICE_NEEDS_RESET, once per setting. */
	virtio_needs_reset(vd, "test");
	virtio_needs_reset(vd, "test");
	CHECK_EQ(f.report_counts[DEVICE_EVENT_NEEDS_RESET], 1);
	CHECK(strcmp(f.last_report_desc, "test") == 0);
	stop();
}

int
main(void)
{
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	test_blockdev_change();
	test_reports();
	test_config();
	test_read_write();
	test_flush_get_id();
	test_discard_write_zeroes();
	test_read_only();
	test_hostile();
	test_multi_queue_many();
	test_bounce();
	test_bounce_budget();
	test_reset_in_flight();
	test_pool();
	test_reset_then_new();
	test_direct();
	test_new_errors();
	test_type("    mmio: 0xfe000000\n    irq: 5\n", false);
	test_type("    pci: \"00:05.0\"\n", true);
	test_mmio_io();
	fake_services_fini(&f);
	return test_finish();
}
