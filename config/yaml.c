/*
 * cfg_load(): read the file, compose a libyaml document tree from the
 * event parser's events (with a nesting limit, CFG_NESTING_MAX), hand the
 * tree to the schema (schema.c), then cross-check (validate.c).
 * Reads the config file and nothing else.  YAML syntax errors are reported
 * with libyaml's own position and problem text; libyaml stops at the first
 * one, so a syntax error is always the only error of a run.
 */
#include "config/cfg.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/report.h"
#include "config/schema.h"
#include "config/validate.h"

/* A config is a few dozen lines; anything this big is a mistake. */
#define CFG_FILE_SIZE_MAX (1024 * 1024)

void
cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	for (unsigned i = 0; i < cfg->device_count; i++) {
		struct cfg_device *d = &cfg->devices[i];

		free(d->type);
		free(d->backend.path);
		for (unsigned k = 0; k < d->extra_count && k < CFG_EXTRA_MAX;
		     k++)
			free(d->extra[k].str);
	}
	free(cfg->devices);
	free(cfg->path);
	free(cfg);
}

/* 1-based line:col of byte `offset` in text, for reader errors. */
static struct cfg_mark
mark_at_offset(const char *text, size_t len, size_t offset)
{
	struct cfg_mark m = { .line = 1, .col = 1 };

	for (size_t i = 0; i < offset && i < len; i++) {
		if (text[i] == '\n') {
			m.line++;
			m.col = 1;
		} else {
			m.col++;
		}
	}
	return m;
}

/* One line in libyaml's own format: "problem (context at L:C)". */
static void
report_problem(struct cfg_report *r, yaml_mark_t problem_mark,
	       const char *problem, const char *context,
	       yaml_mark_t context_mark)
{
	if (context)
		cfg_report(r, cfg_mark_from_yaml(problem_mark),
			   "%s (%s at %zu:%zu)", problem, context,
			   context_mark.line + 1, context_mark.column + 1);
	else
		cfg_report(r, cfg_mark_from_yaml(problem_mark), "%s", problem);
}

static int
report_yaml_error(const yaml_parser_t *p, const char *text, size_t len,
		  struct cfg_report *r)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		cfg_report(r, (struct cfg_mark){ 0 }, "out of memory");
		return -ENOMEM;
	case YAML_READER_ERROR:
		if (p->problem_value >= 0)
			cfg_report(r,
				   mark_at_offset(text, len, p->problem_offset),
				   "%s (byte 0x%02x)", problem,
				   (unsigned)p->problem_value & 0xff);
		else
			cfg_report(r,
				   mark_at_offset(text, len, p->problem_offset),
				   "%s", problem);
		return -EINVAL;
	default:
		break;
	}
	report_problem(r, p->problem_mark, problem, p->context,
		       p->context_mark);
	return -EINVAL;
}

/* ---- composing a document tree from parser events ------------------- */

/*
 * Deepest nesting of lists and mappings accepted.  The schema descends
 * four levels (top mapping, devices list, device mapping, backend
 * mapping); 64 leaves room for any layout a person would write.  The
 * limit is what keeps a deep nest cheap: libyaml's scanner rechecks one
 * saved simple key per open flow level for every token, so N nested
 * brackets cost O(N^2) if all of them are read.  The composer stops at
 * the first collection past the limit, before the scanner gets far.
 */
#define CFG_NESTING_MAX 64

/* An open collection; a mapping holds its key until the value comes. */
struct compose_frame {
	int node;
	int key; /* mapping key waiting for its value, or 0 */
};

struct compose_anchor {
	char *name;
	int node;
	yaml_mark_t mark; /* for the "first occurrence" of a duplicate */
};

/* State of composing one document; the anchors are per document. */
struct composer {
	yaml_parser_t *parser;
	yaml_document_t *doc;
	struct cfg_report *r;
	const char *text; /* for reader-error positions */
	size_t len;
	struct compose_frame stack[CFG_NESTING_MAX];
	unsigned depth; /* entries of stack in use */
	struct compose_anchor *anchors;
	size_t anchor_count;
	size_t anchor_cap;
};

