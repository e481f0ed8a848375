/* Grant tables, version 1 (xen/include/public/grant_table.h): the ABI, the
 * guest's own table (set up with GNTTABOP_setup_table and mapped writable
 * at GNTTAB_AREA_VA), grant/revoke of access to its frames, and wrappers for
 * mapping, unmapping and copying other domains' grants.
 *
 * GNTTAB_AREA_VA is a fresh page-table branch (L4 slot 404, one L1): its
 * first GNTTAB_MAX_FRAMES pages hold the table, the rest are empty slots
 * for GNTTABOP_map_grant_ref's host_addr (gnttab_slot_va).
 *
 * Needs mm_init() (gnttab_init does it if not done yet). */
#ifndef XG_GNTTAB_H
#define XG_GNTTAB_H

#include <stddef.h>
#include <stdint.h>
#include "hypercall.h"
#include "xen.h"

/* ---- The ABI (grant_table.h) ------------------------------------------------- */

typedef uint32_t grant_ref_t;
typedef uint32_t grant_handle_t;

/* One entry of a v1 table.  Introducing one: domid, frame, write barrier,
 * then flags.  [GST] fields are the guest's, GTF_reading/writing Xen's. */
struct grant_entry_v1 {
	uint16_t flags;         /* GTF_* */
	domid_t domid;          /* the domain given access */
	uint32_t frame;         /* the frame (PV: machine frame) */
};
_Static_assert(offsetof(struct grant_entry_v1, domid) == 2, "grant_entry_v1.domid");
_Static_assert(offsetof(struct grant_entry_v1, frame) == 4, "grant_entry_v1.frame");
_Static_assert(sizeof(struct grant_entry_v1) == 8, "sizeof grant_entry_v1");

#define GTF_invalid             (0U << 0)
#define GTF_permit_access       (1U << 0)
#define GTF_accept_transfer     (2U << 0)
#define GTF_transitive          (3U << 0)
#define GTF_type_mask           (3U << 0)
#define GTF_readonly            (1U << 2)
#define GTF_reading             (1U << 3)
#define GTF_writing             (1U << 4)
#define GTF_PWT                 (1U << 5)
#define GTF_PCD                 (1U << 6)
#define GTF_PAT                 (1U << 7)
#define GTF_sub_page            (1U << 8)

#define GNTTABOP_map_grant_ref          0
#define GNTTABOP_unmap_grant_ref        1
#define GNTTABOP_setup_table            2
#define GNTTABOP_dump_table             3
#define GNTTABOP_transfer               4
#define GNTTABOP_copy                   5
#define GNTTABOP_query_size             6
#define GNTTABOP_unmap_and_replace      7
#define GNTTABOP_set_version            8
#define GNTTABOP_get_status_frames      9
#define GNTTABOP_get_version            10
#define GNTTABOP_swap_grant_ref         11
#define GNTTABOP_cache_flush            12

#define GNTMAP_device_map       (1U << 0)
#define GNTMAP_host_map         (1U << 1)
#define GNTMAP_readonly         (1U << 2)
#define GNTMAP_application_map  (1U << 3)
#define GNTMAP_contains_pte     (1U << 4)
#define GNTMAP_can_fail         (1U << 5)

#define GNTST_okay              (0)
#define GNTST_general_error     (-1)
#define GNTST_bad_domain        (-2)
#define GNTST_bad_gntref        (-3)
#define GNTST_bad_handle        (-4)
#define GNTST_bad_virt_addr     (-5)
#define GNTST_bad_dev_addr      (-6)
#define GNTST_no_device_space   (-7)
#define GNTST_permission_denied (-8)
#define GNTST_bad_page          (-9)
#define GNTST_bad_copy_arg      (-10)
#define GNTST_address_too_big   (-11)
#define GNTST_eagain            (-12)

