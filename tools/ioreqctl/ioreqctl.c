/*
 * ioreqctl: the command-line client of ioreqd's control socket
 * (docs/control-protocol.md, man/ioreqctl.1).
 *
 *   ioreqctl [-s SOCKET | GUEST] [--json] [--timeout SEC] COMMAND [ARGS]
 *
 * The command line is checked completely before connecting, so a usage
 * error (exit 2) never depends on whether a daemon runs.  Each command
 * is one request (watch: subscribe, then events; stats --interval: one
 * stats request per interval) on one connection.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "conn.h"
#include "exit-codes.h"
#include "show.h"

#define RUN_DIR		     "/run/ioreqd"
#define DEFAULT_TIMEOUT_MSEC 10000

struct ctx {
	const char *socket_path; /* -s, or RUN_DIR/GUEST.sock */
	const char *guest;	 /* NULL with -s */
	bool json;
	int timeout_msec; /* -1: wait forever */
	char path_buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn conn;
	bool connected;
};

static const char usage_text[] =
	"Usage: ioreqctl [-s SOCKET | GUEST] [--json] [--timeout SEC] COMMAND [ARGS]\n"
	"\n"
	"Talks to the ioreqd serving GUEST (socket " RUN_DIR "/GUEST.sock)\n"
	"or listening at SOCKET.\n"
	"\n"
	"Commands:\n"
	"  status                          the daemon and its guest\n"
	"  devices                         the devices, their windows and backends\n"
	"  stats [DEVICE] [--interval SEC [--count N]]\n"
	"                                  device counters, or their rates every SEC\n"
	"  server-stats                    the IOREQ server's counters and latency\n"
	"  metrics                         every counter in OpenMetrics text\n"
	"  log-level [LEVEL]               show or set: debug info notice warn error\n"
	"  chardev-attach DEVICE TYPE[:PATH]\n"
	"                                  new backend: socket:P file:P pty null stdio\n"
	"  blockdev-change DEVICE [--path FILE] [--read-only|--read-write]\n"
	"                                  new medium or read-only state of a disk\n"
	"  watch                           print events until ioreqd stops or ^C\n"
	"  quit                            stop ioreqd\n"
	"  call NAME [JSON-ARGUMENTS]      any command, arguments as a JSON object\n"
	"\n"
	"Exit status: 0 ok, 1 ioreqd answered an error, 2 usage, 3 no ioreqd,\n"
	"4 permission denied, 5 protocol error or timeout.  See ioreqctl(1).\n";

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ioreqctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'ioreqctl --help'.\n", stderr);
	return IOREQCTL_USAGE;
}

/* SEC: a decimal number of seconds, > 0 (>= 0 with allow_zero), at most
 * a day; to milliseconds, rounded up so that 0.0001 is not 0. */
static int
parse_seconds(const char *s, bool allow_zero, int *ret_msec)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400 ||
	    (v == 0 && !allow_zero))
		return -EINVAL;
	*ret_msec = (int)ceil(v * 1000);
	return 0;
}

static int
parse_count(const char *s, unsigned long *ret)
{
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	*ret = strtoul(s, &end, 10);
	if (errno || *end || *ret == 0 || *ret > 1000000000ul)
		return -EINVAL;
	return 0;
}

/*
 * An option with a value, as "--name VALUE" or "--name=VALUE" (or
 * "-s VALUE" for a one-letter alias).  Returns 1 with *ret_value set and
 * *i moved past it, 0 when argv[*i] is not this option, -1 (reported)
 * when the value is missing.
 */
static int
option_value(int argc, char **argv, int *i, const char *name, const char *alias,
	     const char **ret_value)
{
	const char *a = argv[*i];
	size_t len = strlen(name);

	if (strncmp(a, name, len) == 0 && a[len] == '=') {
		*ret_value = a + len + 1;
		(*i)++;
		return 1;
	}
	if (strcmp(a, name) != 0 && !(alias && strcmp(a, alias) == 0))
		return 0;
	if (*i + 1 >= argc) {
		usage_error("%s needs a value", a);
		return -1;
	}
	*ret_value = argv[*i + 1];
	*i += 2;
	return 1;
}

/* --json and --timeout, accepted before and after the command.  1 when
 * argv[*i] was one (consumed), 0 when not, -1 on a usage error. */
