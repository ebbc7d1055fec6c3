/*
 * Unit test for the 16550A core (devices/uart16550.c) and its ISA type:
 * register semantics, interrupt priorities, FIFOs, loopback, timeout, OUT2
 * gating, and flow control against a socketpair back-end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/cfg.h"
#include "devices/bus.h"
#include "devices/chardev.h"
#include "devices/uart16550.h"
#include "fake-services.h"
#include "ioreq/events.h"
#include "test-util.h"

enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };
#define THR RBR
#define FCR IIR
#define DLL RBR
#define DLM IER

struct irq_rec {
	bool level;
	unsigned calls;
	unsigned raises;
};

static void
rec_irq(void *opaque, bool level)
{
	struct irq_rec *r = opaque;

	r->level = level;
	r->calls++;
	if (level)
		r->raises++;
}

static struct event_base *base;
static struct ioreq_events *events;
static const struct device_events *ev;

static void
setup(struct uart16550 *u, struct irq_rec *rec, struct chardev *cd)
{
	memset(rec, 0, sizeof(*rec));
	CHECK_EQ(uart16550_init(u, "ut", ev, cd, rec_irq, rec), 0);
}

static void
feed(struct uart16550 *u, const char *s)
{
	uart16550_receive(u, (const uint8_t *)s, strlen(s));
}

static void
test_reset_values(void)
{
	struct uart16550 u;
	struct irq_rec rec;

	setup(&u, &rec, NULL);
	CHECK_EQ(uart16550_read(&u, IER), 0);
	CHECK_EQ(uart16550_read(&u, IIR), 0x01);
	CHECK_EQ(uart16550_read(&u, LCR), 0);
	CHECK_EQ(uart16550_read(&u, MCR), 0);
	CHECK_EQ(uart16550_read(&u, LSR), 0x60);
	CHECK_EQ(uart16550_read(&u, MSR), 0xb0); /* CTS DSR DCD, no deltas */
	CHECK_EQ(uart16550_read(&u, SCR), 0);
	CHECK_EQ(uart16550_read(&u, 8), 0xff);
	CHECK_EQ(rec.calls, 0);
	/* reset after dirtying everything */
	uart16550_write(&u, IER, 0x0f);
	uart16550_write(&u, MCR, 0x1f);
	uart16550_write(&u, SCR, 0x77);
	uart16550_write(&u, FCR, 0x01);
	uart16550_write(&u, LCR, 0x1b);
	CHECK(rec.level);
	uart16550_reset(&u);
	CHECK(!rec.level);
	CHECK_EQ(uart16550_read(&u, IIR), 0x01);
	CHECK_EQ(uart16550_read(&u, LSR), 0x60);
	CHECK_EQ(uart16550_read(&u, MCR), 0);
	CHECK_EQ(uart16550_read(&u, LCR), 0);
	CHECK_EQ(uart16550_read(&u, SCR), 0);
	uart16550_fini(&u);
}

static void
test_scratch_lcr_ier(void)
{
	struct uart16550 u;
	struct irq_rec rec;

	setup(&u, &rec, NULL);
	for (unsigned v = 0; v < 256; v += 0x33) {
		uart16550_write(&u, SCR, (uint8_t)v);
		CHECK_EQ(uart16550_read(&u, SCR), v);
	}
	uart16550_write(&u, LCR, 0x5b);
	CHECK_EQ(uart16550_read(&u, LCR), 0x5b);
	uart16550_write(&u, LCR, 0x03);
	uart16550_write(&u, IER, 0xff);
	CHECK_EQ(uart16550_read(&u, IER), 0x0f); /* 4 bits */
	uart16550_write(&u, MCR, 0xff);
	CHECK_EQ(uart16550_read(&u, MCR), 0x1f); /* 5 bits */
	/* read-only registers ignore writes */
	uart16550_write(&u, MCR, 0);
	uart16550_write(&u, LSR, 0x00);
	uart16550_write(&u, MSR, 0x00);
	CHECK_EQ(uart16550_read(&u, LSR), 0x60);
	CHECK_EQ(u.stats.bad_writes, 2);
	uart16550_fini(&u);
}

