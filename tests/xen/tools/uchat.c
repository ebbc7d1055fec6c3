/*
 * uchat: a tiny expect over a Unix stream socket, for talking to a UART's
 * socket backend from dom0.
 *
 *   uchat SOCKET TIMEOUT_S EXPECT1 SEND EXPECT2
 *
 * Connects (retrying until the socket exists), waits until EXPECT1 has
 * been received, sends SEND followed by a newline, waits until EXPECT2 has
 * been received.  Everything received is copied to stdout as it arrives.
 * Exit 0 on success, 1 on timeout or EOF (with the reason on stderr).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char seen[65536];
static size_t seen_len;

/* Reads until want appears in everything received since *from. */
static int
expect(int fd, const char *want, size_t *from, double deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double left = deadline - now();
		ssize_t n;

		seen[seen_len] = '\0';
		if (strstr(seen + *from, want)) {
			*from = seen_len;
			return 0;
		}
		if (left <= 0) {
			fprintf(stderr, "uchat: timeout waiting for '%s'\n",
				want);
			return 1;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		if (seen_len >= sizeof(seen) - 1) {
			/* Keep the tail so a marker split at the edge is found. */
			memmove(seen, seen + seen_len - 256, 256);
			*from = *from > seen_len - 256 ?
					*from - (seen_len - 256) :
					0;
			seen_len = 256;
		}
		n = read(fd, seen + seen_len, sizeof(seen) - 1 - seen_len);
		if (n <= 0) {
			fprintf(stderr,
				"uchat: connection closed while waiting for '%s'\n",
				want);
			return 1;
		}
		fwrite(seen + seen_len, 1, (size_t)n, stdout);
		fflush(stdout);
		seen_len += (size_t)n;
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	double deadline;
	size_t from = 0;
	char line[512];
	int fd;

	if (argc != 6) {
		fprintf(stderr,
			"usage: uchat SOCKET TIMEOUT_S EXPECT1 SEND EXPECT2\n");
		return 2;
	}
	deadline = now() + atof(argv[2]);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return 1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		close(fd);
		if (now() > deadline) {
			fprintf(stderr, "uchat: connect %s: %s\n", argv[1],
				strerror(errno));
			return 1;
		}
		usleep(100000);
	}
	fprintf(stderr, "uchat: connected to %s\n", argv[1]);
	if (expect(fd, argv[3], &from, deadline))
		return 1;
	snprintf(line, sizeof(line), "%s\n", argv[4]);
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		fprintf(stderr, "uchat: write: %s\n", strerror(errno));
		return 1;
	}
	fprintf(stderr, "uchat: sent '%s'\n", argv[4]);
	if (expect(fd, argv[5], &from, deadline))
		return 1;
	fprintf(stderr, "uchat: got '%s'\n", argv[5]);
	close(fd);
	return 0;
}
