/* Exercises the PV MMU interface of an x86-64 Xen guest: the M2P, memory_op
 * queries and reservations, pinning and switching to a new address space,
 * mapping 1024 pages three ways (one batched mmu_update, 1024 single ones,
 * 1024 trapped writes into a read-only L1 under writable_pagetables),
 * PRESERVE_AD, update_va_mapping, MMU_MACHPHYS_UPDATE, the mmuext_op
 * commands and multicall.  Each check prints "ok <name>" or
 * "FAIL <name>: <detail>", then "mmu: <n> failures".  Every expectation is
 * Xen's behaviour for a 64-bit PV domU.
 *
 * Command line: (none) runs the checks; bench=N times N rounds of the three
 * ways of mapping 1024 pages and of 1024 null hypercalls with rdtsc, each
 * reported as "mmu: ticks <what> 1024 <ticks>".  Timing inside the guest
 * keeps the console line's own exit out of the window. */
#include "check.h"
#include "console.h"
#include "hypercall.h"
#include "lib.h"
#include "mm.h"

#define REGION_VA       0xffffc90000000000UL    /* L4 slot 402 */
#define REGION_PAGES    1024
#define NEWAS_VA        0xffffc98000000000UL    /* L4 slot 403: only in the new L4 */
#define M2P_VA          0xffff808000000000UL    /* this host: L4 slot 257 */

#define MARKER(i)       (0x4d4d550000000000UL | ((uint64_t)(i) << 12) | 0x5a)
#define NEWAS_MARKER    0x4e4557415321UL        /* "NEWAS!" */

/* What Xen stores for a present kernel L1 entry written without _PAGE_USER
 * (adjust_guest_l1e), and for upper-level entries. */
#define L1_ADJUST       (_PAGE_USER | _PAGE_GUEST_KERNEL)

/* ---- Reporting ------------------------------------------------------------ */

static void summary(void)
{
	printk("mmu: %d failures\n", failures);
}

static void on_unexpected_trap(void)
{
	if (check_name)
		printk("mmu: during %s\n", check_name);
	failures++;
	summary();
}

/* A read that must succeed and give want. */
static void want_read(const char *what, unsigned long va, uint64_t want)
{
	uint64_t v = 0;

	if (check_failed)
		return;
	if (mm_probe_read((const void *)va, &v)) {
		check_failed = 1;
		printk("FAIL %s: %s: reading 0x%lx faulted (vector %lu, ec 0x%lx)\n",
		       check_name, what, va, mm_last_fault.vector, mm_last_fault.error_code);
		return;
	}
	want_hex(what, v, want);
}

/* A read that must take a #PF. */
static void want_read_fault(const char *what, unsigned long va)
{
	uint64_t v = 0;
	unsigned long before = mm_last_fault.count;

	if (check_failed)
		return;
	if (!mm_probe_read((const void *)va, &v)) {
		check_failed = 1;
		printk("FAIL %s: %s: reading 0x%lx gave 0x%lx, want a page fault\n",
		       check_name, what, va, v);
		return;
	}
	want_hex("faults taken", mm_last_fault.count - before, 1);
	want_hex("vector", mm_last_fault.vector, 14);
	want_hex("cr2", mm_last_fault.cr2, va);
}

/* m2p[mfn] through the read-only M2P; 0 on success. */
static int m2p_read(unsigned long mfn, unsigned long *pfn)
{
	uint64_t v;

	if (!mm_m2p)
		return 1;
	if (mm_probe_read(&mm_m2p[mfn], &v))
		return 1;
	*pfn = v;
	return 0;
}

static void want_m2p(const char *what, unsigned long mfn, unsigned long pfn)
{
	unsigned long got = 0;

	if (check_failed)
		return;
	if (m2p_read(mfn, &got)) {
		check_failed = 1;
		printk("FAIL %s: %s: cannot read m2p[0x%lx]%s\n", check_name, what, mfn,
		       mm_m2p ? " (fault)" : " (no M2P)");
		return;
	}
	want_hex(what, got, pfn);
}

/* ---- The 1024-page region -------------------------------------------------- */

static struct mm_branch region;
static int region_ok;
static unsigned long data_pfn[REGION_PAGES], data_mfn[REGION_PAGES];
static struct mmu_update reqs[REGION_PAGES];

static uint64_t data_pte(unsigned int i)
{
	return mm_pte(data_mfn[i], MM_KERNEL_RW);
}

/* 1024 data pages, each with MARKER(i) in its first word and ~MARKER(i) in
 * its last, written through the bootstrap mapping (the scratch window for
 * pages past its end).  Returns NULL or what failed. */
