/*
 * A fake libxenforeignmemory for the guest-memory cache tests: guest RAM
 * is FAKE_FMEM_RAM_SIZE bytes of host memory, a "mapping" of 16 aligned
 * pages is a pointer into it, and every map and unmap is recorded so a
 * test can count them and catch leaks, double unmaps and wrong sizes.
 * Pages in [fake_fmem_hole_first, fake_fmem_hole_end) and past the end of
 * RAM get err[i] = -EINVAL, as privcmd gives for a gfn that is not RAM;
 * fake_fmem_refuse makes the whole call fail (NULL, errno EFAULT).
 */
#ifndef IOREQD_TEST_FAKE_FMEM_H
#define IOREQD_TEST_FAKE_FMEM_H

#include <stdbool.h>
#include <stdint.h>

#include <xenforeignmemory.h>

#define FAKE_FMEM_RAM_SIZE (32u << 20)

extern uint8_t fake_fmem_ram[FAKE_FMEM_RAM_SIZE];
extern xenforeignmemory_handle *fake_fmem; /* the handle to pass */
extern uint64_t fake_fmem_hole_first, fake_fmem_hole_end; /* pfns */
extern bool fake_fmem_refuse;
extern unsigned fake_fmem_maps;	      /* calls that returned a mapping */
extern unsigned fake_fmem_unmaps;     /* calls that matched a mapping */
extern unsigned fake_fmem_live;	      /* mappings not unmapped yet */
extern unsigned fake_fmem_bad_unmaps; /* unknown address or page count */

/* Is p inside a mapping made and not unmapped yet? */
bool fake_fmem_mapped(const void *p);
/* Forget every record (mappings must all be gone), no hole, no refusal. */
void fake_fmem_reset(void);

#endif
