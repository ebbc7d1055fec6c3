/*
 * 16550A UART (National/TI PC16550D datasheet): the bus-independent core
 * and the ISA device type `uart16550`.
 *
 * Modelled: RBR/THR, IER, IIR with the four interrupt priorities and the
 * FIFO-enabled bits, FCR (enable, RX/TX reset, trigger levels 1/4/8/14,
 * DMA-mode bit stored), 16-byte RX and TX FIFOs (1-byte holding registers
 * in 16450 mode), LCR with DLAB and the divisor latch, MCR including
 * loopback, LSR, MSR with delta bits, SCR, the RX character-timeout
 * interrupt, overrun.  Transmission is instantaneous: a byte written to THR
 * goes to the back-end at once unless the back-end is full, in which case
 * it waits in the TX FIFO with THRE/TEMT clear until the back-end has room.
 *
 * Not modelled: parity, framing and break errors (our back-ends carry
 * bytes, not line signals, so PE/FE/BI and LSR bit 7 never set; LCR's
 * break bit is stored only), the DMA signals (RXRDY/TXRDY), and real baud
 * timing of output.  The modem inputs outside loopback are fixed to a
 * connected modem: CTS, DSR and DCD asserted, RI clear.
 */
#include "devices/uart16550.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "devices/chardev.h"
#include "devices/device.h"
#include "devices/events.h"
#include "devices/registry.h"
#include "lib/container.h"
#include "lib/range.h"

/* IER */
#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK  0x0f
/* IIR */
#define IIR_NO_INT     0x01
#define IIR_ID_MSR     0x00
#define IIR_ID_THRE    0x02
#define IIR_ID_RDA     0x04
#define IIR_ID_RLS     0x06
#define IIR_ID_TIMEOUT 0x0c
#define IIR_FIFO_ON    0xc0
/* FCR */
#define FCR_ENABLE   0x01
#define FCR_RX_RESET 0x02
#define FCR_TX_RESET 0x04
#define FCR_DMA	     0x08
#define FCR_TRIGGER  0xc0
/* LCR */
#define LCR_DLAB 0x80
/* MCR */
#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f
/* LSR */
#define LSR_DR	     0x01
#define LSR_OE	     0x02
#define LSR_PE	     0x04
#define LSR_FE	     0x08
#define LSR_BI	     0x10
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define LSR_FIFO_ERR 0x80
#define LSR_ERRORS   (LSR_OE | LSR_PE | LSR_FE | LSR_BI)
/* MSR */
#define MSR_DCTS   0x01
#define MSR_DDSR   0x02
#define MSR_TERI   0x04
#define MSR_DDCD   0x08
#define MSR_CTS	   0x10
#define MSR_DSR	   0x20
#define MSR_RI	   0x40
#define MSR_DCD	   0x80
#define MSR_DELTAS 0x0f
/* Modem inputs outside loopback: a modem that is there and ready. */
#define MSR_EXTERNAL_LINES (MSR_CTS | MSR_DSR | MSR_DCD)

/* Floor for the character-timeout timer, so fast rates do not spin. */
#define UART_TIMEOUT_MIN_USEC 1000
/* Power-on divisor: undefined in the datasheet; 12 = 9600 baud. */
#define UART_RESET_DIVISOR 12

static const uint8_t rx_trigger_levels[4] = { 1, 4, 8, 14 };

static bool
fifo_enabled(const struct uart16550 *u)
{
	return u->fcr & FCR_ENABLE;
}

static unsigned
fifo_capacity(const struct uart16550 *u)
{
	return fifo_enabled(u) ? UART16550_FIFO_SIZE : 1;
}

static bool
loopback(const struct uart16550 *u)
{
	return u->mcr & MCR_LOOP;
}

/*
 * Receive data available: in FIFO mode the count reached the trigger
 * level, in 16450 mode any byte.
 */
