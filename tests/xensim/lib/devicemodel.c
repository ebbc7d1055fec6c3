/*
 * Drop-in libxendevicemodel.so.1: every dm_op becomes one XENSIM_OP_DMOP
 * RPC to xensim, which applies Xen 4.17's checks (xen/arch/x86/hvm/dm.c,
 * xen/common/ioreq.c).  Argument checks the real library does itself
 * (tools/libs/devicemodel/core.c) are done here, with its truncations to
 * the DMOP structs' field widths.
 *
 * RPC arguments: arg[0] = XEN_DMOP_*, then per op
 *   create: bufioreq | get_info: id, flags | map/unmap range: id, type,
 *   start, end | set_state: id, enabled | destroy: id |
 *   set_pci_intx_level: seg, bus<<8|dev, intx, level |
 *   set_isa_irq_level: irq, level | set_pci_link_route: link, irq |
 *   inject_msi: addr, data | modified_memory: first_pfn, nr |
 *   remote_shutdown: reason | set_irq_level: irq, level;
 *   arg[5]: bit 0 = issued by *_pcidev_*, bit 1 = by modified_memory_bulk.
 *
 * Not modelled (ENOSYS): track_dirty_vram, set_mem_type, inject_event,
 * map_mem_type_to_ioreq_server, relocate_memory, pin_memory_cacheattr.
 */
#include <errno.h>
#include <stdlib.h>

#include <xendevicemodel.h>

#include "xs-client.h"

struct xendevicemodel_handle {
	struct xs_client c;
	Xentoolcore__Active_Handle tc_ah;
};

static int
fail(int e)
{
	errno = e;
	return -1;
}

static int
dmop(xendevicemodel_handle *dmod, domid_t domid, uint64_t op, uint64_t a1,
     uint64_t a2, uint64_t a3, uint64_t a4, uint64_t flags,
     struct xensim_rep *rep)
{
	uint64_t args[6] = { op, a1, a2, a3, a4, flags };
	struct xensim_rep local;
	int r;

	if (!dmod)
		return fail(EBADF);
	r = xs_client_simple(&dmod->c, XENSIM_OP_DMOP, domid, args, 6,
			     rep ? rep : &local);
	return r < 0 ? fail(-r) : 0;
}

static int
dm_restrict_cb(Xentoolcore__Active_Handle *ah, domid_t domid)
{
	xendevicemodel_handle *dmod =
		(xendevicemodel_handle *)((char *)ah -
					  offsetof(xendevicemodel_handle,
						   tc_ah));

	return xendevicemodel_restrict(dmod, domid);
}

xendevicemodel_handle *
xendevicemodel_open(struct xentoollog_logger *logger, unsigned int open_flags)
{
	xendevicemodel_handle *dmod = calloc(1, sizeof(*dmod));
	int r;

	if (!dmod) {
		errno = ENOMEM;
		return NULL;
	}
	r = xs_client_open(&dmod->c, XENSIM_KIND_DEVICEMODEL, NULL, 0, NULL);
	if (r < 0) {
		free(dmod);
		errno = -r;
		return NULL;
	}
	dmod->tc_ah.restrict_callback = dm_restrict_cb;
	xentoolcore__register_active_handle(&dmod->tc_ah);
	return dmod;
}

int
xendevicemodel_close(xendevicemodel_handle *dmod)
{
	if (!dmod)
		return 0;
	xentoolcore__deregister_active_handle(&dmod->tc_ah);
	xs_client_close(&dmod->c);
	free(dmod);
	return 0;
}

int
xendevicemodel_restrict(xendevicemodel_handle *dmod, domid_t domid)
{
	int r;

	if (!dmod)
		return fail(EBADF);
	r = xs_client_simple(&dmod->c, XENSIM_OP_RESTRICT, domid, NULL, 0,
			     NULL);
	return r < 0 ? fail(-r) : 0;
}

int
xendevicemodel_create_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
				   int handle_bufioreq, ioservid_t *id)
{
	struct xensim_rep rep = { 0 };

	if (dmop(dmod, domid, XEN_DMOP_create_ioreq_server,
		 (uint8_t)handle_bufioreq, 0, 0, 0, 0, &rep) < 0)
		return -1;
	*id = (ioservid_t)rep.val[0];
	return 0;
}

