/*
 * virtio-console (devices/virtio/virtio-console.c) as a driver and a console
 * user see it: built with virtio_console_new() on a back-end over two
 * pipes (chardev_open_fds) and driven through the virtio core's
 * transport-side calls (virtio-driver.h); then from YAML through
 * virtio-mmio and virtio-pci with a socket back-end.  Checked: features
 * and configuration, output byte-exact (direct, chained, indirect),
 * input, flow control both ways, hostile chains, resets with chains
 * held, emergency write, counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/chardev.h"
#include "devices/virtio/virtio-console.h"
#include "tests/unit/devices/fake-info.h"
#include "tests/unit/devices/fake-services.h"
#include "tests/unit/devices/test-util.h"
#include "tests/unit/devices/virtio-driver.h"
#include "tests/unit/devices/yaml-device.h"

#define MEM_SIZE  (1u << 20)
#define RX_RING	  0x10000u
#define TX_RING	  0x14000u
#define TABLE_GPA 0x1f000u
#define RX_BUF	  0x20000u
#define TX_BUF	  0x40000u
#define QSIZE	  16u
#define GUARD	  0xa5u
#define RXQ	  VIRTIO_CONSOLE_RXQ
#define TXQ	  VIRTIO_CONSOLE_TXQ

static struct fake_services f;
static struct vdrv_transport t;
static struct vdrv_queue rxq, txq;
static struct virtio_dev *vd;
static int in_w = -1;  /* the test types into this */
static int out_r = -1; /* ... and reads the guest's output here */
static int in_r_fd = -1;

static void
setup_size(uint16_t cols, uint16_t rows, size_t out_pipe_size)
{
	struct virtio_console_params p = { .id = "con0",
					   .cols = cols,
					   .rows = rows };
	int in[2], out[2];

	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	memset(f.mem + RX_BUF, GUARD, MEM_SIZE - RX_BUF);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		abort();
	if (out_pipe_size)
		(void)fcntl(out[1], F_SETPIPE_SZ, (int)out_pipe_size);
	(void)fcntl(out[0], F_SETFL, O_NONBLOCK);
	in_w = in[1];
	out_r = out[0];
	in_r_fd = in[0];
	CHECK_EQ(chardev_open_fds(f.svc.events, in[0], out[1], true, "con0",
				  &p.cd),
		 0);
	vd = NULL;
	CHECK_EQ(virtio_console_new(&f.svc, &p, &vd), 0);
	if (!vd)
		abort();
	vdrv_attach(vd, &t);
}

/* Negotiated, both queues ready, DRIVER_OK. */
static void
bring_up(uint64_t features)
{
	vdrv_queue_init(&rxq, &f, RX_RING, QSIZE);
	vdrv_queue_init(&txq, &f, TX_RING, QSIZE);
	CHECK(vdrv_negotiate(vd, VDRV_F_V1 | features));
	CHECK(vdrv_queue_setup(vd, RXQ, &rxq));
	CHECK(vdrv_queue_setup(vd, TXQ, &txq));
	vdrv_driver_ok(vd);
	fake_services_answered(&f);
}

static void
setup(void)
{
	setup_size(0, 0, 0);
	bring_up(0);
}

static void
teardown(void)
{
	virtio_dev_fini(vd);
	vd->ops->destroy(vd); /* closes the back-end's fds */
	CHECK_EQ(f.maps_held, 0);
	close(in_w);
	close(out_r);
	fake_services_fini(&f);
}

static void
kick(unsigned q)
{
	virtio_queue_kick(vd, q);
	fake_services_answered(&f);
}

static void
fill(uint64_t gpa, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		f.mem[gpa + i] = (uint8_t)(i * 7 + seed);
}

