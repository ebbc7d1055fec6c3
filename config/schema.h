/*
 * The configuration schema: a libyaml document -> struct cfg.  Key handling
 * is table-driven (one table per mapping: top level, device, backend); the
 * keys a device accepts and requires come from its struct cfg_type_desc.
 */
#ifndef IOREQD_CONFIG_SCHEMA_H
#define IOREQD_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <yaml.h>

#include "config/cfg.h"
#include "config/report.h"

/* Hard cap on `devices` entries (each claims ranges and an instance). */
#define CFG_DEVICES_MAX 256

/* Unix socket paths must fit sockaddr_un.sun_path with its NUL. */
#define CFG_SOCKET_PATH_MAX 107

/*
 * Fill cfg->devices / cfg->device_count from `doc` (cfg->path is set by the
 * caller), looking device types up with `find`.  Every problem goes to r.
 * *ret_skip receives a malloc'ed array
 * of device_count flags, true for devices that had errors (the validator
 * skips them), or NULL when there are no devices.  Returns 0 when nothing
 * was reported, -EINVAL when something was, -ENOMEM when out of memory (in
 * which case the caller frees whatever cfg holds).
 */
int cfg_schema_parse(yaml_document_t *doc, struct cfg_report *r,
		     cfg_type_find_fn *find, struct cfg *cfg, bool **ret_skip);

/* 0-based libyaml mark -> 1-based cfg_mark. */
struct cfg_mark cfg_mark_from_yaml(yaml_mark_t mark);

#endif
