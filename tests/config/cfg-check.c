/*
 * cfg-check FILE: load and validate one configuration exactly as
 * `ioreqd --check-config FILE` does.  Prints "configuration OK" on stdout
 * and exits 0, or cfg_load()'s error lines on stderr and exits 1.  Used by
 * run-config-tests.sh.
 */
#include <stdio.h>

#include "config/cfg.h"
#include "devices/device.h"

int
main(int argc, char **argv)
{
	struct cfg *cfg;

	if (argc != 2) {
		(void)fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	if (cfg_load(argv[1], device_type_cfg_find, stderr, &cfg) < 0)
		return 1;
	cfg_free(cfg);
	(void)puts("configuration OK");
	return 0;
}
