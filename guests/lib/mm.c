#include "console.h"
#include "lib.h"
#include "mm.h"

struct start_info *mm_si;
unsigned long *mm_p2m;
unsigned long mm_nr_pages;
uint64_t *mm_l4;
unsigned long mm_l4_mfn;
unsigned long mm_pt_pfn;
unsigned long mm_first_free_pfn;
unsigned long mm_map_end_pfn;
const unsigned long *mm_m2p;

static unsigned long m2p_max_mfn;
static unsigned long nr_pt_frames;
static unsigned long next_mapped, next_unmapped;
static unsigned long window_pfn = MM_INVALID, window_mfn;
static unsigned long find_hint;

/* ---- Frames --------------------------------------------------------------- */

unsigned long mm_p2m_find(unsigned long mfn)
{
	unsigned long pfn;

	/* The bootstrap page tables first: walks look those up most. */
	for (pfn = mm_pt_pfn; pfn < mm_pt_pfn + nr_pt_frames && pfn < mm_nr_pages; pfn++)
		if (mm_p2m[pfn] == mfn)
			return pfn;
	if (find_hint < mm_nr_pages && mm_p2m[find_hint] == mfn)
		return find_hint;
	for (pfn = 0; pfn < mm_nr_pages; pfn++) {
		if (mm_p2m[pfn] == mfn) {
			find_hint = pfn;
			return pfn;
		}
	}
	return MM_INVALID;
}

unsigned long mfn_to_pfn(unsigned long mfn)
{
	if (mm_m2p)
		return mfn <= m2p_max_mfn ? mm_m2p[mfn] : MM_INVALID;
	return mm_p2m_find(mfn);
}

void *mm_mfn_to_virt(unsigned long mfn)
{
	unsigned long pfn = mm_p2m_find(mfn);
	unsigned long limit = mm_map_end_pfn ? mm_map_end_pfn : mm_nr_pages;

	if (pfn == MM_INVALID || pfn >= limit || pfn == window_pfn)
		return NULL;
	return pfn_to_virt(pfn);
}

long mm_m2p_init(struct xen_machphys_mapping *out)
{
	struct xen_machphys_mapping m = { 0, 0, 0 };
	long rc = HYPERVISOR_memory_op(XENMEM_machphys_mapping, &m);

	if (out)
		*out = m;
	if (rc == 0 && m.v_start) {
		mm_m2p = (const unsigned long *)m.v_start;
		m2p_max_mfn = m.max_mfn;
		if (m.v_end > m.v_start && (m.v_end - m.v_start) / 8 - 1 < m2p_max_mfn)
			m2p_max_mfn = (m.v_end - m.v_start) / 8 - 1;
	}
	return rc;
}

void *mm_image_frame_va(unsigned long mfn, const char **why)
{
	const char *dummy;
	unsigned long pfn;
	uint64_t *pte;

	if (!why)
		why = &dummy;
	*why = NULL;
	if (!mm_m2p)
		mm_m2p_init(NULL);
	pfn = mfn_to_pfn(mfn);
	if (pfn >= mm_nr_pages || mm_p2m[pfn] != mfn)
		pfn = mm_p2m_find(mfn);
	if (pfn == MM_INVALID || !pfn_is_mapped(pfn)) {
		*why = "not a frame of the bootstrap mapping";
		return NULL;
	}
	pte = mm_l1e_ptr((unsigned long)pfn_to_virt(pfn));
	if (!pte || !(*pte & _PAGE_PRESENT) || !(*pte & _PAGE_RW) ||
	    mm_pte_mfn(*pte) != mfn) {
		*why = "its bootstrap mapping is not a writable mapping of it";
		return NULL;
	}
	return pfn_to_virt(pfn);
}

/* ---- Walks ---------------------------------------------------------------- */

