/*
 * virtio-console (virtio 1.2, section 5.3): device id 3, port 0 only,
 * on a character back-end (devices/chardev.h: file, socket, pty, stdio,
 * null).  receiveq0 (queue 0) carries back-end input to the guest,
 * transmitq0 (queue 1) the guest's output to the back-end.  Offered:
 * VIRTIO_CONSOLE_F_SIZE when the config gives `cols` or `rows`, and
 * VIRTIO_CONSOLE_F_EMERG_WRITE (a byte written to emerg_wr goes to the
 * back-end, at any time, as 5.3.4 allows).  Transport-free: the type's
 * create puts it behind virtio-pci or virtio-mmio as the config says.
 *
 * Flow control, both ways, as the UART has it:
 *   output  a transmit chain's bytes are copied to the back-end as far as
 *           chardev_write() takes them; when it takes fewer the chain is
 *           held, no further chain is taken, and the back-end's
 *           writable() resumes where it stopped.  A chain is returned
 *           (used length 0) once all of it is with the back-end.  A
 *           round moves at most CON_ROUND_BYTES, then continues as
 *           deferred work.
 *   input   can_receive() is the room of one receive chain the driver
 *           made available (popped then and held); with none it is 0 and
 *           the back-end stops reading, leaving the bytes in the kernel.
 *           Each batch of input is written to the held chain, which goes
 *           back at once (a console is interactive).  A kick of the
 *           receive queue (new buffers) resumes reading.
 *
 * Guest mistakes: a transmit chain with a device-writable descriptor, or
 * a receive chain with a device-readable one (the wrong direction,
 * 5.3.6), is returned with length 0 and not used; so is a receive chain
 * of no writable bytes.  A buffer outside guest memory: transmit sends
 * what came before it and returns the chain; receive returns the bytes
 * written before it, and the rest of that input is dropped (counted).
 * All counted and logged, rate-limited.  A broken ring (the virtqueue's
 * -EIO) sets DEVICE_NEEDS_RESET.  A ring the core cannot map again for
 * now (after it revoked the mappings) is retried by a timer, the chain
 * kept, since a driver may wait for it without kicking again.
 *
 * The operator may replace the back-end (chardev_attach): the new one is
 * opened first, the old one closed after the swap, flushing what it
 * already took as far as it can without blocking.  A transmit chain held
 * because the old one was full resumes on the new one where it stopped;
 * a held receive chain waits for the new one's input.  The guest sees no
 * change (no config interrupt: there is nothing in config space to tell).
 *
 * Left out: VIRTIO_CONSOLE_F_MULTIPORT (the control queues and
 * ports beyond 0); resizing at run time (cols and rows are fixed).
 */
#include "devices/virtio/virtio-console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "devices/registry.h"
#include "devices/virtio/virtio-mmio.h"
#include "lib/container.h"
#include "lib/le.h"
#include "lib/log.h"

#define CON_CHUNK	 4096u	       /* bytes per copy */
#define CON_ROUND_BYTES	 (256u * 1024) /* output per loop round */
#define CON_ROUND_CHAINS 256u
#define CON_DEFAULT_COLS 80u
#define CON_DEFAULT_ROWS 24u
#define CON_RETRY_USEC	 100000u /* a ring could not be mapped again */

struct virtio_console_stats {
	uint64_t tx_bytes;    /* guest output given to the back-end */
	uint64_t tx_chains;   /* transmit chains returned */
	uint64_t tx_blocked;  /* the back-end took less: waited */
	uint64_t rx_bytes;    /* input written to the guest */
	uint64_t rx_chains;   /* receive chains returned */
	uint64_t rx_dropped;  /* input lost to a bad receive buffer */
	uint64_t bad_chains;  /* wrong direction or empty */
	uint64_t faults;      /* buffers outside guest memory */
	uint64_t emerg_bytes; /* emerg_wr bytes */
};

