/*
 * systemd notification (see notify.h).  One short-lived datagram socket
 * per message: messages are rare (READY, STATUS, STOPPING, watchdog pings).
 */
#include "daemon/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len, state_len = strlen(state);
	socklen_t sa_len;
	ssize_t n;
	int fd;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
			     (path[0] == '@' ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, state, state_len, MSG_NOSIGNAL,
		   (const struct sockaddr *)&sa, sa_len);
	if (n < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	return (size_t)n == state_len ? 0 : -EIO;
}

int
notify_status(const char *fmt, ...)
{
	char state[sizeof("STATUS=") + 200];
	va_list ap;

	memcpy(state, "STATUS=", sizeof("STATUS=") - 1);
	va_start(ap, fmt);
	(void)vsnprintf(state + sizeof("STATUS=") - 1,
			sizeof(state) - (sizeof("STATUS=") - 1), fmt, ap);
	va_end(ap);
	return notify_send(state);
}

static int
parse_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int
notify_watchdog_usec(uint64_t *ret_usec)
{
	const char *usec_s = getenv("WATCHDOG_USEC");
	const char *pid_s = getenv("WATCHDOG_PID");
	uint64_t usec, pid;

	if (!usec_s)
		return 0;
	if (parse_u64(usec_s, &usec) < 0 || usec == 0)
		return -EINVAL;
	if (pid_s) {
		if (parse_u64(pid_s, &pid) < 0)
			return -EINVAL;
		if (pid != (uint64_t)getpid())
			return 0; /* meant for another process */
	}
	*ret_usec = usec;
	return 1;
}