static void
test_divisor_latch(void)
{
	struct uart16550 u;
	struct irq_rec rec;

	setup(&u, &rec, NULL);
	uart16550_write(&u, IER, 0x05);
	uart16550_write(&u, LCR, 0x83); /* DLAB, 8N1 */
	uart16550_write(&u, DLL, 0x01);
	uart16550_write(&u, DLM, 0x02);
	CHECK_EQ(uart16550_read(&u, DLL), 0x01);
	CHECK_EQ(uart16550_read(&u, DLM), 0x02);
	CHECK_EQ(u.divisor, 0x0201);
	CHECK_EQ(uart16550_read(&u, LCR), 0x83);
	uart16550_write(&u, LCR, 0x03);
	/* IER untouched by DLM writes; DLL write did not transmit */
	CHECK_EQ(uart16550_read(&u, IER), 0x05);
	CHECK_EQ(u.stats.tx_bytes, 0);
	uart16550_write(&u, IER, 0x00);
	uart16550_write(&u, LCR, 0x80);
	CHECK_EQ(uart16550_read(&u, DLM), 0x02);
	CHECK_EQ(uart16550_read(&u, DLL), 0x01);
	uart16550_fini(&u);
}

static void
test_rx_16450(void)
{
	struct uart16550 u;
	struct irq_rec rec;

	setup(&u, &rec, NULL);
	uart16550_write(&u, MCR, 0x08); /* OUT2 */
	uart16550_write(&u, IER, 0x01);
	CHECK(!rec.level);
	CHECK_EQ(uart16550_can_receive(&u), 1);
	feed(&u, "A");
	CHECK_EQ(uart16550_can_receive(&u), 0);
	CHECK(rec.level);
	CHECK_EQ(uart16550_read(&u, IIR), 0x04); /* no FIFO bits */
	CHECK_EQ(uart16550_read(&u, LSR) & 0x01, 0x01);
	CHECK_EQ(uart16550_read(&u, RBR), 'A');
	CHECK(!rec.level);
	CHECK_EQ(uart16550_read(&u, IIR), 0x01);
	CHECK_EQ(uart16550_read(&u, LSR), 0x60);
	/* overrun in 16450 mode: new byte replaces the unread one */
	feed(&u, "BC");
	CHECK_EQ(u.stats.rx_overruns, 1);
	uart16550_write(&u, IER, 0x05);
	CHECK_EQ(uart16550_read(&u, IIR), 0x06); /* RLS beats RDA */
	CHECK_EQ(uart16550_read(&u, LSR), 0x63); /* DR | OE | THRE TEMT */
	CHECK_EQ(uart16550_read(&u, LSR), 0x61); /* OE cleared by read */
	CHECK_EQ(uart16550_read(&u, IIR), 0x04);
	CHECK_EQ(uart16550_read(&u, RBR), 'C');
	CHECK_EQ(uart16550_read(&u, RBR), 'C'); /* empty: last value */
	CHECK_EQ(uart16550_read(&u, IIR), 0x01);
	uart16550_fini(&u);
}

static void
test_fifo_triggers(void)
{
	static const struct {
		uint8_t fcr;
		unsigned level;
	} t[] = {
		{ 0x01, 1 },
		{ 0x41, 4 },
		{ 0x81, 8 },
		{ 0xc1, 14 },
	};
	struct uart16550 u;
	struct irq_rec rec;

	setup(&u, &rec, NULL);
	uart16550_write(&u, MCR, 0x08);
	uart16550_write(&u, IER, 0x01);
	for (unsigned i = 0; i < 4; i++) {
		uart16550_write(&u, FCR, t[i].fcr | 0x06); /* + resets */
		CHECK_EQ(uart16550_read(&u, IIR), 0xc1);
		for (unsigned n = 0; n + 1 < t[i].level; n++)
			feed(&u, "x");
		CHECK_EQ(uart16550_read(&u, IIR), 0xc1);
		CHECK(!rec.level);
		feed(&u, "y");
		CHECK_EQ(uart16550_read(&u, IIR), 0xc4);
		CHECK(rec.level);
		CHECK_EQ(uart16550_can_receive(&u), 16 - t[i].level);
		(void)uart16550_read(&u, RBR); /* one below trigger */
		CHECK_EQ(uart16550_read(&u, IIR), 0xc1);
		CHECK(!rec.level);
	}
	uart16550_fini(&u);
}

