/*
 * Internal state of xensim's hypervisor core, shared by hv-core.c (domain,
 * servers, event channels), hv-dmop.c (dm_ops), hv-io.c (guest accesses)
 * and hv-ctl.c (the control thread serving the drop-in libraries).
 *
 * Locking: hv->lock is a rwlock.  The control thread and the script thread
 * take it for writing when they change servers, ranges, ports or grants;
 * vCPU threads take it for reading while they select a server and publish
 * a request, and drop it before they sleep waiting for the answer (the
 * model may issue dm_ops while it handles that request).  Ioreq pages are
 * never unmapped before hv_destroy(), so a vCPU may keep using a page
 * pointer after the server is gone (it then notices the changed
 * generation).  Injections have their own mutex + condition.
 */
#ifndef XENSIM_HV_INTERNAL_H
#define XENSIM_HV_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/hvm/ioreq.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/hvm_op.h>
#include <xen/memory.h>

#include "hv.h"
#include "proto.h"

#define HV_PAGE_SIZE	  4096U
#define HV_MAX_SERVERS	  8U   /* MAX_NR_IOREQ_SERVERS */
#define HV_MAX_RANGES	  256U /* MAX_NR_IO_RANGES */
#define HV_NR_RANGE_TYPES 3U   /* PORT, MEMORY, PCI */
#define HV_MAX_VCPUS	  128U
#define HV_MAX_GPORTS	  2048U /* guest event-channel ports */
#define HV_MAX_CONNS	  64U
#define HV_MAX_GRANTS	  32768U
#define HV_MAX_INJECTIONS 4096U
#define HV_MAX_FAILS	  16U
#define HV_MAX_MEMORY	  (3ULL << 30)
#define HV_VGA_FIRST	  0xa0000ULL
#define HV_VGA_LAST	  0xbffffULL

/* hv->counters[]: foreign maps, unmaps (hv-core.c), then one per dm_op
 * (hv-dmop.c). */
#define COUNTER_FOREIGN_MAP   0
#define COUNTER_FOREIGN_UNMAP 1
#define COUNTER_DMOP_FIRST    2

struct hv_range {
	uint64_t first, last; /* inclusive, as Xen's rangesets */
};

struct hv_rangeset {
	unsigned count;
	struct hv_range r[HV_MAX_RANGES]; /* sorted, disjoint, non-adjacent */
};

struct hv_conn;

struct hv_server {
	bool exists;
	bool enabled;
	int bufioreq;	 /* HVM_IOREQSRV_BUFIOREQ_* */
	atomic_uint gen; /* bumped on destroy */
	int memfd;	 /* 2 pages: frame 0 ring, frame 1 slots */
	void *pages;
	struct buffered_iopage *ring;
	struct shared_iopage *sync;
	uint32_t vcpu_port[HV_MAX_VCPUS];
	uint32_t buf_port; /* 0 without ring */
	struct hv_rangeset ranges[HV_NR_RANGE_TYPES];
	pthread_mutex_t ring_lock; /* Xen's bufioreq_lock */
};

enum hv_gport_state {
	HV_GPORT_FREE = 0,
	HV_GPORT_UNBOUND, /* offered to dom0 */
	HV_GPORT_BOUND,	  /* interdomain, bound by a dom0 handle */
};

/* A port in the guest's event-channel space (Xen-consumer channel). */
struct hv_gport {
	enum hv_gport_state state;
	int efd;	      /* vCPU eventfd (or the sink for buffered) */
	struct hv_conn *conn; /* remote end while BOUND */
	uint32_t lport;
};

enum hv_lport_kind {
	HV_LPORT_FREE = 0,
	HV_LPORT_INTERDOMAIN, /* remote gport may have been closed (0) */
	HV_LPORT_UNBOUND,
	HV_LPORT_VIRQ,
};

struct hv_lport {
	enum hv_lport_kind kind;
	struct hv_conn *conn;
	uint32_t gport; /* 0 once the remote end closed */
	uint32_t virq;
};

struct hv_conn {
	int fd;
	int kind;	    /* enum xensim_handle_kind, 0 before HELLO */
	int restrict_domid; /* -1: unrestricted */
	int pipe_w;	    /* evtchn: write end of the delivery pipe */
	int state_fd;
	_Atomic uint32_t *state; /* evtchn: port-state page */
	unsigned map_holds;	 /* mappings of guest memory held (MAP_NOTE) */
	bool xs_listed;		 /* xenstore: in hv->xs_conns */
};

struct hv_injection_rec {
	struct hv_injection inj;
	bool consumed;
};

struct hv_fail {
	char name[48];
	int errno_value;
};

struct hv {
	struct hv_config cfg;
	pthread_rwlock_t lock;
	atomic_bool dying;  /* destroyed, kept alive by mappings */
	atomic_bool dead;   /* gone: every dm_op fails with ESRCH */
	unsigned map_holds; /* sum of the conns' map_holds (lock) */
	atomic_bool crashed;
	bool shutdown_seen; /* xenstored noted the shutdown (lock) */
	atomic_uint_fast64_t dmop_count;
	/* hv_counter(): foreign maps, unmaps, then one per dmop_names[] */
	atomic_uint_fast64_t counters[HV_COUNTER_MAX];
	/* xenstore connections that get @releaseDomain fires (lock) */
	struct hv_conn *xs_conns[HV_MAX_CONNS];

