/* Logging to stderr; see log.h. */
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum log_level current_level = LOG_LEVEL_INFO;
static int journal = -1; /* -1: not decided yet */

/* syslog priorities used by the sd-daemon prefixes */
static const int level_priority[_LOG_LEVEL_COUNT] = { 3, 4, 5, 6, 7 };
static const char *const level_name[_LOG_LEVEL_COUNT] = {
	"error", "warning", "notice", "info", "debug",
};

void
log_set_level(enum log_level level)
{
	if (level < _LOG_LEVEL_COUNT)
		current_level = level;
}

enum log_level
log_get_level(void)
{
	return current_level;
}

int
log_parse_level(const char *name, enum log_level *ret_level)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOG_LEVEL_ERROR },
		{ "err", LOG_LEVEL_ERROR },
		{ "warn", LOG_LEVEL_WARNING },
		{ "warning", LOG_LEVEL_WARNING },
		{ "notice", LOG_LEVEL_NOTICE },
		{ "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*ret_level = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

void
log_set_journal(bool on)
{
	journal = on;
}

static void
log_vmsg(enum log_level level, int r, const char *fmt, va_list ap)
{
	char buf[1024];
	int n;

	if (level > current_level)
		return;
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;

	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return;
	if (r < 0 && (size_t)n < sizeof(buf))
		(void)snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s",
			       strerror(-r));
	if (journal)
		fprintf(stderr, "<%d>%s\n", level_priority[level], buf);
	else
		fprintf(stderr, "ioreqd: %s: %s\n", level_name[level], buf);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, 0, fmt, ap);
	va_end(ap);
}

int
log_errno(enum log_level level, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, r, fmt, ap);
	va_end(ap);
	return r;
}

static uint64_t
now_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

void
log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt,
		...)
{
	uint64_t now;
	va_list ap;

	if (level > current_level)
		return;
	now = now_usec();
	if (rl->window_start_usec == 0 ||
	    now - rl->window_start_usec >= LOG_RATELIMIT_INTERVAL_USEC) {
		if (rl->suppressed)
			log_msg(level, "(%u similar messages suppressed)",
				rl->suppressed);
		rl->window_start_usec = now;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count >= LOG_RATELIMIT_BURST) {
		rl->suppressed++;
		return;
	}
	rl->count++;
	va_start(ap, fmt);
	log_vmsg(level, 0, fmt, ap);
	va_end(ap);
}
