/*
 * pvpanic: the guest's panic notifier, ISA (class `pvpanic`, one port,
 * default 0x505) and PCI (class `pvpanic-pci`, 1b36:0011, register in
 * BAR0).  Events the guest reported are counted here for the control
 * socket.
 */
#ifndef IOREQD_DEVICES_PVPANIC_H
#define IOREQD_DEVICES_PVPANIC_H

#include <stdint.h>

#include "devices/device.h"

/* Event bits of the register (Linux include/uapi/misc/pvpanic.h). */
#define PVPANIC_PANICKED	(1u << 0)
#define PVPANIC_CRASH_LOADED	(1u << 1)
#define PVPANIC_EVENTS		(PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

/* YAML `on-panic`. */
enum pvpanic_action {
	PVPANIC_ACTION_LOG,	/* log and count only (default) */
	PVPANIC_ACTION_CRASH,	/* also svc->shutdown(DEVICE_SHUTDOWN_CRASH) */
	_PVPANIC_ACTION_COUNT,
};

struct pvpanic_stats {
	uint64_t panicked;	/* PVPANIC_PANICKED writes */
	uint64_t crash_loaded;	/* PVPANIC_CRASH_LOADED writes */
	uint64_t unknown;	/* writes carrying unsupported bits */
	uint64_t shutdowns;	/* shutdown requests made (on-panic: crash) */
	enum pvpanic_action action;
};

/*
 * Counters of a pvpanic or pvpanic-pci instance into *ret_stats.  Returns
 * 0, or -EINVAL when dev is not one of those classes.
 */
int pvpanic_get_stats(const struct device *dev,
		      struct pvpanic_stats *ret_stats);

#endif
