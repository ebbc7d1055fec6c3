/*
 * Cross-checks of a parsed configuration (ids, port/MMIO ranges, stdio,
 * back-end paths, PCI addresses, the types' file checks).  No side
 * effects: reads the structs (and stat()s back-end paths, and lets a
 * type's check_file look at the file it names) and reports, nothing
 * else.  Each problem
 * is reported once, on the later of the two devices involved, naming the
 * earlier one and its position.
 * Device counts are capped by the parser (CFG_DEVICES_MAX), so the
 * pairwise comparisons stay small.
 */
#include "config/validate.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "config/xen-reserved.h"
#include "lib/range.h"

/* One address range a device claims, as the checks below see it. */
struct claim {
	enum cfg_space space;
	uint64_t base;
	uint64_t size; /* 0: nothing claimed */
	struct cfg_mark mark;
	const char *default_of; /* type name when the type's default */
};

struct validator {
	const struct cfg *cfg;
	const bool *skip;
	cfg_type_find_fn *find;
	struct cfg_report *r;
};

static bool
is_skipped(const struct validator *v, unsigned i)
{
	return v->skip && v->skip[i];
}

static char *
label(const struct validator *v, unsigned i, char buf[static CFG_LABEL_MAX])
{
	return cfg_label(i, v->cfg->devices[i].id, buf);
}

/* The range `space` of device i claims, size 0 if none. */
static struct claim
device_claim(const struct validator *v, unsigned i, enum cfg_space space)
{
	const struct cfg_device *d = &v->cfg->devices[i];
	const struct cfg_type_desc *desc = v->find && d->type ?
						   v->find(d->type) :
						   NULL;
	struct claim c = { .space = space };

	if (!desc)
		return c;
	if (space == CFG_SPACE_PORT && (d->keys & CFG_KEY_PORT)) {
		c.base = d->port;
		c.size = desc->port_size;
		c.mark = d->port_mark;
		/* The parser marks a defaulted port with the item's mark; a
		 * written port's value never starts where the item does. */
		if (d->port_mark.line == d->mark.line &&
		    d->port_mark.col == d->mark.col)
			c.default_of = desc->name;
	} else if (space == CFG_SPACE_MMIO && (d->keys & CFG_KEY_MMIO)) {
		c.base = d->mmio;
		c.size = desc->mmio_size;
		c.mark = d->mmio_mark;
	}
	return c;
}

static bool
claims_overlap(const struct claim *a, const struct claim *b)
{
	/* Both are non-empty and do not wrap: compare inclusive lasts. */
	return a->base <= b->base + (b->size - 1) &&
	       b->base <= a->base + (a->size - 1);
}

/* "port 0x402", "port range 0x3f8-0x3ff", "MMIO range 0x...-0x...". */
static char *
describe(enum cfg_space space, uint64_t base, uint64_t size, char *buf,
	 size_t buf_size)
{
	const char *what = space == CFG_SPACE_PORT ? "port" : "MMIO address";
	const char *what_n = space == CFG_SPACE_PORT ? "port range" :
						       "MMIO range";

	if (size == 1)
		(void)snprintf(buf, buf_size, "%s 0x%" PRIx64, what, base);
	else
		(void)snprintf(buf, buf_size, "%s 0x%" PRIx64 "-0x%" PRIx64,
			       what_n, base, base + (size - 1));
	return buf;
}

/* describe() of a claim, noting a port that came from the type's default. */
static char *
describe_claim(const struct claim *c, char *buf, size_t buf_size)
{
	size_t len;

	(void)describe(c->space, c->base, c->size, buf, buf_size);
	len = strlen(buf);
	if (c->default_of)
		(void)snprintf(buf + len, buf_size - len,
			       " (the default for %s)", c->default_of);
	return buf;
}