static int
global_option(struct ctx *ctx, int argc, char **argv, int *i)
{
	const char *v;
	int r;

	if (strcmp(argv[*i], "--json") == 0 || strcmp(argv[*i], "-j") == 0) {
		ctx->json = true;
		(*i)++;
		return 1;
	}
	r = option_value(argc, argv, i, "--timeout", NULL, &v);
	if (r <= 0)
		return r;
	if (parse_seconds(v, true, &ctx->timeout_msec) < 0) {
		usage_error("--timeout: '%s' is not a number of seconds "
			    "(0 waits forever)",
			    v);
		return -1;
	}
	if (ctx->timeout_msec == 0)
		ctx->timeout_msec = -1;
	return 1;
}

/* The command's own arguments: global options are taken out, the rest
 * is left in args[0..*ret_count) (options included, for the command). */
struct args {
	int count;
	char **v;
};

static int
connect_ctx(struct ctx *ctx)
{
	int r = conn_open(&ctx->conn, ctx->socket_path, ctx->guest,
			  ctx->timeout_msec);

	ctx->connected = true;
	return r;
}

/* Runs one request and prints its value: human form through show, or
 * JSON with --json.  show NULL prints nothing for an empty object (the
 * {} of commands that only act) and JSON otherwise. */
static int
run_simple(struct ctx *ctx, const char *name, json_t *args,
	   int (*show)(json_t *))
{
	json_t *ret;
	int r = connect_ctx(ctx);

	if (r != IOREQCTL_OK) {
		json_decref(args);
		return r;
	}
	r = conn_call(&ctx->conn, name, args, &ret);
	if (r != IOREQCTL_OK)
		return r;
	if (ctx->json)
		r = show_json(ret, false);
	else if (show)
		r = show(ret);
	else if (!(json_is_object(ret) && json_object_size(ret) == 0))
		r = show_json(ret, false);
	json_decref(ret);
	if (r < 0) {
		fprintf(stderr, "ioreqctl: out of memory\n");
		return IOREQCTL_PROTOCOL;
	}
	return IOREQCTL_OK;
}

static int
no_arguments(const char *cmd, struct args *a)
{
	if (a->count > 0)
		return usage_error("%s: unexpected argument '%s'", cmd,
				   a->v[0]);
	return IOREQCTL_OK;
}

static int
show_devices_cb(json_t *v)
{
	return show_devices(v);
}

static int
show_stats_totals(json_t *v)
{
	return show_stats(v, false);
}

static int
show_metrics(json_t *v)
{
	/* OpenMetrics text as the daemon made it: it ends in "# EOF\n". */
	if (!json_is_string(v))
		return show_json(v, false);
	fwrite(json_string_value(v), 1, json_string_length(v), stdout);
	return 0;
}

static int
cmd_status(struct ctx *ctx, struct args *a)
{
	int r = no_arguments("status", a);

	return r ? r : run_simple(ctx, "status", NULL, show_status);
}

static int
cmd_devices(struct ctx *ctx, struct args *a)
{
	int r = no_arguments("devices", a);

	return r ? r : run_simple(ctx, "devices", NULL, show_devices_cb);
}

static int
cmd_server_stats(struct ctx *ctx, struct args *a)
{
	int r = no_arguments("server-stats", a);

	return r ? r : run_simple(ctx, "server-stats", NULL, show_server_stats);
}

static int
cmd_metrics(struct ctx *ctx, struct args *a)
{
	int r = no_arguments("metrics", a);

	return r ? r : run_simple(ctx, "metrics", NULL, show_metrics);
}

static int
cmd_quit(struct ctx *ctx, struct args *a)
{
	int r = no_arguments("quit", a);

	return r ? r : run_simple(ctx, "quit", NULL, NULL);
}

static int
cmd_log_level(struct ctx *ctx, struct args *a)
{
	json_t *args = NULL;

	if (a->count > 1)
		return usage_error("log-level: unexpected argument '%s'",
				   a->v[1]);
	if (a->count == 1) {
		if (a->v[0][0] == '-')
			return usage_error("log-level: unknown option '%s'",
					   a->v[0]);
		args = json_pack("{ss}", "level", a->v[0]);
	}
	return run_simple(ctx, "log-level", args, show_kv);
}

static void
on_sigint(int sig)
{
	(void)sig;
	conn_interrupted = 1;
}

/* SIGINT ends watch and stats --interval cleanly (exit 0): the handler
 * only sets a flag, and without SA_RESTART the wait returns EINTR. */
static void
catch_sigint(void)
{
	struct sigaction sa = { .sa_handler = on_sigint };

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
}