int
xendevicemodel_get_ioreq_server_info(xendevicemodel_handle *dmod, domid_t domid,
				     ioservid_t id, xen_pfn_t *ioreq_gfn,
				     xen_pfn_t *bufioreq_gfn,
				     evtchn_port_t *bufioreq_port)
{
	struct xensim_rep rep = { 0 };
	unsigned flags = (!ioreq_gfn && !bufioreq_gfn) ? XEN_DMOP_no_gfns : 0;

	if (dmop(dmod, domid, XEN_DMOP_get_ioreq_server_info, id, flags, 0, 0,
		 0, &rep) < 0)
		return -1;
	/* Xen leaves the port untouched for a server without a ring. */
	if (rep.val[0] && bufioreq_port)
		*bufioreq_port = (evtchn_port_t)rep.val[1];
	return 0;
}

int
xendevicemodel_map_io_range_to_ioreq_server(xendevicemodel_handle *dmod,
					    domid_t domid, ioservid_t id,
					    int is_mmio, uint64_t start,
					    uint64_t end)
{
	return dmop(dmod, domid, XEN_DMOP_map_io_range_to_ioreq_server, id,
		    is_mmio ? XEN_DMOP_IO_RANGE_MEMORY : XEN_DMOP_IO_RANGE_PORT,
		    start, end, 0, NULL);
}

int
xendevicemodel_unmap_io_range_from_ioreq_server(xendevicemodel_handle *dmod,
						domid_t domid, ioservid_t id,
						int is_mmio, uint64_t start,
						uint64_t end)
{
	return dmop(dmod, domid, XEN_DMOP_unmap_io_range_from_ioreq_server, id,
		    is_mmio ? XEN_DMOP_IO_RANGE_MEMORY : XEN_DMOP_IO_RANGE_PORT,
		    start, end, 0, NULL);
}

int
xendevicemodel_map_mem_type_to_ioreq_server(xendevicemodel_handle *dmod,
					    domid_t domid, ioservid_t id,
					    uint16_t type, uint32_t flags)
{
	if (type != HVMMEM_ioreq_server ||
	    (flags & ~XEN_DMOP_IOREQ_MEM_ACCESS_WRITE))
		return fail(EINVAL);
	return fail(ENOSYS);
}

static int
pcidev_op(xendevicemodel_handle *dmod, domid_t domid, ioservid_t id,
	  uint64_t op, uint16_t segment, uint8_t bus, uint8_t device,
	  uint8_t function)
{
	uint64_t sbdf;

	if (device > 0x1f || function > 0x7)
		return fail(EINVAL);
	sbdf = XEN_DMOP_PCI_SBDF(segment, bus, device, function);
	return dmop(dmod, domid, op, id, XEN_DMOP_IO_RANGE_PCI, sbdf, sbdf, 1,
		    NULL);
}

int
xendevicemodel_map_pcidev_to_ioreq_server(xendevicemodel_handle *dmod,
					  domid_t domid, ioservid_t id,
					  uint16_t segment, uint8_t bus,
					  uint8_t device, uint8_t function)
{
	return pcidev_op(dmod, domid, id, XEN_DMOP_map_io_range_to_ioreq_server,
			 segment, bus, device, function);
}

int
xendevicemodel_unmap_pcidev_from_ioreq_server(xendevicemodel_handle *dmod,
					      domid_t domid, ioservid_t id,
					      uint16_t segment, uint8_t bus,
					      uint8_t device, uint8_t function)
{
	return pcidev_op(dmod, domid, id,
			 XEN_DMOP_unmap_io_range_from_ioreq_server, segment,
			 bus, device, function);
}

int
xendevicemodel_destroy_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
				    ioservid_t id)
{
	return dmop(dmod, domid, XEN_DMOP_destroy_ioreq_server, id, 0, 0, 0, 0,
		    NULL);
}

int
xendevicemodel_set_ioreq_server_state(xendevicemodel_handle *dmod,
				      domid_t domid, ioservid_t id, int enabled)
{
	return dmop(dmod, domid, XEN_DMOP_set_ioreq_server_state, id, !!enabled,
		    0, 0, 0, NULL);
}