struct virtio_console {
	struct virtio_dev vd;
	const struct device_events *ev;
	struct chardev *cd;
	uint8_t config[VIRTIO_CONSOLE_CONFIG_SIZE];

	bool rx_held;		  /* a receive chain waits for input */
	bool rx_filled;		  /* ... has it, waits to be returned */
	uint32_t rx_len;	  /* ... bytes written */
	struct vq_chain rx_chain; /* ... this one */

	bool tx_held;		  /* a transmit chain is being sent */
	bool tx_blocked;	  /* ... and the back-end is full */
	unsigned tx_elem;	  /* ... resume at this element */
	uint32_t tx_off;	  /* ... and offset in it */
	struct vq_chain tx_chain; /* ... this one */
	struct device_work tx_more;
	struct device_timer *retry; /* after a transient ring error */

	struct virtio_console_stats stats;
	struct log_ratelimit rl;
	uint8_t buf[CON_CHUNK];
};

static struct virtio_console *
to_con(struct virtio_dev *vd)
{
	return container_of(vd, struct virtio_console, vd);
}

/*
 * Return chain head on queue q with len: 0, -EIO (the ring broke),
 * -EINVAL, or a transient error (the ring could not be mapped again),
 * after which a retry is armed and the caller keeps the chain.
 */
static int
con_push(struct virtio_console *c, unsigned q, uint16_t head, uint32_t len)
{
	struct virtqueue *vq = virtio_vq(&c->vd, q);
	int r = virtqueue_push(vq, head, len);

	if (r == -EIO)
		virtio_needs_reset(&c->vd, vq_error_name(virtqueue_error(vq)));
	else if (r < 0 && r != -EINVAL)
		(void)device_timer_arm(c->ev, c->retry, CON_RETRY_USEC);
	return r;
}

/* Can a chain whose push failed with r be forgotten (not retried)? */
static bool
push_final(int r)
{
	return r == 0 || r == -EIO || r == -EINVAL;
}

/*
 * Pop from queue q: 0, -EAGAIN (none) or another -errno.  A transient
 * error (the ring could not be mapped again after the core revoked it)
 * arms a retry: the driver may be waiting for this very chain without
 * kicking again (Linux's hvc output polls the used ring).
 */
static int
con_pop(struct virtio_console *c, unsigned q, struct vq_chain *chain)
{
	struct virtqueue *vq = virtio_vq(&c->vd, q);
	int r = virtqueue_pop(vq, chain);

	if (r == -EIO)
		virtio_needs_reset(&c->vd, vq_error_name(virtqueue_error(vq)));
	else if (r < 0 && r != -EAGAIN)
		(void)device_timer_arm(c->ev, c->retry, CON_RETRY_USEC);
	return r;
}

/* A chain the driver got wrong: back with 0, unused. */
static void
con_refuse(struct virtio_console *c, unsigned q, const struct vq_chain *chain,
	   const char *why)
{
	c->stats.bad_chains++;
	log_ratelimited(&c->rl, LOG_LEVEL_WARNING,
			"%s: %s chain %u %s; returned unused", c->vd.id,
			q == VIRTIO_CONSOLE_RXQ ? "receive" : "transmit",
			(unsigned)chain->head, why);
	(void)con_push(c, q, chain->head, 0);
}

/*
 * Receive side.
 */

/* Return the filled receive chain; false: not yet (a retry is armed). */
static bool
rx_return(struct virtio_console *c)
{
	int r = con_push(c, VIRTIO_CONSOLE_RXQ, c->rx_chain.head, c->rx_len);

	if (!push_final(r))
		return false;
	c->rx_held = c->rx_filled = false;
	if (r == 0) {
		c->stats.rx_chains++;
		c->stats.rx_bytes += c->rx_len;
		virtio_notify_used(&c->vd, VIRTIO_CONSOLE_RXQ);
	}
	return true;
}

