/*
 * Cross-checks of a parsed configuration (no side effects): duplicate ids,
 * overlapping port and MMIO ranges, port ranges past 0xffff, claims on
 * ranges Xen emulates internally (config/xen-reserved.h), more than one
 * stdio backend, two PCI functions at one address, a PCI function other
 * than 0 without function 0 of its slot, a file backend path that exists
 * and is a FIFO, socket, directory or block device (the only check that
 * looks at the file system besides the types' own check_file hooks: one
 * stat()).  cfg_load() runs these already;
 * they are exported for
 * tests and for callers that build a struct cfg themselves.
 */
#ifndef IOREQD_CONFIG_VALIDATE_H
#define IOREQD_CONFIG_VALIDATE_H

#include <stdbool.h>
#include <stdio.h>

#include "config/cfg.h"
#include "config/report.h"

/*
 * Check `cfg`, looking device types up with `find`.  Writes each error as
 * "PATH:LINE:COL: message" to errs (may be NULL), PATH being cfg->path.
 * Returns 0, or -EINVAL if anything was reported.
 */
int cfg_validate(const struct cfg *cfg, cfg_type_find_fn *find, FILE *errs);

/*
 * The same with a per-device skip array (devices that already failed to
 * parse, or NULL): skipped devices are neither checked nor compared
 * against.  Errors go to r; returns 0 or -EINVAL when this call reported
 * anything.
 */
int cfg_validate_with(const struct cfg *cfg, const bool *skip,
		      cfg_type_find_fn *find, struct cfg_report *r);

#endif