/* Read what the back-end wrote, up to max, pumping up to ms for it. */
static size_t
read_out(uint8_t *buf, size_t want, int ms)
{
	size_t got = 0;

	for (int i = 0; i <= ms * 2 && got < want; i++) {
		ssize_t n;

		(void)event_base_loop(f.evbase, EVLOOP_NONBLOCK);
		n = read(out_r, buf + got, want - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		usleep(500);
	}
	return got;
}

/* Bytes waiting in the input pipe, not taken by the back-end. */
static int
input_unread(void)
{
	int n = -1;

	(void)ioctl(in_r_fd, FIONREAD, &n);
	return n;
}

static void
type_in(const void *buf, size_t len)
{
	CHECK_EQ(write(in_w, buf, len), (ssize_t)len);
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
	struct virtio_console_params p = { .id = "c" };

	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	vd = NULL;
	CHECK_EQ(virtio_console_new(&f.svc, &p, &vd), -EINVAL); /* no cd */
	CHECK_EQ(chardev_open(NULL, f.svc.events, "c", &p.cd), 0);
	CHECK_EQ(virtio_console_new(NULL, &p, &vd), -EINVAL);
	CHECK_EQ(virtio_console_new(&f.svc, &p, NULL), -EINVAL);
	CHECK(vd == NULL);
	chardev_close(p.cd);
	fake_services_fini(&f);
}

static void
test_features_and_config(void)
{
	uint8_t b[4];

	setup_size(0, 0, 0);
	CHECK_EQ(vd->device_id, 3);
	CHECK_EQ(vd->num_queues, 2);
	CHECK(virtio_queue(vd, 2) == NULL);
	CHECK_EQ(virtio_queue(vd, RXQ)->size_max, VIRTIO_CONSOLE_QUEUE_SIZE);
	/* No size: EMERG_WRITE and the core's bits only; no MULTIPORT. */
	CHECK_EQ(virtio_device_features(vd, 0),
		 (1u << VIRTIO_CONSOLE_F_EMERG_WRITE) |
			 (1u << VIRTIO_F_INDIRECT_DESC) |
			 (1u << VIRTIO_F_EVENT_IDX));
	CHECK(!vdrv_negotiate(vd,
			      VDRV_F_V1 | (1u << VIRTIO_CONSOLE_F_MULTIPORT)));
	CHECK(!vdrv_negotiate(vd, VDRV_F_V1 | (1u << VIRTIO_CONSOLE_F_SIZE)));
	CHECK(vdrv_negotiate(vd,
			     VDRV_F_V1 | (1u << VIRTIO_CONSOLE_F_EMERG_WRITE)));
	CHECK_EQ(vd->config_len, 12);
	CHECK_EQ(virtio_config_read(vd, VIRTIO_CONSOLE_CFG_PORTS, 4), 1);
	CHECK_EQ(virtio_config_read(vd, 12, 1), 0xff);
	/* Emergency write: a byte out at once, before any queue; other
	 * fields ignore writes. */
	virtio_config_write(vd, VIRTIO_CONSOLE_CFG_EMERG, 4, 0x141);
	virtio_config_write(vd, VIRTIO_CONSOLE_CFG_EMERG, 1, 'x');
	virtio_config_write(vd, VIRTIO_CONSOLE_CFG_COLS, 2, 99);
	CHECK_EQ(read_out(b, 2, 100), 1);
	CHECK_EQ(b[0], 'A');
	CHECK_EQ(virtio_config_read(vd, VIRTIO_CONSOLE_CFG_COLS, 2), 0);
	CHECK_EQ(counter("console_emerg_bytes"), 1);
	teardown();

	setup_size(132, 43, 0);
	CHECK_EQ(virtio_device_features(vd, 0) & 1, 1);
	CHECK(vdrv_negotiate(vd, VDRV_F_V1 | (1u << VIRTIO_CONSOLE_F_SIZE)));
	CHECK_EQ(virtio_config_read(vd, VIRTIO_CONSOLE_CFG_COLS, 2), 132);
	CHECK_EQ(virtio_config_read(vd, VIRTIO_CONSOLE_CFG_ROWS, 2), 43);
	CHECK_EQ(virtio_config_read(vd, 0, 4), 132 | 43u << 16);
	teardown();
}

/* Guest output reaches the back-end byte for byte, in order. */
static void
test_output(void)
{
	struct vdrv_buf chain[3] = {
		{ TX_BUF + 0x1000, 5, false },
		{ TX_BUF + 0x2000, 0, false },
		{ TX_BUF + 0x3000, 300, false },
	};
	struct vdrv_buf table[2] = {
		{ TX_BUF + 0x4000, 7, false },
		{ TX_BUF + 0x5000, 9, false },
	};
	uint8_t want[1024], got[1024];
	size_t n = 0;
	uint16_t id = 0;
	uint32_t len = 0;

	setup_size(0, 0, 0);
	bring_up(1ull << VIRTIO_F_INDIRECT_DESC);
	memcpy(f.mem + TX_BUF, "hello, ", 7);
	vdrv_add_out(&txq, TX_BUF, 7);
	fill(TX_BUF + 0x1000, 5, 1);
	fill(TX_BUF + 0x3000, 300, 2);
	vdrv_add(&txq, chain, 3);
	fill(TX_BUF + 0x4000, 7, 3);
	fill(TX_BUF + 0x5000, 9, 4);
	vdrv_add_indirect(&txq, TABLE_GPA, table, 2);
	memcpy(want + n, "hello, ", 7);
	n += 7;
	memcpy(want + n, f.mem + TX_BUF + 0x1000, 5);
	n += 5;
	memcpy(want + n, f.mem + TX_BUF + 0x3000, 300);
	n += 300;
	memcpy(want + n, f.mem + TX_BUF + 0x4000, 7);
	n += 7;
	memcpy(want + n, f.mem + TX_BUF + 0x5000, 9);
	n += 9;
	kick(TXQ);
	/* Taken by the back-end: returned at once, used length 0. */
	CHECK_EQ(vdrv_used_idx(&txq), 3);
	for (unsigned i = 0; i < 3; i++) {
		CHECK(vdrv_get_used(&txq, &id, &len));
		CHECK_EQ(len, 0);
	}
	CHECK(t.queue_irqs[TXQ] >= 1);
	CHECK_EQ(read_out(got, sizeof(got), 200), n);
	CHECK(memcmp(got, want, n) == 0);
	CHECK_EQ(counter("console_tx_bytes"), n);
	CHECK_EQ(counter("console_tx_chains"), 3);
	teardown();
}

/* Back-end input reaches the guest's receive buffers. */
static void
test_input(void)
{
	struct vdrv_buf two[2] = {
		{ RX_BUF + 0x1000, 3, true },
		{ RX_BUF + 0x2000, 100, true },
	};
	uint16_t id = 0;
	uint32_t len = 0;

	setup();
	vdrv_add_in(&rxq, RX_BUF, 64);
	kick(RXQ);
	type_in("hello\n", 6);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&rxq) == 1, 1000);
	CHECK(vdrv_get_used(&rxq, &id, &len));
	CHECK_EQ(len, 6);
	CHECK(memcmp(f.mem + RX_BUF, "hello\n", 6) == 0);
	CHECK_EQ(f.mem[RX_BUF + 6], GUARD);
	CHECK(t.queue_irqs[RXQ] >= 1);
	/* Across a chain's buffers. */
	vdrv_add(&rxq, two, 2);
	kick(RXQ);
	type_in("abcdefgh", 8);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&rxq) == 2, 1000);
	CHECK(vdrv_get_used(&rxq, &id, &len));
	CHECK_EQ(len, 8);
	CHECK(memcmp(f.mem + RX_BUF + 0x1000, "abc", 3) == 0);
	CHECK_EQ(f.mem[RX_BUF + 0x1003], GUARD);
	CHECK(memcmp(f.mem + RX_BUF + 0x2000, "defgh", 5) == 0);
	CHECK_EQ(counter("console_rx_bytes"), 14);
	teardown();
}

