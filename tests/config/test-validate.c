/*
 * Unit tests of config/xen-reserved.c and config/validate.c, driven
 * directly: the Xen-internal table against addresses taken from the Xen
 * 4.17 sources (written out here independently of the table), and the
 * cross-checks on hand-built configs with test type descriptions, including
 * an MMIO type (no registered type has MMIO yet), PCI address checks,
 * and device-specific keys (cfg_type_desc.extra_keys, their checks),
 * placement and irq ranges parsed from YAML with a table of type
 * descriptions of this file's own, so they are tested independently of
 * the real devices (config/ links without devices/); file backend paths that
 * are FIFOs, sockets or directories (made at run time).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/schema.h"
#include "config/validate.h"
#include "config/xen-reserved.h"
#include "tests/unit/check.h"


/* ---- xen-reserved -------------------------------------------------- */

static const struct xen_reserved *
hit(enum cfg_space space, uint64_t addr)
{
	return xen_reserved_next(space, addr, 1, NULL);
}

static void
test_reserved_ports(void)
{
	/* Ports Xen 4.17 handles itself (vpic.c, emul-i8254.c, rtc.c,
	 * hvm.c, pmtimer.c). */
	static const uint64_t taken[] = {
		0x20,	0x21,	0xa0,	0xa1,	0x40,	0x41,	0x42,	0x43,
		0x61,	0x70,	0x71,	0x4d0,	0x4d1,	0xe9,	0x1f40, 0x1f43,
		0x1f48, 0x1f4b, 0xb000, 0xb003, 0xb008, 0xb00b,
	};
	/* Neighbours, and ports Xen forwards to device models. */
	static const uint64_t free_ports[] = {
		0x1f,	0x22,	0x9f,	0xa2,	0x3f,	0x44,	0x60,	0x62,
		0x6f,	0x72,	0x4cf,	0x4d2,	0xe8,	0xea,	0x1f3f, 0x1f44,
		0x1f47, 0x1f4c, 0xafff, 0xb004, 0xb007, 0xb00c, 0x3f8,	0x402,
		0xcf8,	0xcfc,	0x3c4,	0x3ce,	0x0,	0xffff,
	};

	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		CHECK(hit(CFG_SPACE_PORT, taken[i]) != NULL);
		/* MMIO at the same number is a different space. */
		CHECK(hit(CFG_SPACE_MMIO, taken[i]) == NULL);
	}
	for (size_t i = 0; i < sizeof(free_ports) / sizeof(free_ports[0]); i++)
		CHECK(hit(CFG_SPACE_PORT, free_ports[i]) == NULL);
	CHECK(strcmp(hit(CFG_SPACE_PORT, 0xe9)->name, "debug console") == 0);
	CHECK(strcmp(hit(CFG_SPACE_PORT, 0xe9)->source,
		     "xen/arch/x86/hvm/hvm.c") == 0);
}

static void
test_reserved_mmio(void)
{
	/* LAPIC page, IOAPIC window (VIOAPIC_MEM_LENGTH), HPET (1 KiB). */
	CHECK(hit(CFG_SPACE_MMIO, 0xfee00000) != NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfee00fff) != NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfee01000) == NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfedfffff) == NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfec00000) != NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfec000ff) != NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfec00100) == NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfebfffff) == NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfed00000) != NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfed003ff) != NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfed00400) == NULL);
	CHECK(hit(CFG_SPACE_MMIO, 0xfecfffff) == NULL);
	CHECK(strcmp(hit(CFG_SPACE_MMIO, 0xfee00800)->name, "LAPIC") == 0);
	CHECK(strcmp(hit(CFG_SPACE_MMIO, 0xfec00000)->name, "IOAPIC") == 0);
	CHECK(strcmp(hit(CFG_SPACE_MMIO, 0xfed00000)->name, "HPET") == 0);
}

static unsigned
count_hits(enum cfg_space space, uint64_t base, uint64_t size)
{
	const struct xen_reserved *x = NULL;
	unsigned n = 0;

	while ((x = xen_reserved_next(space, base, size, x)))
		n++;
	return n;
}