static void
composer_free_anchors(struct composer *c)
{
	for (size_t i = 0; i < c->anchor_count; i++)
		free(c->anchors[i].name);
	free(c->anchors);
	c->anchors = NULL;
	c->anchor_count = c->anchor_cap = 0;
}

static const struct compose_anchor *
anchor_find(const struct composer *c, const yaml_char_t *name)
{
	for (size_t i = 0; i < c->anchor_count; i++)
		if (strcmp(c->anchors[i].name, (const char *)name) == 0)
			return &c->anchors[i];
	return NULL;
}

/* Remember node under `name` (may be NULL: no anchor).  As libyaml's
 * loader does, a second anchor of the same name is an error. */
static int
anchor_add(struct composer *c, const yaml_char_t *name, int node,
	   yaml_mark_t mark)
{
	const struct compose_anchor *first;
	struct compose_anchor *a;

	if (!name)
		return 0;
	first = anchor_find(c, name);
	if (first) {
		report_problem(c->r, mark, "second occurrence",
			       "found duplicate anchor; first occurrence",
			       first->mark);
		return -EINVAL;
	}
	if (c->anchor_count == c->anchor_cap) {
		size_t cap = c->anchor_cap ? 2 * c->anchor_cap : 8;

		a = realloc(c->anchors, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		c->anchors = a;
		c->anchor_cap = cap;
	}
	a = &c->anchors[c->anchor_count];
	a->name = strdup((const char *)name);
	if (!a->name)
		return -ENOMEM;
	a->node = node;
	a->mark = mark;
	c->anchor_count++;
	return 0;
}

/* Hang node under the innermost open collection (none: it is the root). */
static int
attach(struct composer *c, int node)
{
	struct compose_frame *f;
	yaml_node_t *parent;
	int ok;

	if (c->depth == 0)
		return 0;
	f = &c->stack[c->depth - 1];
	parent = yaml_document_get_node(c->doc, f->node);
	if (parent->type == YAML_SEQUENCE_NODE) {
		ok = yaml_document_append_sequence_item(c->doc, f->node, node);
	} else if (f->key == 0) {
		f->key = node;
		return 0;
	} else {
		ok = yaml_document_append_mapping_pair(c->doc, f->node, f->key,
						       node);
		f->key = 0;
	}
	return ok ? 0 : -ENOMEM;
}

/* libyaml's loader gives untagged and "!" nodes the default tag. */
static const yaml_char_t *
node_tag(const yaml_char_t *tag)
{
	if (!tag || strcmp((const char *)tag, "!") == 0)
		return NULL;
	return tag;
}

/* Give a new node its source marks, attach it and register its anchor. */
static int
place_node(struct composer *c, int node, const yaml_event_t *e,
	   const yaml_char_t *anchor)
{
	yaml_node_t *n;
	int ret;

	if (node == 0)
		return -ENOMEM;
	n = yaml_document_get_node(c->doc, node);
	n->start_mark = e->start_mark;
	n->end_mark = e->end_mark;
	ret = attach(c, node);
	if (ret < 0)
		return ret;
	return anchor_add(c, anchor, node, e->start_mark);
}

static int
compose_scalar(struct composer *c, const yaml_event_t *e)
{
	int node = yaml_document_add_scalar(c->doc,
					    node_tag(e->data.scalar.tag),
					    e->data.scalar.value,
					    (int)e->data.scalar.length,
					    e->data.scalar.style);

	return place_node(c, node, e, e->data.scalar.anchor);
}

static int
compose_alias(struct composer *c, const yaml_event_t *e)
{
	const struct compose_anchor *a = anchor_find(c, e->data.alias.anchor);

	if (!a) {
		cfg_report(c->r, cfg_mark_from_yaml(e->start_mark),
			   "found undefined alias");
		return -EINVAL;
	}
	return attach(c, a->node);
}

/* Open a list or mapping; past CFG_NESTING_MAX the document is rejected
 * here, so nothing deeper is ever read. */
static int
compose_collection(struct composer *c, const yaml_event_t *e)
{
	const yaml_char_t *anchor;
	int node, ret;

	if (c->depth == CFG_NESTING_MAX) {
		cfg_report(c->r, cfg_mark_from_yaml(e->start_mark),
			   "lists and mappings nested more than %d deep",
			   CFG_NESTING_MAX);
		return -EINVAL;
	}
	if (e->type == YAML_SEQUENCE_START_EVENT) {
		anchor = e->data.sequence_start.anchor;
		node = yaml_document_add_sequence(
			c->doc, node_tag(e->data.sequence_start.tag),
			e->data.sequence_start.style);
	} else {
		anchor = e->data.mapping_start.anchor;
		node = yaml_document_add_mapping(
			c->doc, node_tag(e->data.mapping_start.tag),
			e->data.mapping_start.style);
	}
	ret = place_node(c, node, e, anchor);
	if (ret < 0)
		return ret;
	c->stack[c->depth++] = (struct compose_frame){ .node = node };
	return 0;
}

static void
compose_end(struct composer *c, const yaml_event_t *e)
{
	int node;

	assert(c->depth > 0); /* the parser balances start and end */
	node = c->stack[--c->depth].node;
	yaml_document_get_node(c->doc, node)->end_mark = e->end_mark;
}

/* Next event into *e; reports and fails on a syntax error. */
static int
next_event(struct composer *c, yaml_event_t *e)
{
	if (!yaml_parser_parse(c->parser, e))
		return report_yaml_error(c->parser, c->text, c->len, c->r);
	return 0;
}

static int
compose_event(struct composer *c, const yaml_event_t *e)
{
	switch (e->type) {
	case YAML_SCALAR_EVENT:
		return compose_scalar(c, e);
	case YAML_ALIAS_EVENT:
		return compose_alias(c, e);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return compose_collection(c, e);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		compose_end(c, e);
		return 0;
	default:
		/* The parser only emits node events inside a document. */
		assert(!"unexpected YAML event");
		return -EINVAL;
	}
}

/* The nodes of a document up to and including its DOCUMENT-END. */
static int
compose_nodes(struct composer *c)
{
	yaml_event_t e;
	int ret;

	for (;;) {
		ret = next_event(c, &e);
		if (ret < 0)
			return ret;
		if (e.type == YAML_DOCUMENT_END_EVENT)
			break;
		ret = compose_event(c, &e);
		yaml_event_delete(&e);
		if (ret < 0)
			return ret;
	}
	c->doc->end_implicit = e.data.document_end.implicit;
	c->doc->end_mark = e.end_mark;
	yaml_event_delete(&e);
	return 0;
}

/* The document at `start` (a DOCUMENT-START event) into *c->doc. */
static int
compose_document(struct composer *c, const yaml_event_t *start)
{
	int ret;

	if (!yaml_document_initialize(
		    c->doc, start->data.document_start.version_directive,
		    start->data.document_start.tag_directives.start,
		    start->data.document_start.tag_directives.end,
		    start->data.document_start.implicit, 1))
		return -ENOMEM;
	c->doc->start_mark = start->start_mark;
	ret = compose_nodes(c);
	if (ret < 0)
		yaml_document_delete(c->doc);
	return ret;
}

/*
 * Next document of the stream into *doc, like yaml_parser_load() but
 * with CFG_NESTING_MAX: at the end of the stream *doc is an empty
 * document (no root node).  Reports every error it returns except
 * -ENOMEM; on error *doc is left freed.
 */
static int
compose_next(yaml_parser_t *parser, const char *text, size_t len,
	     yaml_document_t *doc, struct cfg_report *r)
{
	struct composer c = {
		.parser = parser,
		.doc = doc,
		.r = r,
		.text = text,
		.len = len,
	};
	yaml_event_t e;
	int ret;

	ret = next_event(&c, &e);
	if (ret < 0)
		return ret;
	if (e.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&e);
		return yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1) ?
			       0 :
			       -ENOMEM;
	}
	assert(e.type == YAML_DOCUMENT_START_EVENT);
	ret = compose_document(&c, &e);
	yaml_event_delete(&e);
	composer_free_anchors(&c);
	return ret;
}