static bool
rx_data_ready(const struct uart16550 *u)
{
	if (!fifo_enabled(u))
		return u->rx_count > 0;
	return u->rx_count >= rx_trigger_levels[u->fcr >> 6];
}

/* IIR bits 3:0 for the highest-priority pending, enabled source. */
static uint8_t
iir_id(const struct uart16550 *u)
{
	if ((u->ier & IER_ELSI) && (u->lsr_err & LSR_ERRORS))
		return IIR_ID_RLS;
	if ((u->ier & IER_ERBFI) && rx_data_ready(u))
		return IIR_ID_RDA;
	if ((u->ier & IER_ERBFI) && u->timeout_ipending)
		return IIR_ID_TIMEOUT;
	if ((u->ier & IER_ETBEI) && u->thr_ipending)
		return IIR_ID_THRE;
	if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTAS))
		return IIR_ID_MSR;
	return IIR_NO_INT;
}

static void
update_irq(struct uart16550 *u)
{
	bool level = iir_id(u) != IIR_NO_INT && (u->mcr & MCR_OUT2);

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (u->set_irq)
		u->set_irq(u->opaque, level);
}

/* Four character times at the programmed rate and frame format. */
static uint64_t
char_timeout_usec(const struct uart16550 *u)
{
	unsigned bits = 1 + 5 + (u->lcr & 0x03) + ((u->lcr & 0x08) ? 1 : 0) +
			((u->lcr & 0x04) ? 2 : 1);
	uint64_t divisor = u->divisor ? u->divisor : 0x10000;
	uint64_t usec = 4ull * bits * divisor * 1000000ull /
			(UART16550_CLOCK_HZ / 16);

	return usec < UART_TIMEOUT_MIN_USEC ? UART_TIMEOUT_MIN_USEC : usec;
}

/* (Re)start the timeout after the FIFO was written or read. */
static void
rx_timer_restart(struct uart16550 *u)
{
	if (!u->rx_timer)
		return;
	if (!fifo_enabled(u) || u->rx_count == 0) {
		device_timer_cancel(u->ev, u->rx_timer);
		return;
	}
	(void)device_timer_arm(u->ev, u->rx_timer, char_timeout_usec(u));
}

static void
on_rx_timeout(void *arg)
{
	struct uart16550 *u = arg;

	if (fifo_enabled(u) && u->rx_count > 0) {
		u->timeout_ipending = true;
		update_irq(u);
	}
}

static void
rx_clear(struct uart16550 *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	u->timeout_ipending = false;
	if (u->rx_timer)
		device_timer_cancel(u->ev, u->rx_timer);
}

/* One byte off the wire (or the loopback path) into the RX FIFO. */
static void
rx_push(struct uart16550 *u, uint8_t b)
{
	unsigned cap = fifo_capacity(u);

	if (u->rx_count >= cap) {
		/*
		 * Overrun.  FIFO mode: the FIFO is kept, the new byte is lost
		 * in the shift register.  16450 mode: the new byte replaces
		 * the unread one in RBR.
		 */
		u->lsr_err |= LSR_OE;
		u->stats.rx_overruns++;
		if (!fifo_enabled(u))
			u->rx_fifo[u->rx_head] = b;
		return;
	}
	u->rx_fifo[(u->rx_head + u->rx_count) % UART16550_FIFO_SIZE] = b;
	u->rx_count++;
	u->stats.rx_bytes++;
}

/*
 * Move bytes out of THR/TX FIFO: into the RX FIFO in loopback, else to the
 * back-end until it is full.  THR empty latches the THRE interrupt.
 */
