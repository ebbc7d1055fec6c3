/* Fake libxengnttab map/unmap for the cache tests (fake-gnttab.h). */
#include "fake-gnttab.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "fake-fmem.h"

#define PAGE	 4096u
#define MAX_LIVE 256

struct xengntdev_handle {
	int unused;
};

struct grant {
	bool granted;
	bool readonly;
	uint64_t gfn;
};

struct live_map {
	uint8_t *hva;
	uint32_t count;
};

static struct xengntdev_handle handle;
static struct grant grants[FAKE_GNTTAB_REFS];
static struct live_map live[MAX_LIVE];

xengnttab_handle *fake_gnttab = &handle;
uint16_t fake_gnttab_domid = 7;
unsigned fake_gnttab_maps, fake_gnttab_unmaps, fake_gnttab_live;
unsigned fake_gnttab_ro_maps, fake_gnttab_bad_unmaps;

void
fake_gnttab_reset(void)
{
	memset(grants, 0, sizeof(grants));
	memset(live, 0, sizeof(live));
	fake_gnttab_maps = fake_gnttab_unmaps = fake_gnttab_live = 0;
	fake_gnttab_ro_maps = fake_gnttab_bad_unmaps = 0;
}

void
fake_gnttab_grant(uint32_t ref, uint64_t gfn, bool readonly)
{
	if (ref < FAKE_GNTTAB_REFS && gfn < FAKE_FMEM_RAM_SIZE / PAGE)
		grants[ref] = (struct grant){ true, readonly, gfn };
}

bool
fake_gnttab_mapped(const void *p)
{
	const uint8_t *b = p;

	for (unsigned i = 0; i < MAX_LIVE; i++)
		if (live[i].hva && b >= live[i].hva &&
		    b < live[i].hva + (size_t)live[i].count * PAGE)
			return true;
	return false;
}

void *
xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count,
				uint32_t domid, uint32_t *refs, int prot)
{
	const struct grant *g;

	if (xgt != &handle || count != 1 || domid != fake_gnttab_domid ||
	    refs[0] >= FAKE_GNTTAB_REFS) {
		errno = EINVAL;
		return NULL;
	}
	g = &grants[refs[0]];
	if (!g->granted || (g->readonly && (prot & PROT_WRITE))) {
		errno = EINVAL;
		return NULL;
	}
	for (unsigned i = 0; i < MAX_LIVE; i++) {
		if (!live[i].hva) {
			live[i] = (struct live_map){
				fake_fmem_ram + g->gfn * PAGE, count
			};
			fake_gnttab_maps++;
			fake_gnttab_live++;
			if (!(prot & PROT_WRITE))
				fake_gnttab_ro_maps++;
			return live[i].hva;
		}
	}
	errno = ENOMEM;
	return NULL;
}

int
xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
	for (unsigned i = 0; xgt == &handle && i < MAX_LIVE; i++) {
		if (live[i].hva == start_address && live[i].count == count) {
			live[i].hva = NULL;
			fake_gnttab_unmaps++;
			fake_gnttab_live--;
			return 0;
		}
	}
	fake_gnttab_bad_unmaps++;
	errno = EINVAL;
	return -1;
}
