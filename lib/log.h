/*
 * Logging for the whole daemon: stderr, with sd-daemon "<N>" priority
 * prefixes when running under systemd (JOURNAL_STREAM set) and plain
 * "ioreqd: level: " text otherwise.  Library code (devices/, config/,
 * ioreq/) logs only through the rate limiter or at debug level.
 */
#ifndef IOREQD_LOG_H
#define IOREQD_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	_LOG_LEVEL_COUNT,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "debug", "info", "notice", "warn"/"warning", "error" -> 0 or -EINVAL. */
int log_parse_level(const char *name, enum log_level *ret_level);
/* Force or disable the "<N>" journal prefixes (default: auto-detect). */
void log_set_journal(bool on);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Logs fmt plus ": strerror(-r)" and returns r (r is -errno). */
int log_errno(enum log_level level, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...)	 log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...)	 log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)	 log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	 log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/*
 * Rate limiter for guest-triggered messages: at most LOG_RATELIMIT_BURST
 * messages per LOG_RATELIMIT_INTERVAL_USEC per limiter; the first message
 * after a suppressed stretch says how many were dropped.  Zero-initialise.
 */
#define LOG_RATELIMIT_BURST	    10
#define LOG_RATELIMIT_INTERVAL_USEC (5 * 1000000ull)

struct log_ratelimit {
	uint64_t window_start_usec;
	unsigned count;
	unsigned suppressed;
};

void log_ratelimited(struct log_ratelimit *rl, enum log_level level,
		     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