static double
now_sec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps until the monotonic time t; false when SIGINT came first. */
static bool
sleep_until(double t)
{
	struct timespec ts = { .tv_sec = (time_t)t,
			       .tv_nsec = (long)((t - (double)(time_t)t) *
						 1e9) };

	while (!conn_interrupted) {
		int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
					NULL);
		if (r == 0)
			return !conn_interrupted;
		if (r != EINTR)
			return false;
	}
	return false;
}

static int
stats_query(struct ctx *ctx, const char *device, json_t **ret)
{
	json_t *args = device ? json_pack("{ss}", "device", device) : NULL;

	return conn_call(&ctx->conn, "stats", args, ret);
}

/* stats --interval: a first sample, then every interval_msec one table
 * of per-second rates since the previous sample; count 0: until ^C. */
static int
stats_live(struct ctx *ctx, const char *device, int interval_msec,
	   unsigned long count)
{
	json_t *prev = NULL, *cur = NULL;
	double start, t_prev, t;
	int r;

	catch_sigint();
	r = connect_ctx(ctx);
	if (r == IOREQCTL_OK)
		r = stats_query(ctx, device, &prev);
	if (r != IOREQCTL_OK)
		return r;
	start = t_prev = now_sec();
	for (unsigned long k = 1; count == 0 || k <= count; k++) {
		if (!sleep_until(start + k * (interval_msec / 1000.0)))
			break;
		r = stats_query(ctx, device, &cur);
		if (r != IOREQCTL_OK)
			break;
		t = now_sec();
		json_t *rates = stats_rates(prev, cur, t - t_prev);
		if (!rates) {
			r = IOREQCTL_PROTOCOL;
			break;
		}
		if (ctx->json) {
			(void)show_json(rates, true);
		} else {
			if (k > 1)
				putchar('\n');
			(void)show_stats(rates, true);
		}
		(void)fflush(stdout);
		json_decref(rates);
		json_decref(prev);
		prev = cur;
		cur = NULL;
		t_prev = t;
	}
	json_decref(prev);
	return r;
}

static int
cmd_stats(struct ctx *ctx, struct args *a)
{
	const char *device = NULL, *v;
	int interval_msec = 0;
	unsigned long count = 0;
	bool have_count = false;

	for (int i = 0; i < a->count;) {
		int r = option_value(a->count, a->v, &i, "--interval", NULL,
				     &v);
		if (r < 0)
			return IOREQCTL_USAGE;
		if (r > 0) {
			if (parse_seconds(v, false, &interval_msec) < 0)
				return usage_error(
					"stats: --interval: '%s' is "
					"not a number of seconds > 0",
					v);
			continue;
		}
		r = option_value(a->count, a->v, &i, "--count", NULL, &v);
		if (r < 0)
			return IOREQCTL_USAGE;
		if (r > 0) {
			if (parse_count(v, &count) < 0)
				return usage_error(
					"stats: --count: '%s' is not "
					"a count >= 1",
					v);
			have_count = true;
			continue;
		}
		if (a->v[i][0] == '-')
			return usage_error("stats: unknown option '%s'",
					   a->v[i]);
		if (device)
			return usage_error("stats: unexpected argument '%s'",
					   a->v[i]);
		device = a->v[i++];
	}
	if (have_count && interval_msec == 0)
		return usage_error("stats: --count needs --interval");
	if (interval_msec > 0)
		return stats_live(ctx, device, interval_msec, count);
	return run_simple(ctx, "stats",
			  device ? json_pack("{ss}", "device", device) : NULL,
			  show_stats_totals);
}

/* path made absolute against our working directory: the daemon's is not
 * the operator's.  NULL on failure (errno set). */
static char *
absolute(const char *path)
{
	char cwd[PATH_MAX];
	char *s;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&s, "%s/%s", cwd, path) < 0)
		return NULL;
	return s;
}

