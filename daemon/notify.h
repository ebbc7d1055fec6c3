/*
 * The two pieces of systemd's notification protocol ioreqd uses
 * (sd_notify(3), sd_watchdog_enabled(3)), without linking libsystemd: that
 * library and the compression and crypto libraries it pulls in were a
 * third of the daemon's resident memory, for one datagram.
 */
#ifndef IOREQD_DAEMON_NOTIFY_H
#define IOREQD_DAEMON_NOTIFY_H

#include <stdint.h>

/*
 * Send `state` (e.g. "READY=1") to $NOTIFY_SOCKET (a path, or "@name" in
 * the abstract namespace).  0 when sent, 0 also when there is no
 * NOTIFY_SOCKET (not under systemd), -errno otherwise.
 */
int notify_send(const char *state);

/*
 * Send "STATUS=<text>", the one-line state `systemctl status` shows, the
 * text formatted like printf and cut at 200 bytes.  As notify_send.
 */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Does the service manager expect WATCHDOG=1 pings?  From $WATCHDOG_USEC
 * (and $WATCHDOG_PID, which must be ours when set).  1 with
 * *ret_usec set, 0 when not, -EINVAL for a malformed value.
 */
int notify_watchdog_usec(uint64_t *ret_usec);

#endif