static void
test_reserved_ranges(void)
{
	/* Every port entry lies in the 64 KiB port space. */
	CHECK(count_hits(CFG_SPACE_PORT, 0, 0x10000) == 11);
	CHECK(count_hits(CFG_SPACE_MMIO, 0, UINT64_MAX) == 3);
	CHECK(count_hits(CFG_SPACE_MMIO, 0xfec00000, 0x200000) == 2);
	CHECK(count_hits(CFG_SPACE_MMIO, 0xfec00000, 0x200001) == 3);
	CHECK(count_hits(CFG_SPACE_PORT, 0x1f40, 0x10) == 2);
	/* Empty ranges claim nothing; ranges running past 2^64 saturate. */
	CHECK(count_hits(CFG_SPACE_PORT, 0xe9, 0) == 0);
	CHECK(count_hits(CFG_SPACE_MMIO, UINT64_MAX - 1, 16) == 0);
	CHECK(count_hits(CFG_SPACE_MMIO, 0xfee00000, UINT64_MAX) == 1);
	/* Every entry: first and last byte hit, and it has a name/source. */
	for (size_t i = 0; i < xen_reserved_count; i++) {
		const struct xen_reserved *x = &xen_reserved_ranges[i];

		CHECK(x->size > 0);
		CHECK(hit(x->space, x->base) == x);
		CHECK(hit(x->space, x->base + x->size - 1) == x);
		CHECK(x->name && x->name[0]);
		CHECK(x->source && strncmp(x->source, "xen/", 4) == 0);
	}
}

/* ---- validate ------------------------------------------------------ */

static const struct cfg_type_desc test_port_desc = {
	.name = "portdev",
	.keys = CFG_KEY_PORT | CFG_KEY_BACKEND,
	.port_size = 8,
};

static const struct cfg_type_desc test_mmio_desc = {
	.name = "mmiodev",
	.keys = CFG_KEY_MMIO | CFG_KEY_BACKEND,
	.mmio_size = 0x1000,
};

/* One port, like debugcon, for the file system checks. */
static const struct cfg_type_desc test_byte_desc = {
	.name = "bytedev",
	.keys = CFG_KEY_PORT | CFG_KEY_BACKEND,
	.placement = CFG_KEY_PORT,
	.port_size = 1,
};

static const struct cfg_type_desc *
test_find(const char *type)
{
	if (strcmp(type, test_byte_desc.name) == 0)
		return &test_byte_desc;
	if (strcmp(type, test_port_desc.name) == 0)
		return &test_port_desc;
	if (strcmp(type, test_mmio_desc.name) == 0)
		return &test_mmio_desc;
	return NULL;
}

/* Up to 8 devices; device i sits on line 10 * (i + 1). */
struct fixture {
	struct cfg cfg;
	struct cfg_device dev[8];
};

static struct cfg_device *
add(struct fixture *f, const char *type, const char *id)
{
	struct cfg_device *d = &f->dev[f->cfg.device_count++];
	unsigned line = 10 * f->cfg.device_count;

	memset(d, 0, sizeof(*d));
	d->type = (char *)type;
	(void)snprintf(d->id, sizeof(d->id), "%s", id);
	d->mark = (struct cfg_mark){ line, 5 };
	d->id_mark = (struct cfg_mark){ line + 1, 9 };
	d->port_mark = (struct cfg_mark){ line + 2, 11 };
	d->mmio_mark = (struct cfg_mark){ line + 3, 11 };
	d->backend.mark = (struct cfg_mark){ line + 4, 14 };
	return d;
}

static struct cfg_device *
add_mmio(struct fixture *f, const char *id, uint64_t base)
{
	struct cfg_device *d = add(f, "mmiodev", id);

	d->keys |= CFG_KEY_MMIO;
	d->mmio = base;
	return d;
}

static struct cfg_device *
add_port(struct fixture *f, const char *id, uint64_t port)
{
	struct cfg_device *d = add(f, "portdev", id);

	d->keys |= CFG_KEY_PORT;
	d->port = port;
	return d;
}

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->cfg.path = "t.yaml";
	f->cfg.devices = f->dev;
}

/* Run the validator; compare its whole output with `expected`. */
static void
expect(struct fixture *f, const bool *skip, const char *expected, int line)
{
	char *out = NULL;
	size_t out_size = 0;
	FILE *s = open_memstream(&out, &out_size);
	struct cfg_report r = { .name = f->cfg.path, .out = s };
	int ret;

	if (!s) {
		perror("open_memstream");
		exit(2);
	}
	ret = cfg_validate_with(&f->cfg, skip, test_find, &r);
	(void)fclose(s);
	if (strcmp(out, expected) != 0 || ret != (expected[0] ? -EINVAL : 0)) {
		(void)fprintf(stderr,
			      "%s:%d: validator returned %d, wrote:\n%s"
			      "expected:\n%s",
			      __FILE__, line, ret, out, expected);
		t_failed++;
	}
	free(out);
}

