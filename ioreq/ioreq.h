/*
 * The IOREQ server: everything the daemon needs from Xen for one guest.
 *
 * Life cycle (the order Xen requires: vp_eport is written by
 * ioreq_server_enable in Xen 4.17 xen/common/ioreq.c):
 *   ioreq_server_open()      handles, create server (buffered, ATOMIC), map
 *                            frames 0..1
 *   ioreq_server_add_device()  bus + claim each region (and the SBDF of
 *                            a PCI function) of a device
 *   ioreq_server_remove_device()  release them again (before destroy)
 *   ioreq_server_enable()    enable, then bind one port per vCPU + buffered
 *   ioreq_server_restrict()  confine the handles to the domain
 *   ioreq_server_handle_event()  on every readable ioreq_server_fd()
 *   ioreq_server_destroy()   from any stage: unbind, disable, destroy,
 *                            unmap, close
 * Every function returns 0 or -errno; -ESRCH means the domain is gone (and
 * also sets ioreq_server_domain_gone()).  Only the event-loop thread calls in.
 */
#ifndef IOREQD_IOREQ_H
#define IOREQD_IOREQ_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"
#include "ioreq/dispatch.h"

struct event_base;
struct ioreq_server;

/*
 * Open the Xen handles for `domid`, create an IOREQ server with an ATOMIC
 * buffered ring and map its pages.  `bus` is borrowed (owned by the
 * caller, must outlive the server); the device event services (timers, fd
 * watches, deferred work, completions: ioreq/events.h) run on evbase.  On
 * failure everything done so far is undone.
 */
int ioreq_server_open(uint16_t domid, struct bus *bus,
		      struct event_base *evbase,
		      struct ioreq_server **ret_server);

/*
 * Claim [base, base + size) of `space` with Xen for this server.  The only
 * place that computes Xen's inclusive last address.  -EINVAL for size 0 or
 * overflow.
 */
int ioreq_map_range(struct ioreq_server *server, enum bus_space space,
		    uint64_t base, uint64_t size);
/* Release a claim made with ioreq_map_range (same base and size). */
int ioreq_unmap_range(struct ioreq_server *server, enum bus_space space,
		      uint64_t base, uint64_t size);

/*
 * The services (IRQ, MSI, guest memory, region changes, events) for
 * devices.
 */
const struct device_services *
ioreq_server_services(struct ioreq_server *server);

/*
 * Where device reports (device_services.report: a guest panic, a virtio
 * device needing a reset, a backend I/O error) go: fn(ctx, dev, event,
 * desc) on the event-loop thread, from inside the device's emulation, so
 * fn must not block, must not call back into the device and must copy
 * desc (a short text or NULL, valid during the call only) if it keeps it.
 * Each (device, event) pair gets at most 10 reports a second through
 * (ioreq/report.h); the rest are counted
 * (ioreq_server_events_suppressed).  fn NULL: reports are dropped (still
 * counted).  May be called at any time, again to replace the sink.
 */
typedef void ioreq_event_sink_fn(void *ctx, const struct device *dev,
				 enum device_event event, const char *desc);
void ioreq_server_set_event_sink(struct ioreq_server *server,
				 ioreq_event_sink_fn *fn, void *ctx);
/* Device reports the rate limit has held back since open. */
uint64_t ioreq_server_events_suppressed(const struct ioreq_server *server);

/*
 * Put every region of `dev` with size != 0 on the bus and claim it with
 * Xen; for a PCI function (dev->is_pci, which needs both config hooks,
 * else -EINVAL) first claim dev->pci_sbdf with
 * map_pcidev_to_ioreq_server and the bus's PCI table (-EEXIST if taken).
 * On failure everything already claimed is released again.
 */
int ioreq_server_add_device(struct ioreq_server *server, struct device *dev);

/*
 * Release everything ioreq_server_add_device (and later region moves)
 * claimed for `dev`: each region the bus holds for it, with Xen and on the
 * bus, and its SBDF (unmap_pcidev_from_ioreq_server, bus PCI table).
 * Call before destroying the device; harmless for a device that was never
 * (or only partly) added.  dm_op failures are ignored (the domain may be
 * gone); NULL server or device: nothing.
 */
void ioreq_server_remove_device(struct ioreq_server *server,
				struct device *dev);

/* Enable the server, then bind the vCPU and buffered event channels. */
int ioreq_server_enable(struct ioreq_server *server);

/*
 * xentoolcore_restrict_all(domid).  -EOPNOTSUPP/-ENOSYS when the platform
 * cannot restrict (the caller may carry on).
 */
int ioreq_server_restrict(struct ioreq_server *server);