/* Hold a usable receive chain if the driver has one; its room or 0. */
static size_t
rx_room(struct virtio_console *c)
{
	bool pushed = false;
	size_t room = 0;

	if (!virtio_queue_usable(&c->vd, VIRTIO_CONSOLE_RXQ) ||
	    (c->rx_filled && !rx_return(c)))
		return 0;
	/* Each pass consumes an available entry: bounded by the ring. */
	for (unsigned i = 0; !c->rx_held && i < VQ_SIZE_MAX; i++) {
		if (con_pop(c, VIRTIO_CONSOLE_RXQ, &c->rx_chain) < 0)
			break;
		if (c->rx_chain.readable_count > 0) {
			con_refuse(c, VIRTIO_CONSOLE_RXQ, &c->rx_chain,
				   "has device-readable buffers");
		} else if (c->rx_chain.writable_len == 0) {
			con_refuse(c, VIRTIO_CONSOLE_RXQ, &c->rx_chain,
				   "has no room");
		} else {
			c->rx_held = true;
			break;
		}
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(&c->vd, VIRTIO_CONSOLE_RXQ);
	if (c->rx_held)
		room = c->rx_chain.writable_len > SIZE_MAX ?
			       SIZE_MAX :
			       (size_t)c->rx_chain.writable_len;
	return room;
}

static size_t
con_can_receive(void *opaque)
{
	return rx_room(opaque);
}

/* Input: into the held receive chain, which goes back at once. */
static void
con_receive(void *opaque, const uint8_t *buf, size_t len)
{
	struct virtio_console *c = opaque;
	const struct device_services *svc = c->vd.svc;
	const struct vq_chain *ch = &c->rx_chain;
	size_t done = 0;

	if (!c->rx_held || c->rx_filled) {
		/* The promise of can_receive cannot be broken: never. */
		c->stats.rx_dropped += len;
		return;
	}
	for (unsigned i = ch->readable_count; i < ch->count && done < len;
	     i++) {
		size_t n = ch->elem[i].len;

		if (n > len - done)
			n = len - done;
		if (n == 0)
			continue;
		if (!svc->guest_write ||
		    svc->guest_write(svc->opaque, ch->elem[i].gpa, buf + done,
				     n) < 0) {
			c->stats.faults++;
			log_ratelimited(&c->rl, LOG_LEVEL_WARNING,
					"%s: receive chain %u has a buffer "
					"outside guest memory; %zu input "
					"bytes dropped",
					c->vd.id, (unsigned)ch->head,
					len - done);
			break;
		}
		done += n;
	}
	c->stats.rx_dropped += len - done;
	c->rx_filled = true;
	c->rx_len = (uint32_t)done;
	(void)rx_return(c);
}

/*
 * Transmit side.
 */

/* How sending the held chain ended. */
enum tx_end {
	TX_DONE,    /* all with the back-end (or a fault ended it) */
	TX_BLOCKED, /* the back-end is full: writable() follows */
	TX_BUDGET,  /* the round's budget is used up */
};

/* Copy the held chain from where it stopped; counts against *budget. */
static enum tx_end
tx_send(struct virtio_console *c, uint64_t *budget)
{
	const struct device_services *svc = c->vd.svc;
	const struct vq_chain *ch = &c->tx_chain;

	for (; c->tx_elem < ch->readable_count; c->tx_elem++, c->tx_off = 0) {
		const struct vq_elem *e = &ch->elem[c->tx_elem];

		while (c->tx_off < e->len) {
			size_t want = e->len - c->tx_off, n;

			if (*budget == 0)
				return TX_BUDGET;
			if (want > sizeof(c->buf))
				want = sizeof(c->buf);
			if (want > *budget)
				want = (size_t)*budget;
			if (!svc->guest_read ||
			    svc->guest_read(svc->opaque, e->gpa + c->tx_off,
					    c->buf, want) < 0) {
				c->stats.faults++;
				log_ratelimited(&c->rl, LOG_LEVEL_WARNING,
						"%s: transmit chain %u has a "
						"buffer outside guest memory; "
						"rest not sent",
						c->vd.id, (unsigned)ch->head);
				return TX_DONE;
			}
			n = chardev_write(c->cd, c->buf, want);
			c->tx_off += (uint32_t)n;
			c->stats.tx_bytes += n;
			*budget -= n;
			if (n < want) {
				c->stats.tx_blocked++;
				c->tx_blocked = true;
				return TX_BLOCKED;
			}
		}
	}
	return TX_DONE;
}

/* Take the next transmit chain the device may send; false: none. */
static bool
tx_take(struct virtio_console *c, bool *pushed)
{
	for (unsigned i = 0; i < VQ_SIZE_MAX; i++) {
		if (con_pop(c, VIRTIO_CONSOLE_TXQ, &c->tx_chain) < 0)
			return false;
		if (c->tx_chain.count > c->tx_chain.readable_count) {
			con_refuse(c, VIRTIO_CONSOLE_TXQ, &c->tx_chain,
				   "has device-writable buffers");
			*pushed = true;
			continue;
		}
		c->tx_held = true;
		c->tx_elem = 0;
		c->tx_off = 0;
		return true;
	}
	return false;
}

/* One round of output: chains until none, the back-end is full, or the
 * budget runs out. */
static void
tx_serve(struct virtio_console *c)
{
	uint64_t budget = CON_ROUND_BYTES;
	bool pushed = false;
	enum tx_end end = TX_DONE;
	int r;

	if (c->tx_blocked || !virtio_queue_usable(&c->vd, VIRTIO_CONSOLE_TXQ))
		return;
	for (unsigned chains = 0;; chains++) {
		if (chains >= CON_ROUND_CHAINS) {
			end = TX_BUDGET;
			break;
		}
		if (!c->tx_held && !tx_take(c, &pushed))
			break;
		end = tx_send(c, &budget);
		if (end != TX_DONE)
			break;
		/* All sent: a transient push failure keeps it held, with
		 * nothing left to send, until the retry. */
		r = con_push(c, VIRTIO_CONSOLE_TXQ, c->tx_chain.head, 0);
		if (!push_final(r))
			break;
		c->tx_held = false;
		if (r == 0) {
			c->stats.tx_chains++;
			pushed = true;
		}
	}
	if (end == TX_BUDGET)
		device_defer(c->ev, &c->tx_more);
	if (pushed)
		virtio_notify_used(&c->vd, VIRTIO_CONSOLE_TXQ);
}

static void
on_tx_more(struct device_work *work)
{
	tx_serve(container_of(work, struct virtio_console, tx_more));
}

static void
on_retry(void *arg)
{
	struct virtio_console *c = arg;

	tx_serve(c);
	/* Not through the back-end: it may be waiting for input. */
	if (c->rx_filled && virtio_queue_usable(&c->vd, VIRTIO_CONSOLE_RXQ) &&
	    rx_return(c))
		chardev_accept_input(c->cd);
}

/* The back-end has room again after a short write. */
static void
con_writable(void *opaque)
{
	struct virtio_console *c = opaque;

	if (!c->tx_blocked)
		return;
	c->tx_blocked = false;
	tx_serve(c);
}

static const struct chardev_frontend_ops con_chardev_ops = {
	.can_receive = con_can_receive,
	.receive = con_receive,
	.writable = con_writable,
};

/*
 * The virtio side.
 */

static void
con_queue_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_console *c = to_con(vd);

	if (q == VIRTIO_CONSOLE_RXQ)
		chardev_accept_input(c->cd); /* new buffers: read again */
	else if (q == VIRTIO_CONSOLE_TXQ)
		tx_serve(c);
}