static void
tx_drain(struct uart16550 *u)
{
	bool had = u->tx_count > 0;
	bool looped = false;

	while (u->tx_count > 0) {
		uint8_t b = u->tx_fifo[u->tx_head];

		if (loopback(u)) {
			rx_push(u, b);
			looped = true;
		} else if (u->cd && chardev_write(u->cd, &b, 1) == 0) {
			break; /* back-end full: chardev will call writable */
		}
		u->tx_head = (u->tx_head + 1) % UART16550_FIFO_SIZE;
		u->tx_count--;
		u->stats.tx_bytes++;
	}
	if (u->tx_count == 0)
		u->tx_head = 0;
	if (had && u->tx_count == 0)
		u->thr_ipending = true;
	if (looped)
		rx_timer_restart(u);
}

static void
thr_write(struct uart16550 *u, uint8_t value)
{
	u->thr_ipending = false;
	if (u->tx_count >= fifo_capacity(u)) {
		/* only possible while the back-end is full */
		u->stats.tx_overruns++;
		log_ratelimited(&u->rl, LOG_LEVEL_WARNING,
				"%s: THR written while TX FIFO full, "
				"byte lost, ignoring",
				u->name);
		if (!fifo_enabled(u))
			u->tx_fifo[u->tx_head] = value; /* THR overwritten */
		return;
	}
	u->tx_fifo[(u->tx_head + u->tx_count) % UART16550_FIFO_SIZE] = value;
	u->tx_count++;
	tx_drain(u);
}

static uint8_t
rbr_read(struct uart16550 *u)
{
	if (u->rx_count == 0)
		return u->rbr_last;
	u->rbr_last = u->rx_fifo[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART16550_FIFO_SIZE;
	u->rx_count--;
	u->timeout_ipending = false;
	rx_timer_restart(u);
	if (u->rx_count == 0 && u->cd)
		chardev_accept_input(u->cd); /* drained: more, please */
	return u->rbr_last;
}

static uint8_t
lsr_value(const struct uart16550 *u)
{
	uint8_t v = u->lsr_err;

	if (u->rx_count > 0)
		v |= LSR_DR;
	if (u->tx_count == 0)
		v |= LSR_THRE | LSR_TEMT;
	if (fifo_enabled(u) && (u->lsr_err & (LSR_PE | LSR_FE | LSR_BI)))
		v |= LSR_FIFO_ERR;
	return v;
}

/* Recompute MSR lines 7:4 and latch the deltas. */
static void
msr_update(struct uart16550 *u)
{
	uint8_t lines, old = u->msr & ~MSR_DELTAS;

	if (loopback(u)) {
		lines = 0;
		if (u->mcr & MCR_RTS)
			lines |= MSR_CTS;
		if (u->mcr & MCR_DTR)
			lines |= MSR_DSR;
		if (u->mcr & MCR_OUT1)
			lines |= MSR_RI;
		if (u->mcr & MCR_OUT2)
			lines |= MSR_DCD;
	} else {
		lines = MSR_EXTERNAL_LINES;
	}
	if ((lines ^ old) & MSR_CTS)
		u->msr |= MSR_DCTS;
	if ((lines ^ old) & MSR_DSR)
		u->msr |= MSR_DDSR;
	if ((old & MSR_RI) && !(lines & MSR_RI))
		u->msr |= MSR_TERI; /* trailing edge of RI only */
	if ((lines ^ old) & MSR_DCD)
		u->msr |= MSR_DDCD;
	u->msr = (u->msr & MSR_DELTAS) | lines;
}

static void
fcr_write(struct uart16550 *u, uint8_t value)
{
	bool rx_had_data = u->rx_count > 0;

	if ((value ^ u->fcr) & FCR_ENABLE) {
		/* switching between 16450 and FIFO mode empties both */
		rx_clear(u);
		if (u->tx_count)
			u->thr_ipending = true;
		u->tx_head = 0;
		u->tx_count = 0;
	}
	if (!(value & FCR_ENABLE)) {
		/* other bits are only programmed together with bit 0 */
		u->fcr &= FCR_DMA | FCR_TRIGGER;
	} else {
		u->fcr = value & (FCR_ENABLE | FCR_DMA | FCR_TRIGGER);
		if (value & FCR_RX_RESET)
			rx_clear(u);
		if (value & FCR_TX_RESET) {
			if (u->tx_count)
				u->thr_ipending = true;
			u->tx_head = 0;
			u->tx_count = 0;
		}
	}
	if (rx_had_data && u->rx_count == 0 && u->cd)
		chardev_accept_input(u->cd);
}

static void
ier_write(struct uart16550 *u, uint8_t value)
{
	uint8_t changed = (u->ier ^ value) & IER_MASK;

	u->ier = value & IER_MASK;
	/* enabling ETBEI while THR is empty raises THRE at once */
	if (changed & IER_ETBEI)
		u->thr_ipending = (u->ier & IER_ETBEI) && u->tx_count == 0;
}

static void
mcr_write(struct uart16550 *u, uint8_t value)
{
	bool was_loop = loopback(u);

	u->mcr = value & MCR_MASK;
	msr_update(u);
	if (was_loop && !loopback(u) && u->cd)
		chardev_accept_input(u->cd); /* serial input reconnected */
	if (was_loop != loopback(u))
		tx_drain(u); /* bytes waiting for the back-end move on */
}

uint8_t
uart16550_read(struct uart16550 *u, unsigned reg)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (reg) {
	case UART16550_RBR:
		v = dlab ? (uint8_t)u->divisor : rbr_read(u);
		break;
	case UART16550_IER:
		v = dlab ? (uint8_t)(u->divisor >> 8) : u->ier;
		break;
	case UART16550_IIR:
		v = iir_id(u);
		/* reading IIR while THRE is the source clears it */
		if (v == IIR_ID_THRE)
			u->thr_ipending = false;
		if (fifo_enabled(u))
			v |= IIR_FIFO_ON;
		break;
	case UART16550_LCR:
		v = u->lcr;
		break;
	case UART16550_MCR:
		v = u->mcr;
		break;
	case UART16550_LSR:
		v = lsr_value(u);
		u->lsr_err = 0;
		break;
	case UART16550_MSR:
		v = u->msr;
		u->msr &= ~MSR_DELTAS;
		break;
	case UART16550_SCR:
		v = u->scr;
		break;
	default:
		return 0xff;
	}
	update_irq(u);
	return v;
}

