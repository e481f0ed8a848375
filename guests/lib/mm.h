/* The memory-management interface of an x86-64 PV guest: mmu_update,
 * mmuext_op, update_va_mapping, multicall and memory_op wrappers, and helpers
 * for the bootstrap address space the domain builder sets up:
 *
 *   pfn 0.. are mapped 1:1 from XG_VIRT_BASE up to the end of the bootstrap
 *   mapping (the boot stack plus >= 512 KiB of padding, ending on a 4 MiB
 *   boundary); the bootstrap page tables (L4 at start_info.pt_base, then the
 *   L3s, L2s, L1s, nr_pt_frames in all) are mapped read-only, everything else
 *   read-write; pfns past the mapping are not mapped at all.
 *
 * Call mm_init() first.  Nothing here prints, except the trap handler of
 * mm_traps_init() for an unexpected exception. */
#ifndef XG_MM_H
#define XG_MM_H

#include <stddef.h>
#include <stdint.h>
#include "hypercall.h"
#include "pv.h"
#include "xen.h"

/* Error numbers the hypercalls return negated (Xen's, Linux-compatible). */
#include "errno.h"

#define PAGE_SHIFT      12
#define PAGE_SIZE       4096UL
#define MM_INVALID      (~0UL)          /* no such pfn / mfn */

/* Index of va in the page table of a level (1 = L1 .. 4 = L4). */
static inline unsigned int mm_index(unsigned long va, int level)
{
	return (unsigned int)(va >> (PAGE_SHIFT + 9 * (level - 1))) & 511;
}

/* Sign-extended virtual address of an L4 slot. */
static inline unsigned long mm_slot_va(unsigned int slot)
{
	unsigned long va = (unsigned long)slot << 39;

	return slot >= 256 ? va | 0xffff000000000000UL : va;
}

static inline uint64_t mm_pte(unsigned long mfn, uint64_t flags)
{
	return ((uint64_t)mfn << PAGE_SHIFT) | flags;
}

static inline unsigned long mm_pte_mfn(uint64_t pte)
{
	return (pte & PTE_ADDR_MASK) >> PAGE_SHIFT;
}

/* ---- Hypercalls ---------------------------------------------------------- */

/* req[i].ptr = machine address of the entry | MMU_* command.  *pdone gets the
 * number of requests that succeeded; the first failure stops the batch. */
static inline long HYPERVISOR_mmu_update(struct mmu_update *req,
					 unsigned int count,
					 unsigned int *pdone,
					 unsigned int foreigndom)
{
	return _hypercall4(long, mmu_update, req, count, pdone, foreigndom);
}

/* HYPERVISOR_mmuext_op and HYPERVISOR_update_va_mapping: see pv.h. */

static inline long HYPERVISOR_update_va_mapping_otherdomain(unsigned long va,
							    uint64_t pte,
							    unsigned long flags,
							    unsigned int domid)
{
	return _hypercall4(long, update_va_mapping_otherdomain, va, pte, flags,
			   domid);
}

/* Runs every entry (a failing one does not stop the batch); each entry's
 * result field gets its return value. */
static inline long HYPERVISOR_multicall(struct multicall_entry *calls,
					unsigned int nr_calls)
{
	return _hypercall2(long, multicall, calls, nr_calls);
}

static inline long HYPERVISOR_memory_op(unsigned int cmd, void *arg)
{
	return _hypercall2(long, memory_op, cmd, arg);
}

/* ---- The bootstrap address space ----------------------------------------- */

extern struct start_info *mm_si;
extern unsigned long *mm_p2m;           /* start_info.mfn_list, writable */
extern unsigned long mm_nr_pages;
extern uint64_t *mm_l4;                 /* the bootstrap L4 (read-only) */
extern unsigned long mm_l4_mfn;
extern unsigned long mm_pt_pfn;         /* first bootstrap page-table pfn */
extern unsigned long mm_first_free_pfn; /* first pfn after the boot stack */
extern unsigned long mm_map_end_pfn;    /* first pfn the bootstrap mapping lacks */
extern const unsigned long *mm_m2p;     /* NULL until mm_m2p_init() */

/* Reads start_info and finds the end of the bootstrap mapping (by walking
 * it), and reserves one mapped page as the scratch window. */
void mm_init(struct start_info *si);

static inline unsigned long pfn_to_mfn(unsigned long pfn)
{
	return pfn < mm_nr_pages ? mm_p2m[pfn] : MM_INVALID;
}

