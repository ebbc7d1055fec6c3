/*
 * pvpanic: the guest's panic notifier, ISA (type `pvpanic`, one port,
 * default 0x505) and PCI (type `pvpanic-pci`, 1b36:0011, register in
 * BAR0).  Events the guest reported are counted and given to the control
 * socket through the stats hook (device_emit_stats()): panicked,
 * crash_loaded, unknown, shutdowns.
 */
#ifndef IOREQD_DEVICES_PVPANIC_H
#define IOREQD_DEVICES_PVPANIC_H

#include <stdint.h>

#include "devices/device.h"

/* Event bits of the register (Linux include/uapi/misc/pvpanic.h). */
#define PVPANIC_PANICKED     (1u << 0)
#define PVPANIC_CRASH_LOADED (1u << 1)
#define PVPANIC_EVENTS	     (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

/* YAML `on-panic`, the index of its choice. */
enum pvpanic_action {
	PVPANIC_ACTION_LOG,   /* log and count only (default) */
	PVPANIC_ACTION_CRASH, /* also svc->shutdown(DEVICE_SHUTDOWN_CRASH) */
	_PVPANIC_ACTION_COUNT,
};

#endif