static void
test_validate_mmio(void)
{
	struct fixture f;
	bool skip[8] = { false };

	fixture_init(&f);
	(void)add_mmio(&f, "a", 0xd0000000);
	(void)add_mmio(&f, "b", 0xd0001000); /* adjacent: fine */
	(void)add_mmio(&f, "c", 0xd0000800); /* overlaps a and b */
	(void)add_mmio(&f, "lapic", 0xfee00000);
	(void)add_mmio(&f, "ioapic", 0xfebff800);
	(void)add_mmio(&f, "hpet", 0xfed00000);
	(void)add_mmio(&f, "wrap", 0xfffffffffffff800);
	expect(&f, NULL,
	       "t.yaml:33:11: devices[2] (c): MMIO range 0xd0000800-0xd00017ff"
	       " overlaps devices[0] (a) at 13:11 (MMIO range "
	       "0xd0000000-0xd0000fff)\n"
	       "t.yaml:33:11: devices[2] (c): MMIO range 0xd0000800-0xd00017ff"
	       " overlaps devices[1] (b) at 23:11 (MMIO range "
	       "0xd0001000-0xd0001fff)\n"
	       "t.yaml:43:11: devices[3] (lapic): MMIO range "
	       "0xfee00000-0xfee00fff is emulated inside Xen (LAPIC, "
	       "xen/arch/x86/hvm/vlapic.c) and never reaches ioreqd\n"
	       "t.yaml:53:11: devices[4] (ioapic): MMIO range "
	       "0xfebff800-0xfec007ff includes MMIO range "
	       "0xfec00000-0xfec000ff, emulated inside Xen (IOAPIC, "
	       "xen/arch/x86/hvm/vioapic.c); accesses there never reach "
	       "ioreqd\n"
	       "t.yaml:63:11: devices[5] (hpet): MMIO range "
	       "0xfed00000-0xfed00fff includes MMIO range "
	       "0xfed00000-0xfed003ff, emulated inside Xen (HPET, "
	       "xen/arch/x86/hvm/hpet.c); accesses there never reach "
	       "ioreqd\n"
	       "t.yaml:73:11: devices[6] (wrap): MMIO range at "
	       "0xfffffffffffff800 (4096 bytes) runs past the end of the "
	       "address space\n",
	       __LINE__);

	/* Skipped devices are neither checked nor compared against. */
	skip[0] = skip[3] = skip[4] = skip[5] = skip[6] = true;
	expect(&f, skip,
	       "t.yaml:33:11: devices[2] (c): MMIO range 0xd0000800-0xd00017ff"
	       " overlaps devices[1] (b) at 23:11 (MMIO range "
	       "0xd0001000-0xd0001fff)\n",
	       __LINE__);
	skip[2] = true;
	expect(&f, skip, "", __LINE__);
}

static void
test_validate_ports_ids_stdio(void)
{
	struct fixture f;

	fixture_init(&f);
	(void)add_port(&f, "a", 0x100);
	(void)add_port(&f, "b", 0x108);	    /* adjacent: fine */
	(void)add_port(&f, "a", 0x200);	    /* duplicate id */
	(void)add_port(&f, "top", 0xfff8);  /* last 8 ports: fine */
	(void)add_port(&f, "over", 0xfff9); /* one past */
	add_mmio(&f, "m", 0x100)->keys |= CFG_KEY_BACKEND; /* other space */
	f.dev[5].backend.type = CFG_BACKEND_STDIO;
	f.dev[1].keys |= CFG_KEY_BACKEND;
	f.dev[1].backend.type = CFG_BACKEND_STDIO;
	expect(&f, NULL,
	       "t.yaml:31:9: devices[2] (a): duplicate id \"a\", already used "
	       "by devices[0] at 11:9\n"
	       "t.yaml:52:11: devices[4] (over): port range 0xfff9-0x10000 "
	       "(8 ports) extends past port 0xffff\n"
	       "t.yaml:64:14: devices[5] (m): only one device may use the "
	       "stdio backend; devices[1] (b) at 24:14 already does\n",
	       __LINE__);
}


/* ---- PCI addresses -------------------------------------------------- */

static struct cfg_device *
add_pci(struct fixture *f, const char *id, unsigned dev, unsigned fn)
{
	struct cfg_device *d = add(f, "portdev", id);

	d->keys |= CFG_KEY_PCI;
	d->pci_sbdf = CFG_PCI_SBDF(0, dev, fn);
	d->pci_mark = (struct cfg_mark){ 10 * f->cfg.device_count + 5, 10 };
	return d;
}

static void
test_validate_pci(void)
{
	struct fixture f;
	bool skip[8] = { false };

	fixture_init(&f);
	(void)add_pci(&f, "a", 5, 0);
	(void)add_pci(&f, "b", 5, 1);	 /* fine: function 0 is there */
	(void)add_pci(&f, "c", 5, 1);	 /* duplicate of b */
	(void)add_pci(&f, "d", 6, 3);	 /* no 00:06.0 */
	(void)add_pci(&f, "e", 0x1f, 7); /* no 00:1f.0 */
	(void)add_pci(&f, "f", 0x1f, 7); /* duplicate: reported once */
	expect(&f, NULL,
	       "t.yaml:35:10: devices[2] (c): PCI address 00:05.1 is already "
	       "used by devices[1] (b) at 25:10\n"
	       "t.yaml:45:10: devices[3] (d): PCI function 00:06.3 needs a "
	       "function 00:06.0 in the configuration: guests look for "
	       "function 0 first and skip the slot without it\n"
	       "t.yaml:55:10: devices[4] (e): PCI function 00:1f.7 needs a "
	       "function 00:1f.0 in the configuration: guests look for "
	       "function 0 first and skip the slot without it\n"
	       "t.yaml:65:10: devices[5] (f): PCI address 00:1f.7 is already "
	       "used by devices[4] (e) at 55:10\n",
	       __LINE__);
	/* A skipped function 0 (it had other errors) still counts. */
	skip[0] = true;
	skip[2] = skip[3] = skip[4] = skip[5] = true;
	expect(&f, skip, "", __LINE__);
}

