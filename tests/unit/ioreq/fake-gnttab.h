/*
 * A fake libxengnttab (mapping side) for the guest-memory cache tests:
 * the guest grants page gfn of fake_fmem_ram (fake-fmem.h) under a
 * reference with fake_gnttab_grant; a map of one granted reference is a
 * pointer into that RAM.  As gntdev does, a map of a reference the guest
 * did not grant, granted to another domain, or granted read-only but
 * mapped writable fails (NULL, errno EINVAL).  Every map and unmap is
 * recorded so a test can count them and catch leaks and bad unmaps.
 * Only single-reference maps are modelled (what guest.c asks for).
 */
#ifndef IOREQD_TEST_FAKE_GNTTAB_H
#define IOREQD_TEST_FAKE_GNTTAB_H

#include <stdbool.h>
#include <stdint.h>

#include <xengnttab.h>

#define FAKE_GNTTAB_REFS 256

extern xengnttab_handle *fake_gnttab; /* the handle to pass */
extern uint16_t fake_gnttab_domid;    /* domain the grants are for */
extern unsigned fake_gnttab_maps, fake_gnttab_unmaps, fake_gnttab_live;
extern unsigned fake_gnttab_ro_maps; /* maps without PROT_WRITE */
extern unsigned fake_gnttab_bad_unmaps;

/* Forget grants and records (mappings must all be gone). */
void fake_gnttab_reset(void);
/* Grant guest page `gfn` under `ref` (< FAKE_GNTTAB_REFS). */
void fake_gnttab_grant(uint32_t ref, uint64_t gfn, bool readonly);
/* Is p inside a mapping made and not unmapped yet? */
bool fake_gnttab_mapped(const void *p);

#endif
