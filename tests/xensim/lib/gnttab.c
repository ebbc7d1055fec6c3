/*
 * Drop-in libxengnttab.so.1 (grant mapping side only).  Grant entries live
 * in xensim (hv_grant); a map looks the refs up and mmaps the granted
 * guest frames from the RAM memfd.  Failures follow the gntdev driver as
 * far as we know it: a missing ref, a ref of another domain, or a
 * writable map of a read-only grant fails the whole map with EINVAL.
 *
 * Not modelled (ENOSYS): map_grant_ref_notify, the xengntshr_* granting
 * side and the dma-buf calls.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xengnttab.h>

#include "xs-client.h"

#define PAGE 4096UL

struct gnt_mapping {
	void *addr;
	uint32_t count;
};

struct xengntdev_handle {
	struct xs_client c;
	int ram_fd;
	pthread_mutex_t lock;
	struct gnt_mapping *maps;
	size_t nmaps, cap;
	Xentoolcore__Active_Handle tc_ah;
};

static int
restrict_cb(Xentoolcore__Active_Handle *ah, domid_t domid)
{
	xengnttab_handle *xgt = (xengnttab_handle *)((char *)ah -
						     offsetof(xengnttab_handle,
							      tc_ah));

	return xs_client_simple(&xgt->c, XENSIM_OP_RESTRICT, domid, NULL, 0,
				NULL) < 0 ?
		       -1 :
		       0;
}

xengnttab_handle *
xengnttab_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	xengnttab_handle *xgt = calloc(1, sizeof(*xgt));
	unsigned nfds = 0;
	int r;

	if (!xgt) {
		errno = ENOMEM;
		return NULL;
	}
	r = xs_client_open(&xgt->c, XENSIM_KIND_GNTTAB, &xgt->ram_fd, 1, &nfds);
	if (r == 0 && nfds != 1) {
		xs_client_close(&xgt->c);
		r = -EIO;
	}
	if (r < 0) {
		free(xgt);
		errno = -r;
		return NULL;
	}
	pthread_mutex_init(&xgt->lock, NULL);
	xgt->tc_ah.restrict_callback = restrict_cb;
	xentoolcore__register_active_handle(&xgt->tc_ah);
	return xgt;
}

int
xengnttab_close(xengnttab_handle *xgt)
{
	if (!xgt)
		return 0;
	xentoolcore__deregister_active_handle(&xgt->tc_ah);
	/* Existing mappings stay valid until unmapped, as with gntdev. */
	xs_client_close(&xgt->c);
	close(xgt->ram_fd);
	pthread_mutex_destroy(&xgt->lock);
	free(xgt->maps);
	free(xgt);
	return 0;
}

int
xengnttab_fd(xengnttab_handle *xgt)
{
	return xgt->c.fd;
}

int
xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
	return 0;
}

/* Look refs up; out[i] = gfn | XENSIM_GNT_RO or XENSIM_GNT_BAD. */
static int
lookup(xengnttab_handle *xgt, uint32_t domid, uint32_t count,
       const uint32_t *refs, uint64_t *out)
{
	size_t req_len = sizeof(struct xensim_req) + count * sizeof(uint32_t);
	size_t rep_len = sizeof(struct xensim_rep) + count * sizeof(uint64_t);
	struct xensim_req *req = calloc(1, req_len);
	struct xensim_rep *rep = calloc(1, rep_len);
	int r = -ENOMEM;

	if (!req || !rep)
		goto out;
	req->op = XENSIM_OP_GNT_LOOKUP;
	req->domid = domid;
	req->nr = count;
	memcpy(req + 1, refs, count * sizeof(uint32_t));
	r = xs_client_call(&xgt->c, req, req_len, rep, rep_len, NULL, 0, NULL);
	if (r == 0 && rep->nr != count)
		r = -EIO;
	if (r == 0)
		memcpy(out, rep + 1, count * sizeof(uint64_t));
out:
	free(req);
	free(rep);
	return r;
}