/* No receive buffers: input stays in the kernel until there are some. */
static void
test_input_flow_control(void)
{
	uint8_t msg[100];
	uint16_t id = 0;
	uint32_t len = 0;

	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i + 1);
	setup();
	type_in(msg, sizeof(msg));
	pump_for(f.evbase, 100);
	CHECK_EQ(input_unread(), 100);
	CHECK_EQ(vdrv_used_idx(&rxq), 0);
	/* One buffer of 40: 40 bytes taken, 60 left in the pipe. */
	vdrv_add_in(&rxq, RX_BUF, 40);
	kick(RXQ);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&rxq) == 1, 1000);
	CHECK(vdrv_get_used(&rxq, &id, &len));
	CHECK_EQ(len, 40);
	CHECK(memcmp(f.mem + RX_BUF, msg, 40) == 0);
	pump_for(f.evbase, 50);
	CHECK_EQ(input_unread(), 60);
	CHECK_EQ(vdrv_used_idx(&rxq), 1);
	/* The next buffer gets the rest, in order. */
	vdrv_add_in(&rxq, RX_BUF + 0x1000, 100);
	kick(RXQ);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&rxq) == 2, 1000);
	CHECK(vdrv_get_used(&rxq, &id, &len));
	CHECK_EQ(len, 60);
	CHECK(memcmp(f.mem + RX_BUF + 0x1000, msg + 40, 60) == 0);
	CHECK_EQ(input_unread(), 0);
	CHECK_EQ(counter("console_rx_dropped"), 0);
	teardown();
}

