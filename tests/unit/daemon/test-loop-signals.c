/*
 * Unit test of daemon/loop.c's set-up signals: between loop_init() and
 * loop_attach() a SIGTERM must interrupt a blocking system call (EINTR,
 * not restarted) and be reported by loop_setup_signal(), so a set-up step
 * that blocks cannot make the daemon unkillable.  A blocking read() of an
 * empty pipe stands in for such a step (a FIFO open, a hung peer);
 * alarm() turns a hang into a failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/loop.h"
#include "tests/unit/check.h"


static void
on_alarm(int sig)
{
	static const char msg[] = "timed out: SIGTERM did not interrupt "
				  "the blocked read\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

/* A child that sends sig to us after a short delay (we block by then). */
static pid_t
signal_later(int sig)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0) {
		(void)usleep(100 * 1000);
		(void)kill(parent, sig);
		_exit(0);
	}
	return pid;
}

static void
test_blocked_setup_step(int sig)
{
	struct loop loop;
	int p[2], status = 0;
	char c;
	ssize_t r;
	pid_t pid;

	CHECK(loop_init(&loop, 1) == 0);
	CHECK(pipe(p) == 0);
	pid = signal_later(sig);
	CHECK(pid > 0);
	(void)alarm(5);
	r = read(p[0], &c, 1);
	(void)alarm(0);
	CHECK(r < 0 && errno == EINTR);
	CHECK(loop_setup_signal() == sig);
	CHECK(waitpid(pid, &status, 0) == pid);
	(void)close(p[0]);
	(void)close(p[1]);
	loop_fini(&loop);
}

int
main(void)
{
	(void)signal(SIGALRM, on_alarm);
	test_blocked_setup_step(SIGINT);
	test_blocked_setup_step(SIGTERM);
	return test_finish();
}