/* ---- device-specific keys ------------------------------------------- */

static const char *const mode_choices[] = { "a", "b", "c", NULL };

static const struct cfg_extra_key xdev_keys[] = {
	{ .name = "label", .type = CFG_EXTRA_STRING, .default_value = "none" },
	{ .name = "depth",
	  .type = CFG_EXTRA_UINT,
	  .max = 64,
	  .default_value = "0x10" },
	{ .name = "fast", .type = CFG_EXTRA_BOOL, .default_value = "false" },
	{ .name = "mode",
	  .type = CFG_EXTRA_ENUM,
	  .choices = mode_choices,
	  .required = true },
	{ .name = "opt", .type = CFG_EXTRA_UINT, .max = 10 },
	{ .name = NULL },
};

static const struct cfg_extra_key ydev_keys[] = {
	{ .name = "level",
	  .type = CFG_EXTRA_UINT,
	  .max = 3,
	  .default_value = "4" },
	{ .name = NULL },
};

static const struct cfg_type_desc test_extra_desc = {
	.name = "xdev",
	.keys = CFG_KEY_PCI,
	.extra_keys = xdev_keys,
};

static const struct cfg_type_desc test_bad_default_desc = {
	.name = "ydev",
	.extra_keys = ydev_keys,
};

/* "52:54:00:12:34:56": six hex pairs, unicast (bit 0 of byte 0 clear). */
static int
check_mac(const char *value, char *err, size_t errlen)
{
	unsigned b[6];
	char end;

	if (strlen(value) == 17 &&
	    sscanf(value, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
		   &b[3], &b[4], &b[5], &end) == 6 &&
	    value[2] == ':' && !(b[0] & 1))
		return 0;
	/* a control byte, which config/ must not print as it is */
	(void)snprintf(err, errlen,
		       "must be a unicast MAC address like "
		       "52:54:00:12:34:56\n");
	return -EINVAL;
}

static const struct cfg_extra_key nic_keys[] = {
	{ .name = "mac",
	  .type = CFG_EXTRA_STRING,
	  .check = check_mac,
	  .default_value = "52:54:00:00:00:01" },
	{ .name = NULL },
};

static const struct cfg_extra_key badnic_keys[] = {
	{ .name = "mac",
	  .type = CFG_EXTRA_STRING,
	  .check = check_mac,
	  .default_value = "01:00:5e:00:00:01" }, /* multicast */
	{ .name = NULL },
};

/* Sits on PCI or at an MMIO window, not both; an SPI beyond the ISA lines. */
static const struct cfg_type_desc test_nic_desc = {
	.name = "nic",
	.keys = CFG_KEY_MMIO | CFG_KEY_PCI | CFG_KEY_IRQ,
	.placement = CFG_KEY_MMIO | CFG_KEY_PCI,
	.irq_min = 32,
	.irq_max = 987,
	.mmio_size = 0x200,
	.extra_keys = nic_keys,
};

static const struct cfg_type_desc test_badnic_desc = {
	.name = "badnic",
	.keys = CFG_KEY_PCI,
	.placement = CFG_KEY_PCI,
	.extra_keys = badnic_keys,
};

/* A virtio device: on PCI it needs no irq, at an MMIO window it does. */
static const struct cfg_type_desc test_vdev_desc = {
	.name = "vdev",
	.keys = CFG_KEY_MMIO | CFG_KEY_PCI | CFG_KEY_IRQ,
	.placement = CFG_KEY_MMIO | CFG_KEY_PCI,
	.irq_min = 0,
	.irq_max = 1019,
	.mmio_size = 0x200,
	.mmio_requires = CFG_KEY_IRQ,
};

/* A port with a default, or a PCI function instead. */
static const struct cfg_type_desc test_either_desc = {
	.name = "either",
	.keys = CFG_KEY_PORT | CFG_KEY_PCI,
	.placement = CFG_KEY_PORT | CFG_KEY_PCI,
	.default_port = 0x510,
	.port_size = 2,
};

