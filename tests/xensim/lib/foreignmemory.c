/*
 * Drop-in libxenforeignmemory.so.1: guest RAM is a memfd handed over at
 * open; a foreign mapping is an mmap of the right pages of it, so writes
 * are visible to the guest at once.  map/map2 follow privcmd's per-page
 * err[] rules (-EINVAL for a gfn that is not RAM; without err[] the call
 * is all-or-nothing).  A failed page is left PROT_NONE (touching it
 * faults with SIGSEGV where Linux would give SIGBUS).  map_resource
 * supports XENMEM_resource_ioreq_server only (others ENOSYS).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenforeignmemory.h>

#include "xs-client.h"

#define PAGE 4096UL

struct xenforeignmemory_handle {
	struct xs_client c;
	int ram_fd;
	Xentoolcore__Active_Handle tc_ah;
};

struct xenforeignmemory_resource_handle {
	void *addr;
	unsigned long nr_frames;
};

static int
fmem_restrict_cb(Xentoolcore__Active_Handle *ah, domid_t domid)
{
	xenforeignmemory_handle *fmem =
		(xenforeignmemory_handle *)((char *)ah -
					    offsetof(xenforeignmemory_handle,
						     tc_ah));

	return xenforeignmemory_restrict(fmem, domid);
}

xenforeignmemory_handle *
xenforeignmemory_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	xenforeignmemory_handle *fmem = calloc(1, sizeof(*fmem));
	unsigned nfds = 0;
	int r;

	if (!fmem) {
		errno = ENOMEM;
		return NULL;
	}
	r = xs_client_open(&fmem->c, XENSIM_KIND_FOREIGNMEMORY, &fmem->ram_fd,
			   1, &nfds);
	if (r == 0 && nfds != 1) {
		xs_client_close(&fmem->c);
		r = -EIO;
	}
	if (r < 0) {
		free(fmem);
		errno = -r;
		return NULL;
	}
	fmem->tc_ah.restrict_callback = fmem_restrict_cb;
	xentoolcore__register_active_handle(&fmem->tc_ah);
	return fmem;
}

int
xenforeignmemory_close(xenforeignmemory_handle *fmem)
{
	if (!fmem)
		return 0;
	xentoolcore__deregister_active_handle(&fmem->tc_ah);
	xs_client_close(&fmem->c);
	close(fmem->ram_fd);
	free(fmem);
	return 0;
}

int
xenforeignmemory_restrict(xenforeignmemory_handle *fmem, domid_t domid)
{
	int r = xs_client_simple(&fmem->c, XENSIM_OP_RESTRICT, domid, NULL, 0,
				 NULL);

	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

/*
 * Tell xensim that this handle holds (or dropped) one mapping of guest
 * memory: Xen keeps a destroyed domain alive while its pages are mapped.
 */
static void
note_mapping(xenforeignmemory_handle *fmem, bool held)
{
	uint64_t arg = held;

	(void)xs_client_simple(&fmem->c, XENSIM_OP_MAP_NOTE, 0, &arg, 1, NULL);
}

void *
xenforeignmemory_map2(xenforeignmemory_handle *fmem, uint32_t dom, void *addr,
		      int prot, int flags, size_t pages,
		      const xen_pfn_t arr[/*pages*/], int err[/*pages*/])
{
	uint8_t *base;
	size_t i = 0;
	int r;

	if (pages == 0 || pages > SIZE_MAX / PAGE) {
		errno = EINVAL;
		return NULL;
	}
	r = xs_client_simple(&fmem->c, XENSIM_OP_FMEM_CHECK, dom, NULL, 0,
			     NULL);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	base = mmap(addr, pages * PAGE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | (flags & MAP_FIXED), -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	while (i < pages) {
		size_t run = 1;

		if (!xs_gfn_is_ram(&fmem->c, arr[i])) {
			if (!err) {
				munmap(base, pages * PAGE);
				errno = EINVAL;
				return NULL;
			}
			err[i++] = -EINVAL;
			continue;
		}
		/* Map runs of consecutive gfns with one mmap. */
		while (i + run < pages && arr[i + run] == arr[i] + run &&
		       xs_gfn_is_ram(&fmem->c, arr[i + run]))
			run++;
		if (mmap(base + i * PAGE, run * PAGE, prot,
			 MAP_SHARED | MAP_FIXED, fmem->ram_fd,
			 (off_t)(arr[i] * PAGE)) == MAP_FAILED) {
			int e = errno;

			munmap(base, pages * PAGE);
			errno = e;
			return NULL;
		}
		for (size_t k = 0; k < run && err; k++)
			err[i + k] = 0;
		i += run;
	}
	note_mapping(fmem, true);
	return base;
}

void *
xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot,
		     size_t pages, const xen_pfn_t arr[/*pages*/],
		     int err[/*pages*/])
{
	return xenforeignmemory_map2(fmem, dom, NULL, prot, 0, pages, arr, err);
}

int
xenforeignmemory_unmap(xenforeignmemory_handle *fmem, void *addr, size_t pages)
{
	int r = munmap(addr, pages * PAGE);

	if (r == 0)
		note_mapping(fmem, false);
	return r;
}

xenforeignmemory_resource_handle *
xenforeignmemory_map_resource(xenforeignmemory_handle *fmem, domid_t domid,
			      unsigned int type, unsigned int id,
			      unsigned long frame, unsigned long nr_frames,
			      void **paddr, int prot, int flags)
{
	struct xensim_req req = { .op = XENSIM_OP_MAP_RESOURCE,
				  .domid = domid,
				  .arg = { type, id, frame, nr_frames } };
	struct xensim_rep rep;
	xenforeignmemory_resource_handle *fres;
	unsigned nfds = 0;
	void *addr;
	int fd = -1, r;

	if (flags & ~(MAP_SHARED | MAP_PRIVATE)) {
		errno = EINVAL;
		return NULL;
	}
	r = xs_client_call(&fmem->c, &req, sizeof(req), &rep, sizeof(rep), &fd,
			   1, &nfds);
	if (r == 0 && nfds != 1)
		r = -EIO;
	if (r < 0) {
		if (nfds)
			close(fd);
		errno = -r;
		return NULL;
	}
	addr = mmap(paddr ? *paddr : NULL, nr_frames * PAGE, prot,
		    flags | MAP_SHARED, fd, (off_t)(frame * PAGE));
	close(fd);
	if (addr == MAP_FAILED)
		return NULL;
	fres = malloc(sizeof(*fres));
	if (!fres) {
		munmap(addr, nr_frames * PAGE);
		errno = ENOMEM;
		return NULL;
	}
	fres->addr = addr;
	fres->nr_frames = nr_frames;
	if (paddr)
		*paddr = addr;
	note_mapping(fmem, true);
	return fres;
}

int
xenforeignmemory_unmap_resource(xenforeignmemory_handle *fmem,
				xenforeignmemory_resource_handle *fres)
{
	int r;

	if (!fres)
		return 0;
	r = munmap(fres->addr, fres->nr_frames * PAGE);
	free(fres);
	if (r == 0)
		note_mapping(fmem, false);
	return r;
}

int
xenforeignmemory_resource_size(xenforeignmemory_handle *fmem, domid_t domid,
			       unsigned int type, unsigned int id, size_t *size)
{
	uint64_t args[2] = { type, id };
	struct xensim_rep rep;
	int r = xs_client_simple(&fmem->c, XENSIM_OP_RESOURCE_SIZE, domid, args,
				 2, &rep);

	if (r < 0) {
		errno = -r;
		return -1;
	}
	*size = (size_t)rep.val[0] * PAGE;
	return 0;
}
