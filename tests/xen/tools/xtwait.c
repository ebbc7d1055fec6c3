/*
 * xtwait: the dom0 harness's waits, done in one process through
 * libxenctrl instead of a shell loop that runs `xl dmesg` and `xl domid`
 * every second.  Under QEMU TCG a dom0 process now and then comes up
 * corrupted (see tests/xen/README.md, "Why a boot stalled"); thousands of
 * short-lived xl processes per boot made that a stall every few boots.
 *
 *   xtwait marker DOMID SECONDS   wait for "(dDOMID) XT-GUEST-END" in
 *                                 Xen's console ring: exit 0 when seen,
 *                                 1 on timeout, 2 if the domain went first
 *   xtwait gone DOMID SECONDS     wait for the domain to disappear:
 *                                 exit 0 when gone, 1 on timeout
 *   xtwait dump DOMID             print the domain's lines ("(dDOMID) ...")
 *                                 of the console ring: `xl dmesg | grep`
 *                                 without two more processes
 * Exit 3 on a usage or libxenctrl error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenctrl.h>

#define POLL_NSEC (250 * 1000 * 1000L)
#define CHUNK	  16384

static xc_interface *xch;

/* 1 if DOMID exists (dying or not), 0 if not, -1 on error. */
static int
domain_exists(uint32_t domid)
{
	xc_dominfo_t info;
	int n = xc_domain_getinfo(xch, domid, 1, &info);

	/* No domain at or above DOMID is ESRCH, not an error for us. */
	if (n < 0)
		return errno == ESRCH ? 0 : -1;
	return n == 1 && info.domid == domid;
}

/* Line assembly over incremental console reads. */
static char line[4096];
static size_t line_len;
static uint32_t ring_index;

/* Lines starting with this are copied to stdout ("xtwait dump"). */
static const char *dump_prefix;

/* 1 if the marker of DOMID was in what the ring gained, 0 if not. */
static int
scan_console(const char *marker)
{
	static char buf[CHUNK];
	int found = 0;

	for (;;) {
		unsigned int n = sizeof(buf);

		if (xc_readconsolering(xch, buf, &n, 0, 1, &ring_index) < 0) {
			perror("xtwait: xc_readconsolering");
			exit(3);
		}
		for (unsigned int i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (line_len < sizeof(line) - 1)
					line[line_len++] = buf[i];
				continue;
			}
			line[line_len] = '\0';
			if (strncmp(line, marker, strlen(marker)) == 0)
				found = 1;
			if (dump_prefix && strncmp(line, dump_prefix,
						   strlen(dump_prefix)) == 0)
				puts(line);
			line_len = 0;
		}
		if (n < sizeof(buf))
			return found;
	}
}

static void
nap(void)
{
	struct timespec ts = { 0, POLL_NSEC };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	char marker[64];
	uint32_t domid;
	double deadline;
	int e, errors = 0;

	if (argc == 3 && strcmp(argv[1], "dump") == 0) {
		static char prefix[32];

		snprintf(prefix, sizeof(prefix), "(d%lu) ",
			 strtoul(argv[2], NULL, 10));
		dump_prefix = prefix;
		xch = xc_interface_open(NULL, NULL, 0);
		if (!xch) {
			perror("xtwait: xc_interface_open");
			return 3;
		}
		scan_console("");
		return fflush(stdout) == 0 ? 0 : 3;
	}
	if (argc != 4 ||
	    (strcmp(argv[1], "marker") && strcmp(argv[1], "gone"))) {
		fprintf(stderr, "usage: xtwait marker|gone DOMID SECONDS\n"
				"       xtwait dump DOMID\n");
		return 3;
	}
	domid = strtoul(argv[2], NULL, 10);
	deadline = now() + strtod(argv[3], NULL);
	xch = xc_interface_open(NULL, NULL, 0);
	if (!xch) {
		perror("xtwait: xc_interface_open");
		return 3;
	}
	snprintf(marker, sizeof(marker), "(d%u) XT-GUEST-END", domid);
	for (;;) {
		if (strcmp(argv[1], "marker") == 0) {
			if (scan_console(marker))
				return 0;
			e = domain_exists(domid);
			/* It may have written the marker just before dying. */
			if (e == 0)
				return scan_console(marker) ? 0 : 2;
		} else {
			e = domain_exists(domid);
			if (e == 0)
				return 0;
		}
		/*
		 * Seen once in the systemd boot: getdomaininfo failed with
		 * EPERM in the middle of a guest's boot, cause not found.
		 * Each failure is reported; only a run of them (5 s) ends
		 * the wait, so one stray error does not fail a case.
		 */
		if (e < 0) {
			fprintf(stderr,
				"xtwait: xc_domain_getinfo(%u): %s (%d in a row)\n",
				domid, strerror(errno), ++errors);
			if (errors >= 20)
				return 3;
		} else {
			errors = 0;
		}
		if (now() >= deadline)
			return 1;
		nap();
	}
}