static void
test_fifo_overrun_and_reset(void)
{
	struct uart16550 u;
	struct irq_rec rec;
	char buf[18];

	setup(&u, &rec, NULL);
	uart16550_write(&u, FCR, 0x07);
	CHECK_EQ(uart16550_can_receive(&u), 16);
	feed(&u, "0123456789abcdefZ"); /* 17 bytes */
	CHECK_EQ(u.stats.rx_overruns, 1);
	CHECK_EQ(u.rx_count, 16);
	CHECK_EQ(uart16550_read(&u, LSR), 0x63);
	for (int i = 0; i < 16; i++)
		buf[i] = (char)uart16550_read(&u, RBR);
	buf[16] = 0;
	CHECK(strcmp(buf, "0123456789abcdef") == 0);
	CHECK_EQ(uart16550_read(&u, LSR), 0x60);
	/* RX reset discards */
	feed(&u, "abc");
	uart16550_write(&u, FCR, 0x03);
	CHECK_EQ(uart16550_read(&u, LSR) & 0x01, 0);
	CHECK_EQ(uart16550_read(&u, IIR) & 0xc0, 0xc0);
	/* leaving FIFO mode empties the FIFO and clears IIR bits 7:6 */
	feed(&u, "abc");
	uart16550_write(&u, FCR, 0x00);
	CHECK_EQ(uart16550_read(&u, IIR), 0x01);
	CHECK_EQ(uart16550_read(&u, LSR) & 0x01, 0);
	/* trigger bits are not programmed without bit 0 */
	uart16550_write(&u, FCR, 0xc0);
	uart16550_write(&u, FCR, 0x01);
	CHECK_EQ(u.fcr & 0xc0, 0);
	uart16550_fini(&u);
}

static void
test_thre(void)
{
	struct uart16550 u;
	struct irq_rec rec;

	setup(&u, &rec, NULL); /* no back-end: output discarded */
	uart16550_write(&u, MCR, 0x08);
	uart16550_write(&u, IER, 0x02); /* enable while empty: fires */
	CHECK(rec.level);
	CHECK_EQ(uart16550_read(&u, IIR), 0x02);
	CHECK(!rec.level); /* IIR read cleared it */
	CHECK_EQ(uart16550_read(&u, IIR), 0x01);
	uart16550_write(&u, IER, 0x02); /* no change: no new THRE */
	CHECK_EQ(uart16550_read(&u, IIR), 0x01);
	uart16550_write(&u, IER, 0x00);
	uart16550_write(&u, IER, 0x02);
	CHECK_EQ(uart16550_read(&u, IIR), 0x02);
	uart16550_write(&u, THR, 'a'); /* sent at once: empty again */
	CHECK_EQ(uart16550_read(&u, LSR), 0x60);
	CHECK_EQ(uart16550_read(&u, IIR), 0x02);
	CHECK_EQ(u.stats.tx_bytes, 1);
	/* THRE is only reported when it is the top source */
	uart16550_write(&u, THR, 'b');
	uart16550_write(&u, IER, 0x03);
	feed(&u, "r");
	CHECK_EQ(uart16550_read(&u, IIR), 0x04);
	CHECK_EQ(uart16550_read(&u, RBR), 'r');
	CHECK_EQ(uart16550_read(&u, IIR), 0x02); /* still latched */
	CHECK_EQ(uart16550_read(&u, IIR), 0x01);
	uart16550_fini(&u);
}