static void
check_duplicate_id(const struct validator *v, unsigned i)
{
	const struct cfg_device *d = &v->cfg->devices[i];
	char lb[CFG_LABEL_MAX], other[CFG_LABEL_MAX];

	for (unsigned j = 0; j < i; j++) {
		const struct cfg_device *e = &v->cfg->devices[j];

		if (is_skipped(v, j) || strcmp(d->id, e->id) != 0)
			continue;
		/* The id is validated, so printing it raw is safe. */
		cfg_report(v->r, d->id_mark,
			   "%s: duplicate id \"%s\", already used by %s at "
			   "%u:%u",
			   label(v, i, lb), d->id, cfg_label(j, NULL, other),
			   e->id_mark.line, e->id_mark.col);
		return;
	}
}

static void
check_reserved(const struct validator *v, unsigned i, const struct claim *c)
{
	const struct xen_reserved *x = NULL;
	char lb[CFG_LABEL_MAX], mine[160], theirs[80];

	while ((x = xen_reserved_next(c->space, c->base, c->size, x))) {
		bool inside = c->base >= x->base &&
			      c->base + (c->size - 1) <=
				      x->base + (x->size - 1);

		(void)describe_claim(c, mine, sizeof(mine));
		if (inside) {
			cfg_report(v->r, c->mark,
				   "%s: %s is emulated inside Xen (%s, %s) "
				   "and never reaches ioreqd",
				   label(v, i, lb), mine, x->name, x->source);
			continue;
		}
		(void)describe(c->space, x->base, x->size, theirs,
			       sizeof(theirs));
		cfg_report(v->r, c->mark,
			   "%s: %s includes %s, emulated inside Xen (%s, %s); "
			   "accesses there never reach ioreqd",
			   label(v, i, lb), mine, theirs, x->name, x->source);
	}
}

static void
check_overlaps(const struct validator *v, unsigned i, const struct claim *c)
{
	char lb[CFG_LABEL_MAX], other[CFG_LABEL_MAX], mine[160], theirs[80];

	for (unsigned j = 0; j < i; j++) {
		struct claim o;

		if (is_skipped(v, j))
			continue;
		o = device_claim(v, j, c->space);
		if (!range_fits(o.base, o.size) || !claims_overlap(c, &o))
			continue;
		cfg_report(v->r, c->mark, "%s: %s overlaps %s at %u:%u (%s)",
			   label(v, i, lb),
			   describe_claim(c, mine, sizeof(mine)),
			   label(v, j, other), o.mark.line, o.mark.col,
			   describe(o.space, o.base, o.size, theirs,
				    sizeof(theirs)));
	}
}

static void
check_space(const struct validator *v, unsigned i, enum cfg_space space)
{
	struct claim c = device_claim(v, i, space);
	char lb[CFG_LABEL_MAX];

	if (c.size == 0)
		return;
	if (space == CFG_SPACE_PORT &&
	    !range_within(c.base, c.size, RANGE_PORT_SPACE_SIZE)) {
		cfg_report(v->r, c.mark,
			   "%s: port range 0x%" PRIx64 "-0x%" PRIx64
			   " (%" PRIu64 " ports) extends past port 0xffff",
			   label(v, i, lb), c.base, c.base + (c.size - 1),
			   c.size);
		return;
	}
	if (!range_fits(c.base, c.size)) {
		cfg_report(v->r, c.mark,
			   "%s: MMIO range at 0x%" PRIx64 " (%" PRIu64
			   " bytes) runs past the end of the address space",
			   label(v, i, lb), c.base, c.size);
		return;
	}
	check_reserved(v, i, &c);
	check_overlaps(v, i, &c);
}

static void
check_stdio(const struct validator *v, unsigned i)
{
	const struct cfg_device *d = &v->cfg->devices[i];
	char lb[CFG_LABEL_MAX], other[CFG_LABEL_MAX];

	if (!(d->keys & CFG_KEY_BACKEND) ||
	    d->backend.type != CFG_BACKEND_STDIO)
		return;
	for (unsigned j = 0; j < i; j++) {
		const struct cfg_device *e = &v->cfg->devices[j];

		if (is_skipped(v, j) || !(e->keys & CFG_KEY_BACKEND) ||
		    e->backend.type != CFG_BACKEND_STDIO)
			continue;
		cfg_report(v->r, d->backend.mark,
			   "%s: only one device may use the stdio backend; "
			   "%s at %u:%u already does",
			   label(v, i, lb), label(v, j, other),
			   e->backend.mark.line, e->backend.mark.col);
		return;
	}
}

