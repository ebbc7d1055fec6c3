/*
 * dmrun: start a device model the way systemd's Type=notify does and tell
 * a shell script when it is ready, without sleeping.
 *
 *   dmrun FIFO TIMEOUT_S -- PROGRAM ARGS...
 *
 * Creates a datagram socket, starts PROGRAM with NOTIFY_SOCKET pointing at
 * it, and writes exactly one line into FIFO: "READY" once PROGRAM sends
 * READY=1, "EXITED <status>" if it dies first, "TIMEOUT" if neither
 * happens in TIMEOUT_S seconds (PROGRAM is then killed).  dmrun then stays
 * PROGRAM's parent, forwards SIGTERM/SIGINT to it, logs later notify
 * messages (STOPPING=1, ...) on stderr, and exits with PROGRAM's exit
 * status (128+signal if it was killed).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t pending_signal;

static void
on_signal(int sig)
{
	pending_signal = sig;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
tell(const char *fifo, const char *line)
{
	int fd = open(fifo, O_WRONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "dmrun: open %s: %s\n", fifo, strerror(errno));
		return;
	}
	if (write(fd, line, strlen(line)) < 0)
		fprintf(stderr, "dmrun: write %s: %s\n", fifo, strerror(errno));
	close(fd);
}

static int
status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sigaction act = { .sa_handler = on_signal };
	const char *fifo;
	double deadline, t0;
	int sock, ready = 0, told = 0, status;
	pid_t child;
	char buf[512];

	if (argc < 5 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr,
			"usage: dmrun FIFO TIMEOUT_S -- PROGRAM ARGS...\n");
		return 2;
	}
	fifo = argv[1];
	t0 = now();
	deadline = t0 + atof(argv[2]);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/run/dmrun-%d.notify",
		 getpid());
	unlink(sa.sun_path);
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || bind(sock, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "dmrun: notify socket: %s\n", strerror(errno));
		tell(fifo, "EXITED setup\n");
		return 2;
	}
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);

	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);

	child = fork();
	if (child < 0) {
		tell(fifo, "EXITED fork\n");
		return 2;
	}
	if (child == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		execvp(argv[4], &argv[4]);
		fprintf(stderr, "dmrun: exec %s: %s\n", argv[4],
			strerror(errno));
		_exit(127);
	}

	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		pid_t w;

		if (pending_signal) {
			fprintf(stderr,
				"dmrun: forwarding signal %d after %.1f s\n",
				pending_signal, now() - t0);
			kill(child, pending_signal);
			pending_signal = 0;
		}
		w = waitpid(child, &status, WNOHANG);
		if (w == child)
			break;
		if (!ready && !told && now() > deadline) {
			fprintf(stderr,
				"dmrun: no READY=1 after %s s, killing\n",
				argv[2]);
			tell(fifo, "TIMEOUT\n");
			told = 1;
			kill(child, SIGKILL);
		}
		if (poll(&pfd, 1, 50) > 0) {
			ssize_t n = recv(sock, buf, sizeof(buf) - 1, 0);

			if (n <= 0)
				continue;
			buf[n] = '\0';
			for (char *p = buf; *p; p++)
				if (*p == '\n')
					*p = ' ';
			fprintf(stderr, "dmrun: notify after %.2f s: %s\n",
				now() - t0, buf);
			if (!ready && (strstr(buf, "READY=1") != NULL)) {
				ready = 1;
				tell(fifo, "READY\n");
				told = 1;
			}
		}
	}
	unlink(sa.sun_path);
	fprintf(stderr, "dmrun: %s exited with status %d after %.1f s\n",
		argv[4], status_code(status), now() - t0);
	if (!told) {
		snprintf(buf, sizeof(buf), "EXITED %d\n", status_code(status));
		tell(fifo, buf);
	}
	return status_code(status);
}