/* Forget the chains held from queue q: they are never returned. */
static void
con_forget(struct virtio_console *c, unsigned q)
{
	if (q == VIRTIO_CONSOLE_RXQ) {
		c->rx_held = c->rx_filled = false;
		return;
	}
	c->tx_held = false;
	/* A writable() still owed then finds nothing to resume. */
	c->tx_blocked = false;
	device_work_cancel(c->ev, &c->tx_more);
}

static void
con_queue_stop(struct virtio_dev *vd, unsigned q)
{
	con_forget(to_con(vd), q);
}

static void
con_reset(struct virtio_dev *vd)
{
	struct virtio_console *c = to_con(vd);

	con_forget(c, VIRTIO_CONSOLE_RXQ);
	con_forget(c, VIRTIO_CONSOLE_TXQ);
	device_timer_cancel(c->ev, c->retry);
}

/* emerg_wr (offset 8, 32 bits): its low byte goes out, if room. */
static void
con_config_write(struct virtio_dev *vd, unsigned offset, unsigned size,
		 uint32_t value)
{
	struct virtio_console *c = to_con(vd);
	uint8_t b = (uint8_t)value;

	if (offset != VIRTIO_CONSOLE_CFG_EMERG || size != 4)
		return;
	if (chardev_write(c->cd, &b, 1) == 1)
		c->stats.emerg_bytes++;
}

