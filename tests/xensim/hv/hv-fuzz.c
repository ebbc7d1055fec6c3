/*
 * Hostile-input generator: requests no real Xen would send (random sizes,
 * counts, types, addresses and pointer flags), slots left in states other
 * than READY, and garbage in the buffered ring.  A device model must answer
 * every READY request, leave every other slot alone, survive the ring, and
 * keep serving.  Deterministic for a given seed, so a failure reproduces.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hv-internal.h"

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
	/* xorshift64*: small, fast, good enough for test inputs */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

static uint64_t
pick(struct rng *r, const uint64_t *choices, size_t n)
{
	uint64_t i = rng_next(r) % (n + 1);

	/* one extra draw in n + 1 is a fully random value */
	return i < n ? choices[i] : rng_next(r);
}

#define PICK(r, a) pick((r), (a), sizeof(a) / sizeof((a)[0]))

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000L };

	(void)nanosleep(&ts, NULL);
}

static int
top_enabled_server(struct hv *hv)
{
	int id = -1;

	pthread_rwlock_rdlock(&hv->lock);
	for (int i = HV_MAX_SERVERS - 1; i >= 0; i--) {
		if (hv->servers[i].exists && hv->servers[i].enabled) {
			id = i;
			break;
		}
	}
	pthread_rwlock_unlock(&hv->lock);
	return id;
}

static void
random_request(struct rng *r, uint64_t memory, struct hv_raw_req *q)
{
	static const uint64_t types[] = { 0, 1, 2, 7, 8, 3, 15 };
	static const uint64_t sizes[] = { 0, 1, 2, 3, 4, 5, 8, 9, 16, 4096 };
	static const uint64_t counts[] = { 0,	1,    2,     3,
					   255, 4096, 65536, 0xffffffffULL };
	uint64_t addrs[] = { 0x3f8,	 0x3fd, 0x3ff,
			     0x402,	 0,	UINT64_MAX,
			     0xfee00000, 0xcfc, 0x100000000ULL | 0x3f8 };
	uint64_t datas[] = { 0,	      UINT64_MAX, memory - 1, memory - 4096,
			     0x10000, memory,	  0xa0000 };

	q->type = (uint8_t)PICK(r, types);
	q->size = (uint32_t)PICK(r, sizes);
	q->count = (uint32_t)PICK(r, counts);
	q->addr = PICK(r, addrs);
	q->data = PICK(r, datas);
	if (q->data < memory && rng_next(r) % 2)
		q->data = rng_next(r) % memory;
	q->data_is_ptr = rng_next(r) % 2;
	q->df = rng_next(r) % 4 == 0;
	q->is_read = rng_next(r) % 2;
}

static void
describe(char *msg, size_t len, unsigned i, const char *what,
	 const struct hv_raw_req *q)
{
	snprintf(msg, len,
		 "iteration %u: %s (type=%u size=%" PRIu32 " count=%" PRIu32
		 " addr=%#" PRIx64 " data=%#" PRIx64 " ptr=%d df=%d %s)",
		 i, what, q->type, q->size, q->count, q->addr, q->data,
		 q->data_is_ptr, q->df, q->is_read ? "read" : "write");
}

/* A slot in a state other than READY, notified: must stay untouched. */
static enum hv_status
bad_state(struct hv *hv, struct rng *r, unsigned vcpu, int id, unsigned i,
	  char *msg, size_t len)
{
	/* anything but READY (1), which would be a real request */
	static const uint8_t states[] = { 0, 2, 3, 4, 7, 15 };
	struct hv_server *s = &hv->servers[id];
	ioreq_t *slot = &s->sync->vcpu_ioreq[vcpu];
	uint8_t *bits = (uint8_t *)slot + 30;
	uint8_t set = (uint8_t)((*bits & 0xf0) |
				states[rng_next(r) % sizeof(states)]);
	uint64_t data = rng_next(r);
	enum hv_status st = HV_OK;

	slot->data = data;
	__atomic_store_n(bits, set, __ATOMIC_RELEASE);
	hv_notify_gport(hv, s->vcpu_port[vcpu]);
	sleep_ms(2);
	if (__atomic_load_n(bits, __ATOMIC_ACQUIRE) != set ||
	    slot->data != data) {
		snprintf(msg, len,
			 "iteration %u: the device model wrote a "
			 "slot left in state %u",
			 i, set & 0xf);
		st = HV_CRASHED;
	}
	__atomic_store_n(bits, (uint8_t)(set & 0xf0), __ATOMIC_RELEASE);
	return st;
}

/* Garbage entries and a random write pointer in the buffered ring. */
static void
bad_ring(struct hv *hv, struct rng *r, int id)
{
	struct hv_server *s = &hv->servers[id];
	struct buffered_iopage *pg = s->ring;
	uint32_t rp;

	if (!pg)
		return;
	pthread_mutex_lock(&s->ring_lock);
	for (unsigned k = rng_next(r) % 64; k > 0; k--) {
		uint64_t v = rng_next(r);

		memcpy(&pg->buf_ioreq[rng_next(r) % IOREQ_BUFFER_SLOT_NUM], &v,
		       sizeof(v));
	}
	rp = __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE);
	__atomic_store_n(&pg->write_pointer,
			 rp + (uint32_t)(rng_next(r) % 1500), __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->ring_lock);
	hv_notify_gport(hv, s->buf_port);
}

/* Empty the ring again once the model has stopped moving read_pointer. */
static void
calm_ring(struct hv *hv, int id)
{
	struct buffered_iopage *pg = hv->servers[id].ring;
	uint32_t rp, before;

	if (!pg)
		return;
	do {
		before = __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE);
		sleep_ms(10);
		rp = __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE);
	} while (rp != before);
	pthread_mutex_lock(&hv->servers[id].ring_lock);
	__atomic_store_n(&pg->write_pointer, rp, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&hv->servers[id].ring_lock);
}

enum hv_status
hv_fuzz_ioreqs(struct hv *hv, unsigned vcpu, uint64_t seed, unsigned count,
	       char *msg, size_t msg_len)
{
	struct rng r = { .s = seed ? seed : 0x9e3779b97f4a7c15ULL };
	int id = top_enabled_server(hv);
	enum hv_status st = HV_OK;

	msg[0] = '\0';
	if (id < 0 || vcpu >= hv->cfg.vcpus) {
		snprintf(msg, msg_len, "no enabled server");
		return HV_BAD_ARG;
	}
	for (unsigned i = 0; i < count && st == HV_OK; i++) {
		unsigned kind = (unsigned)(rng_next(&r) % 100);
		struct hv_raw_req q;
		uint64_t out;

		if (kind < 85) {
			random_request(&r, hv->cfg.memory, &q);
			st = hv_send_raw(hv, vcpu, (unsigned)id, &q, &out);
			if (st != HV_OK)
				describe(msg, msg_len, i,
					 st == HV_TIMEOUT ? "not answered" :
							    "bad answer",
					 &q);
		} else if (kind < 93) {
			st = bad_state(hv, &r, vcpu, id, i, msg, msg_len);
		} else {
			bad_ring(hv, &r, id);
		}
	}
	calm_ring(hv, id);
	return st;
}
