/*
 * The driver's side of a split virtqueue: layout, descriptors, the
 * available ring and the used ring (see vring.h).
 */
#include "vring.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

size_t
vring_avail_offset(unsigned size)
{
	return 16u * (size_t)size;
}

size_t
vring_used_offset(unsigned size)
{
	return (vring_avail_offset(size) + 6 + 2u * (size_t)size + 3) & ~3u;
}

size_t
vring_bytes(unsigned size)
{
	return vring_used_offset(size) + 6 + 8u * (size_t)size;
}

static void
put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static uint16_t
get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

/*
 * The indices the device reads or writes concurrently: aligned (the
 * block is, and every index offset is even), so one atomic access.
 */
static void
store16_release(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELEASE);
}

static uint16_t
load16_acquire(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p,
				       __ATOMIC_ACQUIRE));
}

int
vring_init(struct vring *vr, void *mem, unsigned size)
{
	if (size == 0 || size > VRING_SIZE_MAX || (size & (size - 1)))
		return -EINVAL;
	memset(vr, 0, sizeof(*vr));
	memset(mem, 0, vring_bytes(size));
	vr->size = size;
	vr->desc = mem;
	vr->avail = vr->desc + vring_avail_offset(size);
	vr->used = vr->desc + vring_used_offset(size);
	/* Hand out low indices first: popped from the top of the stack. */
	for (unsigned i = 0; i < size; i++)
		vr->free[i] = (uint16_t)(size - 1 - i);
	vr->free_count = size;
	return 0;
}

void
vring_put_desc(uint8_t *table, unsigned i, uint64_t addr, uint32_t len,
	       uint16_t flags, uint16_t next)
{
	uint8_t *d = table + 16u * (size_t)i;
	uint64_t a = htole64(addr);
	uint32_t l = htole32(len);

	memcpy(d, &a, 8);
	memcpy(d + 8, &l, 4);
	put16(d + 12, flags);
	put16(d + 14, next);
}

void
vring_get_desc(const uint8_t *table, unsigned i, uint64_t *addr, uint32_t *len,
	       uint16_t *flags, uint16_t *next)
{
	const uint8_t *d = table + 16u * (size_t)i;
	uint64_t a;
	uint32_t l;

	memcpy(&a, d, 8);
	memcpy(&l, d + 8, 4);
	*addr = le64toh(a);
	*len = le32toh(l);
	*flags = get16(d + 12);
	*next = get16(d + 14);
}

int
vring_alloc(struct vring *vr, unsigned count, uint16_t *idx)
{
	if (count == 0)
		return -EINVAL;
	if (count > vr->free_count)
		return -ENOSPC;
	for (unsigned i = 0; i < count; i++)
		idx[i] = vr->free[--vr->free_count];
	for (unsigned i = 0; i + 1 < count; i++)
		vr->link[idx[i]] = idx[i + 1];
	vr->chain_len[idx[0]] = (uint16_t)count;
	return 0;
}

bool
vring_free_chain(struct vring *vr, uint16_t head)
{
	unsigned n, i;
	uint16_t d = head;

	if (head >= vr->size || vr->chain_len[head] == 0)
		return false;
	n = vr->chain_len[head];
	vr->chain_len[head] = 0;
	for (i = 0; i < n; i++) {
		vr->free[vr->free_count++] = d;
		d = vr->link[d];
	}
	return true;
}

static uint16_t
buf_flags(const struct vring_buf *b)
{
	return b->writable ? VRING_DESC_F_WRITE : 0;
}

int
vring_add_chain(struct vring *vr, const struct vring_buf *bufs, unsigned count,
		uint16_t *ret_head)
{
	uint16_t idx[VRING_SIZE_MAX];
	int r;

	if (count > vr->size)
		return count ? -ENOSPC : -EINVAL;
	r = vring_alloc(vr, count, idx);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < count; i++) {
		bool last = i + 1 == count;

		vring_put_desc(vr->desc, idx[i], bufs[i].gpa, bufs[i].len,
			       buf_flags(&bufs[i]) |
				       (last ? 0 : VRING_DESC_F_NEXT),
			       last ? 0 : idx[i + 1]);
	}
	*ret_head = idx[0];
	return 0;
}

int
vring_add_indirect(struct vring *vr, const struct vring_buf *bufs,
		   unsigned count, uint8_t *table, uint64_t table_gpa,
		   uint16_t *ret_head)
{
	uint16_t head;
	int r;

	if (count == 0 || count > VRING_INDIRECT_MAX)
		return -EINVAL;
	r = vring_alloc(vr, 1, &head);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < count; i++) {
		bool last = i + 1 == count;

		vring_put_desc(table, i, bufs[i].gpa, bufs[i].len,
			       buf_flags(&bufs[i]) |
				       (last ? 0 : VRING_DESC_F_NEXT),
			       last ? 0 : (uint16_t)(i + 1));
	}
	vring_put_desc(vr->desc, head, table_gpa, 16u * count,
		       VRING_DESC_F_INDIRECT, 0);
	*ret_head = head;
	return 0;
}

void
vring_offer(struct vring *vr, uint16_t head)
{
	put16(vr->avail + 4 + 2u * (vr->avail_idx & (vr->size - 1)), head);
	/* The entry (and the descriptors before it) before the index. */
	store16_release(vr->avail + 2, ++vr->avail_idx);
}

void
vring_set_avail_idx(struct vring *vr, uint16_t idx)
{
	vr->avail_idx = idx;
	store16_release(vr->avail + 2, idx);
}

uint16_t
vring_used_idx(const struct vring *vr)
{
	return load16_acquire(vr->used + 2);
}

bool
vring_take_used(struct vring *vr, uint32_t *ret_id, uint32_t *ret_len)
{
	const uint8_t *e;
	uint32_t id, len;

	if (vring_used_idx(vr) == vr->last_used)
		return false;
	/* The acquire load of used.idx orders the element after it. */
	e = vr->used + 4 + 8u * (vr->last_used & (vr->size - 1));
	memcpy(&id, e, 4);
	memcpy(&len, e + 4, 4);
	*ret_id = le32toh(id);
	*ret_len = le32toh(len);
	vr->last_used++;
	return true;
}

void
vring_set_avail_flags(struct vring *vr, uint16_t flags)
{
	store16_release(vr->avail, flags);
}

void
vring_set_used_event(struct vring *vr, uint16_t idx)
{
	store16_release(vr->avail + 4 + 2u * vr->size, idx);
}

uint16_t
vring_used_flags(const struct vring *vr)
{
	return load16_acquire(vr->used);
}

uint16_t
vring_avail_event(const struct vring *vr)
{
	return load16_acquire(vr->used + 4 + 8u * vr->size);
}

bool
vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}
