/*
 * Schema of the ioreqd configuration, checked on a libyaml document tree:
 *
 *   devices:                     (the only top-level key; 1-256 entries)
 *     - type: NAME               (a type the caller's lookup knows)
 *       id: NAME                 ([A-Za-z0-9_.-], 1-63 chars, unique)
 *       port: N  irq: N  mmio: N (as the type allows / requires)
 *       backend: {type: file|socket|pty|stdio|null, path: P}
 *       pci: "00:DD.F"           (PCI functions: bus 0 only)
 *       KEY: VALUE               (the type's own keys, extra_keys:
 *                                 string, integer 0-max, true/false, or
 *                                 one of a list, then the key's check;
 *                                 defaults filled in)
 *
 * Each mapping is walked once in document order against a key table
 * (name -> parser -> field offset), so every error is reported once, at
 * the key (unknown, duplicate or misplaced keys) or at the value (bad
 * values).  Numbers are decimal or 0x-hex plain scalars; a quoted "4" is a
 * string, not a number.  Only ever descends the fixed schema depth, so
 * anchors and aliases (even self-referencing ones) cannot recurse.
 */
#include "config/schema.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct cfg_mark
cfg_mark_from_yaml(yaml_mark_t mark)
{
	return (struct cfg_mark){
		.line = (unsigned)mark.line + 1,
		.col = (unsigned)mark.column + 1,
	};
}

/* ---- node helpers -------------------------------------------------- */

static struct cfg_mark
node_mark(const yaml_node_t *node)
{
	return cfg_mark_from_yaml(node->start_mark);
}

/* "a mapping" etc., for "must be X, got Y" messages. */
static const char *
node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static const char *
scalar_text(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

/* Does scalar `node` equal the C string s (no embedded NUL tricks)? */
static bool
scalar_is(const yaml_node_t *node, const char *s)
{
	size_t len = strlen(s);

	return node->type == YAML_SCALAR_NODE &&
	       node->data.scalar.length == len &&
	       memcmp(node->data.scalar.value, s, len) == 0;
}

static char *
quote_scalar(const yaml_node_t *node, char buf[static CFG_QUOTE_MAX])
{
	return cfg_quote(scalar_text(node), node->data.scalar.length, buf);
}

/*
 * Decimal (no leading zeros) or 0x/0X hex, digits only: no sign, no
 * spaces, no underscores.  -EINVAL for junk, -ERANGE past 2^64 - 1.
 */
static int
parse_number(const char *s, size_t len, uint64_t *ret)
{
	unsigned base = 10;
	uint64_t v = 0;
	size_t i = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	} else if (len == 0 || (len > 1 && s[0] == '0')) {
		return -EINVAL;
	}
	for (; i < len; i++) {
		unsigned digit;
		char c = s[i];

		if (c >= '0' && c <= '9')
			digit = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			digit = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			digit = (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
		if (v > (UINT64_MAX - digit) / base)
			return -ERANGE;
		v = v * base + digit;
	}
	*ret = v;
	return 0;
}

/* ---- per-device parsing -------------------------------------------- */

struct dev_ctx {
	yaml_document_t *doc;
	struct cfg_report *r;
	cfg_type_find_fn *find;
	struct cfg_device *d;
	const struct cfg_type_desc *desc; /* NULL: type missing or unknown */
	char label[CFG_LABEL_MAX];
	bool extra_seen[CFG_EXTRA_MAX]; /* extra key present (even bad) */
};

struct device_key {
	const char *name;
	unsigned bit; /* CFG_KEY_*; 0 = allowed for every type */
	int (*parse)(struct dev_ctx *c, const struct device_key *k,
		     yaml_node_t *value);
	size_t offset;	    /* field in struct cfg_device */
	size_t mark_offset; /* its struct cfg_mark */
	uint64_t min, max;  /* numbers: accepted range */
	bool decimal;	    /* name the range in decimal even if large */
};

static void
set_mark(struct dev_ctx *c, const struct device_key *k, yaml_node_t *value)
{
	*(struct cfg_mark *)(void *)((char *)c->d +
				     k->mark_offset) = node_mark(value);
}

/* Shared by numbers: report "must be an integer 0-MAX, got ...". */
static int
bad_number(struct dev_ctx *c, const struct device_key *k, yaml_node_t *value)
{
	char range[48], got[CFG_QUOTE_MAX + 16];

	if (k->max <= 255 || k->decimal)
		(void)snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64,
			       k->min, k->max);
	else if (k->min == 0)
		(void)snprintf(range, sizeof(range), "0-0x%" PRIx64, k->max);
	else
		(void)snprintf(range, sizeof(range), "0x%" PRIx64 "-0x%" PRIx64,
			       k->min, k->max);
	if (value->type != YAML_SCALAR_NODE) {
		(void)snprintf(got, sizeof(got), "%s", node_kind(value));
	} else if (value->data.scalar.length == 0) {
		(void)snprintf(got, sizeof(got), "an empty value");
	} else {
		char q[CFG_QUOTE_MAX];

		(void)snprintf(got, sizeof(got), "%s%s",
			       value->data.scalar.style ==
					       YAML_PLAIN_SCALAR_STYLE ?
				       "" :
				       "the string ",
			       quote_scalar(value, q));
	}
	cfg_report(c->r, node_mark(value),
		   "%s: \"%s\" must be an integer %s, "
		   "got %s",
		   c->label, k->name, range, got);
	return -EINVAL;
}

