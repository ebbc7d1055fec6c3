/*
 * Client side of the xensim transport, shared by the drop-in libraries:
 * one SOCK_SEQPACKET connection per handle, synchronous RPCs (proto.h),
 * and the handle registry of libxentoolcore.
 */
#ifndef XENSIM_XS_CLIENT_H
#define XENSIM_XS_CLIENT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>

#include "proto.h"

struct xs_client {
	int fd;
	pthread_mutex_t lock;
	uint32_t domid; /* the simulated guest */
	uint64_t ram_size;
	unsigned vcpus;
};

/*
 * Connect to $XENSIM_SOCKET and say HELLO for `kind`.  Up to max_fds file
 * descriptors from the reply land in fds (*ret_nfds of them).  Returns 0
 * or -errno (-ENOENT without the environment variable).
 */
int xs_client_open(struct xs_client *c, unsigned kind, int *fds,
		   unsigned max_fds, unsigned *ret_nfds);
void xs_client_close(struct xs_client *c);
/*
 * One RPC.  req_len includes any payload after the header; the reply
 * (rep_max bytes of room) may carry file descriptors.  Returns rep->ret
 * (0 or -errno), or a transport error as -EIO.
 */
int xs_client_call(struct xs_client *c, struct xensim_req *req, size_t req_len,
		   struct xensim_rep *rep, size_t rep_max, int *fds,
		   unsigned max_fds, unsigned *ret_nfds);
/* Short form: no payload, no fds. */
int xs_client_simple(struct xs_client *c, uint32_t op, uint32_t domid,
		     const uint64_t *args, unsigned nargs,
		     struct xensim_rep *rep);
/* Is guest frame gfn RAM (not outside memory, not the VGA hole)? */
int xs_gfn_is_ram(const struct xs_client *c, uint64_t gfn);

/* Layout-compatible with Xen's xentoolcore_internal.h. */
typedef struct Xentoolcore__Active_Handle Xentoolcore__Active_Handle;
typedef int Xentoolcore__Restrict_Callback(Xentoolcore__Active_Handle *,
					   domid_t domid);
struct Xentoolcore__Active_Handle {
	Xentoolcore__Restrict_Callback *restrict_callback;
	struct {
		Xentoolcore__Active_Handle *tqe_next;
		Xentoolcore__Active_Handle **tqe_prev;
	} entry;
};

void xentoolcore__register_active_handle(Xentoolcore__Active_Handle *ah);
void xentoolcore__deregister_active_handle(Xentoolcore__Active_Handle *ah);
int xentoolcore__restrict_by_dup2_null(int fd);

#endif