void
uart16550_write(struct uart16550 *u, unsigned reg, uint8_t value)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case UART16550_THR:
		if (dlab)
			u->divisor = (u->divisor & 0xff00) | value;
		else
			thr_write(u, value);
		break;
	case UART16550_IER:
		if (dlab)
			u->divisor = (uint16_t)((u->divisor & 0x00ff) |
						(value << 8));
		else
			ier_write(u, value);
		break;
	case UART16550_FCR:
		fcr_write(u, value);
		break;
	case UART16550_LCR:
		u->lcr = value;
		break;
	case UART16550_MCR:
		mcr_write(u, value);
		break;
	case UART16550_LSR:
	case UART16550_MSR:
		/* read-only (factory test on real parts) */
		u->stats.bad_writes++;
		log_ratelimited(&u->rl, LOG_LEVEL_WARNING,
				"%s: write 0x%02x to read-only %s, ignoring",
				u->name, value,
				reg == UART16550_LSR ? "LSR" : "MSR");
		return;
	case UART16550_SCR:
		u->scr = value;
		return;
	default:
		return;
	}
	update_irq(u);
}

bool
uart16550_irq_level(const struct uart16550 *u)
{
	return iir_id(u) != IIR_NO_INT && (u->mcr & MCR_OUT2);
}

size_t
uart16550_can_receive(const struct uart16550 *u)
{
	if (loopback(u))
		return 0;
	return fifo_capacity(u) - u->rx_count;
}

void
uart16550_receive(struct uart16550 *u, const uint8_t *buf, size_t len)
{
	if (len == 0)
		return;
	for (size_t i = 0; i < len; i++)
		rx_push(u, buf[i]);
	rx_timer_restart(u);
	update_irq(u);
}

