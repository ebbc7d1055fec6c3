/*
 * Range arithmetic on guest addresses, sizes and access widths.  Every
 * base and size a guest or a config file hands us can sit anywhere in
 * 64 bits, so the checks here never compute base + size: that is where a
 * wrap past 2^64 would hide.
 */
#ifndef IOREQD_RANGE_H
#define IOREQD_RANGE_H

#include <stdbool.h>
#include <stdint.h>

/* x86 port I/O addresses are 16 bits: ports 0 .. 0xffff. */
#define RANGE_PORT_SPACE_SIZE 0x10000u

/*
 * All-ones of an access `size` bytes wide (1 .. 8): what an unclaimed read
 * returns and the mask of a write.  Saturates: 0 for 0, UINT64_MAX for 8
 * and above, so a hostile size cannot make the shift undefined.
 */
static inline uint64_t
range_all_ones(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

/*
 * Is [base, base + size) non-empty and free of a wrap past 2^64?  Its last
 * byte may be UINT64_MAX.
 */
static inline bool
range_fits(uint64_t base, uint64_t size)
{
	return size != 0 && size - 1 <= UINT64_MAX - base;
}

/* Is [base, base + size) non-empty and wholly inside [0, limit)? */
static inline bool
range_within(uint64_t base, uint64_t size, uint64_t limit)
{
	return size != 0 && base < limit && size <= limit - base;
}

#endif