	int ram_fd;
	uint8_t *ram;
	uint64_t ram_size;

	struct hv_server servers[HV_MAX_SERVERS];
	void *graveyard[64]; /* ioreq pages of destroyed servers */
	unsigned graveyard_count;

	struct hv_gport gports[HV_MAX_GPORTS];
	struct hv_lport lports[XENSIM_LPORT_MAX];
	int vcpu_efd[HV_MAX_VCPUS];
	int sink_efd;
	atomic_uint cf8;
	atomic_bool vcpu_hung[HV_MAX_VCPUS]; /* a request timed out */

	/* grants */
	uint64_t *grants; /* gfn | XENSIM_GNT_RO, XENSIM_GNT_BAD if none */

	/* interrupt lines */
	bool isa_level[16];
	bool intx_level[32][4];
	uint8_t link_route[4];
	pthread_mutex_t inj_lock;
	pthread_cond_t inj_cond;
	struct hv_injection_rec *inj;
	unsigned inj_count;

	struct hv_fail fails[HV_MAX_FAILS];

	/* control thread */
	char sock_name[108];
	int listen_fd;
	int wake_pipe[2];
	pthread_t ctl_thread;
	bool ctl_running;
	struct hv_conn *conns[HV_MAX_CONNS];

	pid_t child;
	bool child_reaped;
	int child_status;

	pthread_mutex_t trace_lock;
};

/* hv-core.c */
void hv_raise_lport(struct hv *hv, uint32_t lport);
void hv_notify_gport(struct hv *hv, uint32_t gport);

/* One request as Xen builds it (also raw, for the hostile-input generator). */
struct hv_raw_req {
	uint8_t type;
	bool is_read;
	bool data_is_ptr;
	bool df;
	uint32_t count;
	uint32_t size;
	uint64_t addr;
	uint64_t data;
};

enum hv_status hv_send_raw(struct hv *hv, unsigned vcpu, unsigned id,
			   const struct hv_raw_req *r, uint64_t *ret_data);
int hv_evtchn_bind_interdomain(struct hv *hv, struct hv_conn *conn,
			       uint32_t domid, uint32_t gport,
			       uint32_t *ret_lport, int *ret_efd);
int hv_evtchn_bind_unbound(struct hv *hv, struct hv_conn *conn,
			   uint32_t *ret_lport);
int hv_evtchn_bind_virq(struct hv *hv, struct hv_conn *conn, uint32_t virq,
			uint32_t *ret_lport);
int hv_evtchn_unbind(struct hv *hv, struct hv_conn *conn, uint32_t lport);
void hv_conn_release_ports(struct hv *hv, struct hv_conn *conn);
/* A mapping of guest memory taken (held) or released by conn; the last
 * release of a dying domain completes its death.  hv->lock held (write). */
void hv_map_note(struct hv *hv, struct hv_conn *conn, bool held);
/* conn goes away: its mappings go with it. hv->lock held (write). */
void hv_conn_release_maps(struct hv *hv, struct hv_conn *conn);

int hv_check_domain(struct hv *hv, struct hv_conn *conn, uint32_t domid,
		    int restrict_errno);
int hv_map_resource(struct hv *hv, struct hv_conn *conn,
		    const struct xensim_req *req, int *ret_fd);
int hv_resource_size(struct hv *hv, struct hv_conn *conn,
		     const struct xensim_req *req, uint64_t *ret_frames);
int hv_select_server(struct hv *hv, unsigned type, uint64_t first,
		     uint64_t last);
bool hv_gpa_is_ram(const struct hv *hv, uint64_t gpa, uint64_t len);
void hv_trace(struct hv *hv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A xenstore connection (HELLO done) joins / leaves the watchers that
 * @releaseDomain fires reach.  hv->lock held (write). */
void hv_xs_conn_add(struct hv *hv, struct hv_conn *conn);
void hv_xs_conn_remove(struct hv *hv, struct hv_conn *conn);
/* @releaseDomain to every xenstore connection.  hv->lock held (write). */
void hv_xs_fire_release(struct hv *hv);

/*
 * hv-core.c, for hv-dmop.c: rangesets with Xen's semantics (inclusive
 * last), server slots and the injection log.  hv->lock held (write).
 */
bool rs_contains(const struct hv_rangeset *rs, uint64_t first, uint64_t last);
bool rs_overlaps(const struct hv_rangeset *rs, uint64_t first, uint64_t last);
int rs_add(struct hv_rangeset *rs, uint64_t first, uint64_t last);
int rs_remove(struct hv_rangeset *rs, uint64_t first, uint64_t last);
int server_create(struct hv *hv, int bufioreq, unsigned *ret_id);
void server_destroy(struct hv *hv, unsigned id);
struct hv_server *server_get(struct hv *hv, uint64_t id);
void server_set_state(struct hv *hv, struct hv_server *s, bool enabled);
void inj_record(struct hv *hv, const struct hv_injection *inj);

/* hv-dmop.c: one dm_op from a device-model connection.  hv->lock held
 * (write). */
int hv_dmop(struct hv *hv, struct hv_conn *conn, const struct xensim_req *req,
	    struct xensim_rep *rep);

/* hv-ctl.c */
int hv_ctl_start(struct hv *hv);
void hv_ctl_stop(struct hv *hv);

#endif