static const char *
backend_path(const struct validator *v, unsigned i)
{
	const struct cfg_device *d = &v->cfg->devices[i];

	if (is_skipped(v, i) || !(d->keys & CFG_KEY_BACKEND))
		return NULL;
	return d->backend.path;
}

/*
 * Two spellings of one existing file (a symlink, "a/../b", a hard link)
 * are one path too.  stat() only reads; a path that does not exist yet
 * can only be compared as written.
 */
static bool
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * Two back-ends on one path fight over it: two file back-ends interleave
 * their output, and a second socket server would replace the first one's
 * socket file and orphan it.
 */
static void
check_backend_path(const struct validator *v, unsigned i)
{
	const struct cfg_device *d = &v->cfg->devices[i];
	const char *path = backend_path(v, i);
	char lb[CFG_LABEL_MAX], other[CFG_LABEL_MAX], q[CFG_QUOTE_MAX];
	char qo[CFG_QUOTE_MAX];

	for (unsigned j = 0; path && j < i; j++) {
		const char *o = backend_path(v, j);
		const struct cfg_mark *m =
			&v->cfg->devices[j].backend.path_mark;

		if (!o)
			continue;
		if (strcmp(path, o) == 0)
			cfg_report(v->r, d->backend.path_mark,
				   "%s: backend path %s is already used by %s "
				   "at %u:%u",
				   label(v, i, lb),
				   cfg_quote(path, strlen(path), q),
				   label(v, j, other), m->line, m->col);
		else if (same_file(path, o))
			cfg_report(v->r, d->backend.path_mark,
				   "%s: backend path %s is the same file as %s "
				   "used by %s at %u:%u",
				   label(v, i, lb),
				   cfg_quote(path, strlen(path), q),
				   cfg_quote(o, strlen(o), qo),
				   label(v, j, other), m->line, m->col);
		else
			continue;
		return;
	}
}

/*
 * A file backend whose path exists but can never be written to: the one
 * check that looks at the file system (a stat(), no side effects), so
 * that `ioreqd -n` rejects what chardev_open() would.  A missing path is
 * fine (it is created), and a stat() that fails is left to start-up,
 * which may run with other rights than the check.
 */
static void
check_backend_file(const struct validator *v, unsigned i)
{
	const struct cfg_device *d = &v->cfg->devices[i];
	char lb[CFG_LABEL_MAX], q[CFG_QUOTE_MAX];
	const char *why;
	struct stat st;

	if (!(d->keys & CFG_KEY_BACKEND) ||
	    d->backend.type != CFG_BACKEND_FILE || !d->backend.path ||
	    stat(d->backend.path, &st) < 0)
		return;
	why = cfg_file_backend_refusal(st.st_mode);
	if (!why)
		return;
	cfg_report(v->r, d->backend.path_mark,
		   "%s: backend: path %s is %s; a file backend needs a "
		   "regular file or a character device",
		   label(v, i, lb),
		   cfg_quote(d->backend.path, strlen(d->backend.path), q), why);
}