static const char *setup_data(void)
{
	unsigned int i;

	for (i = 0; i < REGION_PAGES; i++) {
		uint64_t *p;

		data_pfn[i] = mm_alloc_any();
		if (data_pfn[i] == MM_INVALID)
			return "out of free pages";
		data_mfn[i] = pfn_to_mfn(data_pfn[i]);
		p = mm_frame_map(data_pfn[i]);
		if (!p)
			return "cannot map a data page (update_va_mapping of the window)";
		memset(p, 0, PAGE_SIZE);
		p[0] = MARKER(i);
		p[511] = ~MARKER(i);
	}
	if (mm_window_restore())
		return "cannot restore the window";
	return NULL;
}

/* The batch for map_batched: request i maps page i of the region to data page i. */
static void prepare_batched(void)
{
	unsigned int i;

	for (i = 0; i < REGION_PAGES; i++) {
		reqs[i].ptr = mm_branch_l1e_maddr(&region, i) | MMU_NORMAL_PT_UPDATE;
		reqs[i].val = data_pte(i);
	}
}

static long map_batched(unsigned int *done)
{
	*done = 0;
	return HYPERVISOR_mmu_update(reqs, REGION_PAGES, done, DOMID_SELF);
}

/* Returns the number of calls that failed (result not 0 or done not 1);
 * the first one's index, result and done count. */
static unsigned int map_single(unsigned int *bad, long *bad_rc, unsigned int *bad_done)
{
	struct mmu_update req;
	unsigned int i, done, nbad = 0;
	long rc;

	*bad = REGION_PAGES;
	for (i = 0; i < REGION_PAGES; i++) {
		req.ptr = mm_branch_l1e_maddr(&region, i) | MMU_NORMAL_PT_UPDATE;
		req.val = data_pte(i);
		done = 0;
		rc = HYPERVISOR_mmu_update(&req, 1, &done, DOMID_SELF);
		if ((rc || done != 1) && !nbad++) {
			*bad = i;
			*bad_rc = rc;
			*bad_done = done;
		}
	}
	return nbad;
}

/* Plain stores into the read-only L1s.  Returns the number that faulted. */
static unsigned int map_trapped(unsigned int *bad)
{
	unsigned int i, faults = 0;

	*bad = REGION_PAGES;
	for (i = 0; i < REGION_PAGES; i++) {
		if (mm_probe_write(mm_branch_l1e(&region, i), data_pte(i))) {
			if (!faults++)
				*bad = i;
		}
	}
	return faults;
}

/* One batched mmu_update clearing all 1024 entries, then a local flush. */
static long unmap_all(unsigned int *done, long *flush_rc)
{
	unsigned int i;
	long rc;

	for (i = 0; i < REGION_PAGES; i++) {
		reqs[i].ptr = mm_branch_l1e_maddr(&region, i) | MMU_NORMAL_PT_UPDATE;
		reqs[i].val = 0;
	}
	*done = 0;
	rc = HYPERVISOR_mmu_update(reqs, REGION_PAGES, done, DOMID_SELF);
	*flush_rc = mm_flush_tlb();
	return rc;
}

/* Every page's markers through the region.  Returns the number of bad
 * pages; the first one's index, value read and wanted value. */
static unsigned int verify_all(unsigned int *bad, uint64_t *got, uint64_t *wanted)
{
	unsigned int i, nbad = 0;

	for (i = 0; i < REGION_PAGES; i++) {
		unsigned long va = mm_branch_page_va(&region, i);
		uint64_t first = 0, last = 0;
		int ok = !mm_probe_read((const void *)va, &first) &&
			 !mm_probe_read((const void *)(va + PAGE_SIZE - 8), &last) &&
			 first == MARKER(i) && last == ~MARKER(i);

		if (!ok && !nbad++) {
			*bad = i;
			*got = first == MARKER(i) ? last : first;
			*wanted = first == MARKER(i) ? ~MARKER(i) : MARKER(i);
		}
	}
	return nbad;
}

static void check_verify(const char *name)
{
	unsigned int bad = 0, n;
	uint64_t got = 0, wanted = 0;

	begin(name);
	n = verify_all(&bad, &got, &wanted);
	if (n) {
		check_failed = 1;
		printk("FAIL %s: %u of %u pages wrong; page %u: got 0x%lx, want 0x%lx\n",
		       name, n, REGION_PAGES, bad, got, wanted);
	}
	end();
}