/* A back-end that does not drain: transmit chains wait, then go. */
static void
test_output_flow_control(void)
{
	enum { N = 4, LEN = 0x8000 };
	static uint8_t got[N * LEN];
	size_t total = 0;

	setup_size(0, 0, 4096);
	bring_up(0);
	for (unsigned i = 0; i < N; i++) {
		fill(TX_BUF + LEN * i, LEN, i * 3 + 1);
		vdrv_add_out(&txq, TX_BUF + LEN * i, LEN);
	}
	kick(TXQ);
	pump_for(f.evbase, 100);
	/* 64 KiB of buffer and a 4 KiB pipe cannot take 128 KiB. */
	CHECK(vdrv_used_idx(&txq) < N);
	CHECK(counter("console_tx_blocked") >= 1);
	CHECK(counter("console_tx_bytes") < N * LEN);
	/* Nothing more moves while nobody reads. */
	uint64_t stuck = counter("console_tx_bytes");
	pump_for(f.evbase, 50);
	CHECK_EQ(counter("console_tx_bytes"), stuck);
	/* Drain: everything arrives, byte-exact, no kick needed. */
	total = read_out(got, sizeof(got), 3000);
	CHECK_EQ(total, N * LEN);
	CHECK(memcmp(got, f.mem + TX_BUF, N * LEN) == 0);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&txq) == N, 1000);
	CHECK_EQ(vdrv_used_idx(&txq), N);
	teardown();
}