static void
con_stats(const struct virtio_dev *vd, const struct device_stats_writer *w)
{
	const struct virtio_console *c = container_of(vd, struct virtio_console,
						      vd);

	device_stats_emit(w, "console_tx_bytes", c->stats.tx_bytes);
	device_stats_emit(w, "console_tx_chains", c->stats.tx_chains);
	device_stats_emit(w, "console_tx_blocked", c->stats.tx_blocked);
	device_stats_emit(w, "console_rx_bytes", c->stats.rx_bytes);
	device_stats_emit(w, "console_rx_chains", c->stats.rx_chains);
	device_stats_emit(w, "console_rx_dropped", c->stats.rx_dropped);
	device_stats_emit(w, "console_bad_chains", c->stats.bad_chains);
	device_stats_emit(w, "console_faults", c->stats.faults);
	device_stats_emit(w, "console_emerg_bytes", c->stats.emerg_bytes);
}

static void
con_destroy(struct virtio_dev *vd)
{
	struct virtio_console *c = to_con(vd);

	device_work_cancel(c->ev, &c->tx_more);
	device_timer_free(c->ev, c->retry);
	if (c->cd) {
		chardev_set_frontend(c->cd, NULL, NULL);
		chardev_close(c->cd);
	}
	free(c);
}

static void
con_describe(const struct virtio_dev *vd, const struct device_info_writer *w)
{
	chardev_describe(container_of(vd, const struct virtio_console, vd)->cd,
			 w);
}

static int
con_chardev_attach(struct virtio_dev *vd, const struct cfg_backend *backend)
{
	struct virtio_console *c = to_con(vd);
	struct chardev *cd, *old = c->cd;
	int r;

	r = chardev_open(backend, c->ev, vd->id, &cd);
	if (r < 0)
		return r;
	chardev_set_frontend(old, NULL, NULL);
	c->cd = cd;
	chardev_set_frontend(cd, &con_chardev_ops, c);
	chardev_close(old);
	/* The old one's writable() will never come: resume on the new. */
	if (c->tx_blocked) {
		c->tx_blocked = false;
		tx_serve(c);
	}
	chardev_accept_input(cd);
	return 0;
}

static const struct virtio_dev_ops con_ops = {
	.queue_notify = con_queue_notify,
	.queue_stop = con_queue_stop,
	.reset = con_reset,
	.config_write = con_config_write,
	.stats = con_stats,
	.describe = con_describe,
	.chardev_attach = con_chardev_attach,
	.destroy = con_destroy,
};

int
virtio_console_new(const struct device_services *svc,
		   const struct virtio_console_params *params,
		   struct virtio_dev **ret_vd)
{
	struct virtio_dev_params p = {
		.device_id = VIRTIO_ID_CONSOLE,
		.features = 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE,
		.num_queues = 2,
		.queue_size_max = VIRTIO_CONSOLE_QUEUE_SIZE,
		.config_len = VIRTIO_CONSOLE_CONFIG_SIZE,
	};
	struct virtio_console *c;
	int r;

