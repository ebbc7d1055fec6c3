/*
 * Split virtqueue, device side (virtio 1.2, 2.7); see virtqueue.h for the
 * contract, the mapping scheme and the error convention.
 *
 *   descriptor table  16 * size      { le64 addr; le32 len; le16 flags;
 *                                      le16 next; }
 *   available ring    6 + 2 * size   { le16 flags; le16 idx;
 *                                      le16 ring[size]; le16 used_event; }
 *   used ring         6 + 8 * size   { le16 flags; le16 idx;
 *                                      { le32 id; le32 len; } ring[size];
 *                                      le16 avail_event; }
 */
#include "devices/virtio/virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "lib/range.h"

#define AVAIL_RING_OFF 4u /* avail.ring[0] */
#define USED_RING_OFF  4u /* used.ring[0] */

/* One descriptor, as copied out of guest memory (host byte order). */
struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static const char *const vq_error_names[_VQ_ERR_COUNT] = {
	[VQ_ERR_NONE] = "none",
	[VQ_ERR_AVAIL_IDX] = "avail_idx",
	[VQ_ERR_HEAD] = "head",
	[VQ_ERR_NEXT] = "next",
	[VQ_ERR_CHAIN_LONG] = "chain_long",
	[VQ_ERR_ORDER] = "order",
	[VQ_ERR_INDIRECT_FEATURE] = "indirect_feature",
	[VQ_ERR_INDIRECT_NEXT] = "indirect_next",
	[VQ_ERR_INDIRECT_NESTED] = "indirect_nested",
	[VQ_ERR_INDIRECT_LEN] = "indirect_len",
	[VQ_ERR_ADDR] = "addr",
	[VQ_ERR_FAULT] = "fault",
};

const char *
vq_error_name(enum vq_error error)
{
	if ((unsigned)error >= _VQ_ERR_COUNT)
		return "unknown";
	return vq_error_names[error];
}

static bool
vq_has(const struct virtqueue *vq, unsigned bit)
{
	return (vq->features >> bit) & 1;
}

/*
 * Areas.  Offsets come from masked indices, so they are inside the area;
 * a short segment list (a core bug) makes the helpers fail, not overrun.
 */

/* Host pointer of [off, off + len) if it lies in one segment, else NULL. */
static void *
area_ptr(const struct vq_area *a, size_t off, size_t len)
{
	for (unsigned i = 0; i < a->sg.n; i++) {
		const struct guest_sg_seg *s = &a->sg.seg[i];

		if (off < s->len)
			return len <= s->len - off ? (uint8_t *)s->hva + off :
						     NULL;
		off -= s->len;
	}
	return NULL;
}

/* Copy [off, off + len) of the area to or from buf, across segments. */
static bool
area_copy(const struct vq_area *a, size_t off, void *buf, size_t len,
	  bool to_guest)
{
	uint8_t *p = buf;

	for (unsigned i = 0; i < a->sg.n && len; i++) {
		const struct guest_sg_seg *s = &a->sg.seg[i];
		size_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off < len ? s->len - off : len;
		if (to_guest)
			memcpy((uint8_t *)s->hva + off, p, n);
		else
			memcpy(p, (uint8_t *)s->hva + off, n);
		p += n;
		len -= n;
		off = 0;
	}
	return len == 0;
}

/* A 16-bit field for atomic access: one segment, aligned, else NULL. */
static void *
area_u16(const struct vq_area *a, size_t off)
{
	void *p = area_ptr(a, off, 2);

	return p && guest_mem_aligned(p, 2) ? p : NULL;
}

static void
vq_unmap(struct virtqueue *vq)
{
	struct vq_area *areas[] = { &vq->desc, &vq->avail, &vq->used };

	for (unsigned i = 0; i < 3; i++)
		if (vq->svc->guest_unmap)
			vq->svc->guest_unmap(vq->svc->opaque, &areas[i]->sg);
	for (unsigned i = 0; i < 3; i++)
		memset(&areas[i]->sg, 0, sizeof(areas[i]->sg));
	vq->mapped = false;
	vq->avail_flags_p = vq->avail_idx_p = vq->used_event_p = NULL;
	vq->used_flags_p = vq->used_idx_p = vq->avail_event_p = NULL;
}

