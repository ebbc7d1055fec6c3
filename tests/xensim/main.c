/*
 * xensim: a user-space Xen for testing device models.
 *
 *   xensim [--domid N] [--vcpus N] [--memory SIZE] [--timeout SEC]
 *          [--trace FILE] [--lib-dir DIR] SCRIPT -- COMMAND [ARG...]
 *
 * Parses SCRIPT completely (rejecting a malformed one before anything is
 * started), creates the simulated domain, starts COMMAND as the device
 * model with the drop-in Xen libraries first on LD_LIBRARY_PATH, waits for
 * it to enable a server and bind its ports, plays the guest from the
 * script, then checks a clean shutdown.  See script-language.md.
 *
 * Exit status: 0 every expectation held and the shutdown was clean;
 * 1 an expectation failed, the model misbehaved or did not become ready;
 * 2 usage error or malformed script (the model was never started).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "script.h"

#ifndef XENSIM_DEFAULT_LIB_DIR
#define XENSIM_DEFAULT_LIB_DIR "."
#endif

#define XENSIM_MAX_START_FAULTS 8
#define XENSIM_READY_MIN_MS	10000u /* start-up may be slow under ASan */
#define XENSIM_STOP_MS		5000u

struct options {
	struct hv_config cfg;
	const char *script;
	const char *trace;
	const char *lib_dir;
	char **argv; /* device model command */
	/* --fail-dmop NAME:ERRNO, armed before the model starts */
	struct {
		char name[64];
		int err;
	} faults[XENSIM_MAX_START_FAULTS];
	unsigned fault_count;
};

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: xensim [--domid N] [--vcpus N] [--memory SIZE] "
		"[--timeout SEC]\n"
		"              [--trace FILE] [--lib-dir DIR] "
		"[--fail-dmop NAME:ERRNO]...\n"
		"              [--no-xenstored]\n"
		"              SCRIPT -- COMMAND [ARG...]\n"
		"SCRIPT '-' reads standard input.  SIZE takes K/M/G "
		"suffixes.\n"
		"Drop-in libraries: --lib-dir, else $XENSIM_LIB_DIR, else %s\n",
		XENSIM_DEFAULT_LIB_DIR);
}

static int
parse_num(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int
parse_size(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'i' || *end == 'B') /* tolerate "MiB" / "MB" */
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || v == 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*ret = (uint64_t)v << shift;
	return 0;
}

static int
parse_timeout(const char *s, unsigned *ret_ms)
{
	char *end;
	double sec;

	errno = 0;
	sec = strtod(s, &end);
	if (errno || *end || end == s || !(sec > 0) || sec > 3600)
		return -EINVAL;
	*ret_ms = (unsigned)(sec * 1000 + 0.5);
	if (*ret_ms == 0)
		*ret_ms = 1;
	return 0;
}

/* NAME:ERRNO, ERRNO a number or a name such as EIO */
static int
parse_fault(const char *arg, struct options *o)
{
	const char *colon = strrchr(arg, ':');
	uint64_t v;
	int e;

	if (!colon || colon == arg ||
	    o->fault_count >= XENSIM_MAX_START_FAULTS ||
	    (size_t)(colon - arg) >= sizeof(o->faults[0].name))
		return -EINVAL;
	e = script_errno_by_name(colon + 1);
	if (e < 0) {
		if (parse_num(colon + 1, 4095, &v) < 0 || v == 0)
			return -EINVAL;
		e = (int)v;
	}
	memcpy(o->faults[o->fault_count].name, arg, (size_t)(colon - arg));
	o->faults[o->fault_count].name[colon - arg] = '\0';
	o->faults[o->fault_count++].err = e;
	return 0;
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "domid", required_argument, NULL, 'd' },
		{ "vcpus", required_argument, NULL, 'v' },
		{ "memory", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "trace", required_argument, NULL, 'T' },
		{ "lib-dir", required_argument, NULL, 'L' },
		{ "fail-dmop", required_argument, NULL, 'F' },
		{ "no-xenstored", no_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	int ch;

	while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			/* domid 0 is dom0; the DOMID_ specials start at 0x7ff0 */
			if (parse_num(optarg, 0x7fef, &v) < 0 || v == 0)
				goto bad_value;
			o->cfg.domid = (uint16_t)v;
			break;
		case 'v':
			if (parse_num(optarg, 128, &v) < 0 || v == 0)
				goto bad_value;
			o->cfg.vcpus = (unsigned)v;
			break;
		case 'm':
			if (parse_size(optarg, &o->cfg.memory) < 0)
				goto bad_value;
			break;
		case 't':
			if (parse_timeout(optarg, &o->cfg.timeout_ms) < 0)
				goto bad_value;
			break;
		case 'T':
			o->trace = optarg;
			break;
		case 'L':
			o->lib_dir = optarg;
			break;
		case 'F':
			if (parse_fault(optarg, o) < 0)
				goto bad_value;
			break;
		case 'X':
			o->cfg.no_xenstored = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (argc - optind < 3 || strcmp(argv[optind + 1], "--")) {
		usage(stderr);
		return -EINVAL;
	}
	o->script = argv[optind];
	o->argv = &argv[optind + 2];
	return 0;
bad_value:
	for (v = 0; longopts[v].name && longopts[v].val != ch; v++)
		;
	fprintf(stderr, "xensim: invalid value '%s' for --%s\n", optarg,
		longopts[v].name ? longopts[v].name : "?");
	return -EINVAL;
}

