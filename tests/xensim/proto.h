/*
 * Wire protocol between xensim's drop-in Xen libraries (tests/xensim/lib/)
 * and the simulated hypervisor (tests/xensim/hv/).
 *
 * Notes for users of hv.h (script interpreter, bench-io, floor emulator):
 * - The device model finds xensim through the environment variable
 *   XENSIM_SOCKET (set by hv_spawn).  Its value is the name of a Unix
 *   SOCK_SEQPACKET socket; a leading '@' means the Linux abstract namespace.
 *   Without it every *_open() fails with ENOENT, as on a machine without
 *   /dev/xen.
 * - hv_spawn prepends lib_dir to LD_LIBRARY_PATH (pass xensim_lib_dir, i.e.
 *   build/tests/xensim/lib) and execvp()s argv[0].
 * - Guest RAM is [0, memory) minus the VGA hole 0xa0000-0xbffff (not RAM,
 *   so the buffered VGA window is MMIO as on a real HVM guest); memory is
 *   capped at 3 GiB so it never reaches the MMIO hole below 4 GiB.
 * - The domain's death can be observed by the model as Xen's
 *   VIRQ_DOM_EXC (xenevtchn_bind_virq(xce, 3)).  As on real Xen, the
 *   domain first stays a zombie while the model still maps its memory:
 *   dm_ops naming an IOREQ server fail with ENOENT (the servers are gone),
 *   the others still succeed; once the last mapping is released, every
 *   dm_op fails with ESRCH.
 *
 * Transport:
 * - Control: one SOCK_SEQPACKET connection per library handle.  Each
 *   message is one struct xensim_req (possibly followed by a payload); the
 *   answer is one struct xensim_rep (possibly followed by a payload) with
 *   file descriptors attached through SCM_RIGHTS where stated.
 * - Fast path (never touches the socket):
 *   * guest -> model: xensim sets the bits in the handle's shared port-state
 *     page and writes the 4-byte local port number into the handle's pipe
 *     (whose read end is xenevtchn_fd());
 *   * model -> guest: xenevtchn_notify() writes 1 to the eventfd that was
 *     handed over when the port was bound;
 *   * xenevtchn_unmask() re-delivers by writing into the same pipe.
 */
#ifndef XENSIM_PROTO_H
#define XENSIM_PROTO_H

#include <stdint.h>

#define XENSIM_ENV_SOCKET  "XENSIM_SOCKET"
#define XENSIM_PROTO_MAGIC 0x5853494dU /* "XSIM" */

/* Ports in the model's (dom0) event-channel space: [BASE, MAX). */
#define XENSIM_LPORT_BASE 512U
#define XENSIM_LPORT_MAX  4096U
/* Size of the per-handle port-state page: one uint32_t per local port. */
#define XENSIM_EVTCHN_PAGE_SIZE (XENSIM_LPORT_MAX * 4U)

/*
 * Port-state word, one per local port, shared between xensim and the
 * library and only changed with atomic compare-and-swap.  Semantics are
 * those of the Linux evtchn driver: a delivered port is MASKED until
 * xenevtchn_unmask(); notifications while masked set PENDING (they
 * coalesce); unmask with PENDING set re-delivers exactly once.
 */
#define XENSIM_PORT_MASKED    0x1U
#define XENSIM_PORT_PENDING   0x2U
#define XENSIM_PORT_CONNECTED 0x4U /* remote end open: notify delivers */
#define XENSIM_PORT_BOUND     0x8U /* bound by this handle */

enum xensim_handle_kind {
	XENSIM_KIND_DEVICEMODEL = 1,
	XENSIM_KIND_EVTCHN,
	XENSIM_KIND_FOREIGNMEMORY,
	XENSIM_KIND_GNTTAB,
	XENSIM_KIND_XENSTORE, /* libxenstore: a connection to "xenstored" */
};

/*
 * Watch records in a xenstore handle's pipe (HELLO of KIND_XENSTORE hands
 * over both ends; xensim keeps the write end).  xensim writes RELEASE when
 * xenstored would fire @releaseDomain; the library writes one EVENT per
 * watch that is to fire (the initial fire of a new watch, and one per
 * @releaseDomain watch for each RELEASE it reads).
 */
struct xensim_xs_record {
	uint32_t kind;	   /* XENSIM_XS_RELEASE or XENSIM_XS_EVENT */
	uint32_t watch_id; /* EVENT: the library's watch number */
};

#define XENSIM_XS_RELEASE 1U
#define XENSIM_XS_EVENT	  2U

enum xensim_op {
	/* arg[0] = kind.  Reply val[0] = guest domid, val[1] = RAM bytes,
	 * val[2] = max vCPUs.  fds: EVTCHN: pipe read end, pipe write end,
	 * port-state memfd; FOREIGNMEMORY/GNTTAB: guest RAM memfd; XENSTORE:
	 * watch pipe read end, write end (-ENOENT with --no-xenstored). */
	XENSIM_OP_HELLO = 1,
	/* domid = target.  Confines the handle (EPERM/EACCES elsewhere). */
	XENSIM_OP_RESTRICT,
	/* domid, arg[0] = XEN_DMOP_* number, arg[1..5] per op (see
	 * lib/devicemodel.c); arg[5] bit 0 = "pcidev" variant of the library
	 * (for fault injection names).  Reply val[0..3] per op. */
	XENSIM_OP_DMOP,
	/* domid, arg[0] = remote port.  Reply val[0] = local port; fd: the
	 * eventfd that notify writes to. */
	XENSIM_OP_EVTCHN_BIND_INTERDOMAIN,
	/* domid = remote domid.  Reply val[0] = local port. */
	XENSIM_OP_EVTCHN_BIND_UNBOUND,
	/* arg[0] = virq.  Reply val[0] = local port. */
	XENSIM_OP_EVTCHN_BIND_VIRQ,
	/* arg[0] = local port. */
	XENSIM_OP_EVTCHN_UNBIND,
	/* domid: may this handle map the domain's RAM now? */
	XENSIM_OP_FMEM_CHECK,
	/* domid, arg[0] = type, arg[1] = id, arg[2] = frame, arg[3] = nr.
	 * Reply fd: memfd holding the resource, mapped at frame*4096. */
	XENSIM_OP_MAP_RESOURCE,
	/* domid, arg[0] = type, arg[1] = id.  Reply val[0] = frames. */
	XENSIM_OP_RESOURCE_SIZE,
	/* domid, nr refs follow the request.  Reply: nr uint64_t follow,
	 * each gfn | XENSIM_GNT_RO, or ~0 for a missing entry. */
	XENSIM_OP_GNT_LOOKUP,
	/* domid, arg[0] = 1: the model now holds one more mapping of the
	 * domain's memory (RAM or an IOREQ resource); 0: it released one.
	 * Xen keeps a destroyed domain as a zombie while such mappings hold
	 * references to its pages. */
	XENSIM_OP_MAP_NOTE,
};

#define XENSIM_GNT_RO	(1ULL << 63)
#define XENSIM_GNT_BAD	(~0ULL)
#define XENSIM_MAX_REFS 1024U

struct xensim_req {
	uint32_t magic;
	uint32_t op;
	uint32_t domid;
	uint32_t nr;
	uint64_t arg[6];
	/* followed by nr uint32_t for GNT_LOOKUP */
};

struct xensim_rep {
	int32_t ret; /* 0 or -errno */
	uint32_t nr;
	uint64_t val[4];
	/* followed by nr uint64_t for GNT_LOOKUP */
};

#define XENSIM_MSG_MAX (sizeof(struct xensim_rep) + XENSIM_MAX_REFS * 8U)

#endif