static int
get_number(struct dev_ctx *c, const struct device_key *k, yaml_node_t *value,
	   uint64_t *ret)
{
	if (value->type != YAML_SCALAR_NODE ||
	    value->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    parse_number(scalar_text(value), value->data.scalar.length, ret) <
		    0 ||
	    *ret < k->min || *ret > k->max)
		return bad_number(c, k, value);
	set_mark(c, k, value);
	c->d->keys |= k->bit;
	return 0;
}

static int
parse_u64(struct dev_ctx *c, const struct device_key *k, yaml_node_t *value)
{
	uint64_t v;
	int r = get_number(c, k, value, &v);

	if (r == 0)
		*(uint64_t *)(void *)((char *)c->d + k->offset) = v;
	return r;
}

static int
parse_uint(struct dev_ctx *c, const struct device_key *k, yaml_node_t *value)
{
	uint64_t v;
	int r = get_number(c, k, value, &v);

	/* k->max keeps v within unsigned. */
	if (r == 0)
		*(unsigned *)(void *)((char *)c->d + k->offset) = (unsigned)v;
	return r;
}

/* `irq`: the range is the type's own (ISA lines, GSIs, SPIs differ). */
static int
parse_irq(struct dev_ctx *c, const struct device_key *k, yaml_node_t *value)
{
	struct device_key ranged = *k;

	if (c->desc) {
		ranged.min = c->desc->irq_min;
		ranged.max = c->desc->irq_max;
	}
	return parse_uint(c, &ranged, value);
}