static inline void *pfn_to_virt(unsigned long pfn)
{
	return (void *)(XG_VIRT_BASE + (pfn << PAGE_SHIFT));
}

static inline unsigned long virt_to_pfn(const void *va)
{
	return ((unsigned long)va - XG_VIRT_BASE) >> PAGE_SHIFT;
}

/* Machine frame behind va in the bootstrap (1:1) mapping. */
static inline unsigned long virt_to_mfn(const void *va)
{
	return pfn_to_mfn(virt_to_pfn(va));
}

/* Inside the bootstrap mapping (which may since have been changed). */
static inline int pfn_is_mapped(unsigned long pfn)
{
	return pfn < mm_map_end_pfn;
}

/* Keeps the guest's own P2M in step after memory_op changes. */
static inline void mm_set_p2m(unsigned long pfn, unsigned long mfn)
{
	if (pfn < mm_nr_pages)
		mm_p2m[pfn] = mfn;
}

/* XENMEM_machphys_mapping: fills *out; on success mm_m2p points at the
 * read-only M2P (m2p[mfn] = pfn).  Returns the hypercall's result. */
long mm_m2p_init(struct xen_machphys_mapping *out);

/* pfn of one of the domain's frames: the M2P once mm_m2p_init succeeded,
 * else a search of the P2M.  MM_INVALID if unknown. */
unsigned long mfn_to_pfn(unsigned long mfn);

/* Search of the guest's own P2M only.  MM_INVALID if not found. */
unsigned long mm_p2m_find(unsigned long mfn);

/* The 1:1 virtual address of a frame of the domain inside the bootstrap
 * mapping (P2M search), or NULL. */
void *mm_mfn_to_virt(unsigned long mfn);

/* The writable 1:1 address of a frame of the domain's own start-of-day image
 * (the store or console page): its pfn from the M2P (mm_m2p_init is done if
 * needed), checked against the P2M (else a P2M search), which must lie in
 * the bootstrap mapping with the L1 entry mapping that frame writable.
 * NULL if not; *why (if given) then says which test failed. */
void *mm_image_frame_va(unsigned long mfn, const char **why);

/* ---- Page-table walks (of the bootstrap L4, through the 1:1 mapping) ---- */

struct mm_walk {
	/* Index [level]: the entry for va in the table of that level, the
	 * machine address of that entry and its virtual address (through the
	 * table's read-only 1:1 mapping).  Levels below the first non-present
	 * entry are left 0/NULL. */
	uint64_t entry[5];
	uint64_t maddr[5];
	uint64_t *ptr[5];
	int level;              /* lowest level reached (1 if the L1e was read) */
};

/* Returns 0 if the walk reached the L1 (the L1 entry itself may be
 * non-present), else -1 (a higher level is not present, a superpage, or a
 * table lies outside the 1:1 mapping). */
int mm_walk(unsigned long va, struct mm_walk *w);

/* Machine address of va's L1 entry (0 if there is no L1 for va). */
uint64_t mm_l1e_maddr(unsigned long va);

/* Virtual address of va's L1 entry, through the L1's read-only mapping
 * (NULL if there is no L1 for va). */
uint64_t *mm_l1e_ptr(unsigned long va);

/* ---- Mappings ------------------------------------------------------------- */

#define MM_KERNEL_RW    (_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY)
#define MM_KERNEL_RO    (_PAGE_PRESENT | _PAGE_ACCESSED)
#define MM_TABLE        (_PAGE_PRESENT | _PAGE_RW)

/* update_va_mapping(va, mfn | flags, UVMF_INVLPG). */
long mm_map_va(unsigned long va, unsigned long mfn, uint64_t flags);

/* Remap a page of the bootstrap mapping read-only / read-write onto the
 * same frame (update_va_mapping with UVMF_INVLPG). */
long make_readonly(const void *va);
long make_writable(const void *va);

/* ---- Free pages ----------------------------------------------------------- */

/* Pages after the boot stack, handed out once each.  "Mapped" pages lie
 * inside the bootstrap mapping (read-write at pfn_to_virt(pfn)); "unmapped"
 * ones after it.  MM_INVALID when none is left. */
unsigned long mm_alloc_mapped(void);
unsigned long mm_alloc_unmapped(void);
unsigned long mm_alloc_any(void);       /* unmapped first */

