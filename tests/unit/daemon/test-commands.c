/*
 * Unit test of daemon/commands.c, the control socket's command layer,
 * with strings in and out and two in-memory devices (no server): every
 * error class of a bad request, that an error changes nothing, the
 * device list and counters, the optional device ops treated as absent
 * when NULL, quit and subscribe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/commands.h"
#include "devices/device.h"
#include "tests/unit/check.h"

static int quits, changes;

static void
own_stats(const struct device *dev, const struct device_stats_writer *w)
{
	device_stats_emit(w, "q0_requests", 7);
	device_stats_emit(w, "Bad-Name", 1); /* dropped: not [a-z0-9_] */
	device_stats_emit(w, "reads", 99);   /* cannot override the core's */
}

static void
facts(const struct device *dev, const struct device_info_writer *w)
{
	device_info_str(w, "backend", "file:/x.img");
	device_info_str(w, "id", "spoofed"); /* the core's key: ignored */
}

static int
change(struct device *dev, const char *path, int read_only)
{
	changes++;
	return path && strcmp(path, "/missing") == 0 ? -ENOENT : 0;
}

static const struct device_ops blk_ops = {
	.stats = own_stats,
	.describe = facts,
	.blockdev_change = change,
};
static const struct device_ops uart_ops = { 0 };
static const struct device_type blk_type = { .name = "virtio-blk" };
static const struct device_type uart_type = { .name = "uart16550" };

static void
on_quit(void *ctx)
{
	quits++;
}

/* The reply to `req` as JSON (the caller frees it). */
static json_t *
ask(struct ctl_daemon *d, const char *req, bool *sub)
{
	bool dummy;
	char *line = ctl_handle_request(d, req, strlen(req),
					sub ? sub : &dummy);
	json_t *j = line ? json_loads(line, 0, NULL) : NULL;

	CHECK(line && !strchr(line, '\n'));
	free(line);
	return j;
}

static const char *
error_class(struct ctl_daemon *d, const char *req)
{
	static char cls[64];
	json_t *j = ask(d, req, NULL);
	const char *c = json_string_value(
		json_object_get(json_object_get(j, "error"), "class"));

	(void)snprintf(cls, sizeof(cls), "%s", c ? c : "(none)");
	json_decref(j);
	return cls;
}