static const struct cfg_type_desc *
extra_find(const char *type)
{
	if (strcmp(type, test_nic_desc.name) == 0)
		return &test_nic_desc;
	if (strcmp(type, test_badnic_desc.name) == 0)
		return &test_badnic_desc;
	if (strcmp(type, test_either_desc.name) == 0)
		return &test_either_desc;
	if (strcmp(type, test_vdev_desc.name) == 0)
		return &test_vdev_desc;
	if (strcmp(type, test_extra_desc.name) == 0)
		return &test_extra_desc;
	if (strcmp(type, test_bad_default_desc.name) == 0)
		return &test_bad_default_desc;
	return test_find(type);
}

/* Load yaml with extra_find; compare the errors; return the config. */
static struct cfg *
load(const char *yaml, const char *expected, int line)
{
	char *out = NULL;
	size_t out_size = 0;
	FILE *s = open_memstream(&out, &out_size);
	struct cfg *cfg = NULL;
	int ret;

	if (!s) {
		perror("open_memstream");
		exit(2);
	}
	ret = cfg_load_string("x.yaml", yaml, strlen(yaml), extra_find, s,
			      &cfg);
	(void)fclose(s);
	if (strcmp(out, expected) != 0 || (ret == 0) != (expected[0] == '\0')) {
		(void)fprintf(stderr,
			      "%s:%d: load returned %d, wrote:\n%s"
			      "expected:\n%s",
			      __FILE__, line, ret, out, expected);
		t_failed++;
	}
	free(out);
	return cfg;
}

static void
test_extra_values(void)
{
	struct cfg *cfg = load("devices:\n"
			       "  - type: xdev\n"
			       "    id: x\n"
			       "    mode: c\n"
			       "    depth: 64\n"
			       "    fast: true\n"
			       "    label: \"hello world\"\n"
			       "    pci: \"00:03.0\"\n"
			       "  - {type: xdev, id: y, mode: a}\n",
			       "", __LINE__);
	const struct cfg_extra_value *v;
	const struct cfg_device *d;

	if (!cfg)
		return;
	d = &cfg->devices[0];
	CHECK(d->extra_count == 5);
	v = cfg_device_extra(d, "mode");
	CHECK(v && v->num == 2 && v->str && strcmp(v->str, "c") == 0);
	CHECK(v && v->mark.line == 4 && v->mark.col == 11);
	CHECK(v && v->name == xdev_keys[3].name); /* into the table */
	v = cfg_device_extra(d, "depth");
	CHECK(v && v->num == 64 && !v->str);
	v = cfg_device_extra(d, "fast");
	CHECK(v && v->num == 1);
	v = cfg_device_extra(d, "label");
	CHECK(v && strcmp(v->str, "hello world") == 0);
	CHECK(cfg_device_extra(d, "opt") == NULL); /* no default */
	CHECK(cfg_device_extra(d, "nonesuch") == NULL);
	CHECK(cfg_device_extra(d, NULL) == NULL);
	CHECK(d->keys & CFG_KEY_PCI);
	CHECK(d->pci_sbdf == CFG_PCI_SBDF(0, 3, 0));
	CHECK(d->pci_mark.line == 8 && d->pci_mark.col == 10);

	/* Defaults, parsed like YAML text, marked at the list item. */
	d = &cfg->devices[1];
	v = cfg_device_extra(d, "mode");
	CHECK(v && v->num == 0 && strcmp(v->str, "a") == 0);
	v = cfg_device_extra(d, "depth");
	CHECK(v && v->set && v->num == 16 && v->mark.line == 9 &&
	      v->mark.col == 5);
	v = cfg_device_extra(d, "fast");
	CHECK(v && v->set && v->num == 0);
	v = cfg_device_extra(d, "label");
	CHECK(v && strcmp(v->str, "none") == 0);
	CHECK(!(d->keys & CFG_KEY_PCI));
	cfg_free(cfg);
}