static size_t
chardev_can_receive_cb(void *opaque)
{
	return uart16550_can_receive(opaque);
}

static void
chardev_receive_cb(void *opaque, const uint8_t *buf, size_t len)
{
	uart16550_receive(opaque, buf, len);
}

static void
chardev_writable_cb(void *opaque)
{
	struct uart16550 *u = opaque;

	tx_drain(u);
	update_irq(u);
}

static const struct chardev_frontend_ops uart16550_chardev_ops = {
	.can_receive = chardev_can_receive_cb,
	.receive = chardev_receive_cb,
	.writable = chardev_writable_cb,
};

void
uart16550_reset(struct uart16550 *u)
{
	u->ier = 0;
	u->fcr = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->lsr_err = 0;
	u->msr = MSR_EXTERNAL_LINES;
	u->scr = 0;
	u->divisor = UART_RESET_DIVISOR;
	u->rbr_last = 0;
	rx_clear(u);
	u->tx_head = 0;
	u->tx_count = 0;
	u->thr_ipending = false;
	update_irq(u);
	if (u->cd)
		chardev_accept_input(u->cd);
}

int
uart16550_init(struct uart16550 *u, const char *name,
	       const struct device_events *ev, struct chardev *cd,
	       void (*set_irq)(void *opaque, bool level), void *opaque)
{
	int r;

	memset(u, 0, sizeof(*u));
	(void)snprintf(u->name, sizeof(u->name), "%s", name ? name : "uart");
	if (ev) {
		r = device_timer_new(ev, on_rx_timeout, u, &u->rx_timer);
		if (r < 0)
			return r;
		u->ev = ev;
	}
	u->cd = cd;
	uart16550_reset(u); /* irq_level is false: set_irq not called */
	u->set_irq = set_irq;
	u->opaque = opaque;
	if (cd)
		chardev_set_frontend(cd, &uart16550_chardev_ops, u);
	return 0;
}

void
uart16550_set_chardev(struct uart16550 *u, struct chardev *cd)
{
	if (u->cd)
		chardev_set_frontend(u->cd, NULL, NULL);
	u->cd = cd;
	if (cd) {
		chardev_set_frontend(cd, &uart16550_chardev_ops, u);
		chardev_accept_input(cd);
	}
	tx_drain(u);
	update_irq(u);
}

void
uart16550_fini(struct uart16550 *u)
{
	if (u->cd)
		chardev_set_frontend(u->cd, NULL, NULL);
	u->cd = NULL;
	if (u->ev)
		device_timer_free(u->ev, u->rx_timer);
	u->rx_timer = NULL;
}

/*
 * ISA wrapper: type `uart16550`, 8 ports at `port`, ISA IRQ `irq`.
 */
struct uart16550_isa {
	struct device dev;
	struct uart16550 uart;
	struct chardev *cd;
	unsigned irq;
	struct log_ratelimit rl;
};

static struct uart16550_isa *
to_isa(struct device *dev)
{
	return container_of(dev, struct uart16550_isa, dev);
}

static void
isa_set_irq(void *opaque, bool level)
{
	struct uart16550_isa *s = opaque;
	const struct device_services *svc = s->dev.svc;
	int r;

	if (level)
		s->dev.stats.irq_raises++;
	if (!svc || !svc->set_isa_irq)
		return;
	r = svc->set_isa_irq(svc->opaque, s->irq, level);
	if (r < 0)
		log_ratelimited(&s->rl, LOG_LEVEL_WARNING,
				"%s: setting ISA IRQ %u to %d failed: %s",
				s->dev.id, s->irq, level, strerror(-r));
}

static void
isa_destroy(struct device *dev)
{
	struct uart16550_isa *s;

	if (!dev)
		return;
	s = to_isa(dev);
	uart16550_fini(&s->uart);
	chardev_close(s->cd);
	free(s);
}

