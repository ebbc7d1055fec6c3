/*
 * What config/ knows of a device type: the description of its keys.
 *
 * A device type's file defines one `static const struct cfg_type_desc`;
 * whoever calls cfg_load() (the daemon, through devices/registry.c) hands
 * config/ a lookup from type name to description, so config/ checks every
 * key of every type, defaults included, without knowing a single type and
 * without including anything above it.
 */
#ifndef IOREQD_CONFIG_TYPE_DESC_H
#define IOREQD_CONFIG_TYPE_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keys a device entry may carry besides `type` and `id`. */
#define CFG_KEY_PORT	(1u << 0)
#define CFG_KEY_IRQ	(1u << 1)
#define CFG_KEY_BACKEND (1u << 2)
#define CFG_KEY_MMIO	(1u << 3)
#define CFG_KEY_PCI	(1u << 4) /* "pci": "BB:DD.F" */

/* The keys that say where an instance sits (cfg_type_desc.placement). */
#define CFG_KEYS_PLACEMENT (CFG_KEY_PORT | CFG_KEY_MMIO | CFG_KEY_PCI)

/*
 * Device-specific keys: a type lists them (cfg_type_desc.extra_keys) and
 * reads their values with cfg_device_extra() / cfg_device_extra_enum();
 * config/ checks type, range, choices and the key's own check, and reports
 * errors at the value's position.
 */
enum cfg_extra_type {
	CFG_EXTRA_STRING,
	CFG_EXTRA_UINT, /* decimal or 0x hex, 0..max */
	CFG_EXTRA_BOOL, /* true/false */
	CFG_EXTRA_ENUM, /* one of choices */
};

struct cfg_extra_key {
	const char *name;
	enum cfg_extra_type type;
	const char *const *choices; /* ENUM: NULL-terminated */
	uint64_t max;		    /* UINT */
	bool required;
	const char *default_value; /* as YAML text, or NULL */
	/*
	 * Optional: the type's own rule for a value that passed the checks
	 * above (a MAC address, a path of some shape), given as its text.
	 * Returns 0, or -EINVAL with a phrase in err that follows the key's
	 * name, e.g. "must be a MAC address like 52:54:00:12:34:56"; config/
	 * adds the position and ", got VALUE".  No side effects, no I/O.
	 */
	int (*check)(const char *value, char *err, size_t errlen);
	/*
	 * Optional: the one kind of check that may look at the file system
	 * (stat, or open read-only and close; nothing created, changed or
	 * locked), for a value that names a file the device will need, so
	 * that `ioreqd --check-config` rejects what create would (a missing
	 * disk image, say).  cfg_validate() runs it once the whole file has
	 * parsed; same contract as check otherwise.  A reason it cannot
	 * judge here (no permission, while the daemon may have it) is no
	 * error: return 0 and let create decide.
	 */
	int (*check_file)(const char *value, char *err, size_t errlen);
};

/*
 * One device type as config/ sees it.  Keys: `keys` is what an entry may
 * carry, `required` what it must carry.  `placement` is where an
 * instance may sit: a set of CFG_KEYS_PLACEMENT bits of which an entry
 * must give exactly one (counting the default port); one bit makes that
 * key required, none means the type sits nowhere.  port_size and
 * mmio_size are the windows claimed at `port` and `mmio`, so that overlaps
 * and ranges Xen keeps for itself are found before anything starts.
 */
struct cfg_type_desc {
	const char *name;	   /* YAML `type:` value */
	unsigned keys;		   /* CFG_KEY_* accepted beyond type/id */
	unsigned required;	   /* CFG_KEY_* that must be present */
	unsigned placement;	   /* CFG_KEYS_PLACEMENT: exactly one */
	uint64_t default_port;	   /* used when `port` is absent, if != 0 */
	unsigned irq_min, irq_max; /* `irq` range, when keys has IRQ */
	uint64_t port_size;	   /* bytes of port space claimed at `port` */
	uint64_t mmio_size;	   /* bytes of MMIO claimed at `mmio` */
	/*
	 * CFG_KEY_* an entry placed with `mmio` must carry as well: a
	 * virtio-mmio device has no interrupt but its `irq`, while the same
	 * type on PCI needs none.
	 */
	unsigned mmio_requires;
	/* Keys of this type's own, terminated by an entry with name NULL. */
	const struct cfg_extra_key *extra_keys;
};

/*
 * How config/ finds a description: the caller's lookup by YAML type name,
 * NULL for a name it does not know.  devices/registry.c has the daemon's;
 * config/'s own tests bring small tables of their own.
 */
typedef const struct cfg_type_desc *cfg_type_find_fn(const char *name);

#endif