/* A string value: non-empty scalar without NUL bytes. */
static int
check_string(struct cfg_report *r, const char *label, const char *prefix,
	     const char *key, yaml_node_t *value)
{
	if (value->type != YAML_SCALAR_NODE) {
		cfg_report(r, node_mark(value),
			   "%s: %s\"%s\" must be a string, got %s", label,
			   prefix, key, node_kind(value));
		return -EINVAL;
	}
	if (value->data.scalar.length == 0) {
		cfg_report(r, node_mark(value),
			   "%s: %s\"%s\" must not be empty", label, prefix,
			   key);
		return -EINVAL;
	}
	if (memchr(value->data.scalar.value, '\0', value->data.scalar.length)) {
		cfg_report(r, node_mark(value),
			   "%s: %s\"%s\" must not contain a NUL byte", label,
			   prefix, key);
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_type_desc *
desc_of(const struct dev_ctx *c, yaml_node_t *value)
{
	if (value->type != YAML_SCALAR_NODE ||
	    strlen(scalar_text(value)) != value->data.scalar.length)
		return NULL;
	return c->find ? c->find(scalar_text(value)) : NULL;
}

static int
parse_type(struct dev_ctx *c, const struct device_key *k, yaml_node_t *value)
{
	char q[CFG_QUOTE_MAX];
	int r = check_string(c->r, c->label, "", k->name, value);

	if (r < 0)
		return r;
	if (!desc_of(c, value)) {
		cfg_report(c->r, node_mark(value), "%s: unknown device type %s",
			   c->label, quote_scalar(value, q));
		return -EINVAL;
	}
	c->d->type = strdup(scalar_text(value));
	if (!c->d->type)
		return -ENOMEM;
	set_mark(c, k, value);
	return 0;
}

static bool
id_is_valid(const yaml_node_t *value)
{
	size_t len;

	if (value->type != YAML_SCALAR_NODE)
		return false;
	len = value->data.scalar.length;
	if (len == 0 || len > CFG_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = value->data.scalar.value[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		      ch == '-'))
			return false;
	}
	return true;
}

static int
parse_id(struct dev_ctx *c, const struct device_key *k, yaml_node_t *value)
{
	char q[CFG_QUOTE_MAX];

	if (value->type != YAML_SCALAR_NODE) {
		cfg_report(c->r, node_mark(value),
			   "%s: \"id\" must be a string, got %s", c->label,
			   node_kind(value));
		return -EINVAL;
	}
	if (!id_is_valid(value)) {
		cfg_report(c->r, node_mark(value),
			   "%s: \"id\" must be 1-%d characters from A-Z a-z "
			   "0-9 _ . -, got %s",
			   c->label, CFG_ID_MAX, quote_scalar(value, q));
		return -EINVAL;
	}
	memcpy(c->d->id, value->data.scalar.value, value->data.scalar.length);
	c->d->id[value->data.scalar.length] = '\0';
	set_mark(c, k, value);
	return 0;
}

/*
 * "BB:DD.F": hex bus (1-2 digits), hex device (1-2 digits, <= 0x1f), one
 * function digit 0-7.  -EINVAL for anything else.
 */
static int
parse_bdf(const char *s, size_t len, unsigned *ret_bus, unsigned *ret_dev,
	  unsigned *ret_fn)
{
	unsigned v[2] = { 0, 0 };
	size_t i = 0;

	for (unsigned part = 0; part < 2; part++) {
		size_t start = i;

		while (i < len && i - start < 3 && s[i] != ':' && s[i] != '.') {
			int h = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' :
				s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 :
				s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10 :
							     -1;

			if (h < 0)
				return -EINVAL;
			v[part] = v[part] * 16 + (unsigned)h;
			i++;
		}
		if (i == start || i - start > 2 || i >= len ||
		    s[i] != (part == 0 ? ':' : '.'))
			return -EINVAL;
		i++;
	}
	if (i + 1 != len || s[i] < '0' || s[i] > '7' || v[1] > 0x1f)
		return -EINVAL;
	*ret_bus = v[0];
	*ret_dev = v[1];
	*ret_fn = (unsigned)(s[i] - '0');
	return 0;
}

static int
parse_pci(struct dev_ctx *c, const struct device_key *k, yaml_node_t *value)
{
	unsigned bus, dev, fn;
	char q[CFG_QUOTE_MAX];

	if (value->type != YAML_SCALAR_NODE ||
	    parse_bdf(scalar_text(value), value->data.scalar.length, &bus, &dev,
		      &fn) < 0) {
		cfg_report(c->r, node_mark(value),
			   "%s: \"pci\" must be a PCI address \"BB:DD.F\" "
			   "(hex bus, device 00-1f, function 0-7), got %s",
			   c->label,
			   value->type == YAML_SCALAR_NODE ?
				   quote_scalar(value, q) :
				   node_kind(value));
		return -EINVAL;
	}
	if (bus != 0) {
		cfg_report(c->r, node_mark(value),
			   "%s: PCI bus %02x is not supported: Xen delivers "
			   "PCI INTx only for bus 0, use \"00:%02x.%u\"",
			   c->label, bus, dev, fn);
		return -EINVAL;
	}
	c->d->pci_sbdf = CFG_PCI_SBDF(bus, dev, fn);
	set_mark(c, k, value);
	c->d->keys |= k->bit;
	return 0;
}

static int parse_backend(struct dev_ctx *c, const struct device_key *k,
			 yaml_node_t *value);

#define FIELD(f) offsetof(struct cfg_device, f)

/* Indices of device_keys[]; the order is the order missing keys are named. */
enum device_key_index {
	KEY_TYPE,
	KEY_ID,
	KEY_PORT,
	KEY_IRQ,
	KEY_MMIO,
	KEY_BACKEND,
	KEY_PCI,
	DEVICE_KEY_COUNT,
};

static const struct device_key device_keys[DEVICE_KEY_COUNT] = {
	[KEY_TYPE] = { .name = "type",
		       .parse = parse_type,
		       .mark_offset = FIELD(type_mark) },
	[KEY_ID] = { .name = "id",
		     .parse = parse_id,
		     .mark_offset = FIELD(id_mark) },
	[KEY_PORT] = { .name = "port",
		       .bit = CFG_KEY_PORT,
		       .parse = parse_u64,
		       .offset = FIELD(port),
		       .mark_offset = FIELD(port_mark),
		       .max = 0xffff },
	/* Range for a type that is not known; else the type's own. */
	[KEY_IRQ] = { .name = "irq",
		      .bit = CFG_KEY_IRQ,
		      .parse = parse_irq,
		      .offset = FIELD(irq),
		      .mark_offset = FIELD(irq_mark),
		      .max = 15,
		      .decimal = true },
	[KEY_MMIO] = { .name = "mmio",
		       .bit = CFG_KEY_MMIO,
		       .parse = parse_u64,
		       .offset = FIELD(mmio),
		       .mark_offset = FIELD(mmio_mark),
		       .max = UINT64_MAX },
	[KEY_BACKEND] = { .name = "backend",
			  .bit = CFG_KEY_BACKEND,
			  .parse = parse_backend,
			  .mark_offset = FIELD(backend.mark) },
	[KEY_PCI] = { .name = "pci",
		      .bit = CFG_KEY_PCI,
		      .parse = parse_pci,
		      .mark_offset = FIELD(pci_mark) },
};

/* ---- backend ------------------------------------------------------- */

struct backend_kind {
	const char *name;
	enum cfg_backend_type type;
	bool has_path;
};

static const struct backend_kind backend_kinds[] = {
	{ .name = "null", .type = CFG_BACKEND_NULL },
	{ .name = "file", .type = CFG_BACKEND_FILE, .has_path = true },
	{ .name = "socket", .type = CFG_BACKEND_SOCKET, .has_path = true },
	{ .name = "pty", .type = CFG_BACKEND_PTY },
	{ .name = "stdio", .type = CFG_BACKEND_STDIO },
};

#define BACKEND_KIND_COUNT (sizeof(backend_kinds) / sizeof(backend_kinds[0]))

const char *
cfg_backend_type_name(enum cfg_backend_type type)
{
	for (size_t i = 0; i < BACKEND_KIND_COUNT; i++)
		if (backend_kinds[i].type == type)
			return backend_kinds[i].name;
	return "unknown";
}

static const struct backend_kind *
backend_kind_of(const yaml_node_t *value)
{
	for (size_t i = 0; i < BACKEND_KIND_COUNT; i++)
		if (scalar_is(value, backend_kinds[i].name))
			return &backend_kinds[i];
	return NULL;
}

/* The backend mapping's own keys, after the checks in parse_backend. */
struct backend_keys {
	yaml_node_t *type_key, *type;
	yaml_node_t *path_key, *path;
};

static int
collect_backend_keys(struct dev_ctx *c, yaml_node_t *map,
		     struct backend_keys *bk)
{
	int ret = 0;
	char q[CFG_QUOTE_MAX];

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *key = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *value = yaml_document_get_node(c->doc, p->value);
		yaml_node_t **slot_key, **slot;

		if (key->type != YAML_SCALAR_NODE) {
			cfg_report(c->r, node_mark(key),
				   "%s: backend: keys "
				   "must be strings, got %s",
				   c->label, node_kind(key));
			ret = -EINVAL;
			continue;
		}
		if (scalar_is(key, "type")) {
			slot_key = &bk->type_key;
			slot = &bk->type;
		} else if (scalar_is(key, "path")) {
			slot_key = &bk->path_key;
			slot = &bk->path;
		} else {
			cfg_report(c->r, node_mark(key),
				   "%s: backend: unknown key %s", c->label,
				   quote_scalar(key, q));
			ret = -EINVAL;
			continue;
		}
		if (*slot) {
			cfg_report(c->r, node_mark(key),
				   "%s: backend: duplicate key %s", c->label,
				   quote_scalar(key, q));
			ret = -EINVAL;
			continue;
		}
		*slot_key = key;
		*slot = value;
	}
	return ret;
}