static int
cmd_chardev_attach(struct ctx *ctx, struct args *a)
{
	char *type, *path = NULL;
	const char *colon;
	json_t *backend;

	if (a->count != 2)
		return usage_error("chardev-attach needs DEVICE and "
				   "TYPE[:PATH], e.g. socket:/run/x.sock");
	if (a->v[0][0] == '-' || a->v[1][0] == '-')
		return usage_error("chardev-attach: unknown option '%s'",
				   a->v[0][0] == '-' ? a->v[0] : a->v[1]);
	colon = strchr(a->v[1], ':');
	if (colon == a->v[1] || (colon && colon[1] == '\0'))
		return usage_error("chardev-attach: '%s' is not TYPE or "
				   "TYPE:PATH",
				   a->v[1]);
	type = colon ? strndup(a->v[1], (size_t)(colon - a->v[1])) :
		       strdup(a->v[1]);
	if (colon)
		path = absolute(colon + 1);
	if (!type || (colon && !path)) {
		fprintf(stderr, "ioreqctl: chardev-attach: %s\n",
			strerror(errno));
		free(type);
		return IOREQCTL_USAGE;
	}
	backend = path ? json_pack("{ssss}", "type", type, "path", path) :
			 json_pack("{ss}", "type", type);
	free(type);
	free(path);
	return run_simple(ctx, "chardev-attach",
			  json_pack("{ssso}", "device", a->v[0], "backend",
				    backend),
			  NULL);
}

static int
cmd_blockdev_change(struct ctx *ctx, struct args *a)
{
	const char *device = NULL, *path = NULL, *v;
	int read_only = -1;

	for (int i = 0; i < a->count;) {
		int r = option_value(a->count, a->v, &i, "--path", NULL, &v);
		if (r < 0)
			return IOREQCTL_USAGE;
		if (r > 0) {
			if (!*v)
				return usage_error("blockdev-change: --path "
						   "is empty");
			path = v;
			continue;
		}
		const char *o = a->v[i++];
		bool ro = strcmp(o, "--read-only") == 0;
		if (ro || strcmp(o, "--read-write") == 0) {
			if (read_only >= 0 && read_only != ro)
				return usage_error(
					"blockdev-change: "
					"--read-only and --read-write "
					"contradict");
			read_only = ro;
		} else if (o[0] == '-') {
			return usage_error("blockdev-change: unknown option "
					   "'%s'",
					   o);
		} else if (device) {
			return usage_error("blockdev-change: unexpected "
					   "argument '%s'",
					   o);
		} else {
			device = o;
		}
	}
	if (!device)
		return usage_error("blockdev-change needs DEVICE");
	if (!path && read_only < 0)
		return usage_error("blockdev-change: nothing to change (give "
				   "--path, --read-only or --read-write)");
	json_t *args = json_pack("{ss}", "device", device);
	if (path) {
		char *abs = absolute(path);
		if (!abs) {
			fprintf(stderr, "ioreqctl: blockdev-change: %s\n",
				strerror(errno));
			json_decref(args);
			return IOREQCTL_USAGE;
		}
		(void)json_object_set_new(args, "path", json_string(abs));
		free(abs);
	}
	if (read_only >= 0)
		(void)json_object_set_new(args, "read-only",
					  json_boolean(read_only));
	return run_simple(ctx, "blockdev-change", args, NULL);
}

static int
cmd_watch(struct ctx *ctx, struct args *a)
{
	json_t *ret, *event;
	int r = no_arguments("watch", a);

	if (r)
		return r;
	catch_sigint();
	r = connect_ctx(ctx);
	if (r == IOREQCTL_OK)
		r = conn_call(&ctx->conn, "subscribe", NULL, &ret);
	if (r != IOREQCTL_OK)
		return r;
	json_decref(ret);
	for (;;) {
		r = conn_next_event(&ctx->conn, &event);
		if (r != IOREQCTL_OK || !event)
			return r;
		if (ctx->json) {
			(void)show_json(event, true);
			(void)fflush(stdout);
		} else {
			(void)show_event(event);
		}
		json_decref(event);
	}
}

static int
cmd_call(struct ctx *ctx, struct args *a)
{
	json_t *args = NULL;
	json_error_t err;

	if (a->count < 1 || a->count > 2)
		return usage_error("call needs NAME and optionally "
				   "JSON-ARGUMENTS");
	if (a->count == 2) {
		args = json_loads(a->v[1], JSON_REJECT_DUPLICATES, &err);
		if (!json_is_object(args)) {
			json_decref(args);
			return usage_error("call: JSON-ARGUMENTS must be one "
					   "JSON object, e.g. '{\"device\": "
					   "\"vda\"}'%s%s",
					   args ? "" : ": ",
					   args ? "" : err.text);
		}
	}
	/* Always JSON: call knows nothing of the command's shape. */
	ctx->json = true;
	return run_simple(ctx, a->v[0], args, NULL);
}

struct command {
	const char *name;
	int (*run)(struct ctx *ctx, struct args *a);
};

