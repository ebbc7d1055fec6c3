/*
 * struct ioreq_server, shared by the files of ioreq/ only (server.c owns
 * the life cycle, irq.c implements the device services on top of it).
 */
#ifndef IOREQD_IOREQ_SERVER_INTERNAL_H
#define IOREQD_IOREQ_SERVER_INTERNAL_H

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>

#include "ioreq/dispatch.h"
#include "ioreq/events.h"
#include "ioreq/guest.h"
#include "ioreq/ioreq.h"
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
	int vcpu;		/* vCPU index, or IOREQ_PORT_BUFFERED */
};

#define IOREQ_PORT_BUFFERED (-1)

struct ioreq_server {
	enum ioreq_stage stage;
	uint16_t domid;
	ioservid_t id;
	bool domain_gone;

	xendevicemodel_handle *dmod;
	xenevtchn_handle *xce;
	xenforeignmemory_handle *fmem;
	xenforeignmemory_resource_handle *fres;

	unsigned vcpu_count;
	evtchn_port_t *vcpu_ports;	/* local port per vCPU, 0 = unbound */
	evtchn_port_t buf_port;		/* local, 0 = unbound */
	struct ioreq_port *port_table;	/* sorted by local port */
	unsigned port_count;

	struct bus *bus;		/* borrowed */
	struct ioreq_dispatch dispatch;
	struct ioreq_ring ring;
	struct ioreq_guest guest;
	struct ioreq_events *events;	/* device event services */
	struct device_services services;
	struct log_ratelimit ratelimit;
	struct log_ratelimit region_ratelimit;	/* guest-driven BAR moves */
};


/*
 * Is [base, base + size) a range ioreq_map_range accepts (size != 0, no
 * wrap, ports below 0x10000, a known space)?  0 or -EINVAL.
 */
int ioreq_range_check(enum bus_space space, uint64_t base, uint64_t size);

/* Record a dm_op failure; returns -errno (and notes ESRCH). */
int ioreq_server_dmop_error(struct ioreq_server *server);

/* Fill server->services (irq.c); server->events is set. */
void ioreq_services_init(struct ioreq_server *server);

#endif