static void
test_priorities(void)
{
	struct uart16550 u;
	struct irq_rec rec;

	setup(&u, &rec, NULL);
	uart16550_write(&u, FCR, 0x01);
	/* produce an MSR delta: into loopback (lines change) and out */
	uart16550_write(&u, MCR, 0x18);
	uart16550_write(&u, MCR, 0x08);
	feed(&u, "0123456789abcdefXY"); /* full + overrun */
	uart16550_write(&u, IER, 0x0f); /* THRE latched too */
	CHECK(rec.level);
	CHECK_EQ(uart16550_read(&u, IIR), 0xc6);
	CHECK_EQ(uart16550_read(&u, IIR), 0xc6); /* until LSR read */
	(void)uart16550_read(&u, LSR);
	CHECK_EQ(uart16550_read(&u, IIR), 0xc4);
	for (int i = 0; i < 16; i++)
		(void)uart16550_read(&u, RBR);
	CHECK_EQ(uart16550_read(&u, IIR), 0xc2);
	CHECK_EQ(uart16550_read(&u, IIR), 0xc0); /* modem status */
	CHECK(rec.level);
	CHECK_EQ(uart16550_read(&u, MSR) & 0x0f, 0x03); /* DCTS DDSR */
	CHECK_EQ(uart16550_read(&u, IIR), 0xc1);
	CHECK(!rec.level);
	uart16550_fini(&u);
}

static void
test_out2_gating(void)
{
	struct fake_services f;
	struct cfg_device cfg = {
		.type = (char *)"uart16550",
		.id = "com1",
		.keys = CFG_KEY_PORT | CFG_KEY_IRQ,
		.port = 0x3f8,
		.irq = 4,
	};
	const struct device_type *type = device_type_find("uart16550");
	struct device *dev = NULL;
	struct bus bus;

	CHECK(type != NULL);
	if (!type)
		return;
	CHECK_EQ(type->cfg->port_size, 8);
	CHECK_EQ(type->cfg->required, CFG_KEY_IRQ);
	CHECK_EQ(type->cfg->placement, CFG_KEY_PORT);
	CHECK_EQ(type->cfg->irq_min, 0);
	CHECK_EQ(type->cfg->irq_max, 15);
	CHECK_EQ(type->cfg->keys, CFG_KEY_PORT | CFG_KEY_IRQ | CFG_KEY_BACKEND);
	CHECK_EQ(fake_services_init(&f, 0), 0);
	cfg.irq = 16;
	CHECK_EQ(type->create(&cfg, &f.svc, &dev), -EINVAL);
	cfg.irq = 4;
	CHECK_EQ(type->create(&cfg, &f.svc, &dev), 0);
	if (!dev) {
		fake_services_fini(&f);
		return;
	}
	CHECK_EQ(dev->region_count, 1);
	CHECK_EQ(dev->regions[0].base, 0x3f8);
	CHECK_EQ(dev->regions[0].size, 8);
	CHECK_EQ(dev->regions[0].access_sizes, DEVICE_ACCESS_1);
	bus_init(&bus);
	CHECK_EQ(bus_add(&bus, dev, 0), 0);

	bus_write(&bus, BUS_SPACE_PORT, 0x3f9, 1, 0x02); /* THRE pending */
	CHECK_EQ(f.isa_calls[4], 0);			 /* OUT2 clear */
	bus_write(&bus, BUS_SPACE_PORT, 0x3fc, 1, 0x0b); /* DTR RTS OUT2 */
	CHECK_EQ(f.isa_calls[4], 1);
	CHECK(f.isa_level[4]);
	bus_write(&bus, BUS_SPACE_PORT, 0x3fc, 1, 0x0b); /* no change */
	bus_write(&bus, BUS_SPACE_PORT, 0x3ff, 1, 0x42);
	CHECK_EQ(f.isa_calls[4], 1);
	bus_write(&bus, BUS_SPACE_PORT, 0x3fc, 1, 0x03); /* OUT2 off */
	CHECK_EQ(f.isa_calls[4], 2);
	CHECK(!f.isa_level[4]);
	bus_write(&bus, BUS_SPACE_PORT, 0x3fc, 1, 0x0b);
	CHECK(f.isa_level[4]);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x3fa, 1), 0x02);
	CHECK(!f.isa_level[4]);
	CHECK_EQ(f.isa_calls[4], 4);
	CHECK_EQ(dev->stats.irq_raises, 2);
	/* wider accesses are split: LCR|MCR<<8 */
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x3fb, 2), 0x0b00);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x3ff, 1), 0x42);
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x3ff, 2), 0xffff);
	CHECK_EQ(dev->stats.bad_accesses, 1);
	/* a failing IRQ service does not break the device */
	f.fail_irq = -EIO;
	bus_write(&bus, BUS_SPACE_PORT, 0x3f9, 1, 0x00);
	bus_write(&bus, BUS_SPACE_PORT, 0x3f9, 1, 0x02);
	f.fail_irq = 0;
	CHECK_EQ(bus_read(&bus, BUS_SPACE_PORT, 0x3fd, 1), 0x60);
	dev->ops->reset(dev);
	CHECK(!f.isa_level[4]);
	CHECK_EQ(f.isa_bad_calls, 0);
	bus_fini(&bus);
	dev->ops->destroy(dev);
	fake_services_fini(&f);
}

