/*
 * The control socket's command table (see commands.h and
 * docs/control-protocol.md).  Each command checks all of its input before
 * it changes anything, so a request that gets an error changes nothing.
 */
#include "daemon/commands.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config/cfg.h"
#include "devices/device.h"
#include "ioreq/ioreq.h"
#include "lib/log.h"

#define CTL_PROTOCOL 1
#define CTL_PATH_MAX 4096

enum arg_type { ARG_STRING, ARG_BOOL, ARG_OBJECT };

struct arg_spec {
	const char *name;
	enum arg_type type;
	bool required;
};

/* A command: its result, or NULL with *err set. */
typedef json_t *command_fn(struct ctl_daemon *d, json_t *args, json_t **err,
			   bool *ret_subscribe);

struct command {
	const char *name;
	const struct arg_spec *args; /* ends with { NULL } */
	command_fn *run;
};

uint64_t
ctl_now_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

static json_t *error_obj(const char *class_name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static json_t *
error_obj(const char *class_name, const char *fmt, ...)
{
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	return json_pack("{s:s, s:s}", "class", class_name, "desc", desc);
}

static char *
dump(json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	return s;
}

char *
ctl_error_line(const char *class_name, const char *desc)
{
	return dump(
		json_pack("{s:o}", "error", error_obj(class_name, "%s", desc)));
}

char *
ctl_event_line(const char *name, json_t *data)
{
	struct timeval tv;

	(void)gettimeofday(&tv, NULL);
	return dump(json_pack("{s:s, s:o, s:{s:I, s:I}}", "event", name, "data",
			      data ? data : json_object(), "timestamp",
			      "seconds", (json_int_t)tv.tv_sec, "microseconds",
			      (json_int_t)tv.tv_usec));
}

static json_int_t
u64(uint64_t v)
{
	/* JSON numbers here are signed 64-bit; counters never get there */
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v;
}

static struct device *
find_device(struct ctl_daemon *d, const char *id)
{
	for (struct device *dev = d->devices; dev; dev = dev->next)
		if (strcmp(dev->id, id) == 0)
			return dev;
	return NULL;
}

/* The devices in config order (the list is newest first). */
static unsigned
devices_in_order(struct ctl_daemon *d, struct device **out, unsigned max)
{
	unsigned n = 0;

	for (struct device *dev = d->devices; dev && n < max; dev = dev->next)
		n++;
	unsigned i = n;
	for (struct device *dev = d->devices; dev && i > 0; dev = dev->next)
		out[--i] = dev;
	return n;
}

#define MAX_LISTED 256

/* ---- status, devices, stats -------------------------------------- */

static json_t *
cmd_status(struct ctl_daemon *d, json_t *args, json_t **err, bool *sub)
{
	uint64_t up = d->ready_usec ? ctl_now_usec() - d->ready_usec : 0;

	return json_pack("{s:i, s:o, s:i, s:i, s:f, s:s, s:b, s:i, s:s}",
			 "domid", (int)d->domid, "name",
			 d->name ? json_string(d->name) : json_null(), "server",
			 d->server ? (int)ioreq_server_id(d->server) : 0,
			 "vcpus",
			 d->server ? (int)ioreq_server_vcpu_count(d->server) :
				     0,
			 "uptime", (double)up / 1e6, "state",
			 d->stopping ? "stopping" : "running", "restricted",
			 (int)d->restricted, "pid", (int)getpid(), "version",
			 IOREQD_VERSION);
}

static bool
fact_key_ok(const char *key)
{
	static const char *const core[] = { "id", "type", "pci", "regions" };

	if (!key || !*key || strlen(key) > 32)
		return false;
	for (const char *p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == '-' || *p == '_'))
			return false;
	for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
		if (strcmp(key, core[i]) == 0)
			return false;
	return true;
}

static void
put_fact(void *ctx, const char *key, const char *value)
{
	if (fact_key_ok(key) && value)
		(void)json_object_set_new(ctx, key, json_string(value));
}