/* Wrong directions, empty chains, buffers outside RAM, a broken ring. */
static void
test_bad_chains(void)
{
	struct vdrv_buf tx_mixed[2] = {
		{ TX_BUF, 4, false },
		{ TX_BUF + 0x100, 4, true },
	};
	struct vdrv_buf tx_part[2] = {
		{ TX_BUF + 0x200, 3, false },
		{ MEM_SIZE + 0x1000, 3, false },
	};
	uint8_t got[64];
	uint16_t id = 0;
	uint32_t len = 0;

	setup();
	memcpy(f.mem + TX_BUF, "nope", 4);
	memcpy(f.mem + TX_BUF + 0x200, "ok!", 3);
	vdrv_add_in(&txq, TX_BUF + 0x300, 8); /* writable on transmitq */
	vdrv_add(&txq, tx_mixed, 2);
	vdrv_add_out(&txq, MEM_SIZE - 2, 8); /* beyond RAM */
	vdrv_add(&txq, tx_part, 2);
	kick(TXQ);
	CHECK_EQ(vdrv_used_idx(&txq), 4);
	for (unsigned i = 0; i < 4; i++) {
		CHECK(vdrv_get_used(&txq, &id, &len));
		CHECK_EQ(len, 0);
	}
	CHECK_EQ(f.mem[TX_BUF + 0x300], GUARD); /* never written */
	CHECK_EQ(read_out(got, sizeof(got), 100), 3);
	CHECK(memcmp(got, "ok!", 3) == 0);

	vdrv_add_out(&rxq, RX_BUF, 8); /* readable on receiveq */
	vdrv_add_in(&rxq, RX_BUF + 0x100, 0);
	vdrv_add_in(&rxq, MEM_SIZE + 0x1000, 8);
	vdrv_add_in(&rxq, RX_BUF + 0x200, 8);
	kick(RXQ);
	type_in("0123456789", 10);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&rxq) == 4, 1000);
	CHECK_EQ(vdrv_used_idx(&rxq), 4);
	for (unsigned i = 0; i < 3; i++) {
		CHECK(vdrv_get_used(&rxq, &id, &len));
		CHECK_EQ(len, 0);
	}
	/* The beyond-RAM buffer lost its 8 bytes; the next gets 2. */
	CHECK(vdrv_get_used(&rxq, &id, &len));
	CHECK_EQ(len, 2);
	CHECK(memcmp(f.mem + RX_BUF + 0x200, "89", 2) == 0);
	CHECK_EQ(f.mem[RX_BUF], GUARD);
	CHECK_EQ(counter("console_bad_chains"), 4);
	CHECK_EQ(counter("console_faults"), 3);
	CHECK_EQ(counter("console_rx_dropped"), 8);
	CHECK(!(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));

	/* A descriptor loop on transmitq: NEEDS_RESET, nothing sent. */
	vdrv_desc(&txq, 0, TX_BUF, 4, VIRTQ_DESC_F_NEXT, 1);
	vdrv_desc(&txq, 1, TX_BUF, 4, VIRTQ_DESC_F_NEXT, 0);
	vdrv_avail(&txq, 0);
	kick(TXQ);
	CHECK(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(t.config_irqs, 1);
	CHECK_EQ(read_out(got, sizeof(got), 50), 0);
	/* ... and input is no longer taken. */
	type_in("zz", 2);
	pump_for(f.evbase, 50);
	CHECK_EQ(input_unread(), 2);
	teardown();
}

/* Reset with a blocked transmit chain and a held receive chain. */
static void
test_reset_in_flight(void)
{
	enum { LEN = 0x10000 };
	static uint8_t got[3 * LEN];
	uint16_t id = 0;
	uint32_t len = 0;
	size_t n;

	setup_size(0, 0, 4096);
	bring_up(0);
	fill(TX_BUF, 3 * LEN, 9);
	vdrv_add_out(&txq, TX_BUF, LEN);
	vdrv_add_out(&txq, TX_BUF + LEN, LEN);
	vdrv_add_in(&rxq, RX_BUF, 64);
	kick(TXQ);
	kick(RXQ);
	pump_for(f.evbase, 50);
	CHECK(vdrv_used_idx(&txq) < 2);
	virtio_set_status(vd, 0);
	CHECK_EQ(f.maps_held, 0);
	/* Draining the back-end finds nothing to resume; no input taken. */
	n = read_out(got, sizeof(got), 500);
	CHECK(n < 2 * LEN);
	CHECK(memcmp(got, f.mem + TX_BUF, n) == 0);
	type_in("after", 5);
	pump_for(f.evbase, 50);
	CHECK_EQ(input_unread(), 5);

	/* A new driver: works, input and output. */
	bring_up(0);
	vdrv_add_in(&rxq, RX_BUF + 0x1000, 64);
	kick(RXQ);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&rxq) == 1, 1000);
	CHECK(vdrv_get_used(&rxq, &id, &len));
	CHECK_EQ(len, 5);
	CHECK(memcmp(f.mem + RX_BUF + 0x1000, "after", 5) == 0);
	memcpy(f.mem + TX_BUF + 2 * LEN, "again", 5);
	vdrv_add_out(&txq, TX_BUF + 2 * LEN, 5);
	kick(TXQ);
	CHECK_EQ(read_out(got, 5, 200), 5);
	CHECK(memcmp(got, "again", 5) == 0);
	/* Queue disable drops a held receive chain the same way. */
	vdrv_add_in(&rxq, RX_BUF + 0x3000, 64);
	kick(RXQ);
	pump_for(f.evbase, 20);
	virtio_queue_set_ready(vd, RXQ, false);
	type_in("x", 1);
	pump_for(f.evbase, 50);
	CHECK_EQ(input_unread(), 1);
	CHECK_EQ(f.mem[RX_BUF + 0x3000], GUARD);
	teardown();
}