struct gnttab_map_grant_ref {
	uint64_t host_addr;     /* IN: VA (or PTE maddr with contains_pte) */
	uint32_t flags;         /* IN: GNTMAP_* */
	grant_ref_t ref;        /* IN */
	domid_t dom;            /* IN: the granting domain */
	int16_t status;         /* OUT: GNTST_* */
	grant_handle_t handle;  /* OUT */
	uint64_t dev_bus_addr;  /* OUT */
};
_Static_assert(offsetof(struct gnttab_map_grant_ref, flags) == 8, "map_grant_ref.flags");
_Static_assert(offsetof(struct gnttab_map_grant_ref, ref) == 12, "map_grant_ref.ref");
_Static_assert(offsetof(struct gnttab_map_grant_ref, dom) == 16, "map_grant_ref.dom");
_Static_assert(offsetof(struct gnttab_map_grant_ref, status) == 18, "map_grant_ref.status");
_Static_assert(offsetof(struct gnttab_map_grant_ref, handle) == 20, "map_grant_ref.handle");
_Static_assert(offsetof(struct gnttab_map_grant_ref, dev_bus_addr) == 24, "map_grant_ref.dev_bus_addr");
_Static_assert(sizeof(struct gnttab_map_grant_ref) == 32, "sizeof gnttab_map_grant_ref");

struct gnttab_unmap_grant_ref {
	uint64_t host_addr;     /* IN: 0 = ignore */
	uint64_t dev_bus_addr;  /* IN: 0 = ignore */
	grant_handle_t handle;  /* IN */
	int16_t status;         /* OUT */
};
_Static_assert(offsetof(struct gnttab_unmap_grant_ref, dev_bus_addr) == 8, "unmap_grant_ref.dev_bus_addr");
_Static_assert(offsetof(struct gnttab_unmap_grant_ref, handle) == 16, "unmap_grant_ref.handle");
_Static_assert(offsetof(struct gnttab_unmap_grant_ref, status) == 20, "unmap_grant_ref.status");
_Static_assert(sizeof(struct gnttab_unmap_grant_ref) == 24, "sizeof gnttab_unmap_grant_ref");

struct gnttab_setup_table {
	domid_t dom;            /* IN: DOMID_SELF */
	uint32_t nr_frames;     /* IN */
	int16_t status;         /* OUT */
	unsigned long *frame_list;      /* IN: guest handle; OUT: the frames */
};
_Static_assert(offsetof(struct gnttab_setup_table, nr_frames) == 4, "setup_table.nr_frames");
_Static_assert(offsetof(struct gnttab_setup_table, status) == 8, "setup_table.status");
_Static_assert(offsetof(struct gnttab_setup_table, frame_list) == 16, "setup_table.frame_list");
_Static_assert(sizeof(struct gnttab_setup_table) == 24, "sizeof gnttab_setup_table");

struct gnttab_dump_table {
	domid_t dom;
	int16_t status;
};
_Static_assert(sizeof(struct gnttab_dump_table) == 4, "sizeof gnttab_dump_table");

#define GNTCOPY_source_gref     (1U << 0)
#define GNTCOPY_dest_gref       (1U << 1)
#define GNTCOPY_can_fail        (1U << 2)

/* One side of a copy: a grant reference of domid (flag set), else a frame
 * of the caller (domid must then be DOMID_SELF; PV: a machine frame). */
struct gnttab_copy_ptr {
	union {
		grant_ref_t ref;
		unsigned long gmfn;     /* xen_pfn_t */
	} u;
	domid_t domid;
	uint16_t offset;
};
_Static_assert(offsetof(struct gnttab_copy_ptr, domid) == 8, "gnttab_copy_ptr.domid");
_Static_assert(offsetof(struct gnttab_copy_ptr, offset) == 10, "gnttab_copy_ptr.offset");
_Static_assert(sizeof(struct gnttab_copy_ptr) == 16, "sizeof gnttab_copy_ptr");

struct gnttab_copy {
	struct gnttab_copy_ptr source, dest;
	uint16_t len;
	uint16_t flags;         /* GNTCOPY_* */
	int16_t status;         /* OUT */
};
_Static_assert(offsetof(struct gnttab_copy, dest) == 16, "gnttab_copy.dest");
_Static_assert(offsetof(struct gnttab_copy, len) == 32, "gnttab_copy.len");
_Static_assert(offsetof(struct gnttab_copy, flags) == 34, "gnttab_copy.flags");
_Static_assert(offsetof(struct gnttab_copy, status) == 36, "gnttab_copy.status");
_Static_assert(sizeof(struct gnttab_copy) == 40, "sizeof gnttab_copy");

struct gnttab_query_size {
	domid_t dom;            /* IN */
	uint32_t nr_frames;     /* OUT */
	uint32_t max_nr_frames; /* OUT */
	int16_t status;         /* OUT */
};
_Static_assert(offsetof(struct gnttab_query_size, nr_frames) == 4, "query_size.nr_frames");
_Static_assert(offsetof(struct gnttab_query_size, max_nr_frames) == 8, "query_size.max_nr_frames");
_Static_assert(offsetof(struct gnttab_query_size, status) == 12, "query_size.status");
_Static_assert(sizeof(struct gnttab_query_size) == 16, "sizeof gnttab_query_size");