	if (!svc || !svc->events || !params || !params->cd || !ret_vd)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (params->cols || params->rows)
		p.features |= 1ull << VIRTIO_CONSOLE_F_SIZE;
	put_le16(c->config + VIRTIO_CONSOLE_CFG_COLS, params->cols);
	put_le16(c->config + VIRTIO_CONSOLE_CFG_ROWS, params->rows);
	put_le32(c->config + VIRTIO_CONSOLE_CFG_PORTS, 1);
	p.id = params->id ? params->id : "virtio-console";
	p.access_platform = params->access_platform;
	p.config = c->config;
	r = virtio_dev_init(&c->vd, &con_ops, svc, &p);
	if (r < 0) {
		free(c);
		return r;
	}
	c->ev = svc->events;
	r = device_timer_new(c->ev, on_retry, c, &c->retry);
	if (r < 0) {
		free(c);
		return r;
	}
	device_work_init(&c->tx_more, on_tx_more);
	c->cd = params->cd;
	chardev_set_frontend(c->cd, &con_chardev_ops, c);
	*ret_vd = &c->vd;
	return 0;
}

static const struct cfg_extra_key con_extra_keys[] = {
	VIRTIO_CFG_EXTRA_KEYS,
	{ .name = "cols", .type = CFG_EXTRA_UINT, .max = UINT16_MAX },
	{ .name = "rows", .type = CFG_EXTRA_UINT, .max = UINT16_MAX },
	{ .name = NULL },
};

/* A `cols`/`rows` value, def when the other one is given alone. */
static uint16_t
size_key(const struct cfg_device *cfg, const char *name, uint16_t def)
{
	const struct cfg_extra_value *v = cfg_device_extra(cfg, name);

	return v && v->set ? (uint16_t)v->num : def;
}

static int
con_create(const struct cfg_device *cfg, const struct device_services *svc,
	   struct device **ret_dev)
{
	struct virtio_console_params params = { 0 };
	const struct device_services *dma;
	struct virtio_dev *vd;
	int r;

	if (!cfg || !svc || !ret_dev)
		return -EINVAL;
	dma = virtio_dma_services(cfg, svc);
	if (!dma)
		return -EOPNOTSUPP;
	params.id = cfg->id;
	params.access_platform = virtio_cfg_grant(cfg);
	params.cols = size_key(cfg, "cols", 0);
	params.rows = size_key(cfg, "rows", 0);
	if (params.cols || params.rows) {
		params.cols = size_key(cfg, "cols", CON_DEFAULT_COLS);
		params.rows = size_key(cfg, "rows", CON_DEFAULT_ROWS);
	}
	r = chardev_open((cfg->keys & CFG_KEY_BACKEND) ? &cfg->backend : NULL,
			 svc->events, cfg->id, &params.cd);
	if (r < 0)
		return r;
	r = virtio_console_new(dma, &params, &vd);
	if (r < 0) {
		chardev_close(params.cd);
		return r;
	}
	r = virtio_transport_create(cfg, &virtio_console_type, svc, vd,
				    ret_dev);
	if (r < 0) {
		virtio_dev_fini(vd);
		vd->ops->destroy(vd);
	}
	return r;
}

static const struct cfg_type_desc con_cfg = {
	.name = "virtio-console",
	.keys = CFG_KEY_PCI | CFG_KEY_MMIO | CFG_KEY_IRQ | CFG_KEY_BACKEND,
	.placement = CFG_KEY_PCI | CFG_KEY_MMIO,
	VIRTIO_MMIO_CFG_DESC,
	.extra_keys = con_extra_keys,
};

const struct device_type virtio_console_type = {
	.name = "virtio-console",
	.cfg = &con_cfg,
	.create = con_create,
};