/*
 * The core revoked the rings' mappings and cannot map them again for a
 * while (-EBUSY): output and input go on by a retry, without a kick
 * (Linux's hvc output waits for its buffer and never kicks twice).
 */
static void
test_transient_ring_error(void)
{
	uint8_t got[16];
	uint16_t id;
	uint32_t len;

	setup();
	/* Transmit: the pop fails, then works. */
	f.map_epoch++;
	f.fail_map = -EBUSY;
	memcpy(f.mem + TX_BUF, "late", 4);
	vdrv_add_out(&txq, TX_BUF, 4);
	kick(TXQ);
	CHECK_EQ(read_out(got, 4, 50), 0);
	f.fail_map = 0;
	CHECK_EQ(read_out(got, 4, 1000), 4);
	CHECK(memcmp(got, "late", 4) == 0);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&txq) == 1, 1000);
	CHECK_EQ(vdrv_used_idx(&txq), 1);

	/* Receive: written, then its push fails; returned on the retry. */
	vdrv_add_in(&rxq, RX_BUF, 64);
	kick(RXQ);
	pump_for(f.evbase, 20);
	f.map_epoch++;
	f.fail_map = -EBUSY;
	type_in("held", 4);
	PUMP_UNTIL(f.evbase, input_unread() == 0, 1000);
	pump_for(f.evbase, 50);
	CHECK_EQ(input_unread(), 0);
	CHECK_EQ(vdrv_used_idx(&rxq), 0);
	CHECK(memcmp(f.mem + RX_BUF, "held", 4) == 0);
	f.fail_map = 0;
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&rxq) == 1, 1000);
	CHECK(vdrv_get_used(&rxq, &id, &len));
	CHECK_EQ(len, 4);
	/* ... and input flows on after it. */
	vdrv_add_in(&rxq, RX_BUF + 0x100, 64);
	kick(RXQ);
	type_in("more", 4);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&rxq) == 2, 1000);
	CHECK(vdrv_get_used(&rxq, &id, &len));
	CHECK_EQ(len, 4);
	CHECK(memcmp(f.mem + RX_BUF + 0x100, "more", 4) == 0);
	CHECK(!(virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	teardown();
}

/*
 * A random hostile driver on both queues while input keeps coming:
 * random descriptors, tables and indices, resets when the device gives
 * up.  Nothing crashes (ASan watches), the used rings never run ahead
 * of what was made available, mappings are balanced.
 */
static void
test_random_hostile(void)
{
	uint64_t seed = 0x2545f4914f6cdd1dull;
	unsigned resets = 0;
	uint8_t sink[4096];

	setup_size(0, 0, 0);
	bring_up((1ull << VIRTIO_F_INDIRECT_DESC) |
		 (1ull << VIRTIO_F_EVENT_IDX));
	for (unsigned i = 0; i < 2000; i++) {
		uint16_t rx_before = vdrv_used_idx(&rxq);
		uint16_t tx_before = vdrv_used_idx(&txq);

		vdrv_scribble(&rxq, &seed, TABLE_GPA);
		vdrv_scribble(&txq, &seed, TABLE_GPA + 0x100);
		if (i % 4 == 0 && input_unread() < 4096)
			type_in("random input ", 13);
		kick(RXQ);
		kick(TXQ);
		(void)event_base_loop(f.evbase, EVLOOP_NONBLOCK);
		while (read(out_r, sink, sizeof(sink)) > 0)
			continue;
		CHECK((uint16_t)(vdrv_used_idx(&rxq) - rx_before) <= QSIZE);
		CHECK((uint16_t)(vdrv_used_idx(&txq) - tx_before) <= QSIZE);
		if ((virtio_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) ||
		    vdrv_rand(&seed) % 200 == 0) {
			resets++;
			bring_up(1ull << VIRTIO_F_INDIRECT_DESC);
			CHECK_EQ(f.maps_held, 6);
		}
	}
	CHECK(resets > 10);
	CHECK(counter("console_tx_chains") + counter("console_rx_chains") >
	      100);
	teardown();
}

/* ---- from YAML, through the transports, on a socket back-end ---- */

static int
connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	return fd;
}