static void
test_loopback_and_msr(void)
{
	struct uart16550 u;
	struct irq_rec rec;
	struct chardev *cd = NULL;
	int sv[2];
	char buf[16];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(chardev_open_fds(ev, sv[0], sv[0], true, "lb", &cd), 0);
	setup(&u, &rec, cd);
	CHECK_EQ(uart16550_read(&u, MSR), 0xb0);
	uart16550_write(&u, MCR, 0x10);		 /* loop, all outputs off */
	CHECK_EQ(uart16550_read(&u, MSR), 0x0b); /* CTS DSR DCD dropped */
	CHECK_EQ(uart16550_read(&u, MSR), 0x00); /* deltas cleared */
	CHECK_EQ(uart16550_can_receive(&u), 0);	 /* input disconnected */
	uart16550_write(&u, MCR, 0x12);		 /* RTS -> CTS */
	CHECK_EQ(uart16550_read(&u, MSR), 0x11);
	uart16550_write(&u, MCR, 0x11); /* DTR -> DSR */
	CHECK_EQ(uart16550_read(&u, MSR), 0x23);
	uart16550_write(&u, MCR, 0x14); /* OUT1 -> RI: no delta on rise */
	CHECK_EQ(uart16550_read(&u, MSR), 0x42);
	uart16550_write(&u, MCR, 0x18); /* RI falls: TERI; OUT2 -> DCD */
	CHECK_EQ(uart16550_read(&u, MSR), 0x8c);
	/* MSR interrupt in loopback, gated by OUT2 */
	uart16550_write(&u, IER, 0x08);
	uart16550_write(&u, MCR, 0x1a); /* CTS rises */
	CHECK(rec.level);
	CHECK_EQ(uart16550_read(&u, IIR), 0x00);
	(void)uart16550_read(&u, MSR);
	CHECK(!rec.level);

	/* TX goes to RX, interrupts still work, nothing reaches the peer */
	uart16550_write(&u, IER, 0x01);
	uart16550_write(&u, THR, 'L');
	CHECK(rec.level);
	CHECK_EQ(uart16550_read(&u, LSR), 0x61);
	CHECK_EQ(uart16550_read(&u, RBR), 'L');
	CHECK(!rec.level);
	uart16550_write(&u, FCR, 0x01);
	for (int i = 0; i < 17; i++)
		uart16550_write(&u, THR, (uint8_t)('a' + i));
	CHECK_EQ(uart16550_read(&u, LSR), 0x63); /* overrun via loopback */
	CHECK_EQ(uart16550_read(&u, RBR), 'a');
	pump_for(base, 20);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	/* back to normal: TX reaches the peer, MSR shows the modem again */
	uart16550_write(&u, FCR, 0x07);
	uart16550_write(&u, MCR, 0x08);
	CHECK_EQ(uart16550_read(&u, MSR) & 0xf0, 0xb0);
	uart16550_write(&u, THR, 'N');
	pump_for(base, 20);
	CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 1);
	CHECK_EQ(buf[0], 'N');
	uart16550_fini(&u);
	chardev_close(cd);
	close(sv[1]);
}