static json_t *
describe_device(const struct device *dev)
{
	json_t *o = json_pack("{s:s, s:s}", "id", dev->id, "type",
			      dev->type ? dev->type->name : "unknown");
	json_t *regions = json_array();
	const struct device_info_writer w = { .str = put_fact, .ctx = o };

	if (dev->is_pci) {
		char pci[16];

		(void)snprintf(pci, sizeof(pci), "%02x:%02x.%x",
			       (unsigned)(dev->pci_sbdf >> 8) & 0xff,
			       (unsigned)DEVICE_PCI_SLOT(dev->pci_sbdf),
			       (unsigned)DEVICE_PCI_FUNC(dev->pci_sbdf));
		(void)json_object_set_new(o, "pci", json_string(pci));
	}
	for (unsigned i = 0; i < dev->region_count && i < DEVICE_MAX_REGIONS;
	     i++) {
		const struct device_region *r = &dev->regions[i];

		if (r->size == 0)
			continue;
		(void)json_array_append_new(
			regions,
			json_pack("{s:s, s:I, s:I}", "space",
				  r->space == BUS_SPACE_PORT ? "port" : "mmio",
				  "base", u64(r->base), "size", u64(r->size)));
	}
	(void)json_object_set_new(o, "regions", regions);
	if (dev->ops && dev->ops->describe)
		dev->ops->describe(dev, &w);
	return o;
}

static json_t *
cmd_devices(struct ctl_daemon *d, json_t *args, json_t **err, bool *sub)
{
	struct device *list[MAX_LISTED];
	unsigned n = devices_in_order(d, list, MAX_LISTED);
	json_t *a = json_array();

	for (unsigned i = 0; i < n; i++)
		(void)json_array_append_new(a, describe_device(list[i]));
	return a;
}

static bool
counter_name_ok(const char *name)
{
	if (!name || !*name || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_'))
			return false;
	return true;
}

static void
put_counter(void *ctx, const char *name, uint64_t value)
{
	/* the core's own counters come first and are not overridden */
	if (counter_name_ok(name) && !json_object_get(ctx, name))
		(void)json_object_set_new(ctx, name, json_integer(u64(value)));
}

static json_t *
device_stats(const struct device *dev)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "reads",
			      u64(dev->stats.reads), "writes",
			      u64(dev->stats.writes), "bad_accesses",
			      u64(dev->stats.bad_accesses), "irq_raises",
			      u64(dev->stats.irq_raises));
	const struct device_stats_writer w = { .emit = put_counter, .ctx = o };

	if (dev->ops)
		device_emit_stats(dev, &w);
	return o;
}

static json_t *
cmd_stats(struct ctl_daemon *d, json_t *args, json_t **err, bool *sub)
{
	const char *id = json_string_value(json_object_get(args, "device"));
	struct device *list[MAX_LISTED];
	unsigned n;
	json_t *o;

	if (id) {
		struct device *dev = find_device(d, id);

		if (!dev) {
			*err = error_obj("DeviceNotFound", "no device '%s'",
					 id);
			return NULL;
		}
		return json_pack("{s:o}", dev->id, device_stats(dev));
	}
	n = devices_in_order(d, list, MAX_LISTED);
	o = json_object();
	for (unsigned i = 0; i < n; i++)
		(void)json_object_set_new(o, list[i]->id,
					  device_stats(list[i]));
	return o;
}

/* ---- server-stats, metrics ---------------------------------------- */

static const char *const kind_names[_IOREQ_KIND_COUNT] = {
	[IOREQ_KIND_PIO] = "pio",
	[IOREQ_KIND_MMIO] = "mmio",
	[IOREQ_KIND_PCI_CONFIG] = "pci_config",
	[IOREQ_KIND_TIMEOFFSET] = "timeoffset",
	[IOREQ_KIND_INVALIDATE] = "invalidate",
	[IOREQ_KIND_OTHER] = "other",
};

struct mapping_field {
	const char *name;
	size_t offset;
};

#define MAPPING(f)                                        \
	{                                                 \
#f, offsetof(struct ioreq_guest_stats, f) \
	}
static const struct mapping_field mapping_fields[] = {
	MAPPING(hits),	 MAPPING(misses),	MAPPING(maps),
	MAPPING(unmaps), MAPPING(map_failures), MAPPING(unmap_batches),
	MAPPING(pins),	 MAPPING(revocations),
};
#define MAPPING_COUNT (sizeof(mapping_fields) / sizeof(mapping_fields[0]))

static uint64_t
mapping_value(const struct ioreq_guest_stats *g, unsigned i)
{
	uint64_t v;

	memcpy(&v, (const char *)g + mapping_fields[i].offset, sizeof(v));
	return v;
}