/* The event-channel fd to poll for POLLIN (valid after open). */
int ioreq_server_fd(struct ioreq_server *server);

/*
 * Handle one pending event-channel port: drain the buffered ring, answer
 * the vCPU's request, unmask, then run the work devices deferred.  Fast path: no allocation, no logging except
 * rate-limited guest warnings.  0, or -errno from the event channel.
 */
int ioreq_server_handle_event(struct ioreq_server *server);

/* Cheap dm_op asking for our server: 0, -ESRCH when it or the domain is
 * gone, -errno. */
int ioreq_server_probe(struct ioreq_server *server);

/* Some dm_op has reported ESRCH. */
bool ioreq_server_domain_gone(const struct ioreq_server *server);

uint16_t ioreq_server_id(const struct ioreq_server *server);
unsigned ioreq_server_vcpu_count(const struct ioreq_server *server);
/* Sum of the guest's TIMEOFFSET deltas in seconds (for the control socket). */
int64_t ioreq_server_time_offset(const struct ioreq_server *server);

/* Guest-memory mapping cache counters (ioreq/guest.c), never reset. */
struct ioreq_guest_stats {
	uint64_t hits;		/* page found in a mapped chunk */
	uint64_t misses;	/* chunk not mapped: a map was attempted */
	uint64_t maps;		/* successful xenforeignmemory_map calls */
	uint64_t unmaps;	/* chunks unmapped (eviction, invalidate) */
	uint64_t map_failures;	/* the map call returned NULL */
	uint64_t unmap_batches; /* flushes that unmapped something */
	uint64_t pins;		/* chunk pins taken by guest_map */
	uint64_t revocations;	/* pinned chunks INVALIDATE revoked */
};

/* Copy of the guest-memory cache counters (for the control socket). */
void ioreq_server_guest_stats(const struct ioreq_server *server,
			      struct ioreq_guest_stats *ret_stats);
/*
 * Cap the guest-memory chunks (64 KiB each) mapped at once: 1 to 64
 * (the default), else -EINVAL.  Takes effect at once.
 */
int ioreq_server_set_guest_max_chunks(struct ioreq_server *server,
				      unsigned max_chunks);

/*
 * The server's own counters (for the control socket's server-stats), never
 * reset.  Requests count every request dispatched, synchronous or
 * buffered, by kind (ioreq/dispatch.h's enum ioreq_kind).
 */
#define IOREQ_LATENCY_BUCKETS 40 /* 2^39 ns is over nine minutes */

struct ioreq_server_stats {
	uint64_t requests[_IOREQ_KIND_COUNT];
	uint64_t buffered_drains;   /* drains that found entries */
	uint64_t buffered_requests; /* buffered entries consumed */
	uint64_t wakeups;	    /* event-channel notifications handled */
	/*
	 * Synchronous round trips, from handling the event to the response
	 * being published and the vCPU notified: bucket i counts those of
	 * [2^i, 2^(i+1)) ns (the last one also longer ones).
	 */
	uint64_t latency_log2_ns[IOREQ_LATENCY_BUCKETS];
	uint64_t latency_sum_ns;
};

void ioreq_server_stats(const struct ioreq_server *server,
			struct ioreq_server_stats *ret_stats);

/* Unwind from whatever stage was reached and free.  Accepts NULL. */
void ioreq_server_destroy(struct ioreq_server *server);

/*
 * Domain death as an event (domain-watch.c): a xenstore watch on
 * @releaseDomain.  It fires once at registration, when some domain shuts
 * down, and when some domain dies (after Xen has destroyed its IOREQ
 * servers); it names no domain, so on every fire ask
 * ioreq_server_probe() whether ours is gone.
 */
struct ioreq_domain_watch;

/*
 * Connect to xenstored and watch @releaseDomain.  Open it after
 * ioreq_server_restrict(): restricting puts /dev/null over the xenstore
 * connection (libxenstore's restrict hook), which would silence the
 * watch.  0, or -errno from xs_open/xs_watch (-ENOENT: no xenstored).
 */
int ioreq_domain_watch_open(struct ioreq_domain_watch **ret_watch);
/* Readable while watch events are pending. */
int ioreq_domain_watch_fd(const struct ioreq_domain_watch *watch);
/*
 * Take the pending events (at most 64 per call; the fd stays readable for
 * more).  Returns how many were ours (> 0: probe the server now), 0, or
 * -errno when the xenstore connection has failed (no more events will
 * come).
 */
int ioreq_domain_watch_check(struct ioreq_domain_watch *watch);
/* Disconnect (xenstored drops the watch with it), free.  Accepts NULL. */
void ioreq_domain_watch_close(struct ioreq_domain_watch *watch);

#endif
