/*
 * Renders control-protocol replies for people (man/ioreqctl.1 shows the
 * formats).  Scripts should use --json: these layouts may gain columns.
 */
#include "show.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "table.h"

int
show_json(json_t *v, bool compact)
{
	size_t flags = JSON_ENCODE_ANY |
		       (compact ? JSON_COMPACT : JSON_INDENT(2));
	char *s = json_dumps(v, flags);

	if (!s)
		return -ENOMEM;
	puts(s);
	free(s);
	return 0;
}

/* Adds v's members to t as key-value rows, nested objects as
 * "outer.inner" (prefix is the path so far, "" at the top). */
static int
add_members(struct table *t, const char *prefix, json_t *v)
{
	const char *key;
	json_t *m;

	json_object_foreach(v, key, m)
	{
		char name[256];
		int r;

		snprintf(name, sizeof(name), "%s%s%s", prefix,
			 *prefix ? "." : "", key);
		if (json_is_object(m) && json_object_size(m) > 0) {
			r = add_members(t, name, m);
		} else {
			char *val = table_value(m);
			if (!val)
				return -ENOMEM;
			r = table_add_kv(t, name, val);
			free(val);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int
show_kv(json_t *v)
{
	struct table t;
	int r;

	if (!json_is_object(v))
		return show_json(v, false);
	table_init(&t, 2, 0, NULL);
	r = add_members(&t, "", v);
	if (r == 0)
		table_print(&t, stdout);
	table_free(&t);
	return r;
}

static void
format_uptime(double sec, char *buf, size_t size)
{
	long long s = sec > 0 && sec < 1e15 ? (long long)sec : 0;
	long long d = s / 86400;

	if (d > 0)
		snprintf(buf, size, "%.1f s (%lld days %02lld:%02lld:%02lld)",
			 sec, d, s / 3600 % 24, s / 60 % 60, s % 60);
	else
		snprintf(buf, size, "%.1f s (%02lld:%02lld:%02lld)", sec,
			 s / 3600, s / 60 % 60, s % 60);
}

int
show_status(json_t *v)
{
	/* The facts an operator looks for first, in that order; any other
	 * key follows as the daemon sent it. */
	static const char *const order[] = { "name",  "domid",	 "state",
					     "pid",   "version", "server",
					     "vcpus", "uptime",	 "restricted" };
	struct table t;
	const char *key;
	json_t *m;
	int r = 0;

	if (!json_is_object(v))
		return show_json(v, false);
	table_init(&t, 2, 0, NULL);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && r == 0;
	     i++) {
		char buf[96];
		char *val;

		m = json_object_get(v, order[i]);
		if (!m)
			continue;
		if (strcmp(order[i], "uptime") == 0 && json_is_number(m)) {
			format_uptime(json_number_value(m), buf, sizeof(buf));
			val = strdup(buf);
		} else {
			val = table_value(m);
		}
		r = val ? table_add_kv(&t, order[i], val) : -ENOMEM;
		free(val);
	}
	json_object_foreach(v, key, m)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
			known |= strcmp(key, order[i]) == 0;
		if (known || r < 0)
			continue;
		char *val = table_value(m);
		r = val ? table_add_kv(&t, key, val) : -ENOMEM;
		free(val);
	}
	if (r == 0)
		table_print(&t, stdout);
	table_free(&t);
	return r;
}

static void
format_size(long long size, char *buf, size_t len)
{
	if (size >= (1ll << 30) && size % (1ll << 30) == 0)
		snprintf(buf, len, "%lldG", size >> 30);
	else if (size >= (1 << 20) && size % (1 << 20) == 0)
		snprintf(buf, len, "%lldM", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(buf, len, "%lldK", size >> 10);
	else
		snprintf(buf, len, "%lld", size);
}

/* "port 0x3f8+8, mmio 0xfe000000+4K"; NULL on ENOMEM; "-" when none. */
static char *
format_regions(json_t *regions)
{
	size_t i, cap = 1, len = 0;
	char *s = NULL;
	json_t *reg;

	if (!json_is_array(regions))
		return table_value(regions);
	if (json_array_size(regions) == 0)
		return strdup("-");
	json_array_foreach(regions, i, reg)
	{
		const char *space = json_string_value(
			json_object_get(reg, "space"));
		json_t *base = json_object_get(reg, "base");
		json_t *size = json_object_get(reg, "size");
		char one[128], sz[32];

		if (!space || !json_is_integer(base) ||
		    !json_is_integer(size)) {
			char *j = table_value(reg);
			snprintf(one, sizeof(one), "%s", j ? j : "?");
			free(j);
		} else {
			format_size(json_integer_value(size), sz, sizeof(sz));
			snprintf(one, sizeof(one), "%s 0x%llx+%s", space,
				 (unsigned long long)json_integer_value(base),
				 sz);
		}
		size_t n = strlen(one) + 2;
		char *ns = realloc(s, cap + len + n);
		if (!ns) {
			free(s);
			return NULL;
		}
		s = ns;
		snprintf(s + len, n + 1, "%s%s", i ? ", " : "", one);
		len += strlen(s + len);
	}
	return s;
}

int
show_devices(json_t *v)
{
	static const char *const header[] = {
		"ID", "TYPE", "PCI", "REGIONS", "INTERRUPT", "BACKEND"
	};
	static const char *const keys[] = { "id",      "type",	    "pci",
					    "regions", "interrupt", "backend" };
	struct table t;
	json_t *dev;
	size_t i;
	int r = 0;

	if (!json_is_array(v))
		return show_json(v, false);
	table_init(&t, 6, 0, header);
	json_array_foreach(v, i, dev)
	{
		char *cells[6];

		for (size_t k = 0; k < 6; k++) {
			json_t *m = json_object_get(dev, keys[k]);
			cells[k] = k == 3 ? format_regions(m) : table_value(m);
			if (!cells[k])
				r = -ENOMEM;
		}
		if (r == 0)
			r = table_add(&t, (const char *const *)cells);
		for (size_t k = 0; k < 6; k++)
			free(cells[k]);
		if (r < 0)
			break;
	}
	if (r == 0)
		table_print(&t, stdout);
	table_free(&t);
	return r;
}

static const char *const stats_fixed[] = { "reads", "writes", "bad_accesses",
					   "irq_raises" };

/* "name=value name=value" of the counters beyond the fixed four. */
static char *
stats_other(json_t *counters)
{
	size_t len = 0;
	char *s = strdup("");
	const char *key;
	json_t *m;

	json_object_foreach(counters, key, m)
	{
		bool fixed = false;
		for (size_t i = 0; i < 4; i++)
			fixed |= strcmp(key, stats_fixed[i]) == 0;
		char *val = fixed || !s ? NULL : table_value(m);
		if (!val)
			continue;
		size_t n = strlen(key) + strlen(val) + 3;
		char *ns = realloc(s, len + n);
		if (ns)
			snprintf(ns + len, n, "%s%s=%s", len ? " " : "", key,
				 val);
		free(val);
		if (!ns) {
			free(s);
			return NULL;
		}
		s = ns;
		len += strlen(s + len);
	}
	if (s && !*s) {
		free(s);
		return strdup("-");
	}
	return s;
}

int
show_stats(json_t *v, bool per_second)
{
	static const char *const totals[] = { "DEVICE", "READS", "WRITES",
					      "BAD",	"IRQS",	 "OTHER" };
	static const char *const rates[] = { "DEVICE", "READS/s", "WRITES/s",
					     "BAD/s",  "IRQS/s",  "OTHER/s" };
	struct table t;
	const char *id;
	json_t *counters;
	int r = 0;

	if (!json_is_object(v))
		return show_json(v, false);
	table_init(&t, 6, 0x1e, per_second ? rates : totals);
	json_object_foreach(v, id, counters)
	{
		char *cells[6] = { strdup(id) };

		for (size_t k = 0; k < 4; k++)
			cells[k + 1] = table_value(
				json_object_get(counters, stats_fixed[k]));
		cells[5] = stats_other(counters);
		for (size_t k = 0; k < 6; k++)
			if (!cells[k])
				r = -ENOMEM;
		if (r == 0)
			r = table_add(&t, (const char *const *)cells);
		for (size_t k = 0; k < 6; k++)
			free(cells[k]);
		if (r < 0)
			break;
	}
	if (r == 0)
		table_print(&t, stdout);
	table_free(&t);
	return r;
}

/* 2^i ns as "512ns", "1.0us", "2.1ms", "1.1s". */
static void
format_ns(unsigned i, char *buf, size_t len)
{
	double ns = (double)(1ull << (i < 63 ? i : 63));

	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else
		snprintf(buf, len, "%.1fs", ns / 1e9);
}

/* The latency histogram as one "latency LOW-HIGH: N" row per non-empty
 * bucket. */
static int
add_latency(struct table *t, json_t *hist)
{
	json_t *n;
	size_t i;
	int r = 0;

	json_array_foreach(hist, i, n)
	{
		char key[64], lo[16], hi[16];
		char *val;

		if (json_is_integer(n) && json_integer_value(n) == 0)
			continue;
		format_ns((unsigned)i, lo, sizeof(lo));
		format_ns((unsigned)i + 1, hi, sizeof(hi));
		snprintf(key, sizeof(key), "latency %s-%s", lo, hi);
		val = table_value(n);
		r = val ? table_add_kv(t, key, val) : -ENOMEM;
		free(val);
		if (r < 0)
			break;
	}
	return r;
}

int
show_server_stats(json_t *v)
{
	json_t *hist = json_object_get(v, "latency_log2_ns");
	json_t *rest;
	struct table t;
	int r;

	if (!json_is_object(v) || !json_is_array(hist))
		return show_kv(v);
	rest = json_deep_copy(v);
	if (!rest)
		return -ENOMEM;
	(void)json_object_del(rest, "latency_log2_ns");
	table_init(&t, 2, 0, NULL);
	r = add_members(&t, "", rest);
	if (r == 0)
		r = add_latency(&t, hist);
	if (r == 0)
		table_print(&t, stdout);
	table_free(&t);
	json_decref(rest);
	return r;
}

/* A data value for key=value: a string as it is unless it needs quotes
 * (blanks, quotes, empty), then JSON-quoted; other values as JSON. */
static char *
event_value(json_t *m)
{
	const char *s = json_string_value(m);

	if (s && *s && !strpbrk(s, " \t\"=\\"))
		return table_value(m);
	char *j = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!j)
		return NULL;
	for (char *p = j; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return j;
}

int
show_event(json_t *event)
{
	json_t *ts = json_object_get(event, "timestamp");
	json_t *sec = json_object_get(ts, "seconds");
	json_t *usec = json_object_get(ts, "microseconds");
	json_t *data = json_object_get(event, "data");
	char *name = table_value(json_object_get(event, "event"));
	char when[64] = "-";
	const char *key;
	json_t *m;

	if (!name)
		return -ENOMEM;
	if (json_is_integer(sec)) {
		time_t t = (time_t)json_integer_value(sec);
		struct tm tm;
		char d[40];

		if (localtime_r(&t, &tm) &&
		    strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm) > 0)
			snprintf(when, sizeof(when), "%s.%06lld", d,
				 json_is_integer(usec) ?
					 (long long)json_integer_value(usec) %
						 1000000 :
					 0ll);
	}
	printf("%s %s", when, name);
	free(name);
	json_object_foreach(data, key, m)
	{
		char *val = event_value(m);
		if (!val)
			return -ENOMEM;
		putchar(' ');
		for (const char *p = key; *p; p++)
			putchar((unsigned char)*p < 0x20 || *p == 0x7f ? '?' :
									 *p);
		printf("=%s", val);
		free(val);
	}
	putchar('\n');
	return fflush(stdout) == 0 ? 0 : -errno;
}

json_t *
stats_rates(json_t *old, json_t *new, double elapsed_sec)
{
	json_t *out = json_object();
	const char *id;
	json_t *counters;

	if (!out)
		return NULL;
	json_object_foreach(new, id, counters)
	{
		json_t *was = json_object_get(old, id);
		json_t *dev = json_object();
		const char *key;
		json_t *m;

		if (!dev || json_object_set_new(out, id, dev) < 0)
			goto fail;
		json_object_foreach(counters, key, m)
		{
			json_t *o = json_object_get(was, key);
			size_t kl = strlen(key);
			json_t *rate;

			if (!json_is_integer(m))
				continue;
			if (kl >= 10 &&
			    strcmp(key + kl - 10, "_in_flight") == 0)
				rate = json_integer(json_integer_value(m));
			else if (json_is_integer(o) && elapsed_sec > 0)
				rate = json_real(
					(double)(json_integer_value(m) -
						 json_integer_value(o)) /
					elapsed_sec);
			else
				continue;
			if (json_object_set_new(dev, key, rate) < 0)
				goto fail;
		}
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}