static bool
server_counters(struct ctl_daemon *d, struct ioreq_server_stats *st,
		struct ioreq_guest_stats *g, json_t **err)
{
	if (!d->server) {
		*err = error_obj("Failed", "no ioreq server");
		return false;
	}
	ioreq_server_stats(d->server, st);
	ioreq_server_guest_stats(d->server, g);
	return true;
}

static json_t *
cmd_server_stats(struct ctl_daemon *d, json_t *args, json_t **err, bool *sub)
{
	struct ioreq_server_stats st;
	struct ioreq_guest_stats g;
	json_t *req, *lat, *map;

	if (!server_counters(d, &st, &g, err))
		return NULL;
	req = json_object();
	for (unsigned i = 0; i < _IOREQ_KIND_COUNT; i++)
		(void)json_object_set_new(req, kind_names[i],
					  json_integer(u64(st.requests[i])));
	lat = json_array();
	for (unsigned i = 0; i < IOREQ_LATENCY_BUCKETS; i++)
		(void)json_array_append_new(lat,
					    json_integer(u64(
						    st.latency_log2_ns[i])));
	map = json_object();
	for (unsigned i = 0; i < MAPPING_COUNT; i++)
		(void)json_object_set_new(map, mapping_fields[i].name,
					  json_integer(
						  u64(mapping_value(&g, i))));
	return json_pack("{s:o, s:{s:I, s:I}, s:I, s:o, s:o}", "requests", req,
			 "buffered", "drains", u64(st.buffered_drains),
			 "requests", u64(st.buffered_requests), "wakeups",
			 u64(st.wakeups), "latency_log2_ns", lat, "mapping",
			 map);
}

/* A growing text buffer for metrics. */
struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void text_add(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 4096;
		while (cap - t->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(t->buf, cap);
		if (!p) {
			t->failed = true;
			return;
		}
		t->buf = p;
		t->cap = cap;
	}
}

/* A label value, escaped as OpenMetrics asks (\\, \", \n). */
static void
text_label(struct text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			text_add(t, "\\%c", *v);
		else if (*v == '\n')
			text_add(t, "\\n");
		else
			text_add(t, "%c", *v);
	}
}

/*
 * Device counters grouped by name (a family's samples must be adjacent):
 * `stats` is {id: {name: value}}; families in first-seen order.
 */
static void
device_metrics(struct text *t, json_t *stats)
{
	json_t *names = json_object();
	const char *id, *name;
	json_t *dev, *v;

	json_object_foreach(stats, id, dev)
	{
		json_object_foreach(dev, name, v)
		{
			(void)json_object_set_new(names, name, json_true());
		}
	}
	json_object_foreach(names, name, v)
	{
		bool core = strcmp(name, "reads") == 0 ||
			    strcmp(name, "writes") == 0 ||
			    strcmp(name, "bad_accesses") == 0 ||
			    strcmp(name, "irq_raises") == 0;

		/* a device's own counters may be gauges (q0_in_flight) */
		text_add(t, "# TYPE ioreqd_device_%s %s\n", name,
			 core ? "counter" : "unknown");
		json_object_foreach(stats, id, dev)
		{
			json_t *val = json_object_get(dev, name);

			if (!val)
				continue;
			text_add(t, "ioreqd_device_%s%s{device=\"", name,
				 core ? "_total" : "");
			text_label(t, id);
			text_add(t, "\"} %lld\n",
				 (long long)json_integer_value(val));
		}
	}
	json_decref(names);
}

static void
server_metrics(struct text *t, const struct ioreq_server_stats *st,
	       const struct ioreq_guest_stats *g)
{
	uint64_t cum = 0;

	text_add(t, "# TYPE ioreqd_requests counter\n");
	for (unsigned i = 0; i < _IOREQ_KIND_COUNT; i++)
		text_add(t, "ioreqd_requests_total{type=\"%s\"} %llu\n",
			 kind_names[i], (unsigned long long)st->requests[i]);
	text_add(t,
		 "# TYPE ioreqd_buffered_drains counter\n"
		 "ioreqd_buffered_drains_total %llu\n"
		 "# TYPE ioreqd_buffered_requests counter\n"
		 "ioreqd_buffered_requests_total %llu\n"
		 "# TYPE ioreqd_wakeups counter\n"
		 "ioreqd_wakeups_total %llu\n",
		 (unsigned long long)st->buffered_drains,
		 (unsigned long long)st->buffered_requests,
		 (unsigned long long)st->wakeups);
	text_add(t, "# TYPE ioreqd_round_trip_seconds histogram\n");
	for (unsigned i = 0; i < IOREQ_LATENCY_BUCKETS; i++) {
		cum += st->latency_log2_ns[i];
		text_add(t,
			 "ioreqd_round_trip_seconds_bucket{le=\"%.9g\"} %llu\n",
			 (double)(1ull << (i + 1)) / 1e9,
			 (unsigned long long)cum);
	}
	text_add(t,
		 "ioreqd_round_trip_seconds_bucket{le=\"+Inf\"} %llu\n"
		 "ioreqd_round_trip_seconds_count %llu\n"
		 "ioreqd_round_trip_seconds_sum %.9f\n",
		 (unsigned long long)cum, (unsigned long long)cum,
		 (double)st->latency_sum_ns / 1e9);
	for (unsigned i = 0; i < MAPPING_COUNT; i++)
		text_add(t,
			 "# TYPE ioreqd_mapping_%s counter\n"
			 "ioreqd_mapping_%s_total %llu\n",
			 mapping_fields[i].name, mapping_fields[i].name,
			 (unsigned long long)mapping_value(g, i));
}