/* A writable view of any frame: pfn_to_virt(pfn) for a pfn of the
 * bootstrap mapping, else the scratch window (one page of the bootstrap
 * mapping remapped onto the frame).  The window stays until the next
 * mm_frame_map/mm_window_map or mm_window_restore.  NULL on failure. */
void *mm_frame_map(unsigned long pfn);
void *mm_window_map(unsigned long mfn);
long mm_window_restore(void);

/* ---- mmuext_op / mmu_update conveniences ---------------------------------- */

/* One mmuext_op for DOMID_SELF; returns its result. */
long mm_mmuext(unsigned int cmd, unsigned long arg1, unsigned long arg2);

static inline long mm_pin(int level, unsigned long mfn)
{
	return mm_mmuext(MMUEXT_PIN_L1_TABLE + (unsigned int)(level - 1), mfn, 0);
}

static inline long mm_unpin(unsigned long mfn)
{
	return mm_mmuext(MMUEXT_UNPIN_TABLE, mfn, 0);
}

static inline long mm_flush_tlb(void)
{
	return mm_mmuext(MMUEXT_TLB_FLUSH_LOCAL, 0, 0);
}

static inline long mm_invlpg(unsigned long va)
{
	return mm_mmuext(MMUEXT_INVLPG_LOCAL, va, 0);
}

/* One mmu_update request; *pdone (if not NULL) gets the done count. */
long mm_update(uint64_t ptr, uint64_t val, unsigned int foreigndom,
	       unsigned int *pdone);

/* memory_op on a reservation: extents (nr of them, order 0) for domid.
 * Returns the hypercall's result (the number of extents done). */
long mm_reservation(unsigned int cmd, unsigned long *extents,
		    unsigned long nr, domid_t domid);

/* XENMEM_current_reservation / XENMEM_maximum_reservation for domid. */
long mm_domain_query(unsigned int cmd, domid_t domid);

/* ---- A new branch of page tables ----------------------------------------- */

#define MM_BRANCH_MAX_L1        8

/* L3 -> L2 -> nr_l1 L1s (consecutive L2 slots) hooked into an empty slot of
 * the bootstrap L4, mapping [va, va + nr_l1 * 2 MiB), all entries empty.
 * The tables come from the mapped free pages and are left read-only in the
 * bootstrap mapping; the L1s are pinned. */
struct mm_branch {
	unsigned long va;
	unsigned int nr_l1;
	unsigned long l3_pfn, l2_pfn, l1_pfn[MM_BRANCH_MAX_L1];
	const char *failed;     /* the step that failed, or NULL */
};

/* va must be 2 MiB aligned.  Returns 0, or the first failure's result
 * (b->failed names the step). */
long mm_branch_build(struct mm_branch *b, unsigned long va, unsigned int nr_l1);

/* The L1 entry of page i of the branch (i < nr_l1 * 512): its machine
 * address and its read-only virtual address. */
static inline uint64_t mm_branch_l1e_maddr(const struct mm_branch *b,
					   unsigned int i)
{
	return (pfn_to_mfn(b->l1_pfn[i / 512]) << PAGE_SHIFT) + (i % 512) * 8;
}

static inline volatile uint64_t *mm_branch_l1e(const struct mm_branch *b,
					       unsigned int i)
{
	return (volatile uint64_t *)pfn_to_virt(b->l1_pfn[i / 512]) + i % 512;
}

static inline unsigned long mm_branch_page_va(const struct mm_branch *b,
					      unsigned int i)
{
	return b->va + (unsigned long)i * PAGE_SIZE;
}

/* ---- Faults --------------------------------------------------------------- */

/* The last fault a probe took. */
struct mm_fault {
	unsigned long count;
	unsigned long vector, error_code, rip, cr2;
};
extern struct mm_fault mm_last_fault;

/* Installs a trap table for the common exception vectors.  Faults (#PF,
 * #GP) inside mm_probe_* resume after the probe; any other exception calls
 * on_unexpected (which may print a summary) after printing the frame, then
 * crashes the domain. */
long mm_traps_init(void (*on_unexpected)(void));

/* One 8-byte load / store that may fault.  Return 0, or 1 if it faulted
 * (mm_last_fault has the details). */
int mm_probe_read(const volatile void *addr, uint64_t *val);
int mm_probe_write(volatile void *addr, uint64_t val);

#endif /* XG_MM_H */
