/*
 * Giving back what start-up needed (see memory.c).
 */
#ifndef IOREQD_DAEMON_MEMORY_H
#define IOREQD_DAEMON_MEMORY_H

/*
 * Drop this process's page-table entries for clean, read-only, private
 * file mappings (program and library text and read-only data) that hold
 * no private copy of a page.  The pages stay in the page cache and fault
 * back in (minor faults) when next used.  Call once, after set-up, from
 * the only thread.  Returns the number of mappings dropped, or -errno if
 * /proc/self/smaps cannot be read.
 */
int memory_drop_startup_pages(void);

#endif