static json_t *
cmd_metrics(struct ctl_daemon *d, json_t *args, json_t **err, bool *sub)
{
	struct text t = { 0 };
	json_t *stats = cmd_stats(d, NULL, err, sub);
	struct ioreq_server_stats st;
	struct ioreq_guest_stats g;
	json_t *r;

	device_metrics(&t, stats);
	json_decref(stats);
	if (d->server) {
		ioreq_server_stats(d->server, &st);
		ioreq_server_guest_stats(d->server, &g);
		server_metrics(&t, &st, &g);
	}
	text_add(&t, "# EOF\n");
	if (t.failed) {
		free(t.buf);
		*err = error_obj("Failed", "out of memory");
		return NULL;
	}
	r = json_stringn(t.buf, t.len);
	free(t.buf);
	return r;
}

/* ---- log-level, subscribe, quit ---------------------------------- */

static const char *const level_names[_LOG_LEVEL_COUNT] = {
	[LOG_LEVEL_ERROR] = "error",   [LOG_LEVEL_WARNING] = "warn",
	[LOG_LEVEL_NOTICE] = "notice", [LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static json_t *
cmd_log_level(struct ctl_daemon *d, json_t *args, json_t **err, bool *sub)
{
	const char *name = json_string_value(json_object_get(args, "level"));
	enum log_level level;

	if (name) {
		if (log_parse_level(name, &level) < 0) {
			*err = error_obj("InvalidArgument",
					 "level: '%s' is not debug, info, "
					 "notice, warn or error",
					 name);
			return NULL;
		}
		log_set_level(level);
		log_notice("control: log level set to %s", level_names[level]);
	}
	level = log_get_level();
	return json_pack("{s:s}", "level",
			 level < _LOG_LEVEL_COUNT ? level_names[level] : "?");
}

static json_t *
cmd_subscribe(struct ctl_daemon *d, json_t *args, json_t **err, bool *sub)
{
	*sub = true;
	return json_object();
}

static json_t *
cmd_quit(struct ctl_daemon *d, json_t *args, json_t **err, bool *sub)
{
	log_info("control: quit requested");
	d->stopping = true;
	if (d->quit)
		d->quit(d->quit_ctx);
	return json_object();
}

/* ---- chardev-attach, blockdev-change ------------------------------ */

static bool
path_ok(const char *what, const char *path, json_t **err)
{
	size_t len = strlen(path);

	if (len == 0 || path[0] != '/') {
		*err = error_obj("InvalidArgument",
				 "%s: must be an absolute path", what);
		return false;
	}
	if (len >= CTL_PATH_MAX) {
		*err = error_obj("InvalidArgument", "%s: longer than %u bytes",
				 what, CTL_PATH_MAX - 1);
		return false;
	}
	return true;
}

/* The YAML's backend mapping, as a JSON object, into *b (path borrowed). */
static bool
parse_backend(json_t *obj, struct cfg_backend *b, json_t **err)
{
	const char *key, *type_name;
	json_t *v, *type = json_object_get(obj, "type");
	json_t *path = json_object_get(obj, "path");
	bool has_path;
	int t;

	json_object_foreach(obj, key, v)
	{
		if (strcmp(key, "type") != 0 && strcmp(key, "path") != 0) {
			*err = error_obj("InvalidArgument",
					 "backend: unknown key '%s'", key);
			return false;
		}
	}
	if (!json_is_string(type)) {
		*err = error_obj("InvalidArgument",
				 type ? "backend: 'type' must be a string" :
					"backend: 'type' is required");
		return false;
	}
	type_name = json_string_value(type);
	for (t = 0; t < _CFG_BACKEND_COUNT; t++) {
		const char *n = cfg_backend_type_name((enum cfg_backend_type)t);

		if (n && strcmp(n, type_name) == 0)
			break;
	}
	if (t == _CFG_BACKEND_COUNT) {
		*err = error_obj("InvalidArgument",
				 "backend: unknown type '%s' (file, socket, "
				 "pty, stdio or null)",
				 type_name);
		return false;
	}
	has_path = t == CFG_BACKEND_FILE || t == CFG_BACKEND_SOCKET;
	if (path && !json_is_string(path)) {
		*err = error_obj("InvalidArgument",
				 "backend: 'path' must be a string");
		return false;
	}
	if (has_path != (path != NULL)) {
		*err = error_obj("InvalidArgument",
				 has_path ?
					 "backend type '%s' requires 'path'" :
					 "backend type '%s' takes no 'path'",
				 type_name);
		return false;
	}
	if (path && !path_ok("backend: path", json_string_value(path), err))
		return false;
	*b = (struct cfg_backend){ .type = (enum cfg_backend_type)t };
	b->path = path ? (char *)json_string_value(path) : NULL;
	return true;
}

static struct device *
device_arg(struct ctl_daemon *d, json_t *args, json_t **err)
{
	const char *id = json_string_value(json_object_get(args, "device"));
	struct device *dev = find_device(d, id);

	if (!dev)
		*err = error_obj("DeviceNotFound", "no device '%s'", id);
	return dev;
}

static json_t *
op_result(const struct device *dev, const char *what, int r, json_t **err)
{
	if (r == -EOPNOTSUPP || r == -ENOSYS) {
		*err = error_obj("NotSupported", "device '%s' (%s) cannot %s",
				 dev->id, dev->type ? dev->type->name : "?",
				 what);
		return NULL;
	}
	if (r < 0) {
		*err = error_obj("Failed", "device '%s': %s: %s", dev->id, what,
				 strerror(-r));
		return NULL;
	}
	log_notice("control: device %s: %s done", dev->id, what);
	return json_object();
}

static json_t *
cmd_chardev_attach(struct ctl_daemon *d, json_t *args, json_t **err, bool *sub)
{
	struct device *dev = device_arg(d, args, err);
	struct cfg_backend b;

	if (!dev || !parse_backend(json_object_get(args, "backend"), &b, err))
		return NULL;
	if (!dev->ops->chardev_attach)
		return op_result(dev, "attach a character backend", -EOPNOTSUPP,
				 err);
	return op_result(dev, "attach a character backend",
			 dev->ops->chardev_attach(dev, &b), err);
}

static json_t *
cmd_blockdev_change(struct ctl_daemon *d, json_t *args, json_t **err, bool *sub)
{
	struct device *dev = device_arg(d, args, err);
	const char *path = json_string_value(json_object_get(args, "path"));
	json_t *ro = json_object_get(args, "read-only");

	if (!dev)
		return NULL;
	if (!path && !ro) {
		*err = error_obj("InvalidArgument",
				 "give 'path', 'read-only' or both");
		return NULL;
	}
	if (path && !path_ok("path", path, err))
		return NULL;
	if (!dev->ops->blockdev_change)
		return op_result(dev, "change its medium", -EOPNOTSUPP, err);
	return op_result(dev, "change its medium",
			 dev->ops->blockdev_change(dev, path,
						   ro ? json_is_true(ro) : -1),
			 err);
}

/* ---- the table ---------------------------------------------------- */

static const struct arg_spec no_args[] = { { NULL } };
static const struct arg_spec stats_args[] = {
	{ "device", ARG_STRING, false },
	{ NULL },
};
static const struct arg_spec level_args[] = {
	{ "level", ARG_STRING, false },
	{ NULL },
};
static const struct arg_spec attach_args[] = {
	{ "device", ARG_STRING, true },
	{ "backend", ARG_OBJECT, true },
	{ NULL },
};
static const struct arg_spec change_args[] = {
	{ "device", ARG_STRING, true },
	{ "path", ARG_STRING, false },
	{ "read-only", ARG_BOOL, false },
	{ NULL },
};

static const struct command commands[] = {
	{ "status", no_args, cmd_status },
	{ "devices", no_args, cmd_devices },
	{ "stats", stats_args, cmd_stats },
	{ "server-stats", no_args, cmd_server_stats },
	{ "metrics", no_args, cmd_metrics },
	{ "log-level", level_args, cmd_log_level },
	{ "chardev-attach", attach_args, cmd_chardev_attach },
	{ "blockdev-change", change_args, cmd_blockdev_change },
	{ "subscribe", no_args, cmd_subscribe },
	{ "quit", no_args, cmd_quit },
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

char *
ctl_greeting(void)
{
	json_t *names = json_array();

	for (size_t i = 0; i < COMMAND_COUNT; i++)
		(void)json_array_append_new(names,
					    json_string(commands[i].name));
	return dump(json_pack("{s:{s:s, s:i, s:o}}", "ioreqd", "version",
			      IOREQD_VERSION, "protocol", CTL_PROTOCOL,
			      "commands", names));
}

static const char *
type_name(enum arg_type t)
{
	return t == ARG_STRING ? "a string" :
	       t == ARG_BOOL   ? "a boolean" :
				 "an object";
}

static bool
type_ok(enum arg_type t, json_t *v)
{
	return t == ARG_STRING ? json_is_string(v) :
	       t == ARG_BOOL   ? json_is_boolean(v) :
				 json_is_object(v);
}

static bool
check_args(const struct command *cmd, json_t *args, json_t **err)
{
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v)
	{
		const struct arg_spec *a = cmd->args;

		while (a->name && strcmp(a->name, key) != 0)
			a++;
		if (!a->name) {
			*err = error_obj("InvalidArgument",
					 "%s: unknown argument '%s'", cmd->name,
					 key);
			return false;
		}
		if (!type_ok(a->type, v)) {
			*err = error_obj("InvalidArgument",
					 "%s: '%s' must be %s", cmd->name, key,
					 type_name(a->type));
			return false;
		}
	}
	for (const struct arg_spec *a = cmd->args; a->name; a++)
		if (a->required && !json_object_get(args, a->name)) {
			*err = error_obj("InvalidArgument",
					 "%s: missing argument '%s'", cmd->name,
					 a->name);
			return false;
		}
	return true;
}

/* The command's result, or NULL with *err. */
static json_t *
run_request(struct ctl_daemon *d, json_t *req, json_t **err, bool *sub)
{
	const char *key, *name;
	json_t *v, *args, *empty, *result;
	const struct command *cmd = NULL;

	json_object_foreach(req, key, v)
	{
		if (strcmp(key, "execute") && strcmp(key, "arguments") &&
		    strcmp(key, "id")) {
			*err = error_obj("InvalidArgument",
					 "unknown request key '%s'", key);
			return NULL;
		}
	}
	name = json_string_value(json_object_get(req, "execute"));
	if (!name) {
		*err = error_obj("InvalidArgument",
				 "'execute' is required and must be a string");
		return NULL;
	}
	args = json_object_get(req, "arguments");
	if (args && !json_is_object(args)) {
		*err = error_obj("InvalidArgument",
				 "'arguments' must be an object");
		return NULL;
	}
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		if (strcmp(commands[i].name, name) == 0)
			cmd = &commands[i];
	if (!cmd) {
		*err = error_obj("CommandNotFound", "no command '%s'", name);
		return NULL;
	}
	empty = json_object();
	if (!args)
		args = empty;
	result = check_args(cmd, args, err) ? cmd->run(d, args, err, sub) :
					      NULL;
	json_decref(empty);
	if (!result && !*err)
		*err = error_obj("Failed", "out of memory");
	return result;
}

char *
ctl_handle_request(struct ctl_daemon *d, const char *line, size_t len,
		   bool *ret_subscribe)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *err = NULL, *result, *reply, *id;
	bool sub = false;

	*ret_subscribe = false;
	if (!req || !json_is_object(req)) {
		json_decref(req);
		return dump(json_pack("{s:o}", "error",
				      error_obj("ParseError", "%s",
						req ? "not a JSON object" :
						      jerr.text)));
	}
	result = run_request(d, req, &err, &sub);
	reply = result ? json_pack("{s:o}", "return", result) :
			 json_pack("{s:o}", "error", err);
	id = json_object_get(req, "id");
	if (reply && id)
		(void)json_object_set(reply, "id", id);
	json_decref(req);
	if (result)
		*ret_subscribe = sub;
	return dump(reply);
}
