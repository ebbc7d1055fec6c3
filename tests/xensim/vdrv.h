/*
 * xensim's guest-side virtio driver (an extension of the script language,
 * "virtio driver (extension)" in script-language.md): what a guest kernel
 * does to drive a modern virtio device on virtio-pci (capability list,
 * BARs placed by pci-setup, MSI-X or INTx with the ISR) or on virtio-mmio
 * version 2 (an ISA line): reset, feature negotiation, queues in guest
 * RAM, requests and their completion, interrupts, device configuration,
 * and the hostile requests a broken or malicious driver would make.
 *
 * Every access goes through the hypervisor core (hv.h) as the guest's,
 * so the device model sees only what it would see under Xen.  The rings
 * are vring.c's.  Guest RAM the driver uses: [VDRV_RAM_BASE,
 * VDRV_RAM_END), queue q's rings at VDRV_RAM_BASE + q * VDRV_RING_STRIDE,
 * buffers and indirect tables from VDRV_BUF_BASE up.
 *
 * One device at a time: selecting another one (virtio-pci, virtio-mmio)
 * resets the previous one first, so that it stops using the region.
 *
 * script-virtio.c parses the commands into struct vdrv_args; vdrv.c runs
 * them (vdrv_run).
 */
#ifndef XENSIM_VDRV_H
#define XENSIM_VDRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VDRV_RAM_BASE UINT64_C(0x01000000)
#define VDRV_RING_STRIDE \
	UINT64_C(0x10000) /* one queue's rings, size 1024 fits */
#define VDRV_QUEUES    32u
#define VDRV_BUF_BASE  (VDRV_RAM_BASE + VDRV_QUEUES * VDRV_RING_STRIDE)
#define VDRV_RAM_END   UINT64_C(0x03000000)
#define VDRV_MAX_BUFS  16u	   /* buffers of one submitted chain */
#define VDRV_MAX_LEN   (1u << 20)  /* bytes of one buffer */
#define VDRV_WAIT_MS   2000u	   /* default wait for a used element */
#define VDRV_QUIET_MS  200u	   /* default for virtio-no-irq / -used */
#define VDRV_MSI_ADDR  0xfee00000u /* MSI-X entries: vCPU 0, fixed */
#define VDRV_MSI_DATA  0x40u	   /* ... data of entry i: 0x40 + i */
#define VDRV_NO_VECTOR 0xffffu
/*
 * Grant DMA (virtio-grant-dma on): page i of [VDRV_RAM_BASE, VDRV_RAM_END)
 * is granted to the device model as reference VDRV_GRANT_REF_BASE + i,
 * and the device sees addresses as Linux's xen-grant-dma makes them.
 */
#define VDRV_GRANT_REF_BASE 0x2000u
#define VDRV_GRANT_DMA_BIT  (UINT64_C(1) << 63)

enum vdrv_op {
	VDRV_PCI,	      /* find the device at sbdf */
	VDRV_MMIO,	      /* find the device at base, irq */
	VDRV_RESET,	      /* status 0 */
	VDRV_FEATURES,	      /* offered features, expect */
	VDRV_NEGOTIATE,	      /* ACK, DRIVER, features & mask, FEATURES_OK */
	VDRV_WRITE_FEATURES,  /* raw driver features write */
	VDRV_DRIVER_FEATURES, /* read them back (pci) */
	VDRV_MSIX,	      /* program and enable MSI-X entries */
	VDRV_CONFIG_VECTOR,   /* config_msix_vector */
	VDRV_QUEUE,	      /* set up queue q */
	VDRV_QUEUE_RESET,     /* take queue q out of use */
	VDRV_DRIVER_OK,
	VDRV_STATUS,	  /* read the status, expect */
	VDRV_CONFIG_READ, /* device configuration */
	VDRV_CONFIG_WRITE,
	VDRV_SUBMIT, /* a chain of buffers */
	VDRV_KICK,
	VDRV_WAIT,    /* the next used element */
	VDRV_WRITTEN, /* bytes of the last completed request */
	VDRV_IRQ,     /* the interrupt of queue q or config */
	VDRV_NO_IRQ,
	VDRV_SUPPRESS,	 /* used buffer notifications on/off */
	VDRV_HOSTILE,	 /* a broken chain */
	VDRV_AVAIL_JUMP, /* avail.idx += n */
	VDRV_NO_USED,	 /* used.idx stays */
	VDRV_GRANT,	 /* grant DMA on/off */
	VDRV_BENCH_BLK,	 /* virtio-blk requests at a queue depth, timed */
	_VDRV_OP_COUNT,
};

enum vdrv_hostile {
	VDRV_H_LOOP,		/* two descriptors naming each other */
	VDRV_H_LONG_CHAIN,	/* every descriptor, the last back to the 1st */
	VDRV_H_LONG_INDIRECT,	/* an indirect chain of 1025 */
	VDRV_H_NESTED_INDIRECT, /* INDIRECT inside an indirect table */
	VDRV_H_INDIRECT_NEXT,	/* INDIRECT together with NEXT */
	VDRV_H_BAD_HEAD,	/* avail entry == queue size */
	VDRV_H_BAD_NEXT,	/* next == queue size */
	_VDRV_H_COUNT,
};

/* Bytes named by a script: literal, a pattern, or the saved bytes. */
enum vdrv_data_kind { VDRV_DATA_BYTES, VDRV_DATA_PATTERN, VDRV_DATA_SAVED };

struct vdrv_data {
	enum vdrv_data_kind kind;
	uint32_t seed; /* pattern */
	uint32_t len;  /* bytes (pattern, bytes) */
	uint32_t off;  /* of the literal bytes in the command's data */
};

struct vdrv_buf_arg {
	bool writable;
	struct vdrv_data data; /* readable: contents; writable: len only */
	bool has_gpa;	       /* `at GPA`: placed there, not allocated */
	uint64_t gpa;
};

enum vdrv_written_mode { VDRV_W_EQ, VDRV_W_NE, VDRV_W_SAVE };

struct vdrv_args {
	enum vdrv_op op;
	unsigned q;
	bool config;   /* irq: the config interrupt */
	bool refused;  /* negotiate, queue: expect the device to refuse */
	bool indirect; /* submit */
	bool nokick;   /* submit, hostile */
	bool on;       /* suppress, grant */
	bool has_vector, has_gpa, has_id;
	uint16_t vector;
	uint64_t gpa;
	uint64_t value; /* mask, features, size, count, ms, base, ... */
	uint64_t off;
	unsigned irq;
	unsigned id; /* expected device id */
	enum vdrv_hostile hostile;
	enum vdrv_written_mode wmode;
	unsigned index; /* written: writable buffer number */
	struct vdrv_data data;
	unsigned nbufs;
	struct vdrv_buf_arg bufs[VDRV_MAX_BUFS];
	/* bench-blk: requests, queue depth, blocks of 4 KiB to spread over */
	uint64_t count, depth, blocks;
	bool write;
};

/* Byte i of pattern seed (script-language.md gives the formula). */
static inline uint8_t
vdrv_pattern_byte(uint32_t seed, uint32_t i)
{
	return (uint8_t)(((seed << 16) + i) * 2654435761u >> 24);
}

struct vdrv;
struct script;
struct script_cmd;
struct hv;

/* Run one virtio command (cmd->vargs); failures through fail(). */
void vdrv_run(struct script *s, struct hv *hv, const struct script_cmd *cmd);
void vdrv_free(struct vdrv *d);

#endif
