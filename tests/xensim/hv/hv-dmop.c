/*
 * xensim's dm_ops, as Xen 4.17 handles them (xen/arch/x86/hvm/dm.c,
 * xen/common/ioreq.c): IOREQ server life cycle and ranges, interrupt
 * lines, MSI injection, and the per-dm_op counters and injected failures
 * the script language reaches.  Only the x86 HVM dm_ops are modelled.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv-internal.h"

struct dmop_name {
	unsigned op;
	const char *name;
};

static const struct dmop_name dmop_names[] = {
	{ XEN_DMOP_create_ioreq_server, "create_ioreq_server" },
	{ XEN_DMOP_get_ioreq_server_info, "get_ioreq_server_info" },
	{ XEN_DMOP_map_io_range_to_ioreq_server,
	  "map_io_range_to_ioreq_server" },
	{ XEN_DMOP_unmap_io_range_from_ioreq_server,
	  "unmap_io_range_from_ioreq_server" },
	{ XEN_DMOP_set_ioreq_server_state, "set_ioreq_server_state" },
	{ XEN_DMOP_destroy_ioreq_server, "destroy_ioreq_server" },
	{ XEN_DMOP_track_dirty_vram, "track_dirty_vram" },
	{ XEN_DMOP_set_pci_intx_level, "set_pci_intx_level" },
	{ XEN_DMOP_set_isa_irq_level, "set_isa_irq_level" },
	{ XEN_DMOP_set_pci_link_route, "set_pci_link_route" },
	{ XEN_DMOP_modified_memory, "modified_memory" },
	{ XEN_DMOP_set_mem_type, "set_mem_type" },
	{ XEN_DMOP_inject_event, "inject_event" },
	{ XEN_DMOP_inject_msi, "inject_msi" },
	{ XEN_DMOP_map_mem_type_to_ioreq_server,
	  "map_mem_type_to_ioreq_server" },
	{ XEN_DMOP_remote_shutdown, "remote_shutdown" },
	{ XEN_DMOP_relocate_memory, "relocate_memory" },
	{ XEN_DMOP_pin_memory_cacheattr, "pin_memory_cacheattr" },
	{ XEN_DMOP_set_irq_level, "set_irq_level" },
	{ XEN_DMOP_nr_vcpus, "nr_vcpus" },
};

_Static_assert(COUNTER_DMOP_FIRST +
			       sizeof(dmop_names) / sizeof(dmop_names[0]) <=
		       HV_COUNTER_MAX,
	       "HV_COUNTER_MAX");

int
hv_counter_id(const char *name)
{
	if (strcmp(name, "foreign-map") == 0)
		return COUNTER_FOREIGN_MAP;
	if (strcmp(name, "foreign-unmap") == 0)
		return COUNTER_FOREIGN_UNMAP;
	for (size_t i = 0; i < sizeof(dmop_names) / sizeof(dmop_names[0]); i++)
		if (strcmp(dmop_names[i].name, name) == 0)
			return COUNTER_DMOP_FIRST + (int)i;
	return -1;
}

uint64_t
hv_counter(struct hv *hv, int id)
{
	if (id < 0 || id >= HV_COUNTER_MAX)
		return 0;
	return atomic_load(&hv->counters[id]);
}

static void
count_dmop(struct hv *hv, unsigned op)
{
	for (size_t i = 0; i < sizeof(dmop_names) / sizeof(dmop_names[0]); i++)
		if (dmop_names[i].op == op)
			atomic_fetch_add(&hv->counters[COUNTER_DMOP_FIRST + i],
					 1);
}

/* Library function names that differ from the DMOP they issue. */
static const struct dmop_name dmop_aliases[] = {
	{ XEN_DMOP_map_io_range_to_ioreq_server, "map_pcidev_to_ioreq_server" },
	{ XEN_DMOP_unmap_io_range_from_ioreq_server,
	  "unmap_pcidev_from_ioreq_server" },
	{ XEN_DMOP_remote_shutdown, "shutdown" },
	{ XEN_DMOP_modified_memory, "modified_memory_bulk" },
};

static const char *
dmop_name(unsigned op)
{
	for (size_t i = 0; i < sizeof(dmop_names) / sizeof(dmop_names[0]); i++)
		if (dmop_names[i].op == op)
			return dmop_names[i].name;
	return "unknown";
}