static const struct command commands[] = {
	{ "status", cmd_status },
	{ "devices", cmd_devices },
	{ "stats", cmd_stats },
	{ "server-stats", cmd_server_stats },
	{ "metrics", cmd_metrics },
	{ "log-level", cmd_log_level },
	{ "chardev-attach", cmd_chardev_attach },
	{ "blockdev-change", cmd_blockdev_change },
	{ "watch", cmd_watch },
	{ "quit", cmd_quit },
	{ "call", cmd_call },
};

/* -s SOCKET or GUEST: sets ctx->socket_path; a usage status or 0. */
static int
set_guest(struct ctx *ctx, const char *guest)
{
	if (!*guest || strchr(guest, '/') || strcmp(guest, ".") == 0 ||
	    strcmp(guest, "..") == 0 || guest[0] == '-')
		return usage_error("'%s' is not a guest name (use -s SOCKET "
				   "for a socket path)",
				   guest);
	if ((size_t)snprintf(ctx->path_buf, sizeof(ctx->path_buf),
			     RUN_DIR "/%s.sock",
			     guest) >= sizeof(ctx->path_buf))
		return usage_error("guest name '%s' is too long", guest);
	ctx->guest = guest;
	ctx->socket_path = ctx->path_buf;
	return 0;
}

/* Parses everything up to the command; *i is left at the command. */
static int
parse_globals(struct ctx *ctx, int argc, char **argv, int *i)
{
	const char *v;

	while (*i < argc && argv[*i][0] == '-') {
		const char *a = argv[*i];
		int r;

		if (strcmp(a, "--") == 0) {
			(*i)++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			exit(IOREQCTL_OK);
		}
		if (strcmp(a, "--version") == 0) {
			printf("ioreqctl %s\n", IOREQD_VERSION);
			exit(IOREQCTL_OK);
		}
		r = global_option(ctx, argc, argv, i);
		if (r < 0)
			return IOREQCTL_USAGE;
		if (r > 0)
			continue;
		r = option_value(argc, argv, i, "--socket", "-s", &v);
		if (r < 0)
			return IOREQCTL_USAGE;
		if (r == 0)
			return usage_error("unknown option '%s'", a);
		if (!*v)
			return usage_error("-s: empty socket path");
		if (strlen(v) >= sizeof(ctx->path_buf))
			return usage_error("-s: socket path longer than %zu "
					   "bytes",
					   sizeof(ctx->path_buf) - 1);
		ctx->socket_path = v;
	}
	if (!ctx->socket_path) {
		if (*i >= argc)
			return usage_error("name a GUEST or give -s SOCKET");
		int r = set_guest(ctx, argv[(*i)++]);
		if (r)
			return r;
		/* `ioreqctl GUEST --json COMMAND`: the contract's order. */
		while (*i < argc && (r = global_option(ctx, argc, argv, i)) > 0)
			;
		if (r < 0)
			return IOREQCTL_USAGE;
	}
	if (*i >= argc)
		return usage_error("no COMMAND given");
	return 0;
}

static int
run(struct ctx *ctx, int argc, char **argv)
{
	struct args a = { 0 };
	const char *name;
	int i = 1, r;

	r = parse_globals(ctx, argc, argv, &i);
	if (r)
		return r;
	name = argv[i++];
	a.v = calloc((size_t)argc, sizeof(*a.v));
	if (!a.v)
		return IOREQCTL_USAGE;
	/* Global options may follow the command too; "--" ends them (so a
	 * JSON argument or a name starting with "--" can still be given). */
	for (bool opts = true; i < argc;) {
		if (opts && strcmp(argv[i], "--") == 0) {
			opts = false;
			i++;
			continue;
		}
		int g = opts ? global_option(ctx, argc, argv, &i) : 0;
		if (g < 0) {
			free(a.v);
			return IOREQCTL_USAGE;
		}
		if (g == 0)
			a.v[a.count++] = argv[i++];
	}
	r = -1;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(name, commands[k].name) == 0)
			r = commands[k].run(ctx, &a);
	if (r < 0)
		r = usage_error("unknown command '%s'", name);
	free(a.v);
	return r;
}

int
main(int argc, char **argv)
{
	struct ctx ctx = { .timeout_msec = DEFAULT_TIMEOUT_MSEC };
	int r;

	r = run(&ctx, argc, argv);
	if (ctx.connected)
		conn_close(&ctx.conn);
	if (fflush(stdout) != 0 && r == IOREQCTL_OK) {
		fprintf(stderr, "ioreqctl: writing output: %s\n",
			strerror(errno));
		r = IOREQCTL_ERROR_REPLY;
	}
	return r;
}
