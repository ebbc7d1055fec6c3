/*
 * ioreqd: a Xen device model for one guest.
 *
 *   ioreqd --domid N --config FILE [--log-level debug|info|warn|error]
 *          [--name NAME] [--control PATH] [--control-group GROUP]
 *   ioreqd --check-config FILE | -n FILE
 *
 * Start-up order (style.md 7): argv -> config -> Xen handles, server and
 * page mapping -> devices -> claims -> enable -> bind -> restrict -> loop
 * -> READY=1.  Shutdown (signal, domain death, fatal error) runs the same
 * teardown: STOPPING=1, devices, server, config.  exit() lives only here.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/cfg.h"
#include "daemon/commands.h"
#include "daemon/control.h"
#include "daemon/loop.h"
#include "daemon/notify.h"
#include "devices/bus.h"
#include "devices/device.h"
#include "ioreq/ioreq.h"
#include "lib/log.h"

#define DOMID_LIMIT 0x7ff0u /* DOMID_FIRST_RESERVED */

struct options {
	long domid; /* -1: not given */
	const char *config;
	const char *check_config;
	enum log_level level;
	const char *name;	   /* --name, or NULL */
	const char *control;	   /* --control, or NULL */
	const char *control_group; /* --control-group, or NULL */
};

struct daemon {
	struct options opts;
	struct cfg *cfg;
	struct bus bus;
	struct loop loop;
	struct ioreq_server *server;
	struct device *devices; /* created devices, newest first */
	unsigned device_count;
	bool restricted;
	struct ctl_daemon ctl_view; /* what the control commands see */
	struct ctl *ctl;
};

static void
usage(FILE *out)
{
	fprintf(out,
		"Usage: ioreqd --domid N --config FILE [--log-level LEVEL]\n"
		"       ioreqd --check-config FILE\n\n"
		"  -d, --domid N          serve Xen domain N\n"
		"  -c, --config FILE      device configuration (YAML)\n"
		"  -l, --log-level LEVEL  debug, info, notice, warn or error\n"
		"      --name NAME        the guest's name (control socket\n"
		"                         /run/ioreqd/NAME.sock by default)\n"
		"      --control PATH     the control socket's path\n"
		"      --control-group GROUP\n"
		"                         let GROUP use the control socket\n"
		"  -n, --check-config FILE\n"
		"                         validate FILE and exit\n"
		"  -h, --help             show this help\n"
		"  -V, --version          show the version\n");
}

static int
parse_domid(const char *s, long *ret_domid)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v == 0 ||
	    v >= DOMID_LIMIT)
		return -EINVAL;
	*ret_domid = (long)v;
	return 0;
}