static void *
map_refs(xengnttab_handle *xgt, uint32_t count, const uint32_t *domids,
	 uint32_t domid, const uint32_t *refs, int prot)
{
	uint64_t *gfns;
	uint8_t *base = NULL;
	int e = EINVAL, r;

	if (count == 0 || count > XENSIM_MAX_REFS) {
		errno = EINVAL;
		return NULL;
	}
	for (uint32_t i = 0; domids && i < count; i++)
		if (domids[i] != domids[0]) {
			errno = EINVAL;
			return NULL;
		}
	gfns = malloc(count * sizeof(*gfns));
	if (!gfns) {
		errno = ENOMEM;
		return NULL;
	}
	r = lookup(xgt, domids ? domids[0] : domid, count, refs, gfns);
	if (r < 0)
		goto out; /* EINVAL, like a failed GNTTABOP_map */
	for (uint32_t i = 0; i < count; i++)
		if (gfns[i] == XENSIM_GNT_BAD ||
		    ((gfns[i] & XENSIM_GNT_RO) && (prot & PROT_WRITE)))
			goto out;
	base = mmap(NULL, count * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (base == MAP_FAILED) {
		base = NULL;
		e = ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t gfn = gfns[i] & ~XENSIM_GNT_RO;

		if (mmap(base + i * PAGE, PAGE, prot, MAP_SHARED | MAP_FIXED,
			 xgt->ram_fd, (off_t)(gfn * PAGE)) == MAP_FAILED) {
			e = errno;
			munmap(base, count * PAGE);
			base = NULL;
			goto out;
		}
	}
	pthread_mutex_lock(&xgt->lock);
	if (xgt->nmaps == xgt->cap) {
		size_t cap = xgt->cap ? xgt->cap * 2 : 16;
		struct gnt_mapping *m = realloc(xgt->maps, cap * sizeof(*m));

		if (!m) {
			pthread_mutex_unlock(&xgt->lock);
			munmap(base, count * PAGE);
			base = NULL;
			e = ENOMEM;
			goto out;
		}
		xgt->maps = m;
		xgt->cap = cap;
	}
	xgt->maps[xgt->nmaps].addr = base;
	xgt->maps[xgt->nmaps].count = count;
	xgt->nmaps++;
	pthread_mutex_unlock(&xgt->lock);
out:
	free(gfns);
	if (!base)
		errno = e;
	return base;
}

void *
xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid, uint32_t ref,
			int prot)
{
	return map_refs(xgt, 1, NULL, domid, &ref, prot);
}

void *
xengnttab_map_grant_refs(xengnttab_handle *xgt, uint32_t count,
			 uint32_t *domids, uint32_t *refs, int prot)
{
	return map_refs(xgt, count, domids, 0, refs, prot);
}

void *
xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count,
				uint32_t domid, uint32_t *refs, int prot)
{
	return map_refs(xgt, count, NULL, domid, refs, prot);
}

void *
xengnttab_map_grant_ref_notify(xengnttab_handle *xgt, uint32_t domid,
			       uint32_t ref, int prot, uint32_t notify_offset,
			       evtchn_port_t notify_port)
{
	errno = ENOSYS;
	return NULL;
}

int
xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
	int r = -1;

	if (!start_address) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&xgt->lock);
	errno = EINVAL;
	for (size_t i = 0; i < xgt->nmaps; i++) {
		if (xgt->maps[i].addr != start_address)
			continue;
		if (xgt->maps[i].count != count)
			break;
		r = munmap(start_address, count * PAGE);
		xgt->maps[i] = xgt->maps[--xgt->nmaps];
		break;
	}
	pthread_mutex_unlock(&xgt->lock);
	return r;
}