/* The types' own file system checks (cfg_extra_key.check_file). */
static void
check_extra_files(const struct validator *v, unsigned i)
{
	const struct cfg_device *d = &v->cfg->devices[i];
	const struct cfg_type_desc *desc = v->find && d->type ?
						   v->find(d->type) :
						   NULL;
	char lb[CFG_LABEL_MAX], q[CFG_QUOTE_MAX], err[128];

	if (!desc || !desc->extra_keys)
		return;
	for (unsigned k = 0; k < d->extra_count && k < CFG_EXTRA_MAX; k++) {
		const struct cfg_extra_key *key = &desc->extra_keys[k];
		const struct cfg_extra_value *val = &d->extra[k];

		if (!key->name || !key->check_file || !val->set || !val->str)
			continue;
		err[0] = '\0';
		if (key->check_file(val->str, err, sizeof(err)) == 0)
			continue;
		err[sizeof(err) - 1] = '\0';
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		cfg_report(v->r, val->mark, "%s: \"%s\" %s, got %s",
			   label(v, i, lb), key->name,
			   err[0] ? err : "is not valid",
			   cfg_quote(val->str, strlen(val->str), q));
	}
}

static bool
has_pci(const struct validator *v, unsigned i)
{
	return !is_skipped(v, i) && (v->cfg->devices[i].keys & CFG_KEY_PCI);
}

static char *
bdf(uint32_t sbdf, char buf[static 16])
{
	(void)snprintf(buf, 16, "%02x:%02x.%u", (unsigned)(sbdf >> 8) & 0xff,
		       (unsigned)CFG_PCI_SLOT(sbdf),
		       (unsigned)CFG_PCI_FUNC(sbdf));
	return buf;
}

/*
 * Two functions at one SBDF, and functions other than 0 in a slot without
 * function 0: firmware and Linux probe function 0 first and skip the
 * whole slot when it is absent, so such a function would never be found.
 */
static void
check_pci(const struct validator *v, unsigned i)
{
	const struct cfg_device *d = &v->cfg->devices[i];
	char lb[CFG_LABEL_MAX], other[CFG_LABEL_MAX], a[16], b[16];
	uint32_t fn0 = d->pci_sbdf & ~7u;
	bool have_fn0 = CFG_PCI_FUNC(d->pci_sbdf) == 0;

	if (!has_pci(v, i))
		return;
	for (unsigned j = 0; j < i; j++) {
		const struct cfg_device *e = &v->cfg->devices[j];

		if (!has_pci(v, j) || e->pci_sbdf != d->pci_sbdf)
			continue;
		cfg_report(v->r, d->pci_mark,
			   "%s: PCI address %s is already used by %s at %u:%u",
			   label(v, i, lb), bdf(d->pci_sbdf, a),
			   label(v, j, other), e->pci_mark.line,
			   e->pci_mark.col);
		return;
	}
	/* A function 0 with other errors still counts as present. */
	for (unsigned j = 0; j < v->cfg->device_count && !have_fn0; j++)
		have_fn0 = (v->cfg->devices[j].keys & CFG_KEY_PCI) &&
			   v->cfg->devices[j].pci_sbdf == fn0;
	if (!have_fn0)
		cfg_report(v->r, d->pci_mark,
			   "%s: PCI function %s needs a function %s in the "
			   "configuration: guests look for function 0 first "
			   "and skip the slot without it",
			   label(v, i, lb), bdf(d->pci_sbdf, a), bdf(fn0, b));
}

int
cfg_validate_with(const struct cfg *cfg, const bool *skip,
		  cfg_type_find_fn *find, struct cfg_report *r)
{
	struct validator v = {
		.cfg = cfg,
		.skip = skip,
		.find = find,
		.r = r,
	};
	unsigned before = r->count;

	for (unsigned i = 0; i < cfg->device_count; i++) {
		if (is_skipped(&v, i))
			continue;
		check_duplicate_id(&v, i);
		check_space(&v, i, CFG_SPACE_PORT);
		check_space(&v, i, CFG_SPACE_MMIO);
		check_stdio(&v, i);
		check_backend_path(&v, i);
		check_backend_file(&v, i);
		check_extra_files(&v, i);
		check_pci(&v, i);
	}
	return r->count == before ? 0 : -EINVAL;
}

int
cfg_validate(const struct cfg *cfg, cfg_type_find_fn *find, FILE *errs)
{
	struct cfg_report r = { .name = cfg->path, .out = errs };

	return cfg_validate_with(cfg, NULL, find, &r);
}