/* Load the single document of text into *doc; reports and fails if the
 * text is not YAML or holds a second document. */
static int
load_document(const char *text, size_t len, yaml_document_t *doc,
	      struct cfg_report *r)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	yaml_event_t e;
	int ret = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_parse(&parser, &e)) {
		ret = report_yaml_error(&parser, text, len, r);
		goto out_parser;
	}
	yaml_event_delete(&e);
	ret = compose_next(&parser, text, len, doc, r);
	if (ret < 0)
		goto out_parser;
	if (!yaml_document_get_root_node(doc))
		goto out_parser; /* empty: the schema says so */
	ret = compose_next(&parser, text, len, &extra, r);
	if (ret < 0)
		goto out_doc;
	if (yaml_document_get_root_node(&extra)) {
		cfg_report(r, cfg_mark_from_yaml(extra.start_mark),
			   "only one YAML document is allowed");
		ret = -EINVAL;
	}
	yaml_document_delete(&extra);
	if (ret == 0)
		goto out_parser;
out_doc:
	yaml_document_delete(doc);
out_parser:
	yaml_parser_delete(&parser);
	return ret;
}

int
cfg_load_string(const char *name, const char *text, size_t len,
		cfg_type_find_fn *find, FILE *errs, struct cfg **ret_cfg)
{
	struct cfg_report r = { .name = name, .out = errs };
	yaml_document_t doc;
	struct cfg *cfg;
	bool *skip = NULL;
	int ret;

	*ret_cfg = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->path = strdup(name))) {
		free(cfg);
		return -ENOMEM;
	}
	ret = load_document(text, len, &doc, &r);
	if (ret < 0)
		goto err_cfg;
	ret = cfg_schema_parse(&doc, &r, find, cfg, &skip);
	yaml_document_delete(&doc);
	if (ret == -ENOMEM)
		goto err_skip;
	(void)cfg_validate_with(cfg, skip, find, &r);
	if (r.count > 0) {
		ret = -EINVAL;
		goto err_skip;
	}
	free(skip);
	*ret_cfg = cfg;
	return 0;