static void
test_extra_errors(void)
{
	struct cfg *cfg = load(
		"devices:\n"
		"  - type: xdev\n"
		"    id: x\n"
		"    depth: 65\n"
		"    fast: yes\n"
		"    label: \"\"\n"
		"    opt: \"4\"\n"
		"  - type: xdev\n"
		"    id: y\n"
		"    mode: d\n"
		"    label: {a: 1}\n"
		"    mode: a\n"
		"    port: 0x100\n"
		"    other: 1\n"
		"  - {type: ydev, id: z}\n"
		"  - {type: portdev, id: w, port: 0x200, mode: a}\n",
		"x.yaml:4:12: devices[0] (x): \"depth\" must be an integer "
		"0-64, got \"65\"\n"
		"x.yaml:5:11: devices[0] (x): \"fast\" must be true or false, "
		"got \"yes\"\n"
		"x.yaml:6:12: devices[0] (x): \"label\" must not be empty\n"
		"x.yaml:7:10: devices[0] (x): \"opt\" must be an integer 0-10, "
		"got the string \"4\"\n"
		"x.yaml:2:5: devices[0] (x): missing required key \"mode\"\n"
		"x.yaml:10:11: devices[1] (y): \"mode\" must be one of a, b, c, "
		"got \"d\"\n"
		"x.yaml:11:12: devices[1] (y): \"label\" must be a string, got "
		"a mapping\n"
		"x.yaml:12:5: devices[1] (y): duplicate key \"mode\"\n"
		"x.yaml:13:5: devices[1] (y): key \"port\" is not valid for "
		"type \"xdev\"\n"
		"x.yaml:14:5: devices[1] (y): unknown key \"other\"\n"
		"x.yaml:15:5: devices[2] (z): device type \"ydev\" has an "
		"invalid default for \"level\"\n"
		"x.yaml:16:41: devices[3] (w): unknown key \"mode\"\n",
		__LINE__);

	CHECK(cfg == NULL);
	cfg_free(cfg);
}

/* Enum keys give their choice index; other keys are not enums. */
static void
test_extra_enum(void)
{
	struct cfg *cfg =
		load("devices:\n"
		     "  - {type: xdev, id: x, mode: c, pci: \"00:03.0\"}\n",
		     "", __LINE__);

	if (!cfg)
		return;
	CHECK(cfg_device_extra_enum(&cfg->devices[0], "mode") == 2);
	CHECK(cfg_device_extra_enum(&cfg->devices[0], "depth") == -EINVAL);
	CHECK(cfg_device_extra_enum(&cfg->devices[0], "opt") == -ENOENT);
	CHECK(cfg_device_extra_enum(&cfg->devices[0], "nope") == -ENOENT);
	CHECK(cfg_device_extra_enum(NULL, "mode") == -ENOENT);
	cfg_free(cfg);
}

/*
 * A key's own check: its reason at the value's line:col, made one line,
 * with the value quoted by config/; a default that fails it is the
 * type's bug, reported as such.
 */
static void
test_extra_check(void)
{
	struct cfg *cfg = load(
		"devices:\n"
		"  - {type: nic, id: n0, pci: \"00:04.0\", mac: \"52:54:00:aa:bb:cc\"}\n"
		"  - {type: nic, id: n1, pci: \"00:05.0\"}\n",
		"", __LINE__);
	const struct cfg_extra_value *v;

	if (cfg) {
		v = cfg_device_extra(&cfg->devices[0], "mac");
		CHECK(v && strcmp(v->str, "52:54:00:aa:bb:cc") == 0);
		v = cfg_device_extra(&cfg->devices[1], "mac");
		CHECK(v && strcmp(v->str, "52:54:00:00:00:01") == 0);
	}
	cfg_free(cfg);
	cfg = load(
		"devices:\n"
		"  - type: nic\n"
		"    id: n0\n"
		"    pci: \"00:04.0\"\n"
		"    mac: 01:02:03:04:05:06\n"
		"  - {type: nic, id: n1, pci: \"00:05.0\", mac: \"x\\ty\"}\n"
		"  - {type: badnic, id: n2, pci: \"00:06.0\"}\n",
		"x.yaml:5:10: devices[0] (n0): \"mac\" must be a unicast MAC "
		"address like 52:54:00:12:34:56?, got \"01:02:03:04:05:06\"\n"
		"x.yaml:6:46: devices[1] (n1): \"mac\" must be a unicast MAC "
		"address like 52:54:00:12:34:56?, got \"x\\x09y\"\n"
		"x.yaml:7:5: devices[2] (n2): device type \"badnic\" has an "
		"invalid default for \"mac\"\n",
		__LINE__);
	CHECK(cfg == NULL);
	cfg_free(cfg);
}

/* check_file: a type's look at the file system, after the parse. */
static unsigned file_checks;

static int
check_exists(const char *value, char *err, size_t errlen)
{
	struct stat st;

	file_checks++;
	if (stat(value, &st) == 0)
		return 0;
	/* a control byte, which config/ must not print as it is */
	(void)snprintf(err, errlen, "names no file\n");
	return -EINVAL;
}

static int
check_no_x(const char *value, char *err, size_t errlen)
{
	if (!strchr(value, 'x'))
		return 0;
	(void)snprintf(err, errlen, "must not contain x");
	return -EINVAL;
}

static const struct cfg_extra_key disk_keys[] = {
	{ .name = "image",
	  .type = CFG_EXTRA_STRING,
	  .required = true,
	  .check = check_no_x,
	  .check_file = check_exists },
	{ .name = "spare",
	  .type = CFG_EXTRA_STRING,
	  .check_file = check_exists },
	{ .name = NULL },
};