int mm_walk(unsigned long va, struct mm_walk *w)
{
	uint64_t *table = mm_l4;
	unsigned long table_mfn = mm_l4_mfn;
	int level;

	memset(w, 0, sizeof(*w));
	for (level = 4; level >= 1; level--) {
		unsigned int idx = mm_index(va, level);
		uint64_t e = table[idx];

		w->entry[level] = e;
		w->maddr[level] = (table_mfn << PAGE_SHIFT) + idx * 8;
		w->ptr[level] = &table[idx];
		w->level = level;
		if (level == 1)
			return 0;
		if (!(e & _PAGE_PRESENT) || (level <= 3 && (e & _PAGE_PSE)))
			return -1;
		table_mfn = mm_pte_mfn(e);
		table = mm_mfn_to_virt(table_mfn);
		if (!table)
			return -1;
	}
	return -1;
}

uint64_t mm_l1e_maddr(unsigned long va)
{
	struct mm_walk w;

	return mm_walk(va, &w) == 0 ? w.maddr[1] : 0;
}

uint64_t *mm_l1e_ptr(unsigned long va)
{
	struct mm_walk w;

	return mm_walk(va, &w) == 0 ? w.ptr[1] : NULL;
}

/* ---- Mappings ------------------------------------------------------------- */

long mm_map_va(unsigned long va, unsigned long mfn, uint64_t flags)
{
	uint64_t pte = flags & _PAGE_PRESENT ? mm_pte(mfn, flags) : 0;

	return HYPERVISOR_update_va_mapping(va, pte, UVMF_INVLPG);
}

long make_readonly(const void *va)
{
	return mm_map_va((unsigned long)va & ~(PAGE_SIZE - 1), virt_to_mfn(va), MM_KERNEL_RO);
}

long make_writable(const void *va)
{
	return mm_map_va((unsigned long)va & ~(PAGE_SIZE - 1), virt_to_mfn(va), MM_KERNEL_RW);
}

/* ---- Free pages ----------------------------------------------------------- */

unsigned long mm_alloc_mapped(void)
{
	if (next_mapped >= mm_map_end_pfn)
		return MM_INVALID;
	return next_mapped++;
}

unsigned long mm_alloc_unmapped(void)
{
	if (next_unmapped >= mm_nr_pages)
		return MM_INVALID;
	return next_unmapped++;
}

unsigned long mm_alloc_any(void)
{
	unsigned long pfn = mm_alloc_unmapped();

	return pfn != MM_INVALID ? pfn : mm_alloc_mapped();
}

void *mm_window_map(unsigned long mfn)
{
	void *va;

	if (window_pfn == MM_INVALID)
		return NULL;
	va = pfn_to_virt(window_pfn);
	if (mm_map_va((unsigned long)va, mfn, MM_KERNEL_RW))
		return NULL;
	return va;
}

long mm_window_restore(void)
{
	if (window_pfn == MM_INVALID)
		return -EINVAL;
	return mm_map_va((unsigned long)pfn_to_virt(window_pfn), window_mfn, MM_KERNEL_RW);
}

void *mm_frame_map(unsigned long pfn)
{
	unsigned long mfn = pfn_to_mfn(pfn);

	if (pfn_is_mapped(pfn) && pfn != window_pfn)
		return pfn_to_virt(pfn);
	if (mfn == MM_INVALID)
		return NULL;
	return mm_window_map(mfn);
}

/* ---- Hypercall conveniences ----------------------------------------------- */

long mm_mmuext(unsigned int cmd, unsigned long arg1, unsigned long arg2)
{
	struct mmuext_op op = { .cmd = cmd, .arg1 = arg1, .arg2 = arg2 };
	unsigned int done = 0;

	return HYPERVISOR_mmuext_op(&op, 1, &done, DOMID_SELF);
}

long mm_update(uint64_t ptr, uint64_t val, unsigned int foreigndom,
	       unsigned int *pdone)
{
	struct mmu_update req = { .ptr = ptr, .val = val };
	unsigned int done = 0;
	long rc = HYPERVISOR_mmu_update(&req, 1, &done, foreigndom);

	if (pdone)
		*pdone = done;
	return rc;
}

long mm_reservation(unsigned int cmd, unsigned long *extents,
		    unsigned long nr, domid_t domid)
{
	struct xen_memory_reservation r = {
		.extent_start = extents,
		.nr_extents = nr,
		.extent_order = 0,
		.mem_flags = 0,
		.domid = domid,
	};

	return HYPERVISOR_memory_op(cmd, &r);
}

