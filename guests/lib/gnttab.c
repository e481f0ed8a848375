/* Grant tables v1: the guest's own table and wrappers for the rest. */
#include "errno.h"
#include "gnttab.h"
#include "lib.h"
#include "mm.h"

volatile struct grant_entry_v1 *gnttab_table;
unsigned int gnttab_nr_entries;
long gnttab_last_rc;

static struct mm_branch area;
static int area_built;

/* Free refs as a stack; gnttab_init pushes them so that 8 comes out first. */
static grant_ref_t free_refs[GNTTAB_MAX_FRAMES * GNTTAB_ENTRIES_PER_FRAME];
static unsigned int nr_free;

#define FAIL_AT(what, code) do { *step = (what); return (code); } while (0)

long gnttab_init(unsigned int nr_frames, const char **step)
{
	unsigned long frames[GNTTAB_MAX_FRAMES];
	struct gnttab_setup_table setup;
	const char *dummy;
	unsigned int i;
	long rc;

	if (!step)
		step = &dummy;
	*step = NULL;
	if (nr_frames == 0 || nr_frames > GNTTAB_MAX_FRAMES)
		FAIL_AT("nr_frames", -EINVAL);
	if (!mm_si)
		FAIL_AT("mm_init first", -EINVAL);

	if (!area_built) {
		rc = mm_branch_build(&area, GNTTAB_AREA_VA, 1);
		if (rc)
			FAIL_AT(area.failed, rc);
		area_built = 1;
	}

	memset(&setup, 0, sizeof(setup));
	memset(frames, 0, sizeof(frames));
	setup.dom = DOMID_SELF;
	setup.nr_frames = nr_frames;
	setup.frame_list = frames;
	rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &setup, 1);
	if (rc)
		FAIL_AT("GNTTABOP_setup_table", rc);
	if (setup.status != GNTST_okay)
		FAIL_AT("GNTTABOP_setup_table status", setup.status);

	/* The frames are Xen's, shared with the domain writable: map them in
	 * the area's first pages. */
	for (i = 0; i < nr_frames; i++) {
		rc = mm_map_va(GNTTAB_AREA_VA + i * PAGE_SIZE, frames[i], MM_KERNEL_RW);
		if (rc)
			FAIL_AT("map a table frame", rc);
	}

	rc = gnttab_get_version(DOMID_SELF);
	if (rc < 0)
		FAIL_AT("GNTTABOP_get_version", rc);
	if (rc != 1)
		FAIL_AT("GNTTABOP_get_version: not version 1", -EINVAL);

	gnttab_table = (volatile struct grant_entry_v1 *)GNTTAB_AREA_VA;
	gnttab_nr_entries = nr_frames * GNTTAB_ENTRIES_PER_FRAME;
	nr_free = 0;
	for (i = gnttab_nr_entries; i-- > GNTTAB_NR_RESERVED_ENTRIES;)
		free_refs[nr_free++] = i;
	return 0;
}

long gnttab_grant_access(domid_t domid, unsigned long mfn, int readonly)
{
	volatile struct grant_entry_v1 *e;
	grant_ref_t ref;

	if (!gnttab_table || !nr_free)
		return -ENOSPC;
	if (mfn > 0xffffffffUL)
		return -EINVAL;         /* v1 entries hold 32-bit frames */
	ref = free_refs[--nr_free];
	e = &gnttab_table[ref];
	e->domid = domid;
	e->frame = (uint32_t)mfn;
	/* Xen checks flags first: the entry must be whole before it is valid
	 * (x86 keeps stores in order; stop the compiler). */
	asm volatile("" ::: "memory");
	e->flags = (uint16_t)(GTF_permit_access | (readonly ? GTF_readonly : 0));
	return ref;
}

long gnttab_end_access(grant_ref_t ref)
{
	uint16_t flags;

	if (!gnttab_table || ref < GNTTAB_NR_RESERVED_ENTRIES || ref >= gnttab_nr_entries)
		return -EINVAL;
	/* Xen sets GTF_reading/writing with a cmpxchg on the same word: only
	 * a cmpxchg from flags without them to 0 cannot race with a new
	 * mapping. */
	flags = gnttab_table[ref].flags;
	do {
		if (!(flags & GTF_type_mask))
			return -EINVAL;         /* not granted: not ours to free */
		if (flags & (GTF_reading | GTF_writing))
			return -EBUSY;
	} while (!__atomic_compare_exchange_n((uint16_t *)&gnttab_table[ref].flags,
					      &flags, 0, 0, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	free_refs[nr_free++] = ref;
	return 0;
}

uint16_t gnttab_entry_flags(grant_ref_t ref)
{
	if (!gnttab_table || ref >= gnttab_nr_entries)
		return 0;
	return gnttab_table[ref].flags;
}

volatile uint64_t *gnttab_area_pte(unsigned long va)
{
	unsigned long i = (va - GNTTAB_AREA_VA) / PAGE_SIZE;

	if (!area_built || va < GNTTAB_AREA_VA || i >= 512)
		return NULL;
	return mm_branch_l1e(&area, (unsigned int)i);
}

int gnttab_map(domid_t dom, grant_ref_t ref, unsigned long va, uint32_t flags,
	       grant_handle_t *handle, uint64_t *dev_bus_addr)
{
	struct gnttab_map_grant_ref op;

	memset(&op, 0, sizeof(op));
	op.host_addr = va;
	op.flags = flags;
	op.ref = ref;
	op.dom = dom;
	/* Not Xen's: to tell an untouched field from an answer. */
	op.status = 1;
	op.handle = ~0U;
	gnttab_last_rc = HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
	if (gnttab_last_rc)
		return GNTST_general_error;
	if (handle)
		*handle = op.handle;
	if (dev_bus_addr)
		*dev_bus_addr = op.dev_bus_addr;
	return op.status;
}

int gnttab_unmap(unsigned long va, grant_handle_t handle)
{
	struct gnttab_unmap_grant_ref op;

	memset(&op, 0, sizeof(op));
	op.host_addr = va;
	op.handle = handle;
	op.status = 1;
	gnttab_last_rc = HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &op, 1);
	if (gnttab_last_rc)
		return GNTST_general_error;
	return op.status;
}

int gnttab_query_size(domid_t dom, uint32_t *nr_frames, uint32_t *max_nr_frames)
{
	struct gnttab_query_size op;

	memset(&op, 0, sizeof(op));
	op.dom = dom;
	op.status = 1;
	gnttab_last_rc = HYPERVISOR_grant_table_op(GNTTABOP_query_size, &op, 1);
	if (gnttab_last_rc)
		return GNTST_general_error;
	if (nr_frames)
		*nr_frames = op.nr_frames;
	if (max_nr_frames)
		*max_nr_frames = op.max_nr_frames;
	return op.status;
}

long gnttab_copy(struct gnttab_copy *ops, unsigned int n)
{
	gnttab_last_rc = HYPERVISOR_grant_table_op(GNTTABOP_copy, ops, n);
	return gnttab_last_rc;
}

long gnttab_get_version(domid_t dom)
{
	struct gnttab_get_version op = { .dom = dom };

	gnttab_last_rc = HYPERVISOR_grant_table_op(GNTTABOP_get_version, &op, 1);
	return gnttab_last_rc ? gnttab_last_rc : (long)op.version;
}

long gnttab_set_version(uint32_t *version)
{
	struct gnttab_set_version op = { .version = *version };

	gnttab_last_rc = HYPERVISOR_grant_table_op(GNTTABOP_set_version, &op, 1);
	*version = op.version;
	return gnttab_last_rc;
}
