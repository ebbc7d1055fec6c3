/*
 * Start-up (dynamic linking, the YAML parser, device creation) runs code
 * that the serving loop never runs again: most of libc's text and all of
 * libyaml's, and the kernel maps file pages 64 KiB at a time around each
 * fault, so they all count in VmRSS while the daemon idles.  After set-up
 * their page-table entries are dropped with MADV_DONTNEED; that frees no
 * page of the shared page cache, it only stops this process from holding
 * pages it does not use.  Mappings with private copies in them (RELRO
 * after relocation shows as Anonymous) are left alone: dropping those
 * would throw the relocations away.  Writable and shared mappings (guest
 * memory, the ioreq pages) are never touched.
 */
#include "daemon/memory.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define MEMORY_MAX_RANGES 256

struct memory_range {
	unsigned long start, end;
};

/* A "start-end perms offset dev inode path" line: a candidate or not. */
static int
parse_header(const char *line, struct memory_range *ret, int *ret_ok)
{
	char perms[5], path[8];
	unsigned long start, end;
	int n = sscanf(line, "%lx-%lx %4s %*x %*x:%*x %*u %7s", &start, &end,
		       perms, path);

	if (n < 3)
		return 0;	/* not a header line */
	ret->start = start;
	ret->end = end;
	*ret_ok = n == 4 && path[0] == '/' && perms[0] == 'r' &&
		  perms[1] == '-' && perms[3] == 'p';
	return 1;
}

int
memory_drop_startup_pages(void)
{
	static struct memory_range ranges[MEMORY_MAX_RANGES];
	struct memory_range cur = { 0, 0 };
	unsigned count = 0;
	int cur_ok = 0, dropped = 0;
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct memory_range r;
		int ok;
		unsigned long anon;

		if (parse_header(line, &r, &ok)) {
			cur = r;
			cur_ok = ok;
			continue;
		}
		if (sscanf(line, "Anonymous: %lu kB", &anon) != 1)
			continue;
		if (cur_ok && anon == 0 && count < MEMORY_MAX_RANGES)
			ranges[count++] = cur;
		cur_ok = 0;
	}
	(void)fclose(f);
	for (unsigned i = 0; i < count; i++)
		if (madvise((void *)ranges[i].start,
			    ranges[i].end - ranges[i].start,
			    MADV_DONTNEED) == 0)
			dropped++;
	return dropped;
}