static int
check_backend_path(struct dev_ctx *c, const struct backend_kind *kind,
		   const struct backend_keys *bk, yaml_node_t *map)
{
	if (!kind->has_path) {
		if (!bk->path)
			return 0;
		cfg_report(c->r, node_mark(bk->path_key),
			   "%s: backend type \"%s\" takes no \"path\"",
			   c->label, kind->name);
		return -EINVAL;
	}
	if (!bk->path) {
		cfg_report(c->r, node_mark(map),
			   "%s: backend type \"%s\" requires \"path\"",
			   c->label, kind->name);
		return -EINVAL;
	}
	if (check_string(c->r, c->label, "backend: ", "path", bk->path) < 0)
		return -EINVAL;
	if (kind->type == CFG_BACKEND_SOCKET &&
	    bk->path->data.scalar.length > CFG_SOCKET_PATH_MAX) {
		cfg_report(c->r, node_mark(bk->path),
			   "%s: socket path is %zu bytes long, more than the "
			   "%d a Unix socket address holds",
			   c->label, bk->path->data.scalar.length,
			   CFG_SOCKET_PATH_MAX);
		return -EINVAL;
	}
	return 0;
}

static int
parse_backend(struct dev_ctx *c, const struct device_key *k, yaml_node_t *value)
{
	struct backend_keys bk = { 0 };
	const struct backend_kind *kind = NULL;
	char q[CFG_QUOTE_MAX];
	int ret;

	if (value->type != YAML_MAPPING_NODE) {
		cfg_report(c->r, node_mark(value),
			   "%s: \"backend\" must be a mapping like {type: "
			   "file, path: ...}, got %s",
			   c->label, node_kind(value));
		return -EINVAL;
	}
	ret = collect_backend_keys(c, value, &bk);
	if (!bk.type) {
		cfg_report(c->r, node_mark(value),
			   "%s: backend: missing required key \"type\"",
			   c->label);
		return -EINVAL;
	}
	if (check_string(c->r, c->label, "backend: ", "type", bk.type) < 0)
		return -EINVAL;
	kind = backend_kind_of(bk.type);
	if (!kind) {
		cfg_report(c->r, node_mark(bk.type),
			   "%s: unknown backend type %s (expected null, file, "
			   "socket, pty or stdio)",
			   c->label, quote_scalar(bk.type, q));
		return -EINVAL;
	}
	if (check_backend_path(c, kind, &bk, value) < 0 || ret < 0)
		return -EINVAL;
	if (kind->has_path) {
		c->d->backend.path = strdup(scalar_text(bk.path));
		if (!c->d->backend.path)
			return -ENOMEM;
		c->d->backend.path_mark = node_mark(bk.path);
	}
	c->d->backend.type = kind->type;
	set_mark(c, k, value);
	c->d->keys |= k->bit;
	return 0;
}

/* ---- device-specific keys (cfg_type_desc.extra_keys) ---------------- */

static size_t
extra_key_count(const struct cfg_type_desc *desc)
{
	size_t n = 0;

	if (!desc || !desc->extra_keys)
		return 0;
	while (desc->extra_keys[n].name)
		n++;
	return n;
}

