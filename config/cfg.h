/*
 * Configuration: YAML (libyaml) -> plain validated structs.
 *
 * cfg_load() parses and validates with no side effects: no file other than
 * the config is touched, no device is created.  Every error is reported as
 * "FILE:LINE:COL: message" (1-based line and column of the offending node).
 *
 * Schema (see README.md and man/ioreqd.yaml.5):
 *   devices:
 *     - type: uart16550
 *       id: com1
 *       port: 0x3f8
 *       irq: 4
 *       backend: {type: socket, path: /run/ioreqd/guest-com1.sock}
 * Which keys a device accepts/requires comes from its struct cfg_type_desc
 * (config/type-desc.h), looked up through the caller's cfg_type_find_fn,
 * so adding a device needs no edit here.
 */
#ifndef IOREQD_CFG_H
#define IOREQD_CFG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "config/type-desc.h"

#define CFG_ID_MAX 63

/* Address spaces a port or MMIO claim lives in. */
enum cfg_space {
	CFG_SPACE_PORT, /* x86 port I/O, 16-bit addresses */
	CFG_SPACE_MMIO, /* guest-physical memory-mapped I/O */
};

/*
 * A PCI function on segment 0 as struct cfg_device.pci_sbdf holds it:
 * Xen's packing (XEN_DMOP_PCI_SBDF), so the core passes it on unchanged.
 */
#define CFG_PCI_SBDF(bus, dev, fn) \
	((uint32_t)((0xffu & (bus)) << 8 | (0x1fu & (dev)) << 3 | (7u & (fn))))
#define CFG_PCI_SLOT(sbdf) (((sbdf) >> 3) & 0x1f)
#define CFG_PCI_FUNC(sbdf) (7u & (sbdf))

struct cfg_mark {
	unsigned line; /* 1-based; 0 = no position */
	unsigned col;  /* 1-based */
};

enum cfg_backend_type {
	CFG_BACKEND_NULL,   /* discard output, no input */
	CFG_BACKEND_FILE,   /* append output to path */
	CFG_BACKEND_SOCKET, /* Unix stream socket server at path */
	CFG_BACKEND_PTY,    /* a pseudo-terminal; its path is logged */
	CFG_BACKEND_STDIO,  /* daemon's stdin/stdout */
	_CFG_BACKEND_COUNT,
};

struct cfg_backend {
	enum cfg_backend_type type;
	char *path; /* file and socket only, else NULL */
	struct cfg_mark mark;
	struct cfg_mark path_mark; /* the path's value, when path */
};

#define CFG_EXTRA_MAX 16

struct cfg_extra_value {
	const char *name; /* points into the type's key table */
	enum cfg_extra_type type;
	char *str;    /* the text (STRING/ENUM), else NULL */
	uint64_t num; /* UINT value, BOOL 0/1, ENUM index */
	bool set;     /* present in YAML (or defaulted) */
	struct cfg_mark mark;
};

struct cfg_device {
	char *type;
	char id[CFG_ID_MAX + 1];
	unsigned keys; /* CFG_KEY_* present (after defaults) */
	uint64_t port; /* CFG_KEY_PORT (or the type's default) */
	uint64_t mmio; /* CFG_KEY_MMIO: base address */
	unsigned irq;  /* CFG_KEY_IRQ: within the type's irq range */
	struct cfg_backend backend; /* CFG_KEY_BACKEND; default null */
	uint32_t pci_sbdf;	    /* CFG_KEY_PCI: CFG_PCI_SBDF(bus,dev,fn) */
	struct cfg_mark pci_mark;
	struct cfg_extra_value extra[CFG_EXTRA_MAX];
	unsigned extra_count;
	struct cfg_mark mark; /* the list item */
	struct cfg_mark port_mark, irq_mark, mmio_mark, id_mark, type_mark;
};

struct cfg {
	char *path;
	struct cfg_device *devices;
	unsigned device_count;
};

/*
 * Load and validate `path`, looking device types up with `find`.  On
 * success returns 0 and *ret_cfg (free with cfg_free).  On failure writes
 * every error it found, one per line as "FILE:LINE:COL: message", to
 * `errs` and returns -EINVAL (or -errno when the file cannot be read, with
 * "FILE: strerror" written).
 */
int cfg_load(const char *path, cfg_type_find_fn *find, FILE *errs,
	     struct cfg **ret_cfg);
void cfg_free(struct cfg *cfg);

/* Same, from a string (for tests and fuzzing); name is used in messages. */
int cfg_load_string(const char *name, const char *text, size_t len,
		    cfg_type_find_fn *find, FILE *errs, struct cfg **ret_cfg);

const char *cfg_backend_type_name(enum cfg_backend_type type);

/* The value of device-specific key `name`, or NULL if not set. */
const struct cfg_extra_value *cfg_device_extra(const struct cfg_device *dev,
					       const char *name);

/*
 * The index in its choices of enum key `name`'s value (set or defaulted),
 * so a device never compares the text again; -ENOENT when not set,
 * -EINVAL when `name` is not an enum key.
 */
int cfg_device_extra_enum(const struct cfg_device *dev, const char *name);

/*
 * Why a file back-end refuses a file of this st_mode: "a FIFO", "a
 * socket", "a directory", ... for a message, or NULL when it writes to
 * such a file (regular files and character devices).  One rule for the
 * config check (`ioreqd -n`) and for devices/chardev.c's open.
 */
static inline const char *
cfg_file_backend_refusal(mode_t mode)
{
	if (S_ISREG(mode) || S_ISCHR(mode))
		return NULL;
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISBLK(mode))
		return "a block device";
	return "not a regular file";
}

#endif