/* Entries 0 and 1023 as Xen stores them. */
static void check_readback(const char *name)
{
	begin(name);
	want_hex("L1 entry of page 0", *mm_branch_l1e(&region, 0), data_pte(0) | L1_ADJUST);
	want_hex("L1 entry of page 1023", *mm_branch_l1e(&region, REGION_PAGES - 1),
		 data_pte(REGION_PAGES - 1) | L1_ADJUST);
	end();
}

static void check_unmap(const char *name)
{
	unsigned int done, i, nonzero = 0;
	long flush_rc, rc = unmap_all(&done, &flush_rc);

	begin(name);
	want_rc("mmu_update", rc, 0);
	want_rc("done", done, REGION_PAGES);
	want_rc("TLB_FLUSH_LOCAL", flush_rc, 0);
	for (i = 0; i < REGION_PAGES; i++)
		nonzero += *mm_branch_l1e(&region, i) != 0;
	want_rc("entries left non-zero", nonzero, 0);
	want_read_fault("page 0", mm_branch_page_va(&region, 0));
	want_read_fault("page 1023", mm_branch_page_va(&region, REGION_PAGES - 1));
	end();
}

/* ---- Checks ----------------------------------------------------------------- */

static void check_m2p(void)
{
	struct xen_machphys_mapping m;
	static const char *const names[] = {
		"hypercall page", "start_info", "L4", "P2M", "stack", "last page of the padding",
	};
	const void *pages[6];
	unsigned int i;
	unsigned long rsp;
	long rc;

	rc = mm_m2p_init(&m);
	check_rc("machphys_mapping", rc, 0);

	begin("machphys_mapping.v_start");
	want_hex("v_start", m.v_start, M2P_VA);
	want("v_end is not above v_start", m.v_end > m.v_start);
	end();

	asm volatile("movq %%rsp, %0" : "=r"(rsp));
	pages[0] = hypercall_page;
	pages[1] = mm_si;
	pages[2] = (const void *)mm_si->pt_base;
	pages[3] = (const void *)mm_si->mfn_list;
	pages[4] = (const void *)rsp;
	pages[5] = pfn_to_virt(mm_map_end_pfn - 1);
	begin("m2p.lookup");
	for (i = 0; i < 6; i++) {
		unsigned long mfn = virt_to_mfn(pages[i]);

		want("an mfn of the domain is above max_mfn", mfn <= m.max_mfn);
		want_m2p(names[i], mfn, virt_to_pfn(pages[i]));
	}
	end();
}

static void check_memory_queries(void)
{
	struct e820entry map[8];
	struct xen_memory_map mmap = { .nr_entries = 8, .buffer = map };
	long cur, max, rc;

	cur = mm_domain_query(XENMEM_current_reservation, DOMID_SELF);
	check_rc("memory.current_reservation", cur, (long)mm_nr_pages);

	max = mm_domain_query(XENMEM_maximum_reservation, DOMID_SELF);
	begin("memory.maximum_reservation");
	if (max < cur || max <= 0) {
		check_failed = 1;
		printk("FAIL %s: got %ld, want >= %ld\n", check_name, max, cur);
	}
	end();

	rc = HYPERVISOR_memory_op(XENMEM_maximum_ram_page, NULL);
	begin("memory.maximum_ram_page");
	if (rc <= 0) {
		check_failed = 1;
		printk("FAIL %s: got %ld, want > 0\n", check_name, rc);
	}
	end();

	memset(map, 0xee, sizeof(map));
	rc = HYPERVISOR_memory_op(XENMEM_memory_map, &mmap);
	begin("memory.memory_map");
	want_rc("result", rc, 0);
	want_rc("nr_entries", mmap.nr_entries, 1);
	want_rc("type", map[0].type, E820_RAM);
	want_hex("addr", map[0].addr, 0);
	want_hex("size", map[0].size, mm_nr_pages * PAGE_SIZE);
	end();
}

/* A copy of the current L4 plus a slot (403) of its own, pinned, switched
 * to and back, unpinned; then pin and unpin errors. */