long mm_domain_query(unsigned int cmd, domid_t domid)
{
	domid_t d = domid;

	return HYPERVISOR_memory_op(cmd, &d);
}

/* ---- Branches ------------------------------------------------------------- */

#define BRANCH_FAIL(step, code) do { b->failed = (step); return (code); } while (0)

long mm_branch_build(struct mm_branch *b, unsigned long va, unsigned int nr_l1)
{
	unsigned int s4 = mm_index(va, 4), s3 = mm_index(va, 3), s2 = mm_index(va, 2);
	uint64_t *l3, *l2;
	unsigned int done, k;
	long rc;

	memset(b, 0, sizeof(*b));
	b->va = va;
	b->nr_l1 = nr_l1;
	if (nr_l1 == 0 || nr_l1 > MM_BRANCH_MAX_L1 || s2 + nr_l1 > 512 ||
	    (va & ((1UL << 21) - 1)))
		BRANCH_FAIL("arguments", -EINVAL);
	if (mm_l4[s4] & _PAGE_PRESENT)
		BRANCH_FAIL("L4 slot already in use", -EEXIST);

	b->l3_pfn = mm_alloc_mapped();
	b->l2_pfn = mm_alloc_mapped();
	for (k = 0; k < nr_l1; k++)
		b->l1_pfn[k] = mm_alloc_mapped();
	if (b->l3_pfn == MM_INVALID || b->l2_pfn == MM_INVALID ||
	    b->l1_pfn[nr_l1 - 1] == MM_INVALID)
		BRANCH_FAIL("allocate tables", -ENOMEM);

	/* L1s: empty, read-only, pinned. */
	for (k = 0; k < nr_l1; k++) {
		memset(pfn_to_virt(b->l1_pfn[k]), 0, PAGE_SIZE);
		rc = make_readonly(pfn_to_virt(b->l1_pfn[k]));
		if (rc)
			BRANCH_FAIL("make L1 read-only", rc);
		rc = mm_pin(1, pfn_to_mfn(b->l1_pfn[k]));
		if (rc)
			BRANCH_FAIL("pin L1", rc);
	}

	/* L2 and L3 are not page tables yet: plain stores, then read-only. */
	l2 = pfn_to_virt(b->l2_pfn);
	memset(l2, 0, PAGE_SIZE);
	for (k = 0; k < nr_l1; k++)
		l2[s2 + k] = mm_pte(pfn_to_mfn(b->l1_pfn[k]), MM_TABLE);
	rc = make_readonly(l2);
	if (rc)
		BRANCH_FAIL("make L2 read-only", rc);

	l3 = pfn_to_virt(b->l3_pfn);
	memset(l3, 0, PAGE_SIZE);
	l3[s3] = mm_pte(pfn_to_mfn(b->l2_pfn), MM_TABLE);
	rc = make_readonly(l3);
	if (rc)
		BRANCH_FAIL("make L3 read-only", rc);

	/* Hooking the L3 into the live L4 validates L3 and L2. */
	done = 0;
	rc = mm_update((mm_l4_mfn << PAGE_SHIFT) + s4 * 8,
		       mm_pte(pfn_to_mfn(b->l3_pfn), MM_TABLE), DOMID_SELF, &done);
	if (rc)
		BRANCH_FAIL("mmu_update of the L4 slot", rc);
	if (done != 1)
		BRANCH_FAIL("mmu_update of the L4 slot: done", -EINVAL);
	return 0;
}

/* ---- Faults --------------------------------------------------------------- */

struct mm_fault mm_last_fault;

/* Where a faulting probe resumes; 0 when no probe is running (asm below). */
unsigned long mm_fixup_rip;

static void (*unexpected_hook)(void);
static struct trap_info trap_table[8];