/* Guest output `text` sent through the transmit queue. */
static void
guest_says(struct vdrv_bus *b, const char *text)
{
	memcpy(f.mem + TX_BUF, text, strlen(text));
	vdrv_add_out(&txq, TX_BUF, (uint32_t)strlen(text));
	vdrv_bus_kick(b, TXQ);
	fake_services_answered(&f);
}

/*
 * describe, and chardev_attach: a refused backend leaves the old one
 * serving; a new one takes the output from then on.
 */
static void
attach_case(struct device *dev, struct vdrv_bus *b, int fd, const char *dir,
	    const char *sock, bool pci)
{
	char want[96], file[64], got[16] = { 0 };
	struct cfg_backend bad = { .type = CFG_BACKEND_SOCKET };
	struct cfg_backend good = { .type = CFG_BACKEND_FILE, .path = file };
	int ffd;

	(void)snprintf(want, sizeof(want), "socket:%s", sock);
	CHECK(strcmp(fake_info(dev, "backend"), want) == 0);
	CHECK(strcmp(fake_info(dev, "interrupt"), pci ? "intx" : "isa 6") == 0);
	(void)snprintf(file, sizeof(file), "%s/out.log", dir);
	ffd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(ffd >= 0);
	/* A regular file where the socket would go: refused, old serves. */
	bad.path = file;
	CHECK_EQ(dev->ops->chardev_attach(dev, &bad), -EEXIST);
	CHECK(strcmp(fake_info(dev, "backend"), want) == 0);
	guest_says(b, "old\n");
	for (int i = 0; i < 400 && recv(fd, got, 4, MSG_DONTWAIT) <= 0; i++)
		pump_for(f.evbase, 5);
	CHECK(memcmp(got, "old\n", 4) == 0);
	/* The new one: the socket closes (file removed), output to file. */
	CHECK_EQ(dev->ops->chardev_attach(dev, &good), 0);
	(void)snprintf(want, sizeof(want), "file:%s", file);
	CHECK(strcmp(fake_info(dev, "backend"), want) == 0);
	CHECK(access(sock, F_OK) < 0);
	guest_says(b, "new\n");
	memset(got, 0, sizeof(got));
	for (int i = 0; i < 100 && pread(ffd, got, sizeof(got), 0) < 4; i++) {
		fake_services_answered(&f);
		pump_for(f.evbase, 5);
	}
	CHECK_EQ(pread(ffd, got, sizeof(got), 0), 4);
	CHECK(memcmp(got, "new\n", 4) == 0);
	(void)close(ffd);
	(void)unlink(file);
}