err_skip:
	free(skip);
err_cfg:
	if (ret == -ENOMEM && r.count == 0)
		cfg_report(&r, (struct cfg_mark){ 0 }, "out of memory");
	cfg_free(cfg);
	return ret;
}

/* Whole file into a NUL-terminated buffer; -errno, -EFBIG if too big. */
static int
read_file(const char *path, char **ret_text, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	int ret = 0;

	if (!f)
		return -errno;
	buf = malloc(CFG_FILE_SIZE_MAX + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	len = fread(buf, 1, CFG_FILE_SIZE_MAX + 1, f);
	if (ferror(f)) {
		ret = errno ? -errno : -EIO;
	} else if (len > CFG_FILE_SIZE_MAX) {
		ret = -EFBIG;
	} else {
		buf[len] = '\0';
		*ret_text = buf;
		*ret_len = len;
		buf = NULL;
	}
out:
	free(buf);
	(void)fclose(f);
	return ret;
}

int
cfg_load(const char *path, cfg_type_find_fn *find, FILE *errs,
	 struct cfg **ret_cfg)
{
	struct cfg_report r = { .name = path, .out = errs };
	char *text = NULL;
	size_t len = 0;
	int ret;

	*ret_cfg = NULL;
	ret = read_file(path, &text, &len);
	if (ret == -EFBIG) {
		cfg_report(&r, (struct cfg_mark){ 0 },
			   "file is larger than %d bytes", CFG_FILE_SIZE_MAX);
		return ret;
	}
	if (ret < 0) {
		cfg_report(&r, (struct cfg_mark){ 0 }, "%s", strerror(-ret));
		return ret;
	}
	ret = cfg_load_string(path, text, len, find, errs, ret_cfg);
	free(text);
	return ret;
}