static int
load_script(const struct options *o, struct script **ret)
{
	struct script_limits lim = {
		.vcpus = o->cfg.vcpus,
		.timeout_ms = o->cfg.timeout_ms,
	};
	FILE *f = stdin;
	int r;

	if (strcmp(o->script, "-")) {
		f = fopen(o->script, "re");
		if (!f) {
			fprintf(stderr, "xensim: %s: %s\n", o->script,
				strerror(errno));
			return -errno;
		}
	}
	r = script_parse(o->script, f, &lim, ret);
	if (f != stdin)
		fclose(f);
	if (r < 0 && r != -EINVAL)
		fprintf(stderr, "xensim: %s: %s\n", o->script, strerror(-r));
	return r;
}

static void
describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "wait status %#x", status);
}

/* The end-of-script checks; returns true if the shutdown was clean. */
static bool
finish(struct hv *hv, const char *script, bool destroyed, bool ready)
{
	char msg[256], st[96];
	int status = 0, r;

	if (destroyed) {
		r = hv_wait_child(hv, XENSIM_STOP_MS, &status);
		if (r < 0) {
			fprintf(stderr,
				"%s: expected the device model to exit "
				"by itself within %u ms after destroy-domain, "
				"got %s\n",
				script, XENSIM_STOP_MS, strerror(-r));
			/* make sure it goes away */
			hv_stop_child(hv, 1000, &status, msg, sizeof(msg));
			return false;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			describe_status(status, st, sizeof(st));
			fprintf(stderr,
				"%s: expected the device model to exit "
				"with status 0 after destroy-domain, got %s\n",
				script, st);
			return false;
		}
		return true;
	}
	r = hv_stop_child(hv, XENSIM_STOP_MS, &status, msg, sizeof(msg));
	if (r < 0) {
		if (ready)
			fprintf(stderr,
				"%s: expected a clean shutdown of the "
				"device model on SIGTERM, got %s\n",
				script, msg);
		return false;
	}
	return true;
}

int
main(int argc, char **argv)
{
	struct options o = {
		.cfg = {
			.domid = 1,
			.vcpus = 2,
			.memory = 64ull << 20,
			.timeout_ms = 5000,
		},
	};
	struct script *s = NULL;
	struct hv *hv = NULL;
	const char *env;
	bool destroyed = false, ok = false, ready = false;
	unsigned failures = 0;
	char st[96];
	int r, status;

	if (parse_options(argc, argv, &o) < 0)
		return 2;
	if (load_script(&o, &s) < 0)
		return 2;
	env = getenv("XENSIM_LIB_DIR");
	if (!o.lib_dir)
		o.lib_dir = env && *env ? env : XENSIM_DEFAULT_LIB_DIR;
	if (o.trace) {
		o.cfg.trace = fopen(o.trace, "we");
		if (!o.cfg.trace) {
			fprintf(stderr, "xensim: %s: %s\n", o.trace,
				strerror(errno));
			script_free(s);
			return 2;
		}
	}
	/* a model that dies must not kill us through a socket write */
	signal(SIGPIPE, SIG_IGN);

	r = hv_create(&o.cfg, &hv);
	if (r < 0) {
		fprintf(stderr, "xensim: cannot create the domain: %s\n",
			strerror(-r));
		goto out;
	}
	for (unsigned i = 0; i < o.fault_count; i++) {
		r = hv_fail_dmop(hv, o.faults[i].name, o.faults[i].err);
		if (r < 0) {
			fprintf(stderr,
				"xensim: --fail-dmop: unknown dm_op "
				"'%s'\n",
				o.faults[i].name);
			goto out;
		}
	}
	r = hv_spawn(hv, o.lib_dir, o.argv);
	if (r < 0) {
		fprintf(stderr, "xensim: cannot start %s: %s\n", o.argv[0],
			strerror(-r));
		goto out;
	}
	r = hv_wait_ready(hv, o.cfg.timeout_ms > XENSIM_READY_MIN_MS ?
				      o.cfg.timeout_ms :
				      XENSIM_READY_MIN_MS);
	if (r == -ECHILD) {
		status = 0;
		hv_wait_child(hv, 1000, &status);
		describe_status(status, st, sizeof(st));
		fprintf(stderr,
			"%s: expected the device model to enable an "
			"IOREQ server and bind its ports, got %s with %u IOREQ "
			"servers left\n",
			o.script, st, hv_server_count(hv));
		goto out;
	}
	if (r < 0) {
		fprintf(stderr,
			"%s: expected the device model to enable an "
			"IOREQ server and bind its ports, got %s\n",
			o.script, strerror(-r));
		finish(hv, o.script, false, false);
		goto out;
	}
	ready = true;
	failures = script_run(s, hv, &destroyed);
	ok = finish(hv, o.script, destroyed, ready) && failures == 0;
out:
	if (hv)
		hv_destroy(hv);
	if (o.cfg.trace)
		fclose(o.cfg.trace);
	script_free(s);
	return ok ? 0 : 1;
}