int
hv_fail_dmop(struct hv *hv, const char *name, int errno_value)
{
	bool known = false;
	int r = -ENOSPC;

	for (size_t i = 0; i < sizeof(dmop_names) / sizeof(dmop_names[0]); i++)
		known |= strcmp(dmop_names[i].name, name) == 0;
	for (size_t i = 0; i < sizeof(dmop_aliases) / sizeof(dmop_aliases[0]);
	     i++)
		known |= strcmp(dmop_aliases[i].name, name) == 0;
	if (!known || errno_value <= 0 ||
	    strlen(name) >= sizeof(hv->fails[0].name))
		return -EINVAL;
	pthread_rwlock_wrlock(&hv->lock);
	for (unsigned i = 0; i < HV_MAX_FAILS; i++) {
		if (hv->fails[i].name[0] == '\0') {
			strcpy(hv->fails[i].name, name);
			hv->fails[i].errno_value = errno_value;
			r = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&hv->lock);
	return r;
}

/* Consume a pending failure for this dm_op (by DMOP or library name). */
static int
dmop_take_fail(struct hv *hv, unsigned op, const char *lib_name)
{
	const char *name = dmop_name(op);

	for (unsigned i = 0; i < HV_MAX_FAILS; i++) {
		struct hv_fail *f = &hv->fails[i];
		int e;

		if (f->name[0] == '\0')
			continue;
		if (strcmp(f->name, name) != 0 &&
		    (!lib_name || strcmp(f->name, lib_name) != 0))
			continue;
		e = f->errno_value;
		f->name[0] = '\0';
		return -e;
	}
	return 0;
}

static const char *
dmop_lib_alias(unsigned op, uint64_t flags)
{
	switch (op) {
	case XEN_DMOP_map_io_range_to_ioreq_server:
		return (flags & 1) ? "map_pcidev_to_ioreq_server" : NULL;
	case XEN_DMOP_unmap_io_range_from_ioreq_server:
		return (flags & 1) ? "unmap_pcidev_from_ioreq_server" : NULL;
	case XEN_DMOP_remote_shutdown:
		return "shutdown";
	case XEN_DMOP_modified_memory:
		return (flags & 2) ? "modified_memory_bulk" : NULL;
	default:
		return NULL;
	}
}

static void
line_change(struct hv *hv, enum hv_irq_kind kind, uint32_t a, uint32_t b,
	    bool *state, bool level)
{
	struct hv_injection inj = {
		.kind = kind, .a = a, .b = b, .level = level
	};

	/* Xen keeps a per-line asserted bit: only edges are visible. */
	if (*state == level)
		return;
	*state = level;
	inj_record(hv, &inj);
}

static int
dmop_ioreq(struct hv *hv, unsigned op, const uint64_t *arg,
	   struct xensim_rep *rep)
{
	struct hv_server *s;
	unsigned id = 0;
	int r;

	if (op == XEN_DMOP_create_ioreq_server) {
		r = server_create(hv, (int)(uint8_t)arg[1], &id);
		rep->val[0] = id;
		return r;
	}
	s = server_get(hv, arg[1]);
	if (!s)
		return -ENOENT;
	switch (op) {
	case XEN_DMOP_get_ioreq_server_info:
		if (arg[2] & ~(uint64_t)XEN_DMOP_no_gfns)
			return -EINVAL;
		/* Legacy gfns are not modelled (only acquire_resource). */
		if (!(arg[2] & XEN_DMOP_no_gfns))
			return -ENOSYS;
		rep->val[0] = s->bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF;
		rep->val[1] = s->buf_port;
		return 0;
	case XEN_DMOP_map_io_range_to_ioreq_server:
	case XEN_DMOP_unmap_io_range_from_ioreq_server: {
		struct hv_rangeset *rs;

		if (arg[2] >= HV_NR_RANGE_TYPES || arg[3] > arg[4])
			return -EINVAL;
		rs = &s->ranges[arg[2]];
		if (op == XEN_DMOP_map_io_range_to_ioreq_server) {
			if (rs_overlaps(rs, arg[3], arg[4]))
				return -EEXIST;
			return rs_add(rs, arg[3], arg[4]);
		}
		if (!rs_contains(rs, arg[3], arg[4]))
			return -ENOENT;
		return rs_remove(rs, arg[3], arg[4]);
	}
	case XEN_DMOP_set_ioreq_server_state:
		server_set_state(hv, s, (uint8_t)arg[2] != 0);
		return 0;
	case XEN_DMOP_destroy_ioreq_server:
		server_destroy(hv, (unsigned)arg[1]);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static int
dmop_msi(struct hv *hv, uint64_t addr, uint32_t data)
{
	unsigned mode = (data >> 8) & 7;
	unsigned dest = (addr >> 12) & 0xff;
	struct hv_injection inj = { .kind = HV_IRQ_MSI,
				    .addr = addr,
				    .data = data };

	if (mode != 0 && mode != 1)
		return -EINVAL;
	/* Lowest priority needs a target LAPIC (ids are vcpu*2, physical). */
	if (mode == 1 && !(addr & 4) && dest != 0xff &&
	    ((dest & 1) || dest / 2 >= hv->cfg.vcpus))
		return -ESRCH;
	inj_record(hv, &inj);
	return 0;
}

static int
dmop_irq(struct hv *hv, unsigned op, const uint64_t *arg,
	 struct xensim_rep *rep)
{
	switch (op) {
	case XEN_DMOP_set_isa_irq_level:
		if (arg[1] > 15 || arg[2] > 1)
			return -EINVAL;
		line_change(hv, HV_IRQ_ISA, (uint32_t)arg[1], 0,
			    &hv->isa_level[arg[1]], arg[2] != 0);
		return 0;
	case XEN_DMOP_set_pci_intx_level: {
		unsigned bus = (arg[2] >> 8) & 0xff, dev = arg[2] & 0xff;

		if (arg[1] != 0 || bus != 0 || dev > 31 || arg[3] > 3 ||
		    arg[4] > 1)
			return -EINVAL;
		line_change(hv, HV_IRQ_INTX, (bus << 8) | (dev << 3),
			    (uint32_t)arg[3], &hv->intx_level[dev][arg[3]],
			    arg[4] != 0);
		return 0;
	}
	case XEN_DMOP_set_pci_link_route: {
		struct hv_injection inj = { .kind = HV_IRQ_LINK,
					    .a = (uint32_t)arg[1],
					    .b = (uint32_t)arg[2] };

		if (arg[1] > 3 || arg[2] > 15)
			return -EINVAL;
		hv->link_route[arg[1]] = (uint8_t)arg[2];
		inj_record(hv, &inj);
		return 0;
	}
	case XEN_DMOP_inject_msi:
		return dmop_msi(hv, arg[1], (uint32_t)arg[2]);
	case XEN_DMOP_set_irq_level:
		/* Arm only; x86 Xen answers EOPNOTSUPP. */
		return -EOPNOTSUPP;
	case XEN_DMOP_nr_vcpus:
		rep->val[0] = hv->cfg.vcpus;
		return 0;
	case XEN_DMOP_modified_memory: {
		uint64_t max_pfn = hv->ram_size / HV_PAGE_SIZE - 1;

		/* Log-dirty is never enabled here: check and do nothing. */
		if (arg[2] == 0 || arg[1] > max_pfn ||
		    arg[2] - 1 > max_pfn - arg[1])
			return -EINVAL;
		return 0;
	}
	case XEN_DMOP_remote_shutdown:
		/*
		 * Recorded in the trace; the reason is not validated.  Xen
		 * raises VIRQ_DOM_EXC and xenstored, seeing the domain shut
		 * down for the first time, fires @releaseDomain.
		 */
		if (!hv->shutdown_seen) {
			hv->shutdown_seen = true;
			hv_xs_fire_release(hv);
		}
		return 0;
	default:
		return -ENOSYS;
	}
}

static const char *
dmop_result(int r, char *buf, size_t len)
{
	if (r == 0)
		return "0";
	snprintf(buf, len, "-%s",
		 strerrorname_np(-r) ? strerrorname_np(-r) : "?");
	return buf;
}

/*
 * A dm_op on a destroyed domain that mappings still keep: its IOREQ
 * servers are gone (ENOENT), a new one cannot get event channels in a
 * dying domain (EINVAL), and the rest act on a domain that will never run
 * again: they succeed and change nothing a guest could see.
 */
static int
dmop_zombie(struct hv *hv, unsigned op, const uint64_t *arg,
	    struct xensim_rep *rep)
{
	switch (op) {
	case XEN_DMOP_create_ioreq_server:
		return -EINVAL;
	case XEN_DMOP_get_ioreq_server_info:
	case XEN_DMOP_map_io_range_to_ioreq_server:
	case XEN_DMOP_unmap_io_range_from_ioreq_server:
	case XEN_DMOP_set_ioreq_server_state:
	case XEN_DMOP_destroy_ioreq_server:
		return dmop_ioreq(hv, op, arg, rep);
	case XEN_DMOP_nr_vcpus:
		rep->val[0] = hv->cfg.vcpus;
		return 0;
	default:
		return 0;
	}
}

int
hv_dmop(struct hv *hv, struct hv_conn *conn, const struct xensim_req *req,
	struct xensim_rep *rep)
{
	unsigned op = (unsigned)req->arg[0];
	const uint64_t *arg = req->arg;
	char buf[32];
	int r;

	atomic_fetch_add(&hv->dmop_count, 1);
	count_dmop(hv, op);
	r = hv_check_domain(hv, conn, req->domid, EPERM);
	if (r == 0)
		r = dmop_take_fail(hv, op, dmop_lib_alias(op, arg[5]));
	if (r == 0 && atomic_load(&hv->dying))
		r = dmop_zombie(hv, op, arg, rep);
	else if (r == 0) {
		switch (op) {
		case XEN_DMOP_create_ioreq_server:
		case XEN_DMOP_get_ioreq_server_info:
		case XEN_DMOP_map_io_range_to_ioreq_server:
		case XEN_DMOP_unmap_io_range_from_ioreq_server:
		case XEN_DMOP_set_ioreq_server_state:
		case XEN_DMOP_destroy_ioreq_server:
			r = dmop_ioreq(hv, op, arg, rep);
			break;
		default:
			r = dmop_irq(hv, op, arg, rep);
			break;
		}
	}
	hv_trace(hv,
		 "dmop %s domid=%u args=0x%llx,0x%llx,0x%llx,0x%llx -> %s "
		 "val=0x%llx",
		 dmop_name(op), req->domid, (unsigned long long)arg[1],
		 (unsigned long long)arg[2], (unsigned long long)arg[3],
		 (unsigned long long)arg[4], dmop_result(r, buf, sizeof(buf)),
		 (unsigned long long)rep->val[0]);
	return r;
}