static void check_new_address_space(void)
{
	unsigned long pfn[4], data, mfn[4];
	uint64_t *t[4], *p;
	unsigned int i;
	long rc, switched;

	for (i = 0; i < 4; i++)
		pfn[i] = mm_alloc_mapped();
	data = mm_alloc_any();

	begin("baseptr.pin");
	if (pfn[3] == MM_INVALID || data == MM_INVALID) {
		fail("no free pages");
		end();
		return;
	}
	for (i = 0; i < 4; i++) {
		mfn[i] = pfn_to_mfn(pfn[i]);
		t[i] = pfn_to_virt(pfn[i]);
		memset(t[i], 0, PAGE_SIZE);
	}
	/* t[0] = L4, t[1] = L3, t[2] = L2, t[3] = L1. */
	for (i = 0; i < 512; i++)
		if (i < 256 || i >= 272)
			t[0][i] = mm_l4[i];
	t[0][mm_index(NEWAS_VA, 4)] = mm_pte(mfn[1], MM_TABLE);
	t[1][mm_index(NEWAS_VA, 3)] = mm_pte(mfn[2], MM_TABLE);
	t[2][mm_index(NEWAS_VA, 2)] = mm_pte(mfn[3], MM_TABLE);
	t[3][mm_index(NEWAS_VA, 1)] = mm_pte(pfn_to_mfn(data), MM_KERNEL_RW);
	p = mm_frame_map(data);
	want("cannot map the data page", p != NULL);
	if (p) {
		memset(p, 0, PAGE_SIZE);
		p[0] = NEWAS_MARKER;
	}
	want_rc("restore the window", mm_window_restore(), 0);
	for (i = 0; i < 4; i++)
		want_rc("make a table read-only", make_readonly(t[i]), 0);
	want_rc("PIN_L4_TABLE", mm_pin(4, mfn[0]), 0);
	end();

	switched = pv_mmuext_baseptr(MMUEXT_NEW_BASEPTR, mfn[0]);
	begin("baseptr.switch");
	want_rc("NEW_BASEPTR", switched, 0);
	if (switched == 0)
		want_hex("cr3", read_cr3(), mfn[0] << PAGE_SHIFT);
	end();

	printk("mmu: running on the new page tables\n");
	begin("baseptr.new_mapping");
	want("NEW_BASEPTR failed", switched == 0);
	want_read("slot 403 page", NEWAS_VA, NEWAS_MARKER);
	end();

	rc = pv_mmuext_baseptr(MMUEXT_NEW_BASEPTR, mm_l4_mfn);
	begin("baseptr.switch_back");
	want_rc("NEW_BASEPTR", rc, 0);
	want_hex("cr3", read_cr3(), mm_l4_mfn << PAGE_SHIFT);
	end();

	begin("baseptr.isolated");
	want_read_fault("slot 403 page from the bootstrap L4", NEWAS_VA);
	end();

	check_rc("baseptr.unpin", mm_unpin(mfn[0]), 0);

	begin("pin.twice");
	want_rc("first pin", mm_pin(4, mfn[0]), 0);
	want_rc("second pin", mm_pin(4, mfn[0]), -EINVAL);
	end();

	begin("unpin.unpinned");
	want_rc("unpin", mm_unpin(mfn[0]), 0);
	want_rc("unpin again", mm_unpin(mfn[0]), -EINVAL);
	end();
}

static void check_region_setup(void)
{
	const char *err;
	unsigned int s4 = mm_index(REGION_VA, 4), s3 = mm_index(REGION_VA, 3);
	unsigned int s2 = mm_index(REGION_VA, 2);
	const uint64_t *l3, *l2;
	long rc;

	begin("region.data");
	err = setup_data();
	if (err)
		fail(err);
	end();
	if (err)
		return;

	rc = mm_branch_build(&region, REGION_VA, 2);
	begin("region.setup");
	want_rc(region.failed ? region.failed : "build", rc, 0);
	end();
	if (rc)
		return;
	region_ok = 1;

	l3 = pfn_to_virt(region.l3_pfn);
	l2 = pfn_to_virt(region.l2_pfn);
	begin("region.validated_entries");
	want_hex("L4 entry (A|US added)", mm_l4[s4],
		 mm_pte(pfn_to_mfn(region.l3_pfn), MM_TABLE | _PAGE_ACCESSED | _PAGE_USER));
	want_hex("L3 entry (US added)", l3[s3], mm_pte(pfn_to_mfn(region.l2_pfn), MM_TABLE | _PAGE_USER));
	want_hex("L2 entry 0 (US added)", l2[s2], mm_pte(pfn_to_mfn(region.l1_pfn[0]), MM_TABLE | _PAGE_USER));
	want_hex("L2 entry 1 (US added)", l2[s2 + 1], mm_pte(pfn_to_mfn(region.l1_pfn[1]), MM_TABLE | _PAGE_USER));
	end();
}

