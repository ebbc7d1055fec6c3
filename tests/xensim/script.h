/*
 * The xensim script language (see script-language.md for the contract):
 * a script is parsed completely before the device model starts, then run
 * against the hypervisor core as the guest.
 */
#ifndef XENSIM_SCRIPT_H
#define XENSIM_SCRIPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hv.h"

struct script;

/* What the parser needs to know about the domain to check arguments. */
struct script_limits {
	unsigned vcpus;	     /* vCPU numbers must be below this */
	unsigned timeout_ms; /* request timeout, for messages only */
};

/*
 * Parse a whole script from `in`.  `name` is used in messages
 * ("NAME:LINE: message" on stderr, one per malformed line).  Returns 0 and
 * a script in *ret, -EINVAL if the script is malformed (after printing
 * every error), or another -errno on read/allocation failure.
 */
int script_parse(const char *name, FILE *in, const struct script_limits *lim,
		 struct script **ret);

/*
 * Run the script as the guest of hv.  Prints one "NAME:LINE: expected ...,
 * got ..." line on stderr per failed expectation.  Stops early when an
 * access cannot complete (timeout, crash, dead domain).  Returns the number
 * of failures; *ret_destroyed tells whether `destroy-domain` ran.
 */
unsigned script_run(struct script *s, struct hv *hv, bool *ret_destroyed);

void script_free(struct script *s);

/* The errno value of a name such as "EIO" (the names fail-dmop takes), or
 * -EINVAL for an unknown name. */
int script_errno_by_name(const char *name);

#endif
