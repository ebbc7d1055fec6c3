/*
 * xprobe: what a device model can learn about a domain through
 * libxendevicemodel alone.  The harness runs it in dom0 before and after
 * `xl destroy`, so the logs show which calls keep succeeding against a
 * dying domain (whose pages a device model still maps) and which fail.
 *
 *   xprobe DOMID [SERVER_ID]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xendevicemodel.h>

int
main(int argc, char **argv)
{
	xendevicemodel_handle *dm;
	unsigned vcpus = 0;
	domid_t domid;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: xprobe DOMID [SERVER_ID]\n");
		return 2;
	}
	domid = (domid_t)strtoul(argv[1], NULL, 0);
	dm = xendevicemodel_open(NULL, 0);
	if (!dm) {
		perror("xendevicemodel_open");
		return 1;
	}
	rc = xendevicemodel_nr_vcpus(dm, domid, &vcpus);
	printf("xprobe d%u nr_vcpus: rc=%d errno=%s vcpus=%u\n", domid, rc,
	       rc ? strerror(errno) : "-", vcpus);
	if (argc > 2) {
		ioservid_t id = (ioservid_t)strtoul(argv[2], NULL, 0);
		evtchn_port_t port = 0;

		rc = xendevicemodel_get_ioreq_server_info(dm, domid, id, NULL,
							  NULL, &port);
		printf("xprobe d%u get_ioreq_server_info(%u): rc=%d errno=%s bufioreq_port=%u\n",
		       domid, id, rc, rc ? strerror(errno) : "-", port);
	}
	xendevicemodel_close(dm);
	return 0;
}
