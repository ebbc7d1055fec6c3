/* Fake libxenforeignmemory map/unmap for the cache tests (fake-fmem.h). */
#include "fake-fmem.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define PAGE	 4096u
#define MAX_LIVE 256

struct xenforeignmemory_handle {
	int unused;
};

struct live_map {
	void *hva;
	size_t pages;
};

static struct xenforeignmemory_handle handle;
/* Host memory behind mappings of pages that are not RAM. */
static uint8_t not_ram[16 * PAGE];
static struct live_map live[MAX_LIVE];

uint8_t fake_fmem_ram[FAKE_FMEM_RAM_SIZE];
xenforeignmemory_handle *fake_fmem = &handle;
uint64_t fake_fmem_hole_first, fake_fmem_hole_end;
bool fake_fmem_refuse;
unsigned fake_fmem_maps, fake_fmem_unmaps, fake_fmem_live;
unsigned fake_fmem_bad_unmaps;

void
fake_fmem_reset(void)
{
	memset(live, 0, sizeof(live));
	fake_fmem_hole_first = fake_fmem_hole_end = 0;
	fake_fmem_refuse = false;
	fake_fmem_maps = fake_fmem_unmaps = fake_fmem_live = 0;
	fake_fmem_bad_unmaps = 0;
}

bool
fake_fmem_mapped(const void *p)
{
	const uint8_t *b = p;

	for (unsigned i = 0; i < MAX_LIVE; i++)
		if (live[i].hva && b >= (uint8_t *)live[i].hva &&
		    b < (uint8_t *)live[i].hva + live[i].pages * PAGE)
			return true;
	return false;
}

static bool
pfn_is_ram(uint64_t pfn)
{
	return pfn < FAKE_FMEM_RAM_SIZE / PAGE &&
	       (pfn < fake_fmem_hole_first || pfn >= fake_fmem_hole_end);
}

static bool
remember(void *hva, size_t pages)
{
	for (unsigned i = 0; i < MAX_LIVE; i++) {
		if (!live[i].hva) {
			live[i] = (struct live_map){ hva, pages };
			return true;
		}
	}
	return false;
}

/*
 * Only what guest.c asks for: consecutive pfns, at most 16 pages, the
 * whole range inside RAM (a pointer into it) or wholly past its end.
 */
void *
xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot,
		     size_t pages, const xen_pfn_t arr[], int err[])
{
	uint8_t *hva;

	(void)dom;
	(void)prot;
	if (fmem != &handle || fake_fmem_refuse || pages == 0 || pages > 16) {
		errno = EFAULT;
		return NULL;
	}
	for (size_t i = 1; i < pages; i++)
		if (arr[i] != arr[0] + i) {
			errno = EINVAL;
			return NULL;
		}
	if (arr[0] + pages <= FAKE_FMEM_RAM_SIZE / PAGE)
		hva = fake_fmem_ram + arr[0] * PAGE;
	else
		hva = not_ram;
	for (size_t i = 0; i < pages; i++)
		err[i] = pfn_is_ram(arr[i]) ? 0 : -EINVAL;
	if (!remember(hva, pages)) {
		errno = ENOMEM;
		return NULL;
	}
	fake_fmem_maps++;
	fake_fmem_live++;
	return hva;
}

int
xenforeignmemory_unmap(xenforeignmemory_handle *fmem, void *addr, size_t pages)
{
	for (unsigned i = 0; fmem == &handle && i < MAX_LIVE; i++) {
		if (live[i].hva == addr && live[i].pages == pages) {
			live[i].hva = NULL;
			fake_fmem_unmaps++;
			fake_fmem_live--;
			return 0;
		}
	}
	fake_fmem_bad_unmaps++;
	errno = EINVAL;
	return -1;
}