int
main(void)
{
	struct device uart = { .type = &uart_type,
			       .ops = &uart_ops,
			       .id = "com1",
			       .region_count = 1,
			       .regions = { { BUS_SPACE_PORT, 0x3f8, 8, 1 } } };
	struct device blk = { .type = &blk_type,
			      .ops = &blk_ops,
			      .id = "vda",
			      .is_pci = true,
			      .pci_sbdf = DEVICE_PCI_SBDF(0, 5, 0),
			      .next = &uart };
	struct ctl_daemon d = {
		.domid = 5, .name = "web1", .devices = &blk, .quit = on_quit
	};
	bool sub = false;
	json_t *j, *r;
	char *s, big[300];

	uart.stats.writes = 5;
	/* error classes */
	CHECK(strcmp(error_class(&d, "{"), "ParseError") == 0);
	CHECK(strcmp(error_class(&d, "[]"), "ParseError") == 0);
	CHECK(strcmp(error_class(&d, "{} x"), "ParseError") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"a\",\"execute\":\"b\"}"),
		     "ParseError") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"nope\"}"),
		     "CommandNotFound") == 0);
	CHECK(strcmp(error_class(&d, "{}"), "InvalidArgument") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":1}"), "InvalidArgument") ==
	      0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"status\",\"x\":1}"),
		     "InvalidArgument") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"status\","
				     "\"arguments\":{\"a\":1}}"),
		     "InvalidArgument") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"stats\","
				     "\"arguments\":{\"device\":1}}"),
		     "InvalidArgument") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"stats\","
				     "\"arguments\":{\"device\":\"vdb\"}}"),
		     "DeviceNotFound") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"blockdev-change\"}"),
		     "InvalidArgument") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"blockdev-change\","
				     "\"arguments\":{\"device\":\"com1\","
				     "\"read-only\":true}}"),
		     "NotSupported") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"chardev-attach\","
				     "\"arguments\":{\"device\":\"com1\","
				     "\"backend\":{\"type\":\"null\"}}}"),
		     "NotSupported") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"blockdev-change\","
				     "\"arguments\":{\"device\":\"vda\","
				     "\"path\":\"/missing\"}}"),
		     "Failed") == 0);
	CHECK(strcmp(error_class(&d, "{\"execute\":\"server-stats\"}"),
		     "Failed") == 0);
	CHECK_EQ(quits, 0);

	/* the id is echoed, whatever JSON it is */
	j = ask(&d, "{\"execute\":\"status\",\"id\":[1,{\"a\":2}]}", NULL);
	s = json_dumps(json_object_get(j, "id"), JSON_COMPACT);
	CHECK(s && strcmp(s, "[1,{\"a\":2}]") == 0);
	free(s);
	r = json_object_get(j, "return");
	CHECK_EQ(json_integer_value(json_object_get(r, "domid")), 5);
	CHECK(strcmp(json_string_value(json_object_get(r, "name")), "web1") ==
	      0);
	json_decref(j);

	/* devices: config order (the list is newest first), facts */
	j = ask(&d, "{\"execute\":\"devices\"}", NULL);
	r = json_object_get(j, "return");
	CHECK_EQ(json_array_size(r), 2);
	CHECK(strcmp(json_string_value(
			     json_object_get(json_array_get(r, 0), "id")),
		     "com1") == 0);
	CHECK(strcmp(json_string_value(
			     json_object_get(json_array_get(r, 1), "id")),
		     "vda") == 0);
	CHECK(strcmp(json_string_value(
			     json_object_get(json_array_get(r, 1), "pci")),
		     "00:05.0") == 0);
	CHECK(strcmp(json_string_value(
			     json_object_get(json_array_get(r, 1), "backend")),
		     "file:/x.img") == 0);
	CHECK(!json_object_get(json_array_get(r, 0), "backend"));
	s = json_dumps(json_object_get(json_array_get(r, 0), "regions"),
		       JSON_COMPACT);
	CHECK(s && strcmp(s, "[{\"space\":\"port\",\"base\":1016,"
			     "\"size\":8}]") == 0);
	free(s);
	json_decref(j);

	/* stats: core counters, own counters filtered */
	j = ask(&d, "{\"execute\":\"stats\"}", NULL);
	r = json_object_get(j, "return");
	CHECK_EQ(json_integer_value(
			 json_object_get(json_object_get(r, "com1"), "writes")),
		 5);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(r, "vda"),
						    "q0_requests")),
		 7);
	CHECK_EQ(json_integer_value(
			 json_object_get(json_object_get(r, "vda"), "reads")),
		 0);
	CHECK(!json_object_get(json_object_get(r, "vda"), "Bad-Name"));
	json_decref(j);

	/* metrics */
	j = ask(&d, "{\"execute\":\"metrics\"}", NULL);
	s = (char *)json_string_value(json_object_get(j, "return"));
	CHECK(s && strstr(s, "# TYPE ioreqd_device_writes counter\n"
			     "ioreqd_device_writes_total{device=\"com1\"} 5\n"
			     "ioreqd_device_writes_total{device=\"vda\"} 0\n"));
	CHECK(s && strlen(s) > 6 && strcmp(s + strlen(s) - 6, "# EOF\n") == 0);
	json_decref(j);

	/* blockdev-change reaches the op; subscribe; quit */
	j = ask(&d,
		"{\"execute\":\"blockdev-change\",\"arguments\":"
		"{\"device\":\"vda\",\"read-only\":false}}",
		NULL);
	CHECK(json_object_get(j, "return") != NULL);
	CHECK_EQ(changes, 2);
	json_decref(j);
	j = ask(&d, "{\"execute\":\"subscribe\"}", &sub);
	CHECK(sub);
	json_decref(j);
	j = ask(&d, "{\"execute\":\"status\"}", &sub);
	CHECK(!sub);
	json_decref(j);
	j = ask(&d, "{\"execute\":\"quit\"}", NULL);
	CHECK_EQ(quits, 1);
	CHECK(d.stopping);
	json_decref(j);

	/* a long id in an error reply is still one line */
	memset(big, 'a', sizeof(big));
	memcpy(big, "{\"execute\":\"x\",\"id\":\"", 21);
	memcpy(big + sizeof(big) - 3, "\"}", 3);
	CHECK(strcmp(error_class(&d, big), "CommandNotFound") == 0);
	s = ctl_error_line("TooLong", "x");
	CHECK(s && strcmp(s, "{\"error\":{\"class\":\"TooLong\","
			     "\"desc\":\"x\"}}") == 0);
	free(s);
	return test_finish();
}