static void check_ways(void)
{
	unsigned int done, bad, n;
	long rc;

	prepare_batched();
	rc = map_batched(&done);
	begin("region.batched");
	want_rc("mmu_update", rc, 0);
	want_rc("done", done, REGION_PAGES);
	end();
	check_readback("region.batched.readback");
	check_verify("region.batched.verify");
	check_unmap("region.batched.unmap");

	n = map_single(&bad, &rc, &done);
	begin("region.single");
	if (n) {
		check_failed = 1;
		printk("FAIL %s: %u of %u calls failed; page %u: got %ld (done %u), want 0 (done 1)\n",
		       check_name, n, REGION_PAGES, bad, rc, done);
	}
	end();
	check_readback("region.single.readback");
	check_verify("region.single.verify");
	check_unmap("region.single.unmap");

	check_rc("vm_assist.writable_pagetables",
		 HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_writable_pagetables), 0);
	n = map_trapped(&bad);
	begin("region.trapped");
	if (n) {
		check_failed = 1;
		printk("FAIL %s: %u of %u writes faulted, the first at page %u (vector %lu, ec 0x%lx, cr2 0x%lx)\n",
		       check_name, n, REGION_PAGES, bad, mm_last_fault.vector,
		       mm_last_fault.error_code, mm_last_fault.cr2);
	}
	end();
	check_readback("region.trapped.readback");
	check_verify("region.trapped.verify");
	check_unmap("region.trapped.unmap");
}

static void check_preserve_ad(void)
{
	uint64_t maddr = mm_branch_l1e_maddr(&region, 0);
	volatile uint64_t *e = mm_branch_l1e(&region, 0);
	unsigned long va = mm_branch_page_va(&region, 0);
	const uint64_t rw = _PAGE_PRESENT | _PAGE_RW;

	begin("preserve_ad");
	want_rc("map with A|D", mm_update(maddr, mm_pte(data_mfn[0], rw | _PAGE_ACCESSED | _PAGE_DIRTY),
					  DOMID_SELF, NULL), 0);
	want_rc("PRESERVE_AD onto another frame, without A|D",
		mm_update(maddr | MMU_PT_UPDATE_PRESERVE_AD, mm_pte(data_mfn[1], rw), DOMID_SELF, NULL), 0);
	want_hex("entry keeps A|D", *e, mm_pte(data_mfn[1], rw | _PAGE_ACCESSED | _PAGE_DIRTY | L1_ADJUST));
	want_rc("INVLPG_LOCAL", mm_invlpg(va), 0);
	want_read("page", va, MARKER(1));
	end();

	begin("mmu_update.no_preserve_ad");
	want_rc("normal update without A|D", mm_update(maddr, mm_pte(data_mfn[1], rw), DOMID_SELF, NULL), 0);
	want_hex("entry (A|D from the value only)", *e, mm_pte(data_mfn[1], rw | L1_ADJUST));
	end();

	mm_update(maddr, 0, DOMID_SELF, NULL);
	mm_invlpg(va);
}

static void check_update_va_mapping(void)
{
	unsigned long va = mm_branch_page_va(&region, 5);

	begin("update_va_mapping.invlpg");
	want_rc("map page 2", HYPERVISOR_update_va_mapping(va, data_pte(2), UVMF_INVLPG), 0);
	want_read("page 2", va, MARKER(2));
	want_rc("remap to page 3", HYPERVISOR_update_va_mapping(va, data_pte(3), UVMF_INVLPG), 0);
	want_read("after the remap", va, MARKER(3));
	want_hex("entry", *mm_branch_l1e(&region, 5), data_pte(3) | L1_ADJUST);
	want_rc("unmap", HYPERVISOR_update_va_mapping(va, 0, UVMF_INVLPG), 0);
	want_read_fault("after the unmap", va);
	end();
}

static void check_batch_stops(void)
{
	struct mmu_update r[3] = {
		{ mm_branch_l1e_maddr(&region, 20), data_pte(4) },
		{ mm_branch_l1e_maddr(&region, 21), data_pte(5) | _PAGE_PCD },
		{ mm_branch_l1e_maddr(&region, 22), data_pte(6) },
	};
	struct mmuext_op ops[3] = {
		{ .cmd = MMUEXT_TLB_FLUSH_LOCAL },
		{ .cmd = 14 },
		{ .cmd = MMUEXT_TLB_FLUSH_LOCAL },
	};
	unsigned int done = 99;
	long rc;

	rc = HYPERVISOR_mmu_update(r, 3, &done, DOMID_SELF);
	begin("mmu_update.batch_stops");
	want_rc("result (PCD in the second entry)", rc, -EINVAL);
	want_rc("done", done, 1);
	want_hex("first entry applied", *mm_branch_l1e(&region, 20), data_pte(4) | L1_ADJUST);
	want_hex("second entry", *mm_branch_l1e(&region, 21), 0);
	want_hex("third entry not applied", *mm_branch_l1e(&region, 22), 0);
	end();
	mm_update(r[0].ptr, 0, DOMID_SELF, NULL);
	mm_invlpg(mm_branch_page_va(&region, 20));

	done = 99;
	rc = HYPERVISOR_mmuext_op(ops, 3, &done, DOMID_SELF);
	begin("mmuext.batch_stops");
	want_rc("result (command 14 second)", rc, -ENOSYS);
	want_rc("done", done, 1);
	end();
}