static int
vq_map(struct virtqueue *vq)
{
	struct vq_area *areas[] = { &vq->desc, &vq->avail, &vq->used };
	size_t size = vq->size;
	int r;

	for (unsigned i = 0; i < 3; i++) {
		r = vq->svc->guest_map(vq->svc->opaque, areas[i]->gpa,
				       areas[i]->size, areas[i]->writable,
				       &areas[i]->sg);
		if (r < 0)
			goto err_unmap;
	}
	vq->avail_flags_p = area_u16(&vq->avail, 0);
	vq->avail_idx_p = area_u16(&vq->avail, 2);
	vq->used_event_p = area_u16(&vq->avail, AVAIL_RING_OFF + 2 * size);
	vq->used_flags_p = area_u16(&vq->used, 0);
	vq->used_idx_p = area_u16(&vq->used, 2);
	vq->avail_event_p = area_u16(&vq->used,
				     USED_RING_OFF + VQ_USED_ELEM_SIZE * size);
	if (!vq->avail_flags_p || !vq->avail_idx_p || !vq->used_event_p ||
	    !vq->used_flags_p || !vq->used_idx_p || !vq->avail_event_p) {
		r = -EINVAL;
		goto err_unmap;
	}
	vq->mapped = true;
	return 0;

err_unmap:
	vq_unmap(vq);
	return r;
}

static int
vq_break(struct virtqueue *vq, enum vq_error error)
{
	vq->error = error;
	vq->stats.errors++;
	return -EIO;
}

/*
 * Before every use: enabled, not broken, mapped and not revoked (mapping
 * again if it was).  0 or the caller's return value.
 */
static int
vq_ready(struct virtqueue *vq)
{
	int r;

	if (!vq->enabled)
		return -EINVAL;
	if (vq->error != VQ_ERR_NONE)
		return -EIO;
	if (vq->mapped && (guest_sg_revoked(&vq->desc.sg) ||
			   guest_sg_revoked(&vq->avail.sg) ||
			   guest_sg_revoked(&vq->used.sg))) {
		vq_unmap(vq);
		vq->stats.remaps++;
	}
	if (vq->mapped)
		return 0;
	r = vq_map(vq);
	if (r == -EFAULT)
		return vq_break(vq, VQ_ERR_FAULT);
	return r;
}

void
virtqueue_init(struct virtqueue *vq, const struct device_services *svc)
{
	memset(vq, 0, sizeof(*vq));
	vq->svc = svc;
}

int
virtqueue_configure(struct virtqueue *vq, unsigned size, uint64_t desc_gpa,
		    uint64_t avail_gpa, uint64_t used_gpa, uint64_t features)
{
	if (vq->enabled)
		return -EBUSY;
	if (size == 0 || size > VQ_SIZE_MAX || (size & (size - 1)))
		return -EINVAL;
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return -EINVAL;
	vq->desc = (struct vq_area){ .gpa = desc_gpa,
				     .size = VQ_DESC_SIZE * size };
	vq->avail = (struct vq_area){ .gpa = avail_gpa, .size = 6 + 2 * size };
	vq->used = (struct vq_area){ .gpa = used_gpa,
				     .size = 6 + VQ_USED_ELEM_SIZE * size,
				     .writable = true };
	if (!range_fits(desc_gpa, vq->desc.size) ||
	    !range_fits(avail_gpa, vq->avail.size) ||
	    !range_fits(used_gpa, vq->used.size)) {
		vq->size = 0;
		return -EINVAL;
	}
	vq->size = (uint16_t)size;
	vq->features = features;
	return 0;
}

int
virtqueue_enable(struct virtqueue *vq)
{
	int r;

	if (vq->enabled)
		return -EBUSY;
	if (vq->size == 0)
		return -EINVAL;
	if (!vq->svc->guest_map)
		return -EOPNOTSUPP;
	r = vq_map(vq);
	if (r < 0)
		return r;
	vq->enabled = true;
	vq->notify = true;
	vq->last_avail_idx = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	return 0;
}

void
virtqueue_disable(struct virtqueue *vq)
{
	if (vq->mapped)
		vq_unmap(vq);
	vq->enabled = false;
}

void
virtqueue_reset(struct virtqueue *vq)
{
	struct vq_stats stats = vq->stats;
	const struct device_services *svc = vq->svc;

	virtqueue_disable(vq);
	virtqueue_init(vq, svc);
	vq->stats = stats;
}

