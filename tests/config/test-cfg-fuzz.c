/*
 * Robustness of cfg_load_string() against malformed input: a few hundred
 * deterministic mutations (byte flips, YAML-significant insertions,
 * deletions, duplications, splices) of valid and invalid seed configs, plus
 * every truncation of one seed.  For each input the loader must either
 * succeed with a sane struct cfg and no output, or fail with -EINVAL and
 * one or more well-formed "fuzz:..." error lines.  Run it under ASan/UBSan
 * (build with -Db_sanitize=address,undefined) to catch memory errors.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "devices/device.h"

#define ITERATIONS 800
#define MAX_INPUT  4096

static const char *const seeds[] = {
	"devices:\n"
	"  - type: uart16550\n"
	"    id: com1\n"
	"    port: 0x3f8\n"
	"    irq: 4\n"
	"    backend: {type: socket, path: /run/ioreqd/com1.sock}\n"
	"  - type: debugcon\n"
	"    id: dbg\n"
	"    backend:\n"
	"      type: file\n"
	"      path: dbg.log\n",

	"devices: [{type: debugcon, id: d, port: 0x402, backend: &b "
	"{type: stdio}}, {type: uart16550, id: u, port: 1016, irq: 3, "
	"backend: *b}]\n",

	"%YAML 1.1\n---\ndevices:\n  - &x {type: debugcon, id: \"a\\x01\"}\n"
	"  - *x\n  - ? [complex, key]\n    : value\n...\n",

	"devices:\n  - type: uart16550\n    id: 'q'\n    port: 0xe9\n"
	"    irq: 99\n    colour: !!str blue\n",

	"top: &a [*a]\ndevices: &d [*d]\n",
};

/* Fragments that tend to steer libyaml into interesting states. */
static const char *const tokens[] = {
	":",	 "- ",	     "{",    "}",	 "[",
	"]",	 ",",	     "\n",   "  ",	 "\t",
	"#",	 "&a ",	     "*a",   "!!int ",	 "? ",
	"|",	 ">",	     "'",    "\"",	 "\\",
	"---\n", "...\n",    "0x",   "-1",	 "99999999999999999999",
	"type",	 "id",	     "port", "irq",	 "backend",
	"path",	 "stdio",    "null", "devices:", "%YAML 1.2\n",
	"\xff",	 "\xc3\xa9", "\x00",
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rng(void)
{
	/* xorshift64*: deterministic, good enough for mutation choices. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static size_t
mutate(char *buf, size_t len)
{
	unsigned rounds = 1 + rng() % 4;

	for (unsigned n = 0; n < rounds; n++) {
		size_t pos = len ? rng() % (len + 1) : 0;
		size_t span;

		switch (rng() % 5) {
		case 0: /* flip a byte */
			if (len)
				buf[pos % len] ^= (char)(1u << (rng() % 8));
			break;
		case 1: { /* insert a token */
			const char *t = tokens[rng() % (sizeof(tokens) /
							sizeof(tokens[0]))];
			size_t tl = t[0] ? strlen(t) : 1;

			if (len + tl > MAX_INPUT)
				break;
			memmove(buf + pos + tl, buf + pos, len - pos);
			memcpy(buf + pos, t, tl);
			len += tl;
			break;
		}
		case 2: /* delete a span */
			span = rng() % 16;
			if (pos + span > len)
				span = len - pos;
			memmove(buf + pos, buf + pos + span, len - pos - span);
			len -= span;
			break;
		case 3: /* duplicate a span (e.g. whole lines) */
			span = rng() % 64;
			if (pos + span > len)
				span = len - pos;
			if (len + span > MAX_INPUT)
				break;
			memmove(buf + pos + span, buf + pos, len - pos);
			len += span;
			break;
		default: /* random byte */
			if (len)
				buf[pos % len] = (char)rng();
			break;
		}
	}
	return len;
}

static unsigned failures;
static unsigned successes;

static void
fail(const char *what, const char *input, size_t len)
{
	(void)fprintf(stderr, "FAIL: %s for input (%zu bytes):\n%.*s\n", what,
		      len, (int)len, input);
	failures++;
}

/* Every line must read "fuzz:LINE:COL: message" or "fuzz: message". */
static bool
errors_well_formed(const char *out, size_t size)
{
	const char *p = out;

	if (size == 0 || out[size - 1] != '\n' || strlen(out) != size)
		return false;
	while (*p) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, "fuzz:", 5) != 0 || nl == p + 5)
			return false;
		p = nl + 1;
	}
	return true;
}

static void
check_success(const struct cfg *cfg, size_t out_size, const char *in,
	      size_t len)
{
	if (!cfg || out_size != 0 || cfg->device_count == 0 ||
	    strcmp(cfg->path, "fuzz") != 0) {
		fail("success without a sane cfg", in, len);
		return;
	}
	for (unsigned i = 0; i < cfg->device_count; i++) {
		const struct cfg_device *d = &cfg->devices[i];

		if (!d->type || !device_type_find(d->type) || !d->id[0] ||
		    d->backend.type >= _CFG_BACKEND_COUNT ||
		    ((d->keys & CFG_KEY_IRQ) && d->irq > 15) ||
		    ((d->keys & CFG_KEY_PORT) && d->port > 0xffff))
			fail("success with a bad device", in, len);
	}
}

static void
run_one(const char *in, size_t len)
{
	char *out = NULL;
	size_t out_size = 0;
	FILE *errs = open_memstream(&out, &out_size);
	struct cfg *cfg = (struct cfg *)&cfg; /* must be overwritten */
	int ret;

	if (!errs) {
		perror("open_memstream");
		exit(2);
	}
	ret = cfg_load_string("fuzz", in, len, device_type_cfg_find, errs,
			      &cfg);
	(void)fclose(errs);
	if (ret == 0) {
		check_success(cfg, out_size, in, len);
		successes++;
		cfg_free(cfg);
	} else if (ret != -EINVAL || cfg != NULL) {
		fail("unexpected return value or *ret_cfg", in, len);
	} else if (!errors_well_formed(out, out_size)) {
		fail("malformed error output", in, len);
		(void)fprintf(stderr, "output:\n%s\n", out);
	}
	free(out);
}

/* Optional arguments: ITERATIONS [SEED], for longer runs by hand. */
int
main(int argc, char **argv)
{
	static char buf[MAX_INPUT];
	const size_t seed_count = sizeof(seeds) / sizeof(seeds[0]);
	const char *first = seeds[0];
	unsigned long iterations = ITERATIONS;
	unsigned runs = 0;

	if (argc > 1)
		iterations = strtoul(argv[1], NULL, 0);
	if (argc > 2)
		rng_state = strtoull(argv[2], NULL, 0) | 1;

	for (size_t i = 0; i < seed_count; i++, runs++)
		run_one(seeds[i], strlen(seeds[i]));
	for (size_t cut = 0; cut <= strlen(first); cut++, runs++)
		run_one(first, cut);
	for (unsigned long i = 0; i < iterations; i++, runs++) {
		const char *seed = seeds[rng() % seed_count];
		size_t len = strlen(seed);

		memcpy(buf, seed, len);
		len = mutate(buf, len);
		run_one(buf, len);
	}
	if (failures) {
		(void)fprintf(stderr, "%u of %u inputs failed\n", failures,
			      runs);
		return 1;
	}
	(void)printf("%u inputs (%u accepted, the rest rejected cleanly)\n",
		     runs, successes);
	return 0;
}
