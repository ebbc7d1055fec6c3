/*
 * 16550A UART core, independent of the bus it sits on: the ISA device
 * type `uart16550` (uart16550.c) wraps it today, a PCI serial card can wrap
 * it later.  The wrapper owns the register window and the interrupt line;
 * the core owns the registers, the 16-byte FIFOs, the RX character-timeout
 * timer and the link to a character back-end (devices/chardev.h).
 *
 * Interrupt output: the core computes the 16550's INTR pin gated by
 * MCR.OUT2, the way a PC wires COM ports (the pin reaches the bus through a
 * buffer enabled by OUT2; Linux's 8250 driver sets OUT2).  The gate is the
 * MCR.OUT2 register bit, in loopback mode too, so interrupts keep working
 * in loopback as the datasheet describes.  set_irq is called only when that
 * gated level changes.
 *
 * Threading: the loop thread of the event services given to init.
 */
#ifndef IOREQD_DEVICES_UART16550_H
#define IOREQD_DEVICES_UART16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/log.h"

struct chardev;
struct device_events;
struct device_timer;

#define UART16550_REG_COUNT 8 /* register window, bytes */
#define UART16550_FIFO_SIZE 16
#define UART16550_CLOCK_HZ  1843200 /* 1.8432 MHz: baud = 115200 / DL */

/* Register offsets (DLAB = LCR bit 7 selects DLL/DLM at 0/1). */
enum {
	UART16550_RBR = 0, /* R, DLAB=0: receiver buffer */
	UART16550_THR = 0, /* W, DLAB=0: transmitter holding */
	UART16550_DLL = 0, /* R/W, DLAB=1: divisor latch low */
	UART16550_IER = 1, /* R/W, DLAB=0: interrupt enable */
	UART16550_DLM = 1, /* R/W, DLAB=1: divisor latch high */
	UART16550_IIR = 2, /* R: interrupt identification */
	UART16550_FCR = 2, /* W: FIFO control */
	UART16550_LCR = 3, /* R/W: line control */
	UART16550_MCR = 4, /* R/W: modem control */
	UART16550_LSR = 5, /* R: line status */
	UART16550_MSR = 6, /* R: modem status */
	UART16550_SCR = 7, /* R/W: scratch */
};

/* Counters of things a guest or back-end did that lost or refused data. */
struct uart16550_stats {
	uint64_t rx_bytes;    /* bytes entered the RX FIFO */
	uint64_t tx_bytes;    /* bytes left the TX FIFO */
	uint64_t rx_overruns; /* LSR.OE events */
	uint64_t tx_overruns; /* THR written while TX FIFO full */
	uint64_t bad_writes;  /* writes to read-only LSR/MSR */
};

struct uart16550 {
	/* guest-visible state */
	uint8_t ier;	  /* IER (R/W), low 4 bits */
	uint8_t fcr;	  /* FCR (W): bit 0, DMA bit 3, trigger 7:6 */
	uint8_t lcr;	  /* LCR (R/W) */
	uint8_t mcr;	  /* MCR (R/W), low 5 bits */
	uint8_t lsr_err;  /* LSR (R) bits OE/PE/FE/BI, clear on read;
				 * DR, THRE, TEMT and bit 7 are derived */
	uint8_t msr;	  /* MSR (R): lines 7:4, deltas 3:0 */
	uint8_t scr;	  /* SCR (R/W) */
	uint16_t divisor; /* DLL/DLM (R/W) */
	uint8_t rbr_last; /* RBR (R): what an empty FIFO reads back */
	uint8_t rx_fifo[UART16550_FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint8_t tx_fifo[UART16550_FIFO_SIZE]; /* THR in 16450 mode */
	unsigned tx_head, tx_count;
	bool thr_ipending;     /* THRE interrupt latched */
	bool timeout_ipending; /* RX character timeout latched */

	/* host side */
	bool irq_level; /* last level given to set_irq */
	void (*set_irq)(void *opaque, bool level);
	void *opaque;
	struct chardev *cd;		/* not owned; may be NULL (discard) */
	const struct device_events *ev; /* NULL: no timeout */
	struct device_timer *rx_timer;	/* NULL without ev */
	char name[64];
	struct log_ratelimit rl;
	struct uart16550_stats stats;
};

/*
 * Initialise `uart` to its reset state and attach it as the front end of
 * `cd` (may be NULL: output discarded, no input).  `name` is used in log
 * messages.  ev may be NULL in which case no character-timeout
 * interrupt is ever raised.  set_irq(opaque, level) is called on every
 * change of the gated interrupt level (not during init).  Returns 0 or
 * -ENOMEM.
 */
int uart16550_init(struct uart16550 *uart, const char *name,
		   const struct device_events *ev, struct chardev *cd,
		   void (*set_irq)(void *opaque, bool level), void *opaque);

/*
 * Make `cd` (may be NULL: discard) the back-end instead of the current
 * one, which is detached but not closed (the caller owns both).  The
 * guest sees nothing: registers, both FIFOs and the interrupt stay.
 * Bytes still in the TX FIFO go to the new back-end (they had not left
 * the UART yet); input is resumed from the new one as the RX FIFO has
 * room.  What the old back-end already took is its own to flush.
 */
void uart16550_set_chardev(struct uart16550 *uart, struct chardev *cd);

/* Detach from the chardev and free the timer; does not call set_irq. */
void uart16550_fini(struct uart16550 *uart);

/* Master reset: register reset values, FIFOs emptied, IRQ lowered. */
void uart16550_reset(struct uart16550 *uart);

/* Register access; reg 0-7 (others read 0xff / are ignored). */
uint8_t uart16550_read(struct uart16550 *uart, unsigned reg);
void uart16550_write(struct uart16550 *uart, unsigned reg, uint8_t value);

/* The gated interrupt level right now. */
bool uart16550_irq_level(const struct uart16550 *uart);

/*
 * Serial input, as the chardev front-end hooks do it (exposed for tests and
 * for wrappers with their own input source): how many bytes the RX FIFO can
 * take (0 in loopback, where the serial input is disconnected), and deliver
 * bytes (beyond the room they overrun, as on the wire).
 */
size_t uart16550_can_receive(const struct uart16550 *uart);
void uart16550_receive(struct uart16550 *uart, const uint8_t *buf, size_t len);

#endif