static void
vq_desc_decode(const uint8_t raw[VQ_DESC_SIZE], struct vq_desc *d)
{
	memcpy(&d->addr, raw, 8);
	memcpy(&d->len, raw + 8, 4);
	memcpy(&d->flags, raw + 12, 2);
	memcpy(&d->next, raw + 14, 2);
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* Descriptor i of the ring's table, copied once. */
static bool
vq_read_desc(const struct virtqueue *vq, unsigned i, struct vq_desc *d)
{
	uint8_t raw[VQ_DESC_SIZE];

	if (!area_copy(&vq->desc, (size_t)i * VQ_DESC_SIZE, raw, sizeof(raw),
		       false))
		return false;
	vq_desc_decode(raw, d);
	return true;
}

/* Entry i of an indirect table at gpa, copied once. */
static bool
vq_read_indirect(const struct virtqueue *vq, uint64_t gpa, unsigned i,
		 struct vq_desc *d)
{
	uint8_t raw[VQ_DESC_SIZE];

	if (!vq->svc->guest_read ||
	    vq->svc->guest_read(vq->svc->opaque, gpa + (uint64_t)i * 16, raw,
				sizeof(raw)) < 0)
		return false;
	vq_desc_decode(raw, d);
	return true;
}

/* Append a buffer descriptor to the chain. */
static enum vq_error
vq_chain_add(struct vq_chain *chain, const struct vq_desc *d)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	struct vq_elem *e;

	if (d->len != 0 && !range_fits(d->addr, d->len))
		return VQ_ERR_ADDR;
	if (!writable && chain->count > chain->readable_count)
		return VQ_ERR_ORDER;
	if (chain->count >= VQ_CHAIN_MAX)
		return VQ_ERR_CHAIN_LONG;
	e = &chain->elem[chain->count++];
	*e = (struct vq_elem){ .gpa = d->addr,
			       .len = d->len,
			       .writable = writable };
	if (writable) {
		chain->writable_len += d->len;
	} else {
		chain->readable_count++;
		chain->readable_len += d->len;
	}
	return VQ_ERR_NONE;
}

/* The table an INDIRECT descriptor `ind` points at; it ends the chain. */
static enum vq_error
vq_walk_indirect(const struct virtqueue *vq, const struct vq_desc *ind,
		 struct vq_chain *chain)
{
	unsigned count, i = 0;
	struct vq_desc d;
	enum vq_error e;

	if (ind->len == 0 || ind->len % VQ_DESC_SIZE ||
	    ind->len / VQ_DESC_SIZE > VQ_INDIRECT_MAX)
		return VQ_ERR_INDIRECT_LEN;
	if (!range_fits(ind->addr, ind->len))
		return VQ_ERR_ADDR;
	count = ind->len / VQ_DESC_SIZE;
	/* Each step visits one entry; more steps than entries is a loop. */
	for (unsigned steps = 1;; steps++) {
		if (steps > count)
			return VQ_ERR_CHAIN_LONG;
		if (!vq_read_indirect(vq, ind->addr, i, &d))
			return VQ_ERR_FAULT;
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return VQ_ERR_INDIRECT_NESTED;
		e = vq_chain_add(chain, &d);
		if (e != VQ_ERR_NONE)
			return e;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return VQ_ERR_NONE;
		if (d.next >= count)
			return VQ_ERR_NEXT;
		i = d.next;
	}
}

/*
 * The chain from `head` (< size): direct descriptors, optionally ended by
 * one INDIRECT descriptor (spec 2.7.5.3.2: zero or more direct ones, then
 * a table).
 */
static enum vq_error
vq_walk(const struct virtqueue *vq, uint16_t head, struct vq_chain *chain)
{
	unsigned i = head;
	struct vq_desc d;
	enum vq_error e;

	chain->head = head;
	chain->count = chain->readable_count = 0;
	chain->readable_len = chain->writable_len = 0;
	/* size descriptors exist: a longer chain visits one twice. */
	for (unsigned steps = 1;; steps++) {
		if (steps > vq->size)
			return VQ_ERR_CHAIN_LONG;
		if (!vq_read_desc(vq, i, &d))
			return VQ_ERR_FAULT;
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq_has(vq, VIRTIO_F_INDIRECT_DESC))
				return VQ_ERR_INDIRECT_FEATURE;
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return VQ_ERR_INDIRECT_NEXT;
			return vq_walk_indirect(vq, &d, chain);
		}
		e = vq_chain_add(chain, &d);
		if (e != VQ_ERR_NONE)
			return e;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return VQ_ERR_NONE;
		if (d.next >= vq->size)
			return VQ_ERR_NEXT;
		i = d.next;
	}
}