static const struct cfg_type_desc test_disk_desc = {
	.name = "disk",
	.extra_keys = disk_keys,
};

static const struct cfg_type_desc *
disk_find(const char *type)
{
	return strcmp(type, "disk") == 0 ? &test_disk_desc : NULL;
}

static void
test_extra_check_file(void)
{
	static const char yaml[] = "devices:\n"
				   "  - type: disk\n"
				   "    id: d0\n"
				   "    image: /\n"
				   "  - type: disk\n"
				   "    id: d1\n"
				   "    image: /nonesuch/q\n"
				   "  - type: disk\n"
				   "    id: d2\n"
				   "    image: /x\n";
	static const char expected[] =
		"x.yaml:10:12: devices[2] (d2): \"image\" must not contain x, "
		"got \"/x\"\n"
		"x.yaml:7:12: devices[1] (d1): \"image\" names no file?, got "
		"\"/nonesuch/q\"\n";
	char *out = NULL;
	size_t out_size = 0;
	FILE *s = open_memstream(&out, &out_size);
	struct cfg *cfg = NULL;

	CHECK(s != NULL);
	if (!s)
		return;
	/* Only values that passed the parse, and only keys that are set. */
	file_checks = 0;
	CHECK_EQ(cfg_load_string("x.yaml", yaml, strlen(yaml), disk_find, s,
				 &cfg),
		 -EINVAL);
	(void)fclose(s);
	CHECK(out && strcmp(out, expected) == 0);
	if (out && strcmp(out, expected) != 0)
		(void)fprintf(stderr, "got:\n%s", out);
	CHECK_EQ(file_checks, 2);
	CHECK(cfg == NULL);
	free(out);
}

/*
 * Placement: exactly one of the type's placement keys, the default port
 * only when no other one is given; and the irq range is the type's.
 */
static void
test_placement_and_irq(void)
{
	struct cfg *cfg =
		load("devices:\n"
		     "  - {type: nic, id: n0, mmio: 0xfe000000, irq: 32}\n"
		     "  - {type: nic, id: n1, pci: \"00:04.0\", irq: 987}\n"
		     "  - {type: either, id: e0}\n"
		     "  - {type: either, id: e1, pci: \"00:05.0\"}\n",
		     "", __LINE__);

	if (cfg) {
		CHECK(cfg->devices[0].irq == 32);
		CHECK(cfg->devices[1].irq == 987);
		CHECK(cfg->devices[2].keys & CFG_KEY_PORT);
		CHECK(cfg->devices[2].port == 0x510);
		CHECK(!(cfg->devices[3].keys & CFG_KEY_PORT));
		CHECK(cfg->devices[3].keys & CFG_KEY_PCI);
	}
	cfg_free(cfg);
	cfg = load(
		"devices:\n"
		"  - {type: nic, id: n0}\n"
		"  - {type: nic, id: n1, mmio: 0xfe000000, pci: \"00:04.0\"}\n"
		"  - {type: nic, id: n2, pci: \"00:05.0\", irq: 31}\n"
		"  - {type: nic, id: n3, pci: \"00:06.0\", irq: 988}\n"
		"  - {type: either, id: e0, pci: \"00:07.0\", port: 0x520}\n"
		"  - {type: nic, id: n4, mmio: 0xfe000000}\n"
		"  - {type: nic, id: n5, mmio: 0xfe000100}\n",
		"x.yaml:2:5: devices[0] (n0): missing required key \"mmio\" or "
		"\"pci\"\n"
		"x.yaml:3:43: devices[1] (n1): \"mmio\" and \"pci\" both place "
		"the device; give only one of them\n"
		"x.yaml:4:46: devices[2] (n2): \"irq\" must be an integer "
		"32-987, got \"31\"\n"
		"x.yaml:5:46: devices[3] (n3): \"irq\" must be an integer "
		"32-987, got \"988\"\n"
		"x.yaml:6:44: devices[4] (e0): \"pci\" and \"port\" both place "
		"the device; give only one of them\n"
		"x.yaml:8:31: devices[6] (n5): MMIO range 0xfe000100-0xfe0002ff "
		"overlaps devices[5] (n4) at 7:31 (MMIO range "
		"0xfe000000-0xfe0001ff)\n",
		__LINE__);
	CHECK(cfg == NULL);
	cfg_free(cfg);
}

/*
 * mmio_requires: `irq` is required with `mmio` only, and its absence is
 * reported at the entry, once, saying why; a bad irq value is reported
 * as such and not as missing, and two placements only as that.
 */
