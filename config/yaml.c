/*
 * cfg_load(): read the file, parse it with libyaml into a document tree,
 * hand the tree to the schema (schema.c), then cross-check (validate.c).
 * Reads the config file and nothing else.  YAML syntax errors are reported
 * with libyaml's own position and problem text; libyaml stops at the first
 * one, so a syntax error is always the only error of a run.
 */
#include "config/cfg.h"

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
			cfg_report(r, mark_at_offset(text, len,
						     p->problem_offset),
				   "%s (byte 0x%02x)", problem,
				   (unsigned)p->problem_value & 0xff);
		else
			cfg_report(r, mark_at_offset(text, len,
						     p->problem_offset),
				   "%s", problem);
		return -EINVAL;
	default:
		break;
	}
	if (p->context)
		cfg_report(r, cfg_mark_from_yaml(p->problem_mark),
			   "%s (%s at %zu:%zu)", problem, p->context,
			   p->context_mark.line + 1,
			   p->context_mark.column + 1);
	else
		cfg_report(r, cfg_mark_from_yaml(p->problem_mark), "%s",
			   problem);
	return -EINVAL;
}

/* Load the single document of text into *doc; reports and fails if the
 * text is not YAML or holds a second document. */
static int
load_document(const char *text, size_t len, yaml_document_t *doc,
	      struct cfg_report *r)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int ret = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
				     len);
	if (!yaml_parser_load(&parser, doc)) {
		ret = report_yaml_error(&parser, text, len, r);
		goto out_parser;
	}
	if (!yaml_document_get_root_node(doc))
		goto out_parser;	/* empty: the schema says so */
	if (!yaml_parser_load(&parser, &extra)) {
		ret = report_yaml_error(&parser, text, len, r);
		goto out_doc;
	}
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
cfg_load_string(const char *name, const char *text, size_t len, FILE *errs,
		struct cfg **ret_cfg)
{
	return cfg_load_string_with(name, text, len, device_class_find, errs,
				    ret_cfg);
}

int
cfg_load_string_with(const char *name, const char *text, size_t len,
		     const struct device_class *(*find)(const char *type),
		     FILE *errs, struct cfg **ret_cfg)
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
cfg_load(const char *path, FILE *errs, struct cfg **ret_cfg)
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
	ret = cfg_load_string(path, text, len, errs, ret_cfg);
	free(text);
	return ret;
}