static const struct cfg_extra_key *
extra_key_of(const struct cfg_type_desc *desc, const yaml_node_t *key,
	     size_t *ret_index)
{
	size_t n = extra_key_count(desc);

	for (size_t i = 0; i < n && i < CFG_EXTRA_MAX; i++) {
		if (scalar_is(key, desc->extra_keys[i].name)) {
			*ret_index = i;
			return &desc->extra_keys[i];
		}
	}
	return NULL;
}

static bool
text_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/*
 * One value of key k from its text (a YAML scalar, or the type's default
 * written as YAML text).  `plain`: the scalar was unquoted; numbers and
 * booleans must be (a quoted "4" is a string).  0, -EINVAL (bad value,
 * nothing stored) or -ENOMEM.
 */
static int
extra_from_text(const struct cfg_extra_key *k, const char *s, size_t len,
		bool plain, struct cfg_extra_value *v)
{
	uint64_t num = 0;
	const char *const *ch;

	if (memchr(s, '\0', len))
		return -EINVAL;
	switch (k->type) {
	case CFG_EXTRA_STRING:
		if (len == 0)
			return -EINVAL;
		break;
	case CFG_EXTRA_UINT:
		if (!plain || parse_number(s, len, &num) < 0 || num > k->max)
			return -EINVAL;
		break;
	case CFG_EXTRA_BOOL:
		if (!plain ||
		    !(text_is(s, len, "true") || text_is(s, len, "false")))
			return -EINVAL;
		num = text_is(s, len, "true");
		break;
	case CFG_EXTRA_ENUM:
		for (ch = k->choices; ch && *ch; ch++)
			if (text_is(s, len, *ch))
				break;
		if (!ch || !*ch)
			return -EINVAL;
		num = (uint64_t)(ch - k->choices);
		break;
	default:
		return -EINVAL;
	}
	if (k->type == CFG_EXTRA_STRING || k->type == CFG_EXTRA_ENUM) {
		v->str = strndup(s, len);
		if (!v->str)
			return -ENOMEM;
	}
	v->num = num;
	v->set = true;
	return 0;
}

/* "one of log, crash" for messages. */
static char *
extra_choices(const struct cfg_extra_key *k, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (const char *const *ch = k->choices; ch && *ch && o < size; ch++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s",
				      ch == k->choices ? "" : ", ", *ch);
	return buf;
}

static void
extra_report(struct dev_ctx *c, const struct cfg_extra_key *k,
	     yaml_node_t *value)
{
	char q[CFG_QUOTE_MAX], choices[256];
	struct device_key nk = { .name = k->name, .max = k->max };

	switch (k->type) {
	case CFG_EXTRA_UINT:
		(void)bad_number(c, &nk, value);
		return;
	case CFG_EXTRA_STRING:
		(void)check_string(c->r, c->label, "", k->name, value);
		return;
	default:
		break;
	}
	if (value->type != YAML_SCALAR_NODE)
		(void)snprintf(q, sizeof(q), "%s", node_kind(value));
	else
		(void)quote_scalar(value, q);
	if (k->type == CFG_EXTRA_BOOL)
		cfg_report(c->r, node_mark(value),
			   "%s: \"%s\" must be true or false, got %s", c->label,
			   k->name, q);
	else
		cfg_report(c->r, node_mark(value),
			   "%s: \"%s\" must be one of %s, got %s", c->label,
			   k->name, extra_choices(k, choices, sizeof(choices)),
			   q);
}

/*
 * The key's own check on a value (NUL-terminated, no NUL inside) that
 * passed the generic ones.  0, or -EINVAL with the reason in err made
 * safe to print: a check is the type's code, but its phrase must not
 * break the one-line-per-error output.
 */
static int
extra_check(const struct cfg_extra_key *k, const char *text, char *err,
	    size_t errlen)
{
	int r;

	err[0] = '\0';
	if (!k->check)
		return 0;
	r = k->check(text, err, errlen);
	if (r == 0)
		return 0;
	err[errlen - 1] = '\0';
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (!err[0])
		(void)snprintf(err, errlen, "is not valid");
	return -EINVAL;
}

/* Forget a value stored by extra_from_text(). */
static void
extra_clear(struct cfg_extra_value *v)
{
	free(v->str);
	v->str = NULL;
	v->num = 0;
	v->set = false;
}

static int
parse_extra(struct dev_ctx *c, const struct cfg_extra_key *k, size_t index,
	    yaml_node_t *value)
{
	struct cfg_extra_value *v = &c->d->extra[index];
	char err[128], q[CFG_QUOTE_MAX];
	int r = -EINVAL;

	if (value->type == YAML_SCALAR_NODE)
		r = extra_from_text(k, scalar_text(value),
				    value->data.scalar.length,
				    value->data.scalar.style ==
					    YAML_PLAIN_SCALAR_STYLE,
				    v);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		extra_report(c, k, value);
		return r;
	}
	if (extra_check(k, scalar_text(value), err, sizeof(err)) < 0) {
		extra_clear(v);
		cfg_report(c->r, node_mark(value), "%s: \"%s\" %s, got %s",
			   c->label, k->name, err, quote_scalar(value, q));
		return -EINVAL;
	}
	v->mark = node_mark(value);
	return 0;
}

