/*
 * ioreq/events.c on a real libevent base: timers fire once and only when
 * armed, cancel and re-arm work, watches report exactly the conditions in
 * their mask and a failed mask change changes nothing, deferred work runs
 * after the "answered" point and not before (once however often it is
 * deferred, work it defers waiting for the next round), and a completion
 * signalled from another thread runs its callback on the loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "ioreq/events.h"
#include "test-util.h"

static struct event_base *base;
static struct ioreq_events *events;
static const struct device_events *ev;

/*
 * test-util.h's pump loops while events stay active, which a readable or
 * writable fd nobody drains always is: one round at a time here.
 */
#define RUN_UNTIL(cond, ms)                                                   \
	do {                                                                  \
		for (int run_i_ = 0; run_i_ <= (ms)*2; run_i_++) {            \
			(void)event_base_loop(base,                           \
					      EVLOOP_ONCE | EVLOOP_NONBLOCK); \
			if (cond)                                             \
				break;                                        \
			usleep(500);                                          \
		}                                                             \
	} while (0)

static void
run_for(int ms)
{
	RUN_UNTIL(0, ms);
}

struct counter {
	unsigned calls;
	unsigned last_what;
	int last_fd;
};

static void
count_cb(void *arg)
{
	((struct counter *)arg)->calls++;
}

static void
test_timer_once(void)
{
	struct counter c = { 0 };
	struct device_timer *t = NULL;

	CHECK_EQ(device_timer_new(ev, count_cb, &c, &t), 0);
	CHECK(!device_timer_armed(ev, t));
	CHECK_EQ(device_timer_arm(ev, t, 0), 0);
	CHECK(device_timer_armed(ev, t));
	CHECK_EQ(c.calls, 0); /* never from inside arm */
	RUN_UNTIL(c.calls > 0, 200);
	CHECK_EQ(c.calls, 1);
	CHECK(!device_timer_armed(ev, t));
	run_for(20);
	CHECK_EQ(c.calls, 1); /* one-shot */
	/* and again once re-armed */
	CHECK_EQ(device_timer_arm(ev, t, 1000), 0);
	RUN_UNTIL(c.calls > 1, 200);
	CHECK_EQ(c.calls, 2);
	device_timer_free(ev, t);
	device_timer_free(ev, NULL);
}

static void
test_timer_cancel_rearm(void)
{
	struct counter c = { 0 };
	struct device_timer *t = NULL;

	CHECK_EQ(device_timer_new(ev, count_cb, &c, &t), 0);
	CHECK_EQ(device_timer_arm(ev, t, 5000), 0);
	device_timer_cancel(ev, t);
	CHECK(!device_timer_armed(ev, t));
	run_for(30);
	CHECK_EQ(c.calls, 0);
	device_timer_cancel(ev, t); /* harmless twice */
	/* re-arming replaces the deadline: 10 s becomes 1 ms */
	CHECK_EQ(device_timer_arm(ev, t, 10 * 1000 * 1000), 0);
	CHECK_EQ(device_timer_arm(ev, t, 1000), 0);
	RUN_UNTIL(c.calls > 0, 500);
	CHECK_EQ(c.calls, 1);
	/* freeing an armed timer: it never fires */
	CHECK_EQ(device_timer_arm(ev, t, 1000), 0);
	device_timer_free(ev, t);
	run_for(20);
	CHECK_EQ(c.calls, 1);
}

static void
watch_cb(void *arg, int fd, unsigned what)
{
	struct counter *c = arg;

	c->calls++;
	c->last_what = what;
	c->last_fd = fd;
}

static void
test_watch_read_write(void)
{
	struct counter rc = { 0 }, wc = { 0 };
	struct device_watch *rw = NULL, *ww = NULL;
	int p[2];
	char b = 'x';

	CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
	CHECK_EQ(device_watch_new(ev, p[0], DEVICE_WATCH_READ, watch_cb, &rc,
				  &rw),
		 0);
	CHECK_EQ(device_watch_new(ev, p[1], 0, watch_cb, &wc, &ww), 0);
	run_for(10);
	CHECK_EQ(rc.calls, 0); /* nothing to read */
	CHECK_EQ(wc.calls, 0); /* writable, but not asked for */
	CHECK_EQ(write(p[1], &b, 1), 1);
	RUN_UNTIL(rc.calls > 0, 200);
	CHECK(rc.calls > 0);
	CHECK_EQ(rc.last_what, DEVICE_WATCH_READ);
	CHECK_EQ(rc.last_fd, p[0]);
	/* level-triggered while in the mask, silent once dropped */
	CHECK_EQ(device_watch_set(ev, rw, 0), 0);
	rc.calls = 0;
	run_for(10);
	CHECK_EQ(rc.calls, 0);
	CHECK_EQ(device_watch_set(ev, rw, DEVICE_WATCH_READ), 0);
	RUN_UNTIL(rc.calls > 0, 200);
	CHECK(rc.calls > 0);
	/* write interest switched on and off without a new watch */
	CHECK_EQ(device_watch_set(ev, ww, DEVICE_WATCH_WRITE), 0);
	RUN_UNTIL(wc.calls > 0, 200);
	CHECK(wc.calls > 0);
	CHECK_EQ(wc.last_what, DEVICE_WATCH_WRITE);
	CHECK_EQ(device_watch_set(ev, ww, 0), 0);
	wc.calls = 0;
	run_for(10);
	CHECK_EQ(wc.calls, 0);
	CHECK_EQ(device_watch_set(ev, ww, 0x100 | DEVICE_WATCH_WRITE), -EINVAL);
	run_for(10);
	CHECK_EQ(wc.calls, 0); /* the failed set changed nothing */
	CHECK_EQ(device_watch_new(ev, -1, 0, watch_cb, &wc, &ww), -EINVAL);
	device_watch_free(ev, rw);
	device_watch_free(ev, ww);
	device_watch_free(ev, NULL);
	close(p[0]);
	close(p[1]);
}

