/*
 * bench-io: drive COUNT guest accesses on each of several vCPUs in
 * parallel (one thread per vCPU) and measure throughput and round-trip
 * latency.  Used by the `bench-io` script command.
 */
#ifndef XENSIM_BENCH_H
#define XENSIM_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "hv.h"

/* Hard cap on COUNT: keeps the latency sample arrays (4 bytes each) sane. */
#define BENCH_IO_MAX_COUNT 10000000ull

struct bench_io_params {
	unsigned vcpus; /* vCPUs 0..vcpus-1 run in parallel */
	uint64_t count; /* accesses per vCPU, 1..BENCH_IO_MAX_COUNT */
	bool mmio;	/* false: port I/O */
	bool is_read;
	uint64_t addr; /* port or guest-physical address */
	unsigned size; /* bytes: 1/2/4 (pio), 1/2/4/8 (mmio) */
};

struct bench_io_result {
	uint64_t ops_per_sec; /* all vCPUs together */
	uint64_t median_ns;   /* round trip of one access */
	uint64_t p99_ns;
	enum hv_status status; /* first non-HV_OK status seen, or HV_OK */
};

/*
 * Run the benchmark.  Returns 0 (then look at ret->status), or -errno if
 * threads or memory could not be obtained.  Call from the script thread.
 */
int bench_io_run(struct hv *hv, const struct bench_io_params *params,
		 struct bench_io_result *ret);

/* One machine-parsable line, without newline, into buf. */
void bench_io_format(const struct bench_io_params *params,
		     const struct bench_io_result *result, char *buf,
		     size_t len);

#endif