/* 0 to go on, or the exit status (+1 so 0 can mean "exit 0"). */
static int
parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "domid", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check-config", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "name", required_argument, NULL, 'N' },
		{ "control", required_argument, NULL, 'C' },
		{ "control-group", required_argument, NULL, 'G' },
		{ 0 },
	};
	int c;

	*o = (struct options){ .domid = -1, .level = LOG_LEVEL_INFO };
	while ((c = getopt_long(argc, argv, "d:c:l:n:hV", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'd':
			if (parse_domid(optarg, &o->domid) < 0) {
				fprintf(stderr, "ioreqd: invalid domid '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'l':
			if (log_parse_level(optarg, &o->level) < 0) {
				fprintf(stderr,
					"ioreqd: invalid log level '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'n':
			o->check_config = optarg;
			break;
		case 'N':
			o->name = optarg;
			break;
		case 'C':
			o->control = optarg;
			break;
		case 'G':
			o->control_group = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("ioreqd %s\n", IOREQD_VERSION);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ioreqd: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (!o->check_config && (o->domid < 0 || !o->config)) {
		fprintf(stderr, "ioreqd: --domid and --config are required\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

static int
check_config(const char *path)
{
	struct cfg *cfg = NULL;

	if (cfg_load(path, device_type_cfg_find, stderr, &cfg) < 0)
		return 1;
	cfg_free(cfg);
	printf("configuration OK\n");
	return 0;
}

static void
log_device(const struct device *dev)
{
	if (dev->is_pci)
		log_info("device %s (%s): claimed PCI %02x:%02x.%x", dev->id,
			 dev->type->name, (unsigned)(dev->pci_sbdf >> 8) & 0xff,
			 (unsigned)DEVICE_PCI_SLOT(dev->pci_sbdf),
			 (unsigned)DEVICE_PCI_FUNC(dev->pci_sbdf));
	for (unsigned i = 0; i < dev->region_count && i < DEVICE_MAX_REGIONS;
	     i++) {
		const struct device_region *reg = &dev->regions[i];

		if (reg->size == 0)
			continue;
		log_info("device %s (%s): claimed %s 0x%llx-0x%llx", dev->id,
			 dev->type->name,
			 reg->space == BUS_SPACE_PORT ? "ports" : "MMIO",
			 (unsigned long long)reg->base,
			 (unsigned long long)(reg->base + reg->size - 1));
	}
}

/*
 * A failed create, naming the back-end path when there is one: the
 * refusals chardev.h documents for a socket path are the operator's to
 * fix, so they get words of their own.
 */
static int
log_create_failed(const struct cfg_device *cd, int r)
{
	const struct cfg_backend *b = &cd->backend;
	const char *why = "";

	if (!(cd->keys & CFG_KEY_BACKEND) || !b->path)
		return log_errno(LOG_LEVEL_ERROR, r, "device %s (%s): create",
				 cd->id, cd->type);
	if (b->type == CFG_BACKEND_SOCKET && r == -EEXIST)
		why = " is not a socket; not removing it";
	else if (b->type == CFG_BACKEND_SOCKET && r == -EADDRINUSE)
		why = " has a live server (another process listens there); "
		      "not taking it over";
	else if (b->type == CFG_BACKEND_FILE && r == -ENXIO)
		why = " is not a regular file or a character device";
	return log_errno(LOG_LEVEL_ERROR, r,
			 "device %s (%s): create: backend path %s%s", cd->id,
			 cd->type, b->path, why);
}

static int
create_device(struct daemon *d, const struct cfg_device *cd)
{
	const struct device_type *type = device_type_find(cd->type);
	struct device *dev = NULL;
	int r;

	if (!type) {
		log_error("device %s: unknown type '%s'", cd->id, cd->type);
		return -EINVAL;
	}
	r = type->create(cd, ioreq_server_services(d->server), &dev);
	if (r < 0)
		return log_create_failed(cd, r);
	dev->next = d->devices;
	d->devices = dev;
	d->device_count++;
	r = ioreq_server_add_device(d->server, dev);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERROR, r,
				 "device %s (%s): claiming its regions", cd->id,
				 cd->type);
	log_device(dev);
	return 0;
}

/* A SIGTERM/SIGINT during set-up: -EINTR, so set-up stops and tears down. */
static int
setup_interrupted(void)
{
	return loop_setup_signal() ? -EINTR : 0;
}

static int
create_devices(struct daemon *d)
{
	for (unsigned i = 0; i < d->cfg->device_count; i++) {
		int r = setup_interrupted();

		if (r == 0)
			r = create_device(d, &d->cfg->devices[i]);
		if (r < 0)
			return r;
	}
	return setup_interrupted();
}

static void
destroy_devices(struct daemon *d)
{
	while (d->devices) {
		struct device *dev = d->devices;

		d->devices = dev->next;
		/* Release its ranges and SBDF while the server still exists. */
		ioreq_server_remove_device(d->server, dev);
		dev->ops->destroy(dev);
	}
	d->device_count = 0;
}

static int
restrict_handles(struct daemon *d)
{
	int r = ioreq_server_restrict(d->server);

	if (r == -ENOSYS || r == -EOPNOTSUPP) {
		log_errno(LOG_LEVEL_WARNING, r,
			  "domain %ld: cannot restrict Xen handles, continuing",
			  d->opts.domid);
		return 0;
	}
	if (r < 0)
		return log_errno(LOG_LEVEL_ERROR, r,
				 "domain %ld: restricting Xen handles",
				 d->opts.domid);
	d->restricted = true;
	return 0;
}

/* Xen set-up from server creation to bound ports; logs its failures. */
static int
setup_xen(struct daemon *d)
{
	uint16_t domid = (uint16_t)d->opts.domid;
	int r;

	r = setup_interrupted();
	if (r < 0)
		return r;
	r = ioreq_server_open(domid, &d->bus, d->loop.base, &d->server);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERROR, r,
				 "domain %u: creating the ioreq server",
				 (unsigned)domid);
	r = create_devices(d);
	if (r < 0)
		return r;
	r = ioreq_server_enable(d->server);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERROR, r,
				 "domain %u: enabling the ioreq server",
				 (unsigned)domid);
	return restrict_handles(d);
}

static int open_control(struct daemon *d);

static int
setup(struct daemon *d)
{
	int r;

	bus_init(&d->bus);
	if (cfg_load(d->opts.config, device_type_cfg_find, stderr, &d->cfg) < 0)
		return -EINVAL;
	r = loop_init(&d->loop, (uint16_t)d->opts.domid);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERROR, r, "creating the event loop");
	r = setup_xen(d);
	if (r < 0)
		return r;
	r = loop_attach(&d->loop, d->server);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERROR, r,
				 "setting up the event loop");
	r = open_control(d);
	if (r < 0)
		return r;
	return setup_interrupted();
}

/* Exit status for a failed set-up; a signal or the guest's death is 0. */
static int
setup_failed_status(struct daemon *d, int r)
{
	int sig = loop_setup_signal();

	if (sig) {
		log_info("received %s during set-up, stopping",
			 sig == SIGTERM ? "SIGTERM" : "SIGINT");
		return 0;
	}
	/* ESRCH anywhere in set-up: the guest died under us. */
	if (r == -ESRCH || (d->server && ioreq_server_domain_gone(d->server))) {
		log_notice("domain %ld is gone", d->opts.domid);
		return 0;
	}
	return 1;
}

/*
 * Set-up is over: devices copied what they need from the configuration,
 * so free it, and give the heap that parsing and set-up left behind back
 * to the kernel (it is most of the daemon's private memory otherwise).
 */
static void
release_setup_memory(struct daemon *d)
{
	cfg_free(d->cfg);
	d->cfg = NULL;
	(void)malloc_trim(0);
}

/* The control socket, when --control or --name asks for one. */
static int
open_control(struct daemon *d)
{
	char *path = NULL;
	struct group *gr = NULL;
	int r;

	if (!d->opts.control && !d->opts.name)
		return 0;
	if (d->opts.name && !d->opts.control) {
		path = ctl_default_path(d->opts.name);
		if (!path) {
			log_error("--name '%s': not a usable socket name "
				  "(letters, digits, '-', '_', '.')",
				  d->opts.name);
			return -EINVAL;
		}
		/* /run/ioreqd itself may not exist yet */
		(void)mkdir("/run/ioreqd", 0755);
	}
	if (d->opts.control_group) {
		gr = getgrnam(d->opts.control_group);
		if (!gr) {
			log_error("--control-group: no group '%s'",
				  d->opts.control_group);
			free(path);
			return -EINVAL;
		}
	}
	d->ctl_view = (struct ctl_daemon){
		.domid = (uint16_t)d->opts.domid,
		.name = d->opts.name,
		.server = d->server,
		.devices = d->devices,
		.restricted = d->restricted,
		.quit = loop_quit,
		.quit_ctx = &d->loop,
	};
	r = ctl_open(d->loop.base, path ? path : d->opts.control, gr != NULL,
		     gr ? gr->gr_gid : 0, &d->ctl_view, &d->ctl);
	if (r < 0)
		log_errno(LOG_LEVEL_ERROR, r, "control socket %s",
			  path ? path : d->opts.control);
	free(path);
	if (r < 0)
		return r;
	d->loop.ctl = d->ctl;
	ioreq_server_set_event_sink(d->server, ctl_device_report, d->ctl);
	return 0;
}

static void
close_control(struct daemon *d, const char *reason)
{
	if (d->server)
		ioreq_server_set_event_sink(d->server, NULL, NULL);
	d->loop.ctl = NULL;
	ctl_close(d->ctl, reason);
	d->ctl = NULL;
}

static void
teardown(struct daemon *d)
{
	close_control(d, NULL);
	destroy_devices(d);
	ioreq_server_destroy(d->server);
	d->server = NULL;
	loop_fini(&d->loop);
	bus_fini(&d->bus);
	cfg_free(d->cfg);
	d->cfg = NULL;
}

static int
run(struct daemon *d)
{
	int status;
	int r = setup(d);

	if (r < 0) {
		status = setup_failed_status(d, r);
		teardown(d);
		return status;
	}
	log_info("serving domain %ld with %u devices, ioreq server %u, "
		 "%u vCPUs",
		 d->opts.domid, d->device_count,
		 (unsigned)ioreq_server_id(d->server),
		 ioreq_server_vcpu_count(d->server));
	release_setup_memory(d);
	d->ctl_view.ready_usec = ctl_now_usec();
	(void)notify_send("READY=1");
	(void)notify_status("serving domain %ld, %u device%s", d->opts.domid,
			    d->device_count, d->device_count == 1 ? "" : "s");
	status = loop_run(&d->loop);
	d->ctl_view.stopping = true;
	close_control(d, d->loop.stop_reason ? d->loop.stop_reason : "error");
	(void)notify_status("stopping");
	(void)notify_send("STOPPING=1");
	log_info("domain %ld: stopping", d->opts.domid);
	teardown(d);
	return status;
}

/*
 * Buffers of 16 KiB and more (a character backend's output ring is 64 KiB)
 * get their own zero-filled mappings: calloc then leaves their pages
 * untouched, so they cost memory only once the guest fills them, and
 * free() returns them at once.  One thread, so one arena.
 */
static void
tune_malloc(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, 16 * 1024);
	(void)mallopt(M_ARENA_MAX, 1);
}

int
main(int argc, char **argv)
{
	static struct daemon d;
	int r;

	tune_malloc();
	r = parse_args(argc, argv, &d.opts);

	if (r > 0)
		exit(r - 1);
	if (d.opts.check_config)
		exit(check_config(d.opts.check_config));
	log_set_level(d.opts.level);
	/* Backends write to sockets; a vanished peer must not kill us. */
	(void)signal(SIGPIPE, SIG_IGN);
	exit(run(&d));
}