/* Slots for the type's keys, in table order (names only). */
static void
extra_init(struct dev_ctx *c, yaml_node_t *map)
{
	size_t n = extra_key_count(c->desc);

	if (n > CFG_EXTRA_MAX) {
		cfg_report(c->r, node_mark(map),
			   "%s: device type \"%s\" declares %zu keys of its "
			   "own, more than the %d supported",
			   c->label, c->desc->name, n, CFG_EXTRA_MAX);
		n = CFG_EXTRA_MAX;
	}
	for (size_t i = 0; i < n; i++) {
		c->d->extra[i].name = c->desc->extra_keys[i].name;
		c->d->extra[i].type = c->desc->extra_keys[i].type;
	}
	c->d->extra_count = (unsigned)n;
}

/* After the walk: defaults for absent keys, then required ones. */
static int
extra_finish(struct dev_ctx *c, yaml_node_t *map)
{
	for (unsigned i = 0; i < c->d->extra_count; i++) {
		const struct cfg_extra_key *k = &c->desc->extra_keys[i];
		struct cfg_extra_value *v = &c->d->extra[i];
		char err[128];
		int r;

		if (c->extra_seen[i])
			continue;
		if (k->required) {
			cfg_report(c->r, node_mark(map),
				   "%s: missing required key \"%s\"", c->label,
				   k->name);
			continue;
		}
		if (!k->default_value)
			continue;
		r = extra_from_text(k, k->default_value,
				    strlen(k->default_value), true, v);
		if (r == -ENOMEM)
			return r;
		if (r == 0 &&
		    extra_check(k, k->default_value, err, sizeof(err)) < 0) {
			extra_clear(v);
			r = -EINVAL;
		}
		if (r < 0)
			cfg_report(c->r, node_mark(map),
				   "%s: device type \"%s\" has an invalid "
				   "default for \"%s\"",
				   c->label, c->desc->name, k->name);
		v->mark = c->d->mark;
	}
	return 0;
}

const struct cfg_extra_value *
cfg_device_extra(const struct cfg_device *dev, const char *name)
{
	if (!dev || !name)
		return NULL;
	for (unsigned i = 0; i < dev->extra_count && i < CFG_EXTRA_MAX; i++)
		if (dev->extra[i].name && dev->extra[i].set &&
		    strcmp(dev->extra[i].name, name) == 0)
			return &dev->extra[i];
	return NULL;
}

int
cfg_device_extra_enum(const struct cfg_device *dev, const char *name)
{
	const struct cfg_extra_value *v = cfg_device_extra(dev, name);

	if (!v)
		return -ENOENT;
	if (v->type != CFG_EXTRA_ENUM || v->num > INT32_MAX)
		return -EINVAL;
	return (int)v->num;
}

/* ---- device mapping ------------------------------------------------ */

static const struct device_key *
device_key_of(const yaml_node_t *key)
{
	for (size_t i = 0; i < DEVICE_KEY_COUNT; i++)
		if (scalar_is(key, device_keys[i].name))
			return &device_keys[i];
	return NULL;
}

/*
 * First value of key `name` in the mapping, without reporting anything:
 * the label and the type must be known before the walk reports errors
 * on keys that come before `id` or `type`.
 */
static yaml_node_t *
peek_value(yaml_document_t *doc, yaml_node_t *map, const char *name)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++)
		if (scalar_is(yaml_document_get_node(doc, p->key), name))
			return yaml_document_get_node(doc, p->value);
	return NULL;
}

/* A key outside the common table: one of the type's own, or unknown. */
static int
device_extra_pair(struct dev_ctx *c, yaml_node_t *key, yaml_node_t *value)
{
	const struct cfg_extra_key *ek;
	char q[CFG_QUOTE_MAX];
	size_t index;

	ek = extra_key_of(c->desc, key, &index);
	if (!ek || index >= c->d->extra_count) {
		/*
		 * `dma:` is the one key an operator may expect on any PCI
		 * function; grant DMA needs the device to offer
		 * VIRTIO_F_ACCESS_PLATFORM, which only virtio devices can.
		 */
		const char *why = scalar_is(key, "dma") ?
					  " (grant or foreign DMA is chosen "
					  "only for virtio devices, the ones "
					  "that can offer "
					  "VIRTIO_F_ACCESS_PLATFORM)" :
					  "";

		cfg_report(c->r, node_mark(key), "%s: unknown key %s%s",
			   c->label, quote_scalar(key, q), why);
		return -EINVAL;
	}
	if (c->extra_seen[index]) {
		cfg_report(c->r, node_mark(key), "%s: duplicate key \"%s\"",
			   c->label, ek->name);
		return -EINVAL;
	}
	c->extra_seen[index] = true;
	return parse_extra(c, ek, index, value);
}

