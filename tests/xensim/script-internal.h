/*
 * Private to the xensim script interpreter: the program a script parses
 * into and the helpers its pieces share.  script.h is the public API.
 *
 * Parsing and running are separate phases: script_parse() turns the whole
 * text into an array of commands and rejects any malformed line before the
 * device model is started; script_run() then executes the commands against
 * the hypervisor core (hv.h).  The language is documented, and is a
 * contract, in script-language.md.  Left out on purpose: loops or variables
 * (only the `repeat N COMMAND` prefix), more than one client socket.
 *
 * The pieces: script-lex.c (tokens and argument values), script-parse.c
 * (command lines -> program), script-run.c (running a program as the
 * guest), script-pci.c (pci-scan, pci-setup), script-socket.c (the client
 * socket commands), script-virtio.c and vdrv.c (the virtio driver).
 */
#ifndef XENSIM_SCRIPT_INTERNAL_H
#define XENSIM_SCRIPT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"
#include "hv.h"
#include "script.h"

struct vdrv;
struct vdrv_args;

#define SCRIPT_MAX_TOKENS      48
#define SCRIPT_MAX_REPEAT      100000u
#define SCRIPT_IRQ_WAIT_MS     2000u
#define SCRIPT_FILE_WAIT_MS    2000u
#define SCRIPT_CONNECT_WAIT_MS 2000u
#define SCRIPT_MAX_DATA	       (1u << 20) /* memread/memset/file/socket bytes */
#define SCRIPT_MAX_SLEEP_MS    600000u

enum script_op {
	OP_VCPU,
	OP_PIO,
	OP_MMIO,
	OP_CFG,
	OP_MEMWRITE,
	OP_MEMREAD,
	OP_MEMSET,
	OP_REP,
	OP_STD,
	OP_CLD,
	OP_BUFWRITE,
	OP_TIMEOFFSET,
	OP_INVALIDATE,
	OP_EXPECT_IRQ,
	OP_EXPECT_NO_IRQ,
	OP_GRANT,
	OP_UNGRANT,
	OP_FAIL_DMOP,
	OP_SLEEP,
	OP_FUZZ,
	OP_DESTROY,
	OP_BENCH,
	OP_ECHO,
	OP_WAIT_FILE,
	OP_EXPECT_FILE,
	OP_CONNECT,
	OP_SEND,
	OP_SOCK_EXPECT,
	OP_SOCK_CLOSE,
	OP_PCI_SCAN,
	OP_PCI_SETUP,
	OP_EXPECT_IDLE,
	OP_COUNT_RESET,
	OP_EXPECT_COUNT,
	OP_VIRTIO,
	_OP_COUNT,
};

struct script_cmd {
	enum script_op op;
	unsigned line;
	const char *verb; /* static keyword, for messages */
	unsigned size;	  /* access size in bytes */
	bool is_read;
	bool flag;	/* grant: read-only */
	uint64_t addr;	/* port, gpa, sbdf, ref, ... */
	uint64_t value; /* write value, count, len, ms ... */
	uint64_t off;	/* cfg offset, wait timeout ms */
	bool has_expect;
	uint64_t mask;
	uint64_t expect;
	struct hv_injection irq;
	uint8_t *data; /* DATA argument (owned) */
	size_t data_len;
	bool has_data;
	char *str; /* path, dm_op name, text (owned) */
	int err;   /* fail-dmop errno */
	struct bench_io_params bench;
	struct vdrv_args *vargs; /* virtio-* arguments (owned) */
};

struct script {
	char *name;
	struct script_cmd *cmds;
	size_t count;
	size_t cap;
	unsigned timeout_ms;
	/* runtime state */
	unsigned vcpu;
	bool df;
	bool destroyed;
	bool aborted;
	unsigned failures;
	int sock;
	uint8_t *rx;
	size_t rx_len;
	uint64_t count_base[HV_COUNTER_MAX]; /* values at count-reset */
	struct vdrv *vdrv;		     /* the virtio driver, or NULL */
};

struct tok {
	char *s; /* NUL-terminated; unescaped contents if quoted */
	size_t len;
	bool quoted;
};

struct line_ctx {
	const char *name;
	unsigned line;
	const struct script_limits *lim;
	struct tok tok[SCRIPT_MAX_TOKENS];
	unsigned ntok;
};

static inline uint64_t
size_mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

/* script-lex.c: each returns 0 or -EINVAL after printing "NAME:LINE: ..."
 * (-ENOMEM unprinted); i is the index of the token to read. */
int perr(const struct line_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int hexval(int ch);
int lex_line(struct line_ctx *c, const char *line, char *scratch);
int parse_u64(struct line_ctx *c, unsigned i, const char *what, uint64_t max,
	      uint64_t *ret);
int parse_s64(struct line_ctx *c, unsigned i, const char *what, int64_t *ret);
int expect_args(struct line_ctx *c, unsigned n, const char *usage);
int parse_expect(struct line_ctx *c, unsigned i, unsigned size,
		 struct script_cmd *cmd);
int parse_bdf(struct line_ctx *c, unsigned i, uint32_t *ret_sbdf);
int parse_data(struct line_ctx *c, unsigned i, uint8_t **ret, size_t *ret_len);
int parse_text(struct line_ctx *c, unsigned i, const char *what, char **ret);
int parse_level(struct line_ctx *c, unsigned i, bool *ret);
int parse_errno(struct line_ctx *c, unsigned i, int *ret);

/* script-run.c: reporting a failed expectation, and time. */
void fail(struct script *s, const struct script_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void render(const uint8_t *p, size_t len, char *out, size_t out_len);
bool check_status(struct script *s, const struct script_cmd *cmd,
		  enum hv_status st);
void check_value(struct script *s, const struct script_cmd *cmd,
		 const char *what, uint64_t got);
void sleep_ms(uint64_t ms);
uint64_t now_ms(void);

/* script-pci.c */
void run_pci_scan(struct script *s, struct hv *hv,
		  const struct script_cmd *cmd);
void run_pci_setup(struct script *s, struct hv *hv,
		   const struct script_cmd *cmd);

/* script-pci.c: one config access through 0xcf8/0xcfc on the current
 * vCPU (value masked to size); false if the script aborted. */
bool script_pci_read(struct script *s, struct hv *hv,
		     const struct script_cmd *cmd, uint32_t sbdf, unsigned off,
		     unsigned size, uint64_t *val);
bool script_pci_write(struct script *s, struct hv *hv,
		      const struct script_cmd *cmd, uint32_t sbdf, unsigned off,
		      unsigned size, uint64_t val);

/* script-virtio.c: the virtio-* verbs (cmd->verb says which). */
int parse_virtio(struct line_ctx *c, struct script_cmd *cmd);

/* script-socket.c */
void run_connect(struct script *s, const struct script_cmd *cmd);
void run_send(struct script *s, const struct script_cmd *cmd);
void run_sock_expect(struct script *s, const struct script_cmd *cmd);
void run_sock_close(struct script *s);

#endif
