/*
 * The human-readable form of each command's "return" value
 * (docs/control-protocol.md, Commands), printed to stdout.  A value not
 * of the documented shape is printed as JSON rather than refused: the
 * reply was well-formed protocol, just from a newer or odder daemon.
 * Each returns 0 or -ENOMEM.
 */
#ifndef IOREQCTL_SHOW_H
#define IOREQCTL_SHOW_H

#include <stdbool.h>
#include <jansson.h>

/* v as one JSON document; compact (one line) or indented. */
int show_json(json_t *v, bool compact);
/* An object as aligned "key: value" lines; anything else as JSON. */
int show_kv(json_t *v);
int show_status(json_t *v);
int show_devices(json_t *v);
/* stats, or with per_second the rates from stats_rates(): a table of
 * DEVICE READS WRITES BAD IRQS OTHER. */
int show_stats(json_t *v, bool per_second);
int show_server_stats(json_t *v);
/* One event line: local time, event name, data as key=value. */
int show_event(json_t *event);

/*
 * Per-second rates between two stats replies taken elapsed_sec apart:
 * the same shape, each counter (new - old) / elapsed as a real.  A
 * counter whose name ends in "_in_flight" is a level, not a total, and
 * keeps its new value; one missing from old, or not an integer, is left
 * out.  Returns a new object or NULL (ENOMEM).
 */
json_t *stats_rates(json_t *old, json_t *new, double elapsed_sec);

#endif