/*
 * The first placement key of the type already in the mapping (even with a
 * bad value) other than `except` (a CFG_KEY_* bit, or 0), or NULL.
 */
static const struct device_key *
placement_seen(const struct dev_ctx *c,
	       const bool seen[static DEVICE_KEY_COUNT], unsigned except)
{
	unsigned placement = c->desc ? c->desc->placement & ~except : 0;

	for (size_t i = 0; i < DEVICE_KEY_COUNT; i++)
		if (seen[i] && (device_keys[i].bit & placement))
			return &device_keys[i];
	return NULL;
}

static int
device_pair(struct dev_ctx *c, yaml_node_t *key, yaml_node_t *value,
	    bool seen[static DEVICE_KEY_COUNT])
{
	const struct device_key *k, *other;

	if (key->type != YAML_SCALAR_NODE) {
		cfg_report(c->r, node_mark(key),
			   "%s: keys must be strings, got %s", c->label,
			   node_kind(key));
		return -EINVAL;
	}
	k = device_key_of(key);
	if (!k)
		return device_extra_pair(c, key, value);
	if (seen[k - device_keys]) {
		cfg_report(c->r, node_mark(key), "%s: duplicate key \"%s\"",
			   c->label, k->name);
		return -EINVAL;
	}
	if (k->bit && c->desc && !(c->desc->keys & k->bit)) {
		cfg_report(c->r, node_mark(key),
			   "%s: key \"%s\" is not valid for type \"%s\"",
			   c->label, k->name, c->desc->name);
		seen[k - device_keys] = true;
		return -EINVAL;
	}
	other = c->desc && (c->desc->placement & k->bit) ?
			placement_seen(c, seen, k->bit) :
			NULL;
	seen[k - device_keys] = true;
	if (other) {
		cfg_report(c->r, node_mark(key),
			   "%s: \"%s\" and \"%s\" both place the device; "
			   "give only one of them",
			   c->label, other->name, k->name);
		return -EINVAL;
	}
	return k->parse(c, k, value);
}

/* "\"mmio\" or \"pci\"", the keys of a placement set, for messages. */
static char *
placement_names(unsigned placement, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < DEVICE_KEY_COUNT && o < size; i++)
		if (device_keys[i].bit & placement)
			o += (size_t)snprintf(buf + o, size - o, "%s\"%s\"",
					      o ? " or " : "",
					      device_keys[i].name);
	return buf;
}

/*
 * Keys the `mmio` placement adds (cfg_type_desc.mmio_requires), named
 * with it so the reader sees why; `reported` were named already.
 */
static void
mmio_missing(struct dev_ctx *c, yaml_node_t *map,
	     const bool seen[static DEVICE_KEY_COUNT], unsigned reported)
{
	/* With two placements the entry's intent is unclear: that error is
	 * reported alone. */
	if (!c->desc || !c->desc->mmio_requires ||
	    !(seen[KEY_MMIO] || (c->d->keys & CFG_KEY_MMIO)) ||
	    placement_seen(c, seen, CFG_KEY_MMIO))
		return;
	for (size_t i = 0; i < DEVICE_KEY_COUNT; i++) {
		const struct device_key *k = &device_keys[i];

		if (!(k->bit & c->desc->mmio_requires & ~reported) || seen[i] ||
		    (c->d->keys & k->bit))
			continue;
		cfg_report(c->r, node_mark(map),
			   "%s: missing required key \"%s\" (a device placed "
			   "with \"mmio\" needs it)",
			   c->label, k->name);
	}
}

static void
device_missing(struct dev_ctx *c, yaml_node_t *map,
	       const bool seen[static DEVICE_KEY_COUNT])
{
	unsigned placement = c->desc ? c->desc->placement : 0;
	unsigned required = c->desc ? c->desc->required : 0;
	bool one_place = placement && (placement & (placement - 1)) == 0;
	char names[64];

	if (one_place)
		required |= placement;
	for (size_t i = 0; i < DEVICE_KEY_COUNT; i++) {
		const struct device_key *k = &device_keys[i];
		bool is_required = k->bit ? (required & k->bit) : true;

		/* A present key with a bad value was reported already. */
		if (!is_required || seen[i] || (c->d->keys & k->bit))
			continue;
		cfg_report(c->r, node_mark(map),
			   "%s: missing required key \"%s\"", c->label,
			   k->name);
	}
	mmio_missing(c, map, seen, required);
	/* A single placement key was named above, as a required one. */
	if (!placement || one_place || placement_seen(c, seen, 0) ||
	    (c->d->keys & placement))
		return;
	cfg_report(c->r, node_mark(map), "%s: missing required key %s",
		   c->label, placement_names(placement, names, sizeof(names)));
}