static void
test_rx_timeout(void)
{
	struct uart16550 u;
	struct irq_rec rec;

	setup(&u, &rec, NULL);
	uart16550_write(&u, LCR, 0x80);
	uart16550_write(&u, DLL, 1); /* 115200: 1 ms floor */
	uart16550_write(&u, DLM, 0);
	uart16550_write(&u, LCR, 0x03);
	uart16550_write(&u, FCR, 0x41); /* trigger 4 */
	uart16550_write(&u, IER, 0x01);
	uart16550_write(&u, MCR, 0x08);
	feed(&u, "ab");
	CHECK_EQ(uart16550_read(&u, IIR), 0xc1);
	PUMP_UNTIL(base, rec.level, 500);
	CHECK(rec.level);
	CHECK_EQ(uart16550_read(&u, IIR), 0xcc);
	CHECK_EQ(uart16550_read(&u, RBR), 'a'); /* read clears, restarts */
	CHECK(!rec.level);
	CHECK_EQ(uart16550_read(&u, IIR), 0xc1);
	PUMP_UNTIL(base, rec.level, 500);
	CHECK_EQ(uart16550_read(&u, IIR), 0xcc);
	CHECK_EQ(uart16550_read(&u, RBR), 'b');
	pump_for(base, 20); /* empty: no timeout */
	CHECK_EQ(uart16550_read(&u, IIR), 0xc1);
	CHECK(!rec.level);

	/* at 50 baud four characters take 800 ms: no timeout after 50 ms */
	uart16550_write(&u, LCR, 0x83);
	uart16550_write(&u, DLL, 0x00);
	uart16550_write(&u, DLM, 0x09); /* 2304 */
	uart16550_write(&u, LCR, 0x03);
	feed(&u, "c");
	pump_for(base, 50);
	CHECK_EQ(uart16550_read(&u, IIR), 0xc1);
	/* 16450 mode has no timeout */
	uart16550_write(&u, FCR, 0x00);
	feed(&u, "d");
	CHECK_EQ(uart16550_read(&u, IIR), 0x04);
	uart16550_fini(&u);
}

/* Guest polls LSR.THRE like a polling console driver. */
static void
test_flow_tx(void)
{
	enum { TOTAL = 300000 };
	struct uart16550 u;
	struct irq_rec rec;
	struct chardev *cd = NULL;
	int sv[2], small = 4096;
	uint8_t *got = malloc(TOTAL);
	size_t sent = 0, recvd = 0;
	unsigned stalls = 0, polls = 0;
	bool order_ok = true;

	CHECK(got != NULL);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	CHECK_EQ(chardev_open_fds(ev, sv[0], sv[0], true, "tx", &cd), 0);
	setup(&u, &rec, cd);
	uart16550_write(&u, FCR, 0x07);
	/* the peer does not read: the guest stalls instead of losing bytes */
	while (sent < TOTAL && polls < 1000000) {
		polls++;
		if (!(uart16550_read(&u, LSR) & 0x20)) {
			stalls++;
			break;
		}
		for (int i = 0; i < 16 && sent < TOTAL; i++, sent++)
			uart16550_write(&u, THR, (uint8_t)(sent * 7));
		if (sent % 4096 == 0)
			(void)event_base_loop(base, EVLOOP_NONBLOCK);
	}
	CHECK(stalls > 0);
	CHECK(sent < TOTAL);
	CHECK_EQ(uart16550_read(&u, LSR) & 0x60, 0); /* THRE TEMT clear */
	/* now a slow reader: drain bit by bit while the guest keeps polling */
	polls = 0;
	while ((sent < TOTAL || recvd < sent) && polls < 2000000) {
		ssize_t r;

		polls++;
		if (sent < TOTAL && (uart16550_read(&u, LSR) & 0x20)) {
			for (int i = 0; i < 16 && sent < TOTAL; i++, sent++)
				uart16550_write(&u, THR, (uint8_t)(sent * 7));
		}
		(void)event_base_loop(base, EVLOOP_NONBLOCK);
		r = recv(sv[1], got + recvd,
			 TOTAL - recvd < 3000 ? TOTAL - recvd : 3000,
			 MSG_DONTWAIT);
		if (r > 0)
			recvd += (size_t)r;
	}
	CHECK_EQ(sent, TOTAL);
	CHECK_EQ(recvd, TOTAL);
	for (size_t i = 0; got && i < recvd; i++)
		if (got[i] != (uint8_t)(i * 7))
			order_ok = false;
	CHECK(order_ok);
	CHECK_EQ(u.stats.tx_overruns, 0);
	uart16550_fini(&u);
	chardev_close(cd);
	close(sv[1]);
	free(got);
}