static void
test_mmio_requires(void)
{
	struct cfg *cfg =
		load("devices:\n"
		     "  - {type: vdev, id: v0, mmio: 0xfe000000, irq: 5}\n"
		     "  - {type: vdev, id: v1, pci: \"00:04.0\"}\n"
		     "  - {type: vdev, id: v2, mmio: 0xfe001000, irq: 40}\n",
		     "", __LINE__);

	if (cfg) {
		CHECK_EQ(cfg->devices[0].irq, 5);
		CHECK(!(cfg->devices[1].keys & CFG_KEY_IRQ));
		CHECK_EQ(cfg->devices[2].irq, 40);
	}
	cfg_free(cfg);
	cfg = load("devices:\n"
		   "  - {type: vdev, id: v0, mmio: 0xfe000000}\n"
		   "  - {type: vdev, id: v1, mmio: 0xfe001000, irq: 1020}\n"
		   "  - {type: vdev, id: v2, mmio: 0xfe002000, pci: "
		   "\"00:05.0\"}\n"
		   "  - type: vdev\n"
		   "    id: v3\n"
		   "    mmio: 0xfe003000\n",
		   "x.yaml:2:5: devices[0] (v0): missing required key \"irq\" "
		   "(a device placed with \"mmio\" needs it)\n"
		   "x.yaml:3:49: devices[1] (v1): \"irq\" must be an integer "
		   "0-1019, got \"1020\"\n"
		   "x.yaml:4:44: devices[2] (v2): \"mmio\" and \"pci\" both "
		   "place the device; give only one of them\n"
		   "x.yaml:5:5: devices[3] (v3): missing required key \"irq\" "
		   "(a device placed with \"mmio\" needs it)\n",
		   __LINE__);
	CHECK(cfg == NULL);
	cfg_free(cfg);
}

/*
 * A file backend path that exists and is a FIFO, socket or directory is an
 * error at the path's line:col (what `ioreqd -n` prints); a missing path,
 * a regular file and a character device are fine.  The FIFO and the
 * socket are made here, at run time: a golden file cannot hold them.
 */
static void
test_backend_file_kinds(void)
{
	char dir[] = "/tmp/ioreqd-validate-XXXXXX", fifo[64], sock[64];
	char yaml[1024], want[1024], *out = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t out_size = 0;
	struct cfg *cfg = NULL;
	FILE *s;
	int fd, ret;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	(void)snprintf(fifo, sizeof(fifo), "%s/p", dir);
	(void)snprintf(sock, sizeof(sock), "%s/s", dir);
	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(mkfifo(fifo, 0600) == 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	(void)snprintf(yaml, sizeof(yaml),
		       "devices:\n"
		       "  - type: bytedev\n"
		       "    id: d0\n"
		       "    port: 0x402\n"
		       "    backend: {type: file, path: %s}\n"
		       "  - {type: bytedev, id: d1, port: 0x403,\n"
		       "     backend: {type: file, path: \"%s\"}}\n"
		       "  - {type: bytedev, id: d2, port: 0x404,\n"
		       "     backend: {type: file, path: %s}}\n"
		       "  - {type: bytedev, id: d3, port: 0x405,\n"
		       "     backend: {type: file, path: %s/new.log}}\n"
		       "  - {type: bytedev, id: d4, port: 0x406,\n"
		       "     backend: {type: file, path: /dev/null}}\n",
		       fifo, sock, dir, dir);
	(void)snprintf(
		want, sizeof(want),
		"x.yaml:5:33: devices[0] (d0): backend: path \"%s\" is a "
		"FIFO; a file backend needs a regular file or a character "
		"device\n"
		"x.yaml:7:34: devices[1] (d1): backend: path \"%s\" is a "
		"socket; a file backend needs a regular file or a character "
		"device\n"
		"x.yaml:9:34: devices[2] (d2): backend: path \"%s\" is a "
		"directory; a file backend needs a regular file or a "
		"character device\n",
		fifo, sock, dir);
	s = open_memstream(&out, &out_size);
	if (!s) {
		perror("open_memstream");
		exit(2);
	}
	ret = cfg_load_string("x.yaml", yaml, strlen(yaml), extra_find, s,
			      &cfg);
	(void)fclose(s);
	CHECK(ret == -EINVAL);
	if (strcmp(out, want) != 0) {
		(void)fprintf(stderr, "%s:%d: wrote:\n%sexpected:\n%s",
			      __FILE__, __LINE__, out, want);
		t_failed++;
	}
	free(out);
	cfg_free(cfg);
	if (fd >= 0)
		(void)close(fd);
	(void)unlink(sock);
	(void)unlink(fifo);
	(void)rmdir(dir);
}

int
main(void)
{
	test_reserved_ports();
	test_reserved_mmio();
	test_reserved_ranges();
	test_validate_mmio();
	test_validate_ports_ids_stdio();
	test_validate_pci();
	test_extra_values();
	test_extra_errors();
	test_extra_enum();
	test_extra_check();
	test_extra_check_file();
	test_placement_and_irq();
	test_mmio_requires();
	test_backend_file_kinds();
	return test_finish();
}