/* Parse devices[index] into d.  0, -EINVAL (reported) or -ENOMEM. */
static int
parse_device(yaml_document_t *doc, struct cfg_report *r, cfg_type_find_fn *find,
	     unsigned index, yaml_node_t *map, struct cfg_device *d)
{
	struct dev_ctx c = { .doc = doc, .r = r, .find = find, .d = d };
	bool seen[DEVICE_KEY_COUNT] = { false };
	unsigned before = r->count;
	yaml_node_t *v;

	d->mark = node_mark(map);
	if (map->type != YAML_MAPPING_NODE) {
		cfg_report(r, d->mark, "%s must be a mapping, got %s",
			   cfg_label(index, NULL, c.label), node_kind(map));
		return -EINVAL;
	}
	v = peek_value(doc, map, "id");
	if (v && id_is_valid(v))
		memcpy(d->id, v->data.scalar.value, v->data.scalar.length);
	(void)cfg_label(index, d->id, c.label);
	v = peek_value(doc, map, "type");
	c.desc = v ? desc_of(&c, v) : NULL;
	extra_init(&c, map);

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		int ret = device_pair(&c, yaml_document_get_node(doc, p->key),
				      yaml_document_get_node(doc, p->value),
				      seen);
		if (ret == -ENOMEM)
			return ret;
	}
	if (c.desc && !(d->keys & CFG_KEY_PORT) && !seen[KEY_PORT] &&
	    c.desc->default_port && (c.desc->keys & CFG_KEY_PORT) &&
	    !placement_seen(&c, seen, CFG_KEY_PORT)) {
		d->port = c.desc->default_port;
		d->port_mark = d->mark;
		d->keys |= CFG_KEY_PORT;
	}
	device_missing(&c, map, seen);
	if (c.desc && extra_finish(&c, map) == -ENOMEM)
		return -ENOMEM;
	return r->count == before ? 0 : -EINVAL;
}

/* ---- top level ----------------------------------------------------- */

static int
parse_devices(yaml_document_t *doc, struct cfg_report *r,
	      cfg_type_find_fn *find, yaml_node_t *list, struct cfg *cfg,
	      bool **ret_skip)
{
	size_t count;
	bool *skip;

	if (list->type != YAML_SEQUENCE_NODE) {
		cfg_report(r, node_mark(list),
			   "\"devices\" must be a list, got %s",
			   node_kind(list));
		return -EINVAL;
	}
	count = (size_t)(list->data.sequence.items.top -
			 list->data.sequence.items.start);
	if (count == 0 || count > CFG_DEVICES_MAX) {
		cfg_report(r, node_mark(list),
			   "\"devices\" must list 1-%d devices, got %zu",
			   CFG_DEVICES_MAX, count);
		return -EINVAL;
	}
	cfg->devices = calloc(count, sizeof(*cfg->devices));
	skip = calloc(count, sizeof(*skip));
	if (!cfg->devices || !skip) {
		free(skip);
		return -ENOMEM;
	}
	cfg->device_count = (unsigned)count;
	*ret_skip = skip;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = yaml_document_get_node(
			doc, list->data.sequence.items.start[i]);
		int ret = parse_device(doc, r, find, (unsigned)i, item,
				       &cfg->devices[i]);

		if (ret == -ENOMEM)
			return ret;
		skip[i] = ret < 0;
	}
	return 0;
}

/* The top-level mapping's keys; only `devices` so far. */
static yaml_node_t *
find_devices(yaml_document_t *doc, struct cfg_report *r, yaml_node_t *root)
{
	yaml_node_t *devices = NULL;
	char q[CFG_QUOTE_MAX];

	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *key = yaml_document_get_node(doc, p->key);

		if (key->type != YAML_SCALAR_NODE)
			cfg_report(r, node_mark(key),
				   "keys must be strings, got %s",
				   node_kind(key));
		else if (!scalar_is(key, "devices"))
			cfg_report(r, node_mark(key),
				   "unknown top-level key %s",
				   quote_scalar(key, q));
		else if (devices)
			cfg_report(r, node_mark(key),
				   "duplicate key \"devices\"");
		else
			devices = yaml_document_get_node(doc, p->value);
	}
	if (!devices)
		cfg_report(r, node_mark(root),
			   "missing required key \"devices\"");
	return devices;
}

int
cfg_schema_parse(yaml_document_t *doc, struct cfg_report *r,
		 cfg_type_find_fn *find, struct cfg *cfg, bool **ret_skip)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	yaml_node_t *devices;
	unsigned before = r->count;
	int ret;

	*ret_skip = NULL;
	if (!root) {
		cfg_report(r, cfg_mark_from_yaml(doc->start_mark),
			   "empty configuration, expected a \"devices\" "
			   "list");
		return -EINVAL;
	}
	if (root->type != YAML_MAPPING_NODE) {
		cfg_report(r, node_mark(root),
			   "the top level must be a mapping with a "
			   "\"devices\" list, got %s",
			   node_kind(root));
		return -EINVAL;
	}
	devices = find_devices(doc, r, root);
	if (!devices)
		return -EINVAL;
	ret = parse_devices(doc, r, find, devices, cfg, ret_skip);
	if (ret < 0)
		return ret;
	return r->count == before ? 0 : -EINVAL;
}