static void check_machphys_update(void)
{
	unsigned long mfn = data_mfn[7], pfn = data_pfn[7];

	begin("machphys_update");
	want_rc("set m2p[mfn] = 0x5a5a5",
		mm_update((mfn << PAGE_SHIFT) | MMU_MACHPHYS_UPDATE, 0x5a5a5, DOMID_SELF, NULL), 0);
	want_m2p("m2p[mfn]", mfn, 0x5a5a5);
	want_rc("set it back", mm_update((mfn << PAGE_SHIFT) | MMU_MACHPHYS_UPDATE, pfn, DOMID_SELF, NULL), 0);
	want_m2p("m2p[mfn] restored", mfn, pfn);
	end();
}

static uint64_t copy_pattern(unsigned int i)
{
	return 0xc0de000000000000UL | ((uint64_t)i * 0x10001);
}

static void check_clear_copy(void)
{
	unsigned long clr = mm_alloc_any(), src = mm_alloc_any(), dst = mm_alloc_any();
	uint64_t *p;
	unsigned int i, wrong;

	begin("mmuext.clear_page");
	p = clr == MM_INVALID ? NULL : mm_frame_map(clr);
	want("cannot map a free page", p != NULL);
	if (p) {
		for (i = 0; i < 512; i++)
			p[i] = 0xa5a5a5a5a5a5a5a5UL;
		want_rc("CLEAR_PAGE", mm_mmuext(MMUEXT_CLEAR_PAGE, pfn_to_mfn(clr), 0), 0);
		p = mm_frame_map(clr);
		want("cannot map it again", p != NULL);
		for (i = 0, wrong = 0; p && i < 512; i++)
			wrong += p[i] != 0;
		want_rc("non-zero words", wrong, 0);
	}
	end();

	begin("mmuext.copy_page");
	p = src == MM_INVALID || dst == MM_INVALID ? NULL : mm_frame_map(src);
	want("cannot map the source", p != NULL);
	if (p) {
		for (i = 0; i < 512; i++)
			p[i] = copy_pattern(i);
		p = mm_frame_map(dst);
		want("cannot map the destination", p != NULL);
	}
	if (p) {
		memset(p, 0, PAGE_SIZE);
		want_rc("COPY_PAGE", mm_mmuext(MMUEXT_COPY_PAGE, pfn_to_mfn(dst), pfn_to_mfn(src)), 0);
		p = mm_frame_map(dst);
		want("cannot map the destination again", p != NULL);
		for (i = 0, wrong = 0; p && i < 512; i++)
			wrong += p[i] != copy_pattern(i);
		want_rc("words differing from the source", wrong, 0);
	}
	end();
	mm_window_restore();
}

static void check_mmuext_misc(void)
{
	check_rc("mmuext.tlb_flush_local", mm_mmuext(MMUEXT_TLB_FLUSH_LOCAL, 0, 0), 0);
	check_rc("mmuext.invlpg_local", mm_mmuext(MMUEXT_INVLPG_LOCAL, REGION_VA, 0), 0);
	check_rc("mmuext.tlb_flush_all", mm_mmuext(MMUEXT_TLB_FLUSH_ALL, 0, 0), 0);
	check_rc("mmuext.invlpg_all", mm_mmuext(MMUEXT_INVLPG_ALL, REGION_VA, 0), 0);
	check_rc("mmuext.flush_cache", mm_mmuext(MMUEXT_FLUSH_CACHE, 0, 0), -EACCES);
	check_rc("mmuext.mark_super", mm_mmuext(MMUEXT_MARK_SUPER, data_mfn[0], 0), -EOPNOTSUPP);
	check_rc("mmuext.unmark_super", mm_mmuext(MMUEXT_UNMARK_SUPER, data_mfn[0], 0), -EOPNOTSUPP);
	check_rc("mmuext.unknown", mm_mmuext(14, 0, 0), -ENOSYS);
}

