/*
 * bench-io: COUNT guest accesses on each of VCPUS vCPUs in parallel, one
 * thread per vCPU (hv.h allows concurrent accesses from distinct vCPUs).
 * Every access is timed with CLOCK_MONOTONIC; the median and 99th
 * percentile are taken over all samples of all vCPUs together, and the
 * throughput over the wall time between the common start and the last
 * thread's end.  Latency samples saturate at ~4.29 s (32-bit ns).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* Releases all threads at once, or tells them to quit without running. */
struct bench_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	bool cancelled;
};

struct bench_thread {
	struct hv *hv;
	const struct bench_io_params *params;
	unsigned vcpu;
	uint32_t *samples; /* params->count round trips, ns */
	enum hv_status status;
	struct bench_gate *gate;
	pthread_t tid;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *
bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;
	const struct bench_io_params *p = t->params;
	uint64_t mask = p->size >= 8 ? UINT64_MAX :
				       (UINT64_C(1) << (p->size * 8)) - 1;
	uint64_t i;
	bool cancelled;

	pthread_mutex_lock(&t->gate->lock);
	while (!t->gate->open)
		pthread_cond_wait(&t->gate->cond, &t->gate->lock);
	cancelled = t->gate->cancelled;
	pthread_mutex_unlock(&t->gate->lock);
	if (cancelled)
		return NULL;
	for (i = 0; i < p->count; i++) {
		uint64_t v = i & mask;
		uint64_t t0 = now_ns(), dt;
		enum hv_status st;

		if (p->mmio)
			st = hv_mmio(t->hv, t->vcpu, p->addr, p->size,
				     p->is_read, &v);
		else
			st = hv_pio(t->hv, t->vcpu, (uint16_t)p->addr, p->size,
				    p->is_read, &v);
		dt = now_ns() - t0;
		t->samples[i] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
		if (st != HV_OK) {
			t->status = st;
			break;
		}
	}
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static void
bench_stats(const struct bench_io_params *p, uint32_t *all, uint64_t wall_ns,
	    struct bench_io_result *ret)
{
	uint64_t n = p->count * p->vcpus;
	uint64_t p99 = (n * 99 + 99) / 100;

	qsort(all, (size_t)n, sizeof(all[0]), cmp_u32);
	ret->median_ns = all[n / 2];
	ret->p99_ns = all[p99 ? p99 - 1 : 0];
	if (wall_ns == 0)
		wall_ns = 1;
	ret->ops_per_sec = (uint64_t)((double)n * 1e9 / (double)wall_ns);
}

int
bench_io_run(struct hv *hv, const struct bench_io_params *params,
	     struct bench_io_result *ret)
{
	struct bench_thread *threads;
	struct bench_gate gate = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	};
	uint32_t *all;
	uint64_t t0, t1;
	unsigned i, started = 0;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (params->vcpus == 0 || params->count == 0 ||
	    params->count > BENCH_IO_MAX_COUNT)
		return -EINVAL;
	all = calloc((size_t)(params->count * params->vcpus), sizeof(*all));
	threads = calloc(params->vcpus, sizeof(*threads));
	if (!all || !threads) {
		free(all);
		free(threads);
		return -ENOMEM;
	}
	for (i = 0; i < params->vcpus; i++) {
		struct bench_thread *t = &threads[i];

		t->hv = hv;
		t->params = params;
		t->vcpu = i;
		t->samples = all + (size_t)i * params->count;
		t->status = HV_OK;
		t->gate = &gate;
		r = -pthread_create(&t->tid, NULL, bench_thread_main, t);
		if (r < 0)
			break;
		started++;
	}
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	gate.cancelled = r < 0;
	pthread_cond_broadcast(&gate.cond);
	t0 = now_ns();
	pthread_mutex_unlock(&gate.lock);
	for (i = 0; i < started; i++)
		pthread_join(threads[i].tid, NULL);
	t1 = now_ns();
	if (r < 0) {
		free(all);
		free(threads);
		return r;
	}
	ret->status = HV_OK;
	for (i = 0; i < params->vcpus; i++)
		if (threads[i].status != HV_OK && ret->status == HV_OK)
			ret->status = threads[i].status;
	if (ret->status == HV_OK)
		bench_stats(params, all, t1 - t0, ret);
	free(all);
	free(threads);
	return 0;
}

void
bench_io_format(const struct bench_io_params *p,
		const struct bench_io_result *res, char *buf, size_t len)
{
	snprintf(buf, len,
		 "bench-io vcpus=%u count=%" PRIu64 " kind=%s dir=%s "
		 "addr=%#" PRIx64 " size=%u ops_per_sec=%" PRIu64
		 " median_ns=%" PRIu64 " p99_ns=%" PRIu64,
		 p->vcpus, p->count, p->mmio ? "mmio" : "pio",
		 p->is_read ? "read" : "write", p->addr, p->size,
		 res->ops_per_sec, res->median_ns, res->p99_ns);
}