/* Resolve one side of a copy segment to a host pointer (mapped page). */
static int16_t
copy_side(xengnttab_handle *xgt, bool is_gref, bool is_dest, const void *virt,
	  uint32_t ref, uint16_t offset, uint16_t domid, uint16_t len,
	  uint8_t **ret_page, uint8_t **ret_ptr)
{
	uint64_t gfn;
	uint8_t *page;

	*ret_page = NULL;
	if (!is_gref) {
		*ret_ptr = (uint8_t *)virt;
		return GNTST_okay;
	}
	if ((uint32_t)offset + len > PAGE)
		return GNTST_bad_copy_arg;
	if (lookup(xgt, domid, 1, &ref, &gfn) < 0)
		return GNTST_bad_domain;
	if (gfn == XENSIM_GNT_BAD)
		return GNTST_bad_gntref;
	if (is_dest && (gfn & XENSIM_GNT_RO))
		return GNTST_permission_denied;
	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, xgt->ram_fd,
		    (off_t)((gfn & ~XENSIM_GNT_RO) * PAGE));
	if (page == MAP_FAILED)
		return GNTST_general_error;
	*ret_page = page;
	*ret_ptr = page + offset;
	return GNTST_okay;
}

int
xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
		     xengnttab_grant_copy_segment_t *segs)
{
	for (uint32_t i = 0; i < count; i++) {
		xengnttab_grant_copy_segment_t *s = &segs[i];
		uint8_t *spage, *dpage, *src, *dst;

		s->status = copy_side(xgt, s->flags & GNTCOPY_source_gref,
				      false, s->source.virt,
				      s->source.foreign.ref,
				      s->source.foreign.offset,
				      s->source.foreign.domid, s->len, &spage,
				      &src);
		if (s->status != GNTST_okay)
			continue;
		s->status = copy_side(xgt, s->flags & GNTCOPY_dest_gref, true,
				      s->dest.virt, s->dest.foreign.ref,
				      s->dest.foreign.offset,
				      s->dest.foreign.domid, s->len, &dpage,
				      &dst);
		if (s->status == GNTST_okay)
			memmove(dst, src, s->len);
		if (spage)
			munmap(spage, PAGE);
		if (s->status == GNTST_okay && dpage)
			munmap(dpage, PAGE);
	}
	return 0;
}

/* --- not modelled --- */

xengntshr_handle *
xengntshr_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	errno = ENOSYS;
	return NULL;
}

int
xengntshr_close(xengntshr_handle *xgs)
{
	return 0;
}

int
xengntshr_fd(xengntshr_handle *xgs)
{
	errno = ENOSYS;
	return -1;
}

void *
xengntshr_share_pages(xengntshr_handle *xgs, uint32_t domid, int count,
		      uint32_t *refs, int writable)
{
	errno = ENOSYS;
	return NULL;
}

void *
xengntshr_share_page_notify(xengntshr_handle *xgs, uint32_t domid,
			    uint32_t *ref, int writable, uint32_t notify_offset,
			    evtchn_port_t notify_port)
{
	errno = ENOSYS;
	return NULL;
}

int
xengntshr_unshare(xengntshr_handle *xgs, void *start_address, uint32_t count)
{
	errno = ENOSYS;
	return -1;
}

int
xengnttab_dmabuf_exp_from_refs(xengnttab_handle *xgt, uint32_t domid,
			       uint32_t flags, uint32_t count,
			       const uint32_t *refs, uint32_t *fd)
{
	errno = ENOSYS;
	return -1;
}

int
xengnttab_dmabuf_exp_wait_released(xengnttab_handle *xgt, uint32_t fd,
				   uint32_t wait_to_ms)
{
	errno = ENOSYS;
	return -1;
}

int
xengnttab_dmabuf_imp_to_refs(xengnttab_handle *xgt, uint32_t domid, uint32_t fd,
			     uint32_t count, uint32_t *refs)
{
	errno = ENOSYS;
	return -1;
}

int
xengnttab_dmabuf_imp_release(xengnttab_handle *xgt, uint32_t fd)
{
	errno = ENOSYS;
	return -1;
}