struct gnttab_set_version {
	uint32_t version;       /* IN/OUT */
};

struct gnttab_get_version {
	domid_t dom;            /* IN */
	uint16_t pad;
	uint32_t version;       /* OUT */
};
_Static_assert(offsetof(struct gnttab_get_version, version) == 4, "get_version.version");
_Static_assert(sizeof(struct gnttab_get_version) == 8, "sizeof gnttab_get_version");

/* Refs 0..7 are the toolstack's (GNTTAB_NR_RESERVED_ENTRIES): the console
 * and store pages' grants to the backends.  The guest hands out from 8. */
#define GNTTAB_NR_RESERVED_ENTRIES      8
#define GNTTAB_ENTRIES_PER_FRAME        (4096 / sizeof(struct grant_entry_v1))

static inline long HYPERVISOR_grant_table_op(unsigned int cmd, void *uop,
					     unsigned int count)
{
	return _hypercall3(long, grant_table_op, cmd, uop, count);
}

/* ---- The guest's table -------------------------------------------------------- */

#define GNTTAB_AREA_VA          0xffffca0000000000UL    /* L4 slot 404 */
#define GNTTAB_MAX_FRAMES       4
#define GNTTAB_MAP_SLOTS        (512 - GNTTAB_MAX_FRAMES)

extern volatile struct grant_entry_v1 *gnttab_table;   /* NULL before init */
extern unsigned int gnttab_nr_entries;
/* The result of the last hypercall a wrapper below made. */
extern long gnttab_last_rc;

/* Builds the area, GNTTABOP_setup_table(DOMID_SELF, nr_frames) and maps
 * the frames writable; checks GNTTABOP_get_version says 1.  Returns 0, a
 * failing hypercall's -errno or a failing GNTST_* status; *step (if given)
 * names the step that failed. */
long gnttab_init(unsigned int nr_frames, const char **step);

/* A new grant of frame mfn to domid (read-only if readonly): the ref, or
 * -ENOSPC when the table is full. */
long gnttab_grant_access(domid_t domid, unsigned long mfn, int readonly);

/* Revokes a grant, as Linux does: fails with -EBUSY (entry unchanged)
 * while the grantee has it mapped (GTF_reading/GTF_writing), else clears
 * the flags with cmpxchg and frees the ref.  -EINVAL for a ref out of
 * range or not granted. */
long gnttab_end_access(grant_ref_t ref);

/* The entry's flags as Xen left them. */
uint16_t gnttab_entry_flags(grant_ref_t ref);

/* Page i of the map area (i < GNTTAB_MAP_SLOTS): a VA whose L1 exists. */
static inline unsigned long gnttab_slot_va(unsigned int i)
{
	return GNTTAB_AREA_VA + (unsigned long)(GNTTAB_MAX_FRAMES + i) * 4096;
}

/* The area's L1 entry for VA va (read-only mapping). */
volatile uint64_t *gnttab_area_pte(unsigned long va);

/* ---- Other domains' grants ---------------------------------------------------- *
 * These return the op's GNTST_* status, or GNTST_general_error if the
 * hypercall itself failed (gnttab_last_rc then holds its -errno). */

/* GNTTABOP_map_grant_ref of (dom, ref) at host_addr va; *handle and
 * *dev_bus_addr (either may be NULL) get the results. */
int gnttab_map(domid_t dom, grant_ref_t ref, unsigned long va, uint32_t flags,
	       grant_handle_t *handle, uint64_t *dev_bus_addr);
int gnttab_unmap(unsigned long va, grant_handle_t handle);
int gnttab_query_size(domid_t dom, uint32_t *nr_frames, uint32_t *max_nr_frames);

/* GNTTABOP_copy of n ops: returns the hypercall's result; each op's status
 * says how it went. */
long gnttab_copy(struct gnttab_copy *ops, unsigned int n);

/* GNTTABOP_get_version for dom: the version, or the hypercall's -errno. */
long gnttab_get_version(domid_t dom);
/* GNTTABOP_set_version: the hypercall's result; *version gets the version
 * in effect. */
long gnttab_set_version(uint32_t *version);

#endif /* XG_GNTTAB_H */