static void
transport_case(bool pci, bool grant)
{
	uint64_t feat = VDRV_F_V1 | 1u << VIRTIO_CONSOLE_F_SIZE;
	struct vdrv_grant g;
	char dir[] = "/tmp/test-vcon-XXXXXX", path[64], yaml[512];
	const struct device_type *type = device_type_find("virtio-console");
	struct device *dev = NULL;
	struct vdrv_bus b;
	struct cfg *cfg;
	uint8_t got[16];
	uint16_t id = 0;
	uint32_t len = 0;
	int fd;

	CHECK(type != NULL);
	if (!type || !mkdtemp(dir))
		abort();
	(void)snprintf(path, sizeof(path), "%s/vcon.sock", dir);
	(void)snprintf(yaml, sizeof(yaml),
		       "devices:\n"
		       "  - type: virtio-console\n"
		       "    id: vcon\n"
		       "    %s\n"
		       "    backend: {type: socket, path: %s}\n"
		       "    cols: 100\n"
		       "    dma: %s\n",
		       pci ? "pci: \"00:07.0\"" :
			     "mmio: 0xfe001000\n    irq: 6",
		       path, grant ? "grant" : "foreign");
	CHECK_EQ(fake_services_init(&f, MEM_SIZE), 0);
	cfg = load(yaml);
	vdrv_grant_init(&g, &f.svc);
	CHECK_EQ(type->create(&cfg->devices[0], &g.outer, &dev), 0);
	/* As the daemon does: the config is gone once devices exist. */
	cfg_free(cfg);
	if (!dev)
		abort();
	CHECK(strcmp(dev->id, "vcon") == 0);
	fd = connect_to(path);
	vdrv_bus_init(&b, dev);
	CHECK_EQ(vdrv_bus_device_id(&b), 3);
	vdrv_queue_init(&rxq, &f, RX_RING, QSIZE);
	vdrv_queue_init(&txq, &f, TX_RING, QSIZE);
	if (grant) {
		/* Grant addresses everywhere; ACCESS_PLATFORM offered. */
		rxq.dma_bias = txq.dma_bias = VDRV_GRANT_BIT;
		feat |= 1ull << VIRTIO_F_ACCESS_PLATFORM;
	}
	CHECK(vdrv_bus_negotiate(&b, feat));
	/* cols given alone: rows takes the default. */
	CHECK_EQ(vdrv_bus_config(&b, VIRTIO_CONSOLE_CFG_COLS, 2), 100);
	CHECK_EQ(vdrv_bus_config(&b, VIRTIO_CONSOLE_CFG_ROWS, 2), 24);
	CHECK(vdrv_bus_queue_setup(&b, RXQ, &rxq));
	CHECK(vdrv_bus_queue_setup(&b, TXQ, &txq));
	vdrv_bus_driver_ok(&b);
	fake_services_answered(&f);
	/* Let the server accept the client. */
	pump_for(f.evbase, 50);
	memcpy(f.mem + TX_BUF, "ping\n", 5);
	vdrv_add_out(&txq, TX_BUF, 5);
	vdrv_bus_kick(&b, TXQ);
	fake_services_answered(&f);
	memset(got, 0, sizeof(got));
	for (int i = 0; i < 400 && recv(fd, got, 5, MSG_DONTWAIT) <= 0; i++)
		pump_for(f.evbase, 5);
	CHECK(memcmp(got, "ping\n", 5) == 0);
	vdrv_add_in(&rxq, RX_BUF, 64);
	vdrv_bus_kick(&b, RXQ);
	fake_services_answered(&f);
	CHECK_EQ(send(fd, "pong\n", 5, 0), 5);
	PUMP_UNTIL(f.evbase, vdrv_used_idx(&rxq) == 1, 1000);
	CHECK(vdrv_get_used(&rxq, &id, &len));
	CHECK_EQ(len, 5);
	CHECK(memcmp(f.mem + RX_BUF, "pong\n", 5) == 0);
	if (pci)
		CHECK(f.intx_level[7][0]);
	else
		CHECK(f.isa_level[6]);
	/* Through the grant layer, or never. */
	CHECK_EQ(g.calls > 0, grant);
	/* The transport's counters and the device's, each once. */
	CHECK_EQ(dev_counter(dev, "console_rx_bytes").seen, 1);
	CHECK_EQ(dev_counter(dev, "console_rx_bytes").value, 5);
	CHECK_EQ(dev_counter(dev, "console_tx_bytes").value, 5);
	CHECK_EQ(dev_counter(dev, "virtio_kicks").seen, 1);
	attach_case(dev, &b, fd, dir, path, pci);
	close(fd);
	dev->ops->destroy(dev);
	CHECK_EQ(f.maps_held, 0);
	CHECK(access(path, F_OK) < 0); /* the socket file is gone */
	fake_services_fini(&f);
	(void)rmdir(dir);
}

static void
test_transports(void)
{
	transport_case(false, false);
	transport_case(true, false);
	transport_case(false, true);
	transport_case(true, true);
}

int
main(void)
{
	test_params();
	test_features_and_config();
	test_output();
	test_input();
	test_input_flow_control();
	test_output_flow_control();
	test_bad_chains();
	test_reset_in_flight();
	test_transient_ring_error();
	test_random_hostile();
	test_transports();
	return test_finish();
}