/* epoll refuses regular files: the set fails and leaves the mask alone. */
static void
test_watch_set_failure(void)
{
	struct counter c = { 0 };
	struct device_watch *w = NULL;
	char path[] = "/tmp/ioreqd-events-XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	(void)unlink(path);
	if (strcmp(event_base_get_method(base), "epoll") != 0) {
		close(fd);
		return;
	}
	CHECK_EQ(device_watch_new(ev, fd, 0, watch_cb, &c, &w), 0);
	CHECK(device_watch_set(ev, w, DEVICE_WATCH_READ) < 0);
	CHECK(device_watch_new(ev, fd, DEVICE_WATCH_READ, watch_cb, &c, &w) <
	      0);
	CHECK(w != NULL); /* *ret untouched on failure */
	CHECK_EQ(device_watch_set(ev, w, 0), 0);
	run_for(5);
	CHECK_EQ(c.calls, 0);
	device_watch_free(ev, w);
	close(fd);
}

struct self_free {
	struct device_watch *w;
	unsigned calls;
};

static void
free_self_cb(void *arg, int fd, unsigned what)
{
	struct self_free *s = arg;

	s->calls++;
	device_watch_free(ev, s->w);
	s->w = NULL;
}

static void
test_watch_hup_and_self_free(void)
{
	struct counter c = { 0 };
	struct device_watch *w = NULL;
	struct self_free s = { 0 };
	int sv[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	if (event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE) {
		CHECK_EQ(device_watch_new(ev, sv[0], DEVICE_WATCH_HUP, watch_cb,
					  &c, &w),
			 0);
		run_for(10);
		CHECK_EQ(c.calls, 0);
	}
	/* a callback may free its own watch while both conditions hold */
	CHECK_EQ(device_watch_new(ev, sv[0],
				  DEVICE_WATCH_READ | DEVICE_WATCH_WRITE,
				  free_self_cb, &s, &s.w),
		 0);
	close(sv[1]);
	RUN_UNTIL(s.calls > 0 && (!w || c.calls > 0), 200);
	CHECK_EQ(s.calls, 1);
	CHECK(s.w == NULL);
	if (w) {
		CHECK(c.calls > 0);
		CHECK_EQ(c.last_what, DEVICE_WATCH_HUP);
	}
	device_watch_free(ev, w);
	close(sv[0]);
}

/* A deferred-work owner records the order things happen in. */
struct job {
	struct device_work work;
	char *log;
	char tag;
	bool again; /* defer itself once more */
};

static void
job_run(struct device_work *work)
{
	struct job *j = (struct job *)(void *)((char *)work -
					       offsetof(struct job, work));

	strncat(j->log, &j->tag, 1);
	if (j->again) {
		j->again = false;
		device_defer(ev, &j->work);
	}
}

static char ioreq_log[64];
static struct job ioreq_job_a, ioreq_job_b;

/* Stands in for an ioreq: a device defers work, then the server answers. */
static void
fake_ioreq(void *arg, int fd, unsigned what)
{
	char b;
	ssize_t r = read(fd, &b, 1);

	(void)r;
	device_defer(ev, &ioreq_job_a.work);
	device_defer(ev, &ioreq_job_b.work);
	device_defer(ev, &ioreq_job_a.work); /* queued once only */
	strcat(ioreq_log, "answer,");
	ioreq_events_answered(events);
	strcat(ioreq_log, ",");
}

static void
test_defer_after_answer(void)
{
	struct device_watch *w = NULL;
	int p[2];

	ioreq_log[0] = '\0';
	ioreq_job_a = (struct job){ .log = ioreq_log, .tag = 'a' };
	ioreq_job_b = (struct job){ .log = ioreq_log, .tag = 'b' };
	device_work_init(&ioreq_job_a.work, job_run);
	device_work_init(&ioreq_job_b.work, job_run);
	CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
	CHECK_EQ(device_watch_new(ev, p[0], DEVICE_WATCH_READ, fake_ioreq, NULL,
				  &w),
		 0);
	CHECK_EQ(write(p[1], "!", 1), 1);
	RUN_UNTIL(strchr(ioreq_log, ','), 200);
	run_for(5);
	/* after the answer, in order, each once, none left for later */
	CHECK(strcmp(ioreq_log, "answer,ab,") == 0);
	CHECK_EQ(ioreq_events_queued(events), 0);
	device_watch_free(ev, w);
	close(p[0]);
	close(p[1]);
}

static void
test_defer_outside_and_bounded(void)
{
	char log[16] = "";
	struct job j = { .log = log, .tag = 'x', .again = true };
	struct job k = { .log = log, .tag = 'k' };

	device_work_init(&j.work, job_run);
	device_work_init(&k.work, job_run);
	device_defer(ev, &j.work);
	CHECK(device_work_queued(&j.work));
	CHECK(strcmp(log, "") == 0); /* never from inside defer */
	/* the answered point runs it once; what it defers waits */
	ioreq_events_answered(events);
	CHECK(strcmp(log, "x") == 0);
	CHECK(device_work_queued(&j.work));
	CHECK_EQ(ioreq_events_queued(events), 1);
	/* outside an ioreq the loop itself runs it */
	RUN_UNTIL(strlen(log) == 2, 200);
	CHECK(strcmp(log, "xx") == 0);
	CHECK(!device_work_queued(&j.work));
	/* cancelled work never runs */
	device_defer(ev, &k.work);
	device_defer(ev, &j.work);
	device_work_cancel(ev, &k.work);
	device_work_cancel(ev, &k.work);
	CHECK(!device_work_queued(&k.work));
	run_for(5);
	CHECK(strcmp(log, "xxx") == 0);
	/* the queue is intact after cancelling its head and its tail */
	device_defer(ev, &j.work);
	device_defer(ev, &k.work);
	device_work_cancel(ev, &j.work);
	device_work_cancel(ev, &k.work);
	CHECK_EQ(ioreq_events_queued(events), 0);
	device_defer(ev, &k.work);
	run_for(5);
	CHECK(strcmp(log, "xxxk") == 0);
	/* answered with nothing queued: nothing happens */
	ioreq_events_answered(events);
	CHECK(strcmp(log, "xxxk") == 0);
}

struct done {
	unsigned calls;
	bool on_loop_thread;
	pthread_t loop_thread;
	struct device_completion *c;
};

static void
done_cb(void *arg)
{
	struct done *d = arg;

	d->calls++;
	d->on_loop_thread = pthread_equal(pthread_self(), d->loop_thread);
}

static void *
worker(void *arg)
{
	struct done *d = arg;

	device_completion_signal(ev, d->c);
	return NULL;
}

static void
test_completion(void)
{
	struct done d = { .loop_thread = pthread_self() };
	pthread_t th;

	CHECK_EQ(device_completion_new(ev, done_cb, &d, &d.c), 0);
	run_for(5);
	CHECK_EQ(d.calls, 0);
	CHECK_EQ(pthread_create(&th, NULL, worker, &d), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(d.calls, 0); /* not on the signalling thread */
	RUN_UNTIL(d.calls > 0, 500);
	CHECK_EQ(d.calls, 1);
	CHECK(d.on_loop_thread);
	/* signals before the callback runs merge into one call */
	device_completion_signal(ev, d.c);
	device_completion_signal(ev, d.c);
	device_completion_signal(ev, d.c);
	CHECK_EQ(d.calls, 1);
	RUN_UNTIL(d.calls > 1, 500);
	run_for(10);
	CHECK_EQ(d.calls, 2);
	/* freed with a signal pending: the callback does not run */
	device_completion_signal(ev, d.c);
	device_completion_free(ev, d.c);
	device_completion_free(ev, NULL);
	run_for(10);
	CHECK_EQ(d.calls, 2);
}

int
main(void)
{
	base = event_base_new();
	if (!base || ioreq_events_new(base, &events) < 0)
		return 2;
	ev = ioreq_events_services(events);
	CHECK_EQ(ioreq_events_new(NULL, &events), -EINVAL);
	test_timer_once();
	test_timer_cancel_rearm();
	test_watch_read_write();
	test_watch_set_failure();
	test_watch_hup_and_self_free();
	test_defer_after_answer();
	test_defer_outside_and_bounded();
	test_completion();
	ioreq_events_free(events);
	event_base_free(base);
	return test_finish();
}