int
xendevicemodel_set_pci_intx_level(xendevicemodel_handle *dmod, domid_t domid,
				  uint16_t segment, uint8_t bus, uint8_t device,
				  uint8_t intx, unsigned int level)
{
	return dmop(dmod, domid, XEN_DMOP_set_pci_intx_level, segment,
		    ((uint64_t)bus << 8) | device, intx, (uint8_t)level, 0,
		    NULL);
}

int
xendevicemodel_set_isa_irq_level(xendevicemodel_handle *dmod, domid_t domid,
				 uint8_t irq, unsigned int level)
{
	return dmop(dmod, domid, XEN_DMOP_set_isa_irq_level, irq,
		    (uint8_t)level, 0, 0, 0, NULL);
}

int
xendevicemodel_set_irq_level(xendevicemodel_handle *dmod, domid_t domid,
			     unsigned int irq, unsigned int level)
{
	return dmop(dmod, domid, XEN_DMOP_set_irq_level, irq, (uint8_t)level, 0,
		    0, 0, NULL);
}

int
xendevicemodel_set_pci_link_route(xendevicemodel_handle *dmod, domid_t domid,
				  uint8_t link, uint8_t irq)
{
	return dmop(dmod, domid, XEN_DMOP_set_pci_link_route, link, irq, 0, 0,
		    0, NULL);
}

int
xendevicemodel_inject_msi(xendevicemodel_handle *dmod, domid_t domid,
			  uint64_t msi_addr, uint32_t msi_data)
{
	return dmop(dmod, domid, XEN_DMOP_inject_msi, msi_addr, msi_data, 0, 0,
		    0, NULL);
}

int
xendevicemodel_track_dirty_vram(xendevicemodel_handle *dmod, domid_t domid,
				uint64_t first_pfn, uint32_t nr,
				unsigned long *dirty_bitmap)
{
	return fail(ENOSYS);
}

int
xendevicemodel_modified_memory(xendevicemodel_handle *dmod, domid_t domid,
			       uint64_t first_pfn, uint32_t nr)
{
	return dmop(dmod, domid, XEN_DMOP_modified_memory, first_pfn, nr, 0, 0,
		    0, NULL);
}

int
xendevicemodel_modified_memory_bulk(
	xendevicemodel_handle *dmod, domid_t domid,
	struct xen_dm_op_modified_memory_extent *extents, uint32_t nr)
{
	for (uint32_t i = 0; i < nr; i++) {
		if (extents[i].pad)
			return fail(EINVAL);
		if (dmop(dmod, domid, XEN_DMOP_modified_memory,
			 extents[i].first_pfn, extents[i].nr, 0, 0, 2,
			 NULL) < 0)
			return -1;
	}
	return 0;
}

int
xendevicemodel_set_mem_type(xendevicemodel_handle *dmod, domid_t domid,
			    hvmmem_type_t mem_type, uint64_t first_pfn,
			    uint32_t nr)
{
	return fail(ENOSYS);
}

int
xendevicemodel_inject_event(xendevicemodel_handle *dmod, domid_t domid,
			    int vcpu, uint8_t vector, uint8_t type,
			    uint32_t error_code, uint8_t insn_len,
			    uint64_t extra)
{
	return fail(ENOSYS);
}

int
xendevicemodel_shutdown(xendevicemodel_handle *dmod, domid_t domid,
			unsigned int reason)
{
	return dmop(dmod, domid, XEN_DMOP_remote_shutdown, reason, 0, 0, 0, 0,
		    NULL);
}

int
xendevicemodel_relocate_memory(xendevicemodel_handle *dmod, domid_t domid,
			       uint32_t size, uint64_t src_gfn,
			       uint64_t dst_gfn)
{
	return fail(ENOSYS);
}

int
xendevicemodel_pin_memory_cacheattr(xendevicemodel_handle *dmod, domid_t domid,
				    uint64_t start, uint64_t end, uint32_t type)
{
	return fail(ENOSYS);
}

int
xendevicemodel_nr_vcpus(xendevicemodel_handle *dmod, domid_t domid,
			unsigned int *vcpus)
{
	struct xensim_rep rep = { 0 };

	if (dmop(dmod, domid, XEN_DMOP_nr_vcpus, 0, 0, 0, 0, 0, &rep) < 0)
		return -1;
	*vcpus = (unsigned int)rep.val[0];
	return 0;
}
