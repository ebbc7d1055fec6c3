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
 * Which keys a device accepts/requires comes from its struct device_class
 * (cfg_keys / cfg_required), so adding a device needs no edit here.
 */
#ifndef IOREQD_CFG_H
#define IOREQD_CFG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

/* Keys a device entry may carry besides `type` and `id`. */
#define CFG_KEY_PORT	(1u << 0)
#define CFG_KEY_IRQ	(1u << 1)
#define CFG_KEY_BACKEND	(1u << 2)
#define CFG_KEY_MMIO	(1u << 3)
#define CFG_KEY_PCI	(1u << 4)	/* "pci": "BB:DD.F" */

#define CFG_ID_MAX 63

struct cfg_mark {
	unsigned line;		/* 1-based; 0 = no position */
	unsigned col;		/* 1-based */
};

enum cfg_backend_type {
	CFG_BACKEND_NULL,	/* discard output, no input */
	CFG_BACKEND_FILE,	/* append output to path */
	CFG_BACKEND_SOCKET,	/* Unix stream socket server at path */
	CFG_BACKEND_PTY,	/* a pseudo-terminal; its path is logged */
	CFG_BACKEND_STDIO,	/* daemon's stdin/stdout */
	_CFG_BACKEND_COUNT,
};

struct cfg_backend {
	enum cfg_backend_type type;
	char *path;		/* file and socket only, else NULL */
	struct cfg_mark mark;
	struct cfg_mark path_mark;	/* the path's value, when path */
};

/*
 * Device-specific keys: a class lists them (device_class.extra_keys) and
 * reads their values with cfg_device_extra(); config/ checks type, range
 * and choices and reports errors at the value's position.
 */
enum cfg_extra_type {
	CFG_EXTRA_STRING,
	CFG_EXTRA_UINT,		/* decimal or 0x hex, 0..max */
	CFG_EXTRA_BOOL,		/* true/false */
	CFG_EXTRA_ENUM,		/* one of choices */
};

struct cfg_extra_key {
	const char *name;
	enum cfg_extra_type type;
	const char *const *choices;	/* ENUM: NULL-terminated */
	uint64_t max;			/* UINT */
	bool required;
	const char *default_value;	/* as YAML text, or NULL */
};

#define CFG_EXTRA_MAX 16

struct cfg_extra_value {
	const char *name;	/* points into the class's key table */
	char *str;		/* the text (STRING/ENUM), else NULL */
	uint64_t num;		/* UINT value, BOOL 0/1, ENUM index */
	bool set;		/* present in YAML (or defaulted) */
	struct cfg_mark mark;
};

struct cfg_device {
	char *type;
	char id[CFG_ID_MAX + 1];
	unsigned keys;		/* CFG_KEY_* present (after defaults) */
	uint64_t port;		/* CFG_KEY_PORT (or class default) */
	uint64_t mmio;		/* CFG_KEY_MMIO: base address */
	unsigned irq;		/* CFG_KEY_IRQ: ISA IRQ 0-15 */
	struct cfg_backend backend;	/* CFG_KEY_BACKEND; default null */
	uint32_t pci_sbdf;	/* CFG_KEY_PCI: DEVICE_PCI_SBDF(bus,dev,fn) */
	struct cfg_mark pci_mark;
	struct cfg_extra_value extra[CFG_EXTRA_MAX];
	unsigned extra_count;
	struct cfg_mark mark;		/* the list item */
	struct cfg_mark port_mark, irq_mark, mmio_mark, id_mark, type_mark;
};

struct cfg {
	char *path;
	struct cfg_device *devices;
	unsigned device_count;
};

/*
 * Load and validate `path`.  On success returns 0 and *ret_cfg (free with
 * cfg_free).  On failure writes every error it found, one per line as
 * "FILE:LINE:COL: message", to `errs` and returns -EINVAL (or -errno when
 * the file cannot be read, with "FILE: strerror" written).
 */
int cfg_load(const char *path, FILE *errs, struct cfg **ret_cfg);
void cfg_free(struct cfg *cfg);

/* Same, from a string (for tests and fuzzing); name is used in messages. */
int cfg_load_string(const char *name, const char *text, size_t len,
		    FILE *errs, struct cfg **ret_cfg);

const char *cfg_backend_type_name(enum cfg_backend_type type);

/* The value of device-specific key `name`, or NULL if not set. */
const struct cfg_extra_value *cfg_device_extra(const struct cfg_device *dev,
					       const char *name);

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