static const struct device_ops isa_ops;

static int
isa_create(const struct cfg_device *cfg, const struct device_services *svc,
	   struct device **ret_dev)
{
	struct uart16550_isa *s;
	int r;

	if (!cfg || !svc || !ret_dev || cfg->irq > 15 ||
	    !range_within(cfg->port, UART16550_REG_COUNT,
			  RANGE_PORT_SPACE_SIZE))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	device_init(&s->dev, &uart16550_isa_type, &isa_ops, cfg->id, svc);
	s->irq = cfg->irq;
	s->dev.regions[0] = (struct device_region){
		.space = BUS_SPACE_PORT,
		.base = cfg->port,
		.size = UART16550_REG_COUNT,
		.access_sizes = DEVICE_ACCESS_1,
	};
	s->dev.region_count = 1;
	r = chardev_open((cfg->keys & CFG_KEY_BACKEND) ? &cfg->backend : NULL,
			 svc->events, cfg->id, &s->cd);
	if (r < 0)
		goto err_free;
	r = uart16550_init(&s->uart, cfg->id, svc->events, s->cd, isa_set_irq,
			   s);
	if (r < 0)
		goto err_free;
	*ret_dev = &s->dev;
	return 0;

err_free:
	isa_destroy(&s->dev);
	return r;
}

static void
isa_reset(struct device *dev)
{
	uart16550_reset(&to_isa(dev)->uart);
}

static uint64_t
isa_read(struct device *dev, unsigned region, uint64_t offset, unsigned size)
{
	if (region != 0 || offset >= UART16550_REG_COUNT || size != 1) {
		dev->stats.bad_accesses++;
		return 0xff;
	}
	return uart16550_read(&to_isa(dev)->uart, (unsigned)offset);
}

static void
isa_write(struct device *dev, unsigned region, uint64_t offset, unsigned size,
	  uint64_t value)
{
	if (region != 0 || offset >= UART16550_REG_COUNT || size != 1) {
		dev->stats.bad_accesses++;
		return;
	}
	uart16550_write(&to_isa(dev)->uart, (unsigned)offset, (uint8_t)value);
}

/* The configured line, whatever the guest has enabled (OUT2, IER). */
static void
isa_describe(const struct device *dev, const struct device_info_writer *w)
{
	const struct uart16550_isa *s = container_of(dev,
						     const struct uart16550_isa,
						     dev);
	char irq[16];

	chardev_describe(s->cd, w);
	(void)snprintf(irq, sizeof(irq), "isa %u", s->irq);
	device_info_str(w, "interrupt", irq);
}

/* New back-end open first; the old one is closed only once it is. */
static int
isa_chardev_attach(struct device *dev, const struct cfg_backend *backend)
{
	struct uart16550_isa *s = to_isa(dev);
	struct chardev *cd, *old = s->cd;
	int r;

	r = chardev_open(backend, dev->svc->events, dev->id, &cd);
	if (r < 0)
		return r;
	uart16550_set_chardev(&s->uart, cd);
	s->cd = cd;
	chardev_close(old);
	return 0;
}

static const struct device_ops isa_ops = {
	.destroy = isa_destroy,
	.reset = isa_reset,
	.read = isa_read,
	.write = isa_write,
	.describe = isa_describe,
	.chardev_attach = isa_chardev_attach,
};

static const struct cfg_type_desc isa_cfg = {
	.name = "uart16550",
	.keys = CFG_KEY_PORT | CFG_KEY_IRQ | CFG_KEY_BACKEND,
	.required = CFG_KEY_IRQ,
	.placement = CFG_KEY_PORT,
	.irq_min = 0,
	.irq_max = 15, /* an ISA line */
	.port_size = UART16550_REG_COUNT,
};

const struct device_type uart16550_isa_type = {
	.name = "uart16550",
	.cfg = &isa_cfg,
	.create = isa_create,
};