/* Interrupt-driven guest that is slow: no input byte may be lost. */
static void
test_flow_rx(void)
{
	enum { TOTAL = 2000 };
	struct uart16550 u;
	struct irq_rec rec;
	struct chardev *cd = NULL;
	int sv[2];
	uint8_t out[TOTAL], got[TOTAL];
	size_t n = 0;
	unsigned rounds = 0;
	bool overrun = false;

	for (size_t i = 0; i < TOTAL; i++)
		out[i] = (uint8_t)(i * 13 + 1);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(chardev_open_fds(ev, sv[0], sv[0], true, "rx", &cd), 0);
	setup(&u, &rec, cd);
	uart16550_write(&u, LCR, 0x80);
	uart16550_write(&u, DLL, 1); /* fast timeout */
	uart16550_write(&u, LCR, 0x03);
	uart16550_write(&u, FCR, 0x81); /* trigger 8 */
	uart16550_write(&u, IER, 0x01);
	uart16550_write(&u, MCR, 0x08);
	CHECK_EQ(send(sv[1], out, TOTAL, 0), TOTAL);
	pump_for(base, 30); /* the guest sleeps */
	CHECK_EQ(u.rx_count, 16);
	CHECK(rec.level);
	while (n < TOTAL && rounds++ < 100000) {
		uint8_t lsr;

		PUMP_UNTIL(base, rec.level, 50);
		if (!rec.level)
			continue;
		/* the ISR: read a few bytes only, then return */
		for (int i = 0; i < 3; i++) {
			lsr = uart16550_read(&u, LSR);
			if (lsr & 0x02)
				overrun = true;
			if (!(lsr & 0x01) || n >= TOTAL)
				break;
			got[n++] = uart16550_read(&u, RBR);
		}
	}
	CHECK_EQ(n, TOTAL);
	CHECK(!overrun);
	CHECK_EQ(u.stats.rx_overruns, 0);
	CHECK(memcmp(out, got, TOTAL) == 0);
	uart16550_fini(&u);
	chardev_close(cd);
	close(sv[1]);
}

int
main(void)
{
	base = event_base_new();
	if (!base || ioreq_events_new(base, &events) < 0)
		return 2;
	ev = ioreq_events_services(events);
	test_reset_values();
	test_scratch_lcr_ier();
	test_divisor_latch();
	test_rx_16450();
	test_fifo_triggers();
	test_fifo_overrun_and_reset();
	test_thre();
	test_priorities();
	test_out2_gating();
	test_loopback_and_msr();
	test_rx_timeout();
	test_flow_tx();
	test_flow_rx();
	ioreq_events_free(events);
	event_base_free(base);
	return test_finish();
}