asm(
"	.text\n"
"	.globl mm_probe_read\n"
"	.type mm_probe_read, @function\n"
"mm_probe_read:\n"
"	leaq 1f(%rip), %rax\n"
"	movq %rax, mm_fixup_rip(%rip)\n"
"	movq (%rdi), %rax\n"
"	movq $0, mm_fixup_rip(%rip)\n"
"	movq %rax, (%rsi)\n"
"	xorl %eax, %eax\n"
"	ret\n"
"1:	movl $1, %eax\n"
"	ret\n"
"	.size mm_probe_read, . - mm_probe_read\n"
"	.globl mm_probe_write\n"
"	.type mm_probe_write, @function\n"
"mm_probe_write:\n"
"	leaq 1f(%rip), %rax\n"
"	movq %rax, mm_fixup_rip(%rip)\n"
"	movq %rsi, (%rdi)\n"
"	movq $0, mm_fixup_rip(%rip)\n"
"	xorl %eax, %eax\n"
"	ret\n"
"1:	movl $1, %eax\n"
"	ret\n"
"	.size mm_probe_write, . - mm_probe_write\n"
);

static void mm_on_trap(struct trap_regs *r)
{
	unsigned long cr2 = r->vector == 14 ? read_cr2() : 0;

	if (mm_fixup_rip && (r->vector == 14 || r->vector == 13)) {
		mm_last_fault.count++;
		mm_last_fault.vector = r->vector;
		mm_last_fault.error_code = r->error_code;
		mm_last_fault.rip = r->rip;
		mm_last_fault.cr2 = cr2;
		r->rip = mm_fixup_rip;
		mm_fixup_rip = 0;
		return;
	}
	printk("FAIL unexpected_trap: vector %lu ec 0x%lx rip 0x%lx cr2 0x%lx rsp 0x%lx\n",
	       r->vector, r->error_code, r->rip, cr2, r->rsp);
	if (unexpected_hook)
		unexpected_hook();
	xen_shutdown(SHUTDOWN_crash);
}

long mm_traps_init(void (*on_unexpected)(void))
{
	static const struct { uint8_t vector, flags; } v[] = {
		{ 0, 0 }, { 1, 0 }, { 3, 3 }, { 6, 0 }, { 7, 0 }, { 13, 0 }, { 14, 0 },
	};
	unsigned int i;

	_Static_assert(sizeof(v) / sizeof(v[0]) < sizeof(trap_table) / sizeof(trap_table[0]),
		       "trap table terminator");
	unexpected_hook = on_unexpected;
	memset(trap_table, 0, sizeof(trap_table));
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		trap_table[i].vector = v[i].vector;
		trap_table[i].flags = v[i].flags;
		trap_table[i].cs = FLAT_KERNEL_CS64;
		trap_table[i].address = trap_entry(v[i].vector);
		trap_set_handler(v[i].vector, mm_on_trap);
	}
	return HYPERVISOR_set_trap_table(trap_table);
}

/* ---- Start ---------------------------------------------------------------- */

void mm_init(struct start_info *si)
{
	unsigned long pfn;

	mm_si = si;
	pv_init(si);
	mm_p2m = (unsigned long *)si->mfn_list;
	mm_nr_pages = si->nr_pages;
	mm_l4 = (uint64_t *)si->pt_base;
	mm_pt_pfn = virt_to_pfn(mm_l4);
	mm_l4_mfn = pfn_to_mfn(mm_pt_pfn);
	nr_pt_frames = si->nr_pt_frames;
	mm_first_free_pfn = mm_pt_pfn + nr_pt_frames + 1;     /* + boot stack */

	/* The bootstrap mapping is contiguous from pfn 0: find where it ends. */
	mm_map_end_pfn = 0;
	for (pfn = mm_first_free_pfn; pfn < mm_nr_pages; pfn++) {
		uint64_t *e = mm_l1e_ptr((unsigned long)pfn_to_virt(pfn));

		if (!e || !(*e & _PAGE_PRESENT) || mm_pte_mfn(*e) != mm_p2m[pfn])
			break;
	}
	mm_map_end_pfn = pfn;

	next_mapped = mm_first_free_pfn;
	next_unmapped = mm_map_end_pfn;
	window_pfn = mm_alloc_mapped();
	if (window_pfn != MM_INVALID)
		window_mfn = mm_p2m[window_pfn];
}
