/*
 * Drop-in libxentoolcore.so.1: the registry of open handles and
 * xentoolcore_restrict_all (tools/libs/toolcore/handlereg.c semantics:
 * call every handle's restrict hook, stop at the first failure).
 */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <xentoolcore.h>

#include "xs-client.h"

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static Xentoolcore__Active_Handle *handles_head;

void
xentoolcore__register_active_handle(Xentoolcore__Active_Handle *ah)
{
	pthread_mutex_lock(&handles_lock);
	ah->entry.tqe_next = handles_head;
	ah->entry.tqe_prev = &handles_head;
	if (handles_head)
		handles_head->entry.tqe_prev = &ah->entry.tqe_next;
	handles_head = ah;
	pthread_mutex_unlock(&handles_lock);
}

void
xentoolcore__deregister_active_handle(Xentoolcore__Active_Handle *ah)
{
	pthread_mutex_lock(&handles_lock);
	if (ah->entry.tqe_next)
		ah->entry.tqe_next->entry.tqe_prev = ah->entry.tqe_prev;
	*ah->entry.tqe_prev = ah->entry.tqe_next;
	pthread_mutex_unlock(&handles_lock);
}

int
xentoolcore__restrict_by_dup2_null(int fd)
{
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int r;

	if (nullfd < 0)
		return -1;
	r = dup2(nullfd, fd);
	close(nullfd);
	return r < 0 ? -1 : 0;
}

int
xentoolcore_restrict_all(domid_t domid)
{
	Xentoolcore__Active_Handle *ah;
	int r = 0;

	pthread_mutex_lock(&handles_lock);
	for (ah = handles_head; ah; ah = ah->entry.tqe_next) {
		r = ah->restrict_callback(ah, domid);
		if (r)
			break;
	}
	pthread_mutex_unlock(&handles_lock);
	return r;
}