static void check_multicall(void)
{
	static struct multicall_entry mc[3];
	struct mmu_update req = { mm_branch_l1e_maddr(&region, 30), data_pte(8) };
	unsigned int done = 99;
	long version = HYPERVISOR_xen_version(XENVER_version, NULL);
	unsigned int i;
	long rc;

	memset(mc, 0, sizeof(mc));
	for (i = 0; i < 3; i++)
		mc[i].result = 0xdeadbeefUL;
	mc[0].op = __HYPERVISOR_xen_version;
	mc[0].args[0] = XENVER_version;
	mc[0].args[1] = 0;
	mc[1].op = 63;
	mc[2].op = __HYPERVISOR_mmu_update;
	mc[2].args[0] = (unsigned long)&req;
	mc[2].args[1] = 1;
	mc[2].args[2] = (unsigned long)&done;
	mc[2].args[3] = DOMID_SELF;

	rc = HYPERVISOR_multicall(mc, 3);
	check_rc("multicall", rc, 0);
	check_rc("multicall.xen_version", (long)mc[0].result, version);
	check_rc("multicall.unknown_op", (long)mc[1].result, -ENOSYS);
	begin("multicall.mmu_update");
	want_rc("result", (long)mc[2].result, 0);
	want_rc("done", done, 1);
	want_read("page mapped by it", mm_branch_page_va(&region, 30), MARKER(8));
	end();
	mm_update(req.ptr, 0, DOMID_SELF, NULL);
	mm_invlpg(mm_branch_page_va(&region, 30));
}

/* decrease two unmapped pages, then increase_reservation and
 * populate_physmap give two back: the reservation ends where it started. */
static void check_reservation(void)
{
	unsigned long a = mm_alloc_unmapped(), b = mm_alloc_unmapped();
	unsigned long ext, mfn;
	long cur0, rc;
	volatile uint64_t *p;

	cur0 = mm_domain_query(XENMEM_current_reservation, DOMID_SELF);

	begin("memory.decrease_reservation");
	if (a == MM_INVALID || b == MM_INVALID) {
		fail("no unmapped free pages");
		end();
		return;
	}
	ext = pfn_to_mfn(a);
	rc = mm_reservation(XENMEM_decrease_reservation, &ext, 1, DOMID_SELF);
	want_rc("result", rc, 1);
	want("current_reservation failed", cur0 > 0);
	want_rc("current_reservation", mm_domain_query(XENMEM_current_reservation, DOMID_SELF), cur0 - 1);
	end();
	if (rc == 1)
		mm_set_p2m(a, MM_INVALID);

	ext = pfn_to_mfn(b);
	rc = mm_reservation(XENMEM_decrease_reservation, &ext, 1, DOMID_SELF);
	check_rc("memory.decrease_reservation.second", rc, 1);
	if (rc == 1)
		mm_set_p2m(b, MM_INVALID);

	ext = 0;
	rc = mm_reservation(XENMEM_increase_reservation, &ext, 1, DOMID_SELF);
	begin("memory.increase_reservation");
	want_rc("result", rc, 1);
	want("no mfn written back", ext != 0 && ext != MM_INVALID);
	if (rc == 1) {
		mfn = ext;
		want_rc("MMU_MACHPHYS_UPDATE of the new frame",
			mm_update((mfn << PAGE_SHIFT) | MMU_MACHPHYS_UPDATE, a, DOMID_SELF, NULL), 0);
		want_m2p("m2p[new mfn]", mfn, a);
		mm_set_p2m(a, mfn);
		p = mm_window_map(mfn);
		want("cannot map the new frame", p != NULL);
		if (p) {
			p[3] = 0x1234567;
			want_hex("write and read the new frame", p[3], 0x1234567);
		}
		mm_window_restore();
	}
	end();

	ext = b;
	rc = mm_reservation(XENMEM_populate_physmap, &ext, 1, DOMID_SELF);
	begin("memory.populate_physmap");
	want_rc("result", rc, 1);
	want("no mfn written back", ext != MM_INVALID);
	if (rc == 1) {
		want_m2p("m2p[mfn] = gpfn", ext, b);
		mm_set_p2m(b, ext);
		p = mm_window_map(ext);
		want("cannot map the new frame", p != NULL);
		if (p) {
			p[5] = 0x7654321;
			want_hex("write and read the new frame", p[5], 0x7654321);
		}
		mm_window_restore();
	}
	end();

	begin("memory.reservation_restored");
	want("current_reservation failed", cur0 > 0);
	want_rc("current_reservation", mm_domain_query(XENMEM_current_reservation, DOMID_SELF), cur0);
	end();
}

