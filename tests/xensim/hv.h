/*
 * xensim's hypervisor core: one simulated HVM domain with its IOREQ
 * servers, event channels, grant table, interrupt lines and RAM, plus the
 * transport that the drop-in libraries (tests/xensim/lib/) connect to.
 *
 * The script interpreter (script-*.c) and bench-io (bench.c) play the guest
 * through this API; they never touch the transport.  Every guest access
 * behaves as Xen 4.17 does (see README.md for the source of each rule).
 *
 * Threading: hv_* access functions may be called concurrently from several
 * threads as long as each thread uses its own vCPU (one outstanding request
 * per vCPU, as on real hardware).  Everything else from one thread.
 */
#ifndef XENSIM_HV_H
#define XENSIM_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct hv;

struct hv_config {
	uint16_t domid;	     /* guest domid, default 1 */
	unsigned vcpus;	     /* default 2, max 128 */
	uint64_t memory;     /* guest RAM bytes, default 64 MiB */
	unsigned timeout_ms; /* per-request answer timeout */
	FILE *trace;	     /* one line per ioreq and per dm_op, or NULL */
	bool no_xenstored;   /* xs_open fails with ENOENT (no xenstored) */
};

/* Result of a guest access. */
enum hv_status {
	HV_OK = 0,
	HV_TIMEOUT, /* the device model did not answer in time */
	HV_CRASHED, /* the domain crashed (bad state, bad port...) */
	HV_DEAD,    /* the domain was destroyed */
	HV_BAD_ARG, /* invalid size/address for this access kind */
};

int hv_create(const struct hv_config *cfg, struct hv **ret_hv);
void hv_destroy(struct hv *hv);

/*
 * Start the device model: fork+exec argv with LD_LIBRARY_PATH pointing at
 * the drop-in libraries (lib_dir) first and the transport's environment set.
 */
int hv_spawn(struct hv *hv, const char *lib_dir, char *const argv[]);
/*
 * Wait until some server is enabled and every vCPU port of it (and its
 * buffered port) is bound by the model.  -ETIMEDOUT, -ECHILD if it exited.
 */
int hv_wait_ready(struct hv *hv, unsigned timeout_ms);
/*
 * SIGTERM the model and wait up to timeout_ms.  Returns 0 if it exited
 * with status 0 and had destroyed all its servers; otherwise -1 with a
 * description in msg.  *ret_status gets the wait() status.
 */
int hv_stop_child(struct hv *hv, unsigned timeout_ms, int *ret_status,
		  char *msg, size_t msg_len);
/* Wait for the child to exit by itself (after hv_destroy_domain). */
int hv_wait_child(struct hv *hv, unsigned timeout_ms, int *ret_status);
pid_t hv_child_pid(struct hv *hv);

/* --- guest accesses (value in/out: low `size` bytes) --- */
enum hv_status hv_pio(struct hv *hv, unsigned vcpu, uint16_t port,
		      unsigned size, bool is_read, uint64_t *val);
enum hv_status hv_mmio(struct hv *hv, unsigned vcpu, uint64_t gpa,
		       unsigned size, bool is_read, uint64_t *val);
/* REP INS/OUTS: count elements of size bytes at gpa (df: descending). */
enum hv_status hv_rep_pio(struct hv *hv, unsigned vcpu, uint16_t port,
			  unsigned size, bool is_read, uint64_t gpa,
			  uint32_t count, bool df);
/* An MMIO write Xen would send buffered (VGA window); falls back as Xen. */
enum hv_status hv_buffered_write(struct hv *hv, unsigned vcpu, uint64_t gpa,
				 unsigned size, uint64_t value);
enum hv_status hv_timeoffset(struct hv *hv, int64_t delta_seconds);
enum hv_status hv_invalidate(struct hv *hv, unsigned vcpu);

/* Guest RAM, no ioreq.  NULL if [gpa, gpa+len) is outside RAM. */
void *hv_guest_ptr(struct hv *hv, uint64_t gpa, size_t len);

/* --- injections recorded from dm_ops --- */
enum hv_irq_kind {
	HV_IRQ_ISA,  /* a: irq, level */
	HV_IRQ_INTX, /* a: sbdf (bus<<8|dev<<3), b: pin 0-3, level */
	HV_IRQ_MSI,  /* addr, data */
	HV_IRQ_SPI,  /* a: irq, level */
	HV_IRQ_LINK, /* a: link, b: isa irq */
};

struct hv_injection {
	enum hv_irq_kind kind;
	uint32_t a, b;
	bool level;
	uint64_t addr;
	uint32_t data;
};

/*
 * Wait up to timeout_ms for an unconsumed injection equal to *want (fields
 * relevant to its kind) and consume it together with every earlier one of
 * the same kind and line.  Returns 0, or -ETIMEDOUT (then *ret_last holds
 * the last unconsumed injection of that kind, if any, and *ret_have_last).
 */
int hv_expect_injection(struct hv *hv, const struct hv_injection *want,
			unsigned timeout_ms, struct hv_injection *ret_last,
			bool *ret_have_last);
/* Next unconsumed injection, if any (for expect-no-irq). */
bool hv_peek_injection(struct hv *hv, struct hv_injection *ret);

/* --- grant table (entries granting the device model's domain) --- */
int hv_grant(struct hv *hv, uint32_t ref, uint64_t gfn, bool readonly);
int hv_ungrant(struct hv *hv, uint32_t ref);

/* Next dm_op called `name` (as in XEN_DMOP_<name>, lower case, e.g.
 * "map_io_range_to_ioreq_server" or the library function name without the
 * xendevicemodel_ prefix) fails with errno_value.  -EINVAL for unknown. */
int hv_fail_dmop(struct hv *hv, const char *name, int errno_value);

/*
 * The guest dies: servers torn down, channels closed, dm_ops ESRCH;
 * VIRQ_DOM_EXC raised and @releaseDomain fired to xenstore watchers.
 */
void hv_destroy_domain(struct hv *hv);

/*
 * Hostile-input generator (an extension: real Xen never sends these).
 * `count` times, on vCPU `vcpu` of the highest enabled server: a request
 * with random type, size, count, address, data, data_is_ptr, df and
 * direction published as READY (it must be answered); or a slot left in a
 * non-READY state and notified (the model must not touch it); or random
 * buffered-ring entries with a random write pointer (the model must not
 * hang or crash; the ring is emptied again afterwards).  Returns HV_OK, or
 * the failing status with a description in msg.
 */
enum hv_status hv_fuzz_ioreqs(struct hv *hv, unsigned vcpu, uint64_t seed,
			      unsigned count, char *msg, size_t msg_len);

/* dm_ops issued by the model so far, failed ones included. */
uint64_t hv_dmop_count(struct hv *hv);

/*
 * Event counters for the script's count-reset / expect-count (an
 * extension): foreign-memory map and unmap calls that succeeded (guest
 * memory and resources alike), and dm_ops by name, failed ones included.
 * hv_counter_id gives the id of a counter name ("foreign-map",
 * "foreign-unmap" or a dm_op name such as "map_io_range_to_ioreq_server"),
 * or -1 for an unknown name; it needs no hv, so scripts are checked when
 * they are parsed.  Any thread.
 */
#define HV_COUNTER_MAX 34
int hv_counter_id(const char *name);
uint64_t hv_counter(struct hv *hv, int id);

/* Number of IOREQ servers currently existing (for shutdown checks). */
unsigned hv_server_count(struct hv *hv);

#endif
