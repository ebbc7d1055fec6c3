/*
 * The driver's side of a split virtqueue (virtio 1.2, section 2.7), for
 * xensim's guest-side virtio driver (vdrv.c): where the descriptor table,
 * available ring and used ring lie in one block of guest RAM, descriptor
 * allocation, building chains (direct, or one indirect descriptor),
 * offering them, taking used elements back, and both kinds of
 * notification suppression.  Pure memory work over a host pointer to the
 * block: no hypervisor, no transport, so a unit test can lay rings out
 * and hand them to the device's own virtqueue core.
 *
 * Everything in the rings is little-endian.  The 16-bit indices the
 * device shares with us are read with acquire and written with release
 * order (the device is another process on another CPU).
 *
 * Layout of a block for queue size N (the minimum alignments of 2.7:
 * descriptor table 16, available ring 2, used ring 4):
 *	0				descriptor table, 16 * N
 *	16 * N				available ring, 6 + 2 * N (used_event last)
 *	align4(16 * N + 6 + 2 * N)	used ring, 6 + 8 * N (avail_event last)
 */
#ifndef XENSIM_VRING_H
#define XENSIM_VRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VRING_SIZE_MAX	   1024u /* largest queue the driver sets up */
#define VRING_INDIRECT_MAX 4096u /* entries of a table it builds */

#define VRING_DESC_F_NEXT	   1u
#define VRING_DESC_F_WRITE	   2u
#define VRING_DESC_F_INDIRECT	   4u
#define VRING_AVAIL_F_NO_INTERRUPT 1u
#define VRING_USED_F_NO_NOTIFY	   1u

/* Byte offsets in the block, and its total size. */
size_t vring_avail_offset(unsigned size);
size_t vring_used_offset(unsigned size);
size_t vring_bytes(unsigned size);

/* One buffer of a chain as the driver lays it out. */
struct vring_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable; /* device-writable (VRING_DESC_F_WRITE) */
};

struct vring {
	unsigned size; /* power of two, 1 .. VRING_SIZE_MAX */
	uint8_t *desc, *avail, *used;
	uint16_t avail_idx; /* the driver's shadow of avail.idx */
	uint16_t last_used; /* next used element to take */
	/* Free descriptors, a stack; chain_len/link say what a head holds. */
	uint16_t free[VRING_SIZE_MAX];
	unsigned free_count;
	uint16_t chain_len[VRING_SIZE_MAX]; /* 0: head not in use */
	uint16_t link[VRING_SIZE_MAX];	    /* next descriptor of a chain */
};

/*
 * Lay a ring of `size` entries (a power of two up to VRING_SIZE_MAX) out
 * in the block at `mem` (vring_bytes(size) bytes, zeroed here): every
 * descriptor free, both indices 0.  -EINVAL for a bad size.
 */
int vring_init(struct vring *vr, void *mem, unsigned size);

/* Write descriptor i of a table (the ring's own, or an indirect one). */
void vring_put_desc(uint8_t *table, unsigned i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next);
/* Read it back (tests). */
void vring_get_desc(const uint8_t *table, unsigned i, uint64_t *addr,
		    uint32_t *len, uint16_t *flags, uint16_t *next);

/*
 * Put a chain of `count` buffers (1 .. size) in the descriptor table,
 * linked with NEXT in the order given; its head goes to *ret_head.  The
 * caller offers it with vring_offer.  -ENOSPC when fewer than `count`
 * descriptors are free, -EINVAL for count 0.
 */
int vring_add_chain(struct vring *vr, const struct vring_buf *bufs,
		    unsigned count, uint16_t *ret_head);

/*
 * The same chain through one INDIRECT descriptor: a table of `count`
 * entries (1 .. VRING_INDIRECT_MAX, NEXT-linked, `next` counting within
 * the table) is written at `table`, the host pointer of guest address
 * table_gpa (16 * count bytes).  Takes one descriptor of the ring.
 */
int vring_add_indirect(struct vring *vr, const struct vring_buf *bufs,
		       unsigned count, uint8_t *table, uint64_t table_gpa,
		       uint16_t *ret_head);

/*
 * Take `count` free descriptors for a chain the caller writes itself (a
 * hostile one): their indices in order to idx[], head = idx[0], and the
 * head is marked in use holding them all.  -ENOSPC, -EINVAL as above.
 */
int vring_alloc(struct vring *vr, unsigned count, uint16_t *idx);

/* Give chain `head` back to the free list; false if it is not in use. */
bool vring_free_chain(struct vring *vr, uint16_t head);

/* Entry avail_idx % size := head, then avail.idx + 1 (release). */
void vring_offer(struct vring *vr, uint16_t head);
/* Write avail.idx as is (hostile jumps); the shadow follows. */
void vring_set_avail_idx(struct vring *vr, uint16_t idx);

/* used.idx (acquire). */
uint16_t vring_used_idx(const struct vring *vr);
/*
 * Take the next used element if the device published one: its id and
 * len, and last_used + 1.  false when used.idx == last_used.
 */
bool vring_take_used(struct vring *vr, uint32_t *ret_id, uint32_t *ret_len);

/* avail.flags, and used_event (the last entry of the available ring). */
void vring_set_avail_flags(struct vring *vr, uint16_t flags);
void vring_set_used_event(struct vring *vr, uint16_t idx);
/* used.flags and avail_event (the device's wishes about kicks). */
uint16_t vring_used_flags(const struct vring *vr);
uint16_t vring_avail_event(const struct vring *vr);

/*
 * The event-index rule of 2.7.10: should the party that moved its index
 * from old_idx to new_idx notify, given the other side's event index?
 */
bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx);

#endif