static int run_checks(void)
{
	check_m2p();
	check_memory_queries();
	check_new_address_space();
	check_region_setup();
	if (region_ok) {
		check_ways();
		check_preserve_ad();
		check_update_va_mapping();
		check_batch_stops();
		check_machphys_update();
		check_clear_copy();
		check_mmuext_misc();
		check_multicall();
	} else {
		printk("mmu: no region: its checks are skipped\n");
		failures++;
	}
	check_reservation();
	summary();
	return failures ? 1 : 0;
}

/* ---- bench=N ----------------------------------------------------------------- */

static void bench_unmap(const char *what)
{
	unsigned int done, bad = 0;
	uint64_t got = 0, wanted = 0;
	long flush_rc, rc;
	unsigned int n = verify_all(&bad, &got, &wanted);

	if (n) {
		failures++;
		printk("FAIL bench.%s.verify: %u pages wrong; page %u: got 0x%lx, want 0x%lx\n",
		       what, n, bad, got, wanted);
	}
	rc = unmap_all(&done, &flush_rc);
	if (rc || done != REGION_PAGES || flush_rc) {
		failures++;
		printk("FAIL bench.%s.unmap: got %ld (done %u, flush %ld), want 0 (done %u, flush 0)\n",
		       what, rc, done, flush_rc, REGION_PAGES);
	}
}

static int run_bench(unsigned long rounds)
{
	const char *err = setup_data();
	unsigned long r;
	unsigned int done, bad, i;
	uint64_t t0, t1;
	long rc;

	if (err) {
		printk("mmu: bench setup: %s\n", err);
		return 1;
	}
	rc = mm_branch_build(&region, REGION_VA, 2);
	if (rc) {
		printk("mmu: bench setup: %s: %ld\n", region.failed, rc);
		return 1;
	}
	rc = HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_writable_pagetables);
	if (rc) {
		printk("mmu: bench setup: vm_assist(writable_pagetables): %ld\n", rc);
		return 1;
	}

	for (r = 0; r < rounds; r++) {
		/* The requests are written before the clock starts: the figure is the
		 * hypercall's. (The previous round's 1024-entry unmap made KVM drop
		 * its shadow page tables, so writing them re-faults the request array
		 * in: ~25 us that would otherwise land in the window.) */
		prepare_batched();
		t0 = rdtsc();
		rc = map_batched(&done);
		t1 = rdtsc();
		printk("mmu: ticks batched %u %lu\n", REGION_PAGES, t1 - t0);
		if (rc || done != REGION_PAGES) {
			failures++;
			printk("FAIL bench.batched: got %ld (done %u), want 0 (done %u)\n", rc, done, REGION_PAGES);
		}
		bench_unmap("batched");

		t0 = rdtsc();
		i = map_single(&bad, &rc, &done);
		t1 = rdtsc();
		printk("mmu: ticks single %u %lu\n", REGION_PAGES, t1 - t0);
		if (i) {
			failures++;
			printk("FAIL bench.single: %u calls failed; page %u: got %ld (done %u), want 0 (done 1)\n",
			       i, bad, rc, done);
		}
		bench_unmap("single");

		t0 = rdtsc();
		i = map_trapped(&bad);
		t1 = rdtsc();
		printk("mmu: ticks trapped %u %lu\n", REGION_PAGES, t1 - t0);
		if (i) {
			failures++;
			printk("FAIL bench.trapped: %u writes faulted, the first at page %u\n", i, bad);
		}
		bench_unmap("trapped");

		t0 = rdtsc();
		for (i = 0; i < REGION_PAGES; i++)
			HYPERVISOR_xen_version(XENVER_version, NULL);
		t1 = rdtsc();
		printk("mmu: ticks null %u %lu\n", REGION_PAGES, t1 - t0);
	}
	summary();
	return failures ? 1 : 0;
}

int guest_main(struct start_info *si)
{
	char arg[32];
	unsigned long rounds = 0;
	long rc;

	mm_init(si);
	rc = mm_traps_init(on_unexpected_trap);
	if (rc) {
		printk("mmu: set_trap_table: %ld\n", rc);
		return 1;
	}
	if (cmdline_get(si->cmd_line, "bench", arg, sizeof(arg)) >= 0) {
		if (parse_ulong(arg, &rounds)) {
			printk("mmu: bad bench=%s\n", arg);
			return 1;
		}
		return run_bench(rounds);
	}
	return run_checks();
}
