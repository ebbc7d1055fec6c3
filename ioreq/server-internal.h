/*
 * struct ioreq_server, shared by the files of ioreq/ only (server.c owns
 * the life cycle, regions.c the claims with Xen and on the bus,
 * region-batch.c the coalescing of guest-driven region changes, services.c
 * implements the device services on top of them).
 */
#ifndef IOREQD_IOREQ_SERVER_INTERNAL_H
#define IOREQD_IOREQ_SERVER_INTERNAL_H

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>

#include "ioreq/dispatch.h"
#include "ioreq/events.h"
#include "ioreq/guest.h"
#include "ioreq/ioreq.h"
#include "ioreq/report.h"
#include "ioreq/ring.h"

/* Stages reached, in set-up order; teardown unwinds from the last one. */
enum ioreq_stage {
	IOREQ_STAGE_NONE,
	IOREQ_STAGE_HANDLES_OPEN,
	IOREQ_STAGE_SERVER_CREATED,
	IOREQ_STAGE_PAGES_MAPPED,
	IOREQ_STAGE_ENABLED,
	IOREQ_STAGE_PORTS_BOUND,
	_IOREQ_STAGE_COUNT,
};

/* Local event-channel port -> what it carries. */
struct ioreq_port {
	evtchn_port_t local;
	int vcpu; /* vCPU index, or IOREQ_PORT_BUFFERED */
};

#define IOREQ_PORT_BUFFERED (-1)

/*
 * A region changed during the current request (region-batch.c): Xen still
 * has `xen` mapped for it if `mapped`, whatever the bus says now.
 */
struct ioreq_region_pending {
	struct device *dev;
	unsigned region;
	bool mapped;
	struct device_region xen;
};

/* One request touches one function's config space: 6 BARs at most. */
#define IOREQ_BATCH_MAX 16

struct ioreq_region_batch {
	bool open; /* inside a request */
	unsigned count;
	struct ioreq_region_pending pending[IOREQ_BATCH_MAX];
};

struct ioreq_server {
	enum ioreq_stage stage;
	uint16_t domid;
	ioservid_t id;
	bool domain_gone;
	bool irq_level_unsupported; /* set_irq_level said EOPNOTSUPP */

	xendevicemodel_handle *dmod;
	xenevtchn_handle *xce;
	xenforeignmemory_handle *fmem;
	xenforeignmemory_resource_handle *fres;

	unsigned vcpu_count;
	evtchn_port_t *vcpu_ports;     /* local port per vCPU, 0 = unbound */
	evtchn_port_t buf_port;	       /* local, 0 = unbound */
	struct ioreq_port *port_table; /* sorted by local port */
	unsigned port_count;

	struct bus *bus; /* borrowed */
	struct ioreq_dispatch dispatch;
	struct ioreq_ring ring;
	struct ioreq_guest guest;
	struct ioreq_events *events; /* device event services */
	struct device_services services;
	/*
	 * Grant DMA (services.grant_services): a second cache in grant mode
	 * and its services, set up by the first device that asks.
	 */
	xengnttab_handle *xgt;
	bool grant_ready;
	struct ioreq_guest grant_guest;
	struct device_services grant_services;
	struct log_ratelimit ratelimit;
	struct log_ratelimit region_ratelimit; /* guest-driven BAR moves */
	struct ioreq_region_batch batch;
	/* device_services.report: the daemon's sink, behind a rate limit */
	ioreq_event_sink_fn *event_sink;
	void *event_sink_ctx;
	struct ioreq_report_limit reports;
	/* control-socket counters (ioreq_server_stats) */
	uint64_t wakeups;
	uint64_t latency_log2_ns[IOREQ_LATENCY_BUCKETS];
	uint64_t latency_sum_ns;
};


/*
 * Is [base, base + size) a range ioreq_map_range accepts (size != 0, no
 * wrap, ports below 0x10000, a known space)?  0 or -EINVAL.
 */
int ioreq_range_check(enum bus_space space, uint64_t base, uint64_t size);

/* Record a dm_op failure; returns -errno (and notes ESRCH). */
int ioreq_server_dmop_error(struct ioreq_server *server);

/*
 * Claims (regions.c).  A claim of region `region` of dev is a Xen range
 * and a bus entry for exactly dev->regions[region]; these are the only
 * functions that make or drop one, for device add/remove and BAR moves.
 */

/*
 * Claim dev->regions[region] with Xen, then on the bus.  All or nothing:
 * -EINVAL (bad range), -EEXIST (overlaps a bus entry: no dm_op issued),
 * the dm_op's error, or bus_add's.
 */
int ioreq_region_claim(struct ioreq_server *server, struct device *dev,
		       unsigned region);
/*
 * Release the claim of (dev, region) on window `win` if the bus holds
 * exactly that one (else 0, nothing done: a window never claimed is not
 * released from Xen).  Xen, then the bus; the bus entry goes even when
 * the dm_op fails, whose error is returned.
 */
int ioreq_region_release(struct ioreq_server *server, struct device *dev,
			 unsigned region, const struct device_region *win);
/* Does the bus hold exactly window `win` for (dev, region)? */
bool ioreq_region_claimed(const struct ioreq_server *server,
			  const struct device *dev, unsigned region,
			  const struct device_region *win);
/* The one log line of a claim or release (debug, rate-limited). */
void ioreq_region_log(struct ioreq_server *server, const struct device *dev,
		      const char *what, const struct device_region *win,
		      unsigned region);
/* dev->pci_sbdf with Xen, then the bus's PCI table; all or nothing. */
int ioreq_pci_claim(struct ioreq_server *server, struct device *dev);
/* Undo ioreq_pci_claim, if dev holds its SBDF (errors ignored). */
void ioreq_pci_release(struct ioreq_server *server, struct device *dev);

/*
 * Region changes coalesced per request (region-batch.c).  Between begin
 * and end a change updates the bus only and Xen follows once at end;
 * otherwise it is released and claimed with Xen at once.  0, or -EINVAL
 * (bad region), -EEXIST (overlap) or a dm_op's error with the new window
 * not claimed.
 */
int ioreq_region_changed(struct ioreq_server *server, struct device *dev,
			 unsigned region, const struct device_region *old);
void ioreq_regions_begin(struct ioreq_server *server);
void ioreq_regions_end(struct ioreq_server *server);

/* Fill server->services (services.c); server->events is set. */
void ioreq_services_init(struct ioreq_server *server);

#endif
