/*
 * Domain death as an event: a xenstore watch on the special path
 * @releaseDomain (libxenstore's stable API), so an idle ioreqd sleeps
 * until something happens to some domain instead of polling Xen.
 *
 * When it fires (Xen 4.17 xenstored, domain checks run on VIRQ_DOM_EXC):
 * once when a domain is first seen shut down or crashed, and once when it
 * is dying, which Xen signals after it has torn the domain's IOREQ servers
 * down, while the domain may still linger as a zombie because we map its
 * pages.  Also once for every new watch, up front.  The event names no
 * domain, so each fire only means "look again": the caller asks Xen about
 * its own server (ioreq_server_probe), and a shutdown that is not (yet) a
 * destroy costs one dm_op.
 *
 * Not done: reading anything from the store; watching @introduceDomain.
 */
#include "ioreq/ioreq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#define WATCH_PATH  "@releaseDomain"
#define WATCH_TOKEN "ioreqd"
/* Events taken per call; the fd stays readable for the rest. */
#define WATCH_BATCH 64

struct ioreq_domain_watch {
	struct xs_handle *xsh;
	int fd;
};

int
ioreq_domain_watch_open(struct ioreq_domain_watch **ret_watch)
{
	struct ioreq_domain_watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->xsh = xs_open(0);
	if (!w->xsh) {
		r = errno > 0 ? -errno : -EIO;
		free(w);
		return r;
	}
	if (!xs_watch(w->xsh, WATCH_PATH, WATCH_TOKEN)) {
		r = errno > 0 ? -errno : -EIO;
		goto err;
	}
	w->fd = xs_fileno(w->xsh);
	if (w->fd < 0) {
		r = errno > 0 ? -errno : -EIO;
		goto err;
	}
	*ret_watch = w;
	return 0;
err:
	xs_close(w->xsh);
	free(w);
	return r;
}

int
ioreq_domain_watch_fd(const struct ioreq_domain_watch *w)
{
	return w->fd;
}

int
ioreq_domain_watch_check(struct ioreq_domain_watch *w)
{
	int fired = 0;

	for (unsigned i = 0; i < WATCH_BATCH; i++) {
		char **vec = xs_check_watch(w->xsh);

		if (!vec) {
			if (errno == EAGAIN)
				break;
			return errno > 0 ? -errno : -EIO;
		}
		if (strcmp(vec[XS_WATCH_PATH], WATCH_PATH) == 0 &&
		    strcmp(vec[XS_WATCH_TOKEN], WATCH_TOKEN) == 0)
			fired++;
		free(vec);
	}
	return fired;
}

void
ioreq_domain_watch_close(struct ioreq_domain_watch *w)
{
	if (!w)
		return;
	xs_close(w->xsh);
	free(w);
}