int
virtqueue_pop(struct virtqueue *vq, struct vq_chain *chain)
{
	uint16_t avail_idx, pending, head;
	enum vq_error e;
	size_t off;
	int r;

	r = vq_ready(vq);
	if (r < 0)
		return r;
	/* Acquire: the ring entries and descriptors are read after idx. */
	avail_idx = le16toh(guest_load_acquire_u16(vq->avail_idx_p));
	pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending > vq->size)
		return vq_break(vq, VQ_ERR_AVAIL_IDX);
	if (pending == 0)
		return -EAGAIN;

	off = AVAIL_RING_OFF +
	      2 * (size_t)(vq->last_avail_idx & (vq->size - 1));
	if (!area_copy(&vq->avail, off, &head, sizeof(head), false))
		return vq_break(vq, VQ_ERR_FAULT);
	head = le16toh(head);
	if (head >= vq->size)
		return vq_break(vq, VQ_ERR_HEAD);
	e = vq_walk(vq, head, chain);
	if (e != VQ_ERR_NONE)
		return vq_break(vq, e);

	vq->last_avail_idx++;
	if (vq->notify && vq_has(vq, VIRTIO_F_EVENT_IDX))
		guest_store_release_u16(vq->avail_event_p,
					htole16(vq->last_avail_idx));
	vq->stats.pops++;
	vq->stats.bytes_read += chain->readable_len;
	return 0;
}

int
virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t written_len)
{
	uint32_t elem[2] = { htole32(head), htole32(written_len) };
	size_t off;
	int r;

	r = vq_ready(vq);
	if (r < 0)
		return r;
	if (head >= vq->size)
		return -EINVAL;
	off = USED_RING_OFF +
	      VQ_USED_ELEM_SIZE * (size_t)(vq->used_idx & (vq->size - 1));
	if (!area_copy(&vq->used, off, elem, sizeof(elem), true))
		return vq_break(vq, VQ_ERR_FAULT);
	vq->used_idx++;
	/* Release: the element is visible before the index that shows it. */
	guest_store_release_u16(vq->used_idx_p, htole16(vq->used_idx));
	vq->stats.pushes++;
	vq->stats.bytes_written += written_len;
	return 0;
}

bool
virtqueue_should_notify(struct virtqueue *vq)
{
	uint16_t old, new, event, flags;
	bool notify;
	int r;

	if (!vq->enabled || vq->error != VQ_ERR_NONE)
		return false;
	r = vq_ready(vq);
	if (r < 0)
		return r != -EIO;
	old = vq->signalled_used;
	new = vq->used_idx;
	if (old == new)
		return false;
	vq->signalled_used = new;
	/* Our used.idx store before the load of what the driver wants. */
	guest_mem_fence();
	if (vq_has(vq, VIRTIO_F_EVENT_IDX)) {
		event = le16toh(guest_load_acquire_u16(vq->used_event_p));
		notify = (uint16_t)(new - event - 1) < (uint16_t)(new - old);
	} else {
		flags = le16toh(guest_load_acquire_u16(vq->avail_flags_p));
		notify = !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	if (notify)
		vq->stats.notifies++;
	else
		vq->stats.suppressed++;
	return notify;
}

int
virtqueue_set_notify(struct virtqueue *vq, bool enable)
{
	uint16_t avail_idx;
	int r;

	r = vq_ready(vq);
	if (r < 0)
		return r;
	vq->notify = enable;
	if (vq_has(vq, VIRTIO_F_EVENT_IDX)) {
		if (enable)
			guest_store_release_u16(vq->avail_event_p,
						htole16(vq->last_avail_idx));
	} else {
		guest_store_release_u16(
			vq->used_flags_p,
			htole16(enable ? 0 : VIRTQ_USED_F_NO_NOTIFY));
	}
	if (!enable)
		return 0;
	/* Our store before the load: a buffer added meanwhile is seen. */
	guest_mem_fence();
	avail_idx = le16toh(guest_load_acquire_u16(vq->avail_idx_p));
	return avail_idx != vq->last_avail_idx;
}
