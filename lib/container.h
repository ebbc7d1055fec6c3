/*
 * container_of: from a pointer to a member back to the structure that
 * embeds it (how device models get from struct device to their state).
 */
#ifndef IOREQD_CONTAINER_H
#define IOREQD_CONTAINER_H

#include <stddef.h>

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#endif

#endif
