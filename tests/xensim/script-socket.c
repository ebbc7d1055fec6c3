/*
 * The client socket commands: connect-socket, socket-send, socket-expect
 * and socket-close, for a model's Unix-socket chardev.  One socket at a
 * time; received bytes accumulate until an expectation consumes them.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "script-internal.h"

void
run_connect(struct script *s, const struct script_cmd *cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = now_ms() + SCRIPT_CONNECT_WAIT_MS;
	int fd, r;

	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	s->rx_len = 0;
	strncpy(sa.sun_path, cmd->str, sizeof(sa.sun_path) - 1);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = errno;
			break;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			s->sock = fd;
			return;
		}
		r = errno;
		close(fd);
		/* the model may create its socket a little after it is ready */
		if ((r != ENOENT && r != ECONNREFUSED) || now_ms() >= deadline)
			break;
		sleep_ms(10);
	}
	fail(s, cmd, "a connection to %s, got %s", cmd->str, strerror(r));
}

void
run_send(struct script *s, const struct script_cmd *cmd)
{
	size_t done = 0;
	ssize_t n;

	if (s->sock < 0) {
		fail(s, cmd, "a connected socket, got none");
		return;
	}
	while (done < cmd->data_len) {
		n = send(s->sock, cmd->data + done, cmd->data_len - done,
			 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail(s, cmd, "to send %zu bytes, got %s", cmd->data_len,
			     strerror(errno));
			return;
		}
		done += (size_t)n;
	}
}

/* Received bytes accumulate; a match consumes everything up to its end. */
void
run_sock_expect(struct script *s, const struct script_cmd *cmd)
{
	uint64_t deadline = now_ms() + cmd->off;
	char want[160], got[160];
	const char *why = "";

	if (s->sock < 0) {
		fail(s, cmd, "a connected socket, got none");
		return;
	}
	if (!s->rx) {
		s->rx = malloc(SCRIPT_MAX_DATA);
		if (!s->rx) {
			fail(s, cmd, "memory, got none");
			return;
		}
	}
	for (;;) {
		uint8_t *m = memmem(s->rx, s->rx_len, cmd->data, cmd->data_len);
		struct pollfd pfd = { .fd = s->sock, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;

		if (m) {
			size_t used = (size_t)(m - s->rx) + cmd->data_len;

			memmove(s->rx, s->rx + used, s->rx_len - used);
			s->rx_len -= used;
			return;
		}
		if (now >= deadline)
			break;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		if (s->rx_len == SCRIPT_MAX_DATA) {
			/* keep the newest half */
			memmove(s->rx, s->rx + SCRIPT_MAX_DATA / 2,
				SCRIPT_MAX_DATA / 2);
			s->rx_len = SCRIPT_MAX_DATA / 2;
		}
		n = recv(s->sock, s->rx + s->rx_len,
			 SCRIPT_MAX_DATA - s->rx_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			why = n == 0 ? " (connection closed)" : " (recv error)";
			break;
		}
		s->rx_len += (size_t)n;
	}
	render(cmd->data, cmd->data_len, want, sizeof(want));
	render(s->rx, s->rx_len, got, sizeof(got));
	fail(s, cmd,
	     "socket to receive \"%s\" within %" PRIu64 " ms, got \"%s\"%s",
	     want, cmd->off, got, why);
}

void
run_sock_close(struct script *s)
{
	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	s->rx_len = 0;
}
