/* Tries to break out of its own memory through the PV MMU interface: map
 * another domain's frame, a hypervisor frame or a frame past all memory,
 * write another domain's page table, Xen's L4 slots, its own live page
 * tables through writable mappings, conflicting page types, linear and
 * superpage mappings, cache attributes, foreign base pointers, the M2P of
 * a foreign frame, foreign domains as pg_owner, and trapped writes of bad
 * PTEs.  Every attempt must be refused with Xen's error code.  Each check
 * prints "ok <name>" or "FAIL <name>: <detail>", then
 * "mmuattack: <n> failures"; all refused -> poweroff.
 *
 * Command line: victim=<decimal mfn> (a frame another domain owns),
 * victimdom=<decimal domid> (that domain). */
#include "check.h"
#include "console.h"
#include "hypercall.h"
#include "lib.h"
#include "mm.h"

#define ATTACK_VA       0xffffc90000000000UL    /* L4 slot 402: one L1 */
#define LINEAR_SLOT     404                     /* free guest L4 slot */
#define HYPERVISOR_VA   0xffff810000000000UL    /* L4 slot 258 */
#define BEYOND_MFN      (1UL << 36)             /* 256 TiB: past any RAM */

/* Slots of the attack L1 (VA = ATTACK_VA + slot * 4 KiB). */
enum {
	S_VICTIM_RW, S_VICTIM_RO, S_MFN0, S_BEYOND, S_OWN_L4, S_OWN_L1, S_PCD,
	S_UVM_VICTIM, S_FOREIGN, S_TRAP_VICTIM, S_TRAP_OWN_L4, S_TRAP_CONTROL,
	S_NR
};
/* Slots of the attack L2 (slot 0 holds the L1). */
#define L2_PSE          5
#define L2_TRAPPED      7

#define L1_ADJUST       (_PAGE_USER | _PAGE_GUEST_KERNEL)
#define PATTERN(i)      (0x6f776e0000000000UL | (uint64_t)(i))  /* "own" */

/* ---- Reporting ------------------------------------------------------------ */

static void summary(void)
{
	printk("mmuattack: %d failures\n", failures);
}

static void on_unexpected_trap(void)
{
	if (check_name)
		printk("mmuattack: during %s\n", check_name);
	failures++;
	summary();
}

/* ---- State ---------------------------------------------------------------- */

static unsigned long victim, victimdom;
static int have_victimdom;
static struct mm_branch br;
static unsigned long l1_mfn, l2_mfn, l3_mfn;
static volatile uint64_t *l2;
static unsigned long own_pfn, own_mfn;  /* a data page, mapped writable */
static uint64_t *own;
static uint64_t l4_xen_slots[16];       /* slots 256-271 before the attacks */

static uint64_t l1e_maddr(unsigned int slot)
{
	return mm_branch_l1e_maddr(&br, slot);
}

static volatile uint64_t *l1e(unsigned int slot)
{
	return mm_branch_l1e(&br, slot);
}

static uint64_t l4e_maddr(unsigned int slot)
{
	return (mm_l4_mfn << PAGE_SHIFT) + slot * 8;
}

/* One mmu_update that must fail with want and do nothing. */
static void attack_update(const char *name, uint64_t ptr, uint64_t val,
			  unsigned int foreigndom, long want)
{
	unsigned int done = 99;
	long rc = mm_update(ptr, val, foreigndom, &done);

	begin(name);
	want_rc("result", rc, want);
	want_rc("done", done, 0);
	end();
}

/* An L1 entry of the attack L1 that must be refused and stay empty. */
static void attack_l1e(const char *name, unsigned int slot, uint64_t val, long want)
{
	unsigned int done = 99;
	long rc = mm_update(l1e_maddr(slot), val, DOMID_SELF, &done);

	begin(name);
	want_rc("result", rc, want);
	want_rc("done", done, 0);
	want_hex("entry", *l1e(slot), 0);
	end();
}

/* A plain store into a read-only page table that must not be emulated:
 * the #PF reaches the handler and the entry is unchanged. */
static void attack_trapped(const char *name, volatile uint64_t *entry, uint64_t val)
{
	unsigned long before = mm_last_fault.count;
	uint64_t old = *entry;
	int faulted = mm_probe_write(entry, val);

	begin(name);
	want("the store did not fault", faulted);
	want_hex("faults delivered to the handler", mm_last_fault.count - before, 1);
	want_hex("vector", mm_last_fault.vector, 14);
	want_hex("cr2", mm_last_fault.cr2, (unsigned long)entry);
	want_hex("error code P|W", mm_last_fault.error_code & 3, 3);
	want_hex("entry unchanged", *entry, old);
	end();
}

/* ---- Setup ------------------------------------------------------------------ */

static int setup(void)
{
	unsigned int i;
	long rc;

	begin("attack.setup");
	rc = mm_traps_init(on_unexpected_trap);
	want_rc("set_trap_table", rc, 0);
	rc = mm_branch_build(&br, ATTACK_VA, 1);
	want_rc(br.failed ? br.failed : "build the attack tables", rc, 0);
	own_pfn = mm_alloc_mapped();
	want("no free mapped page", own_pfn != MM_INVALID);
	if (check_failed) {
		end();
		return -1;
	}
	l1_mfn = pfn_to_mfn(br.l1_pfn[0]);
	l2_mfn = pfn_to_mfn(br.l2_pfn);
	l3_mfn = pfn_to_mfn(br.l3_pfn);
	l2 = (volatile uint64_t *)pfn_to_virt(br.l2_pfn);
	own_mfn = pfn_to_mfn(own_pfn);
	own = pfn_to_virt(own_pfn);
	for (i = 0; i < 512; i++)
		own[i] = 0;             /* also a valid (empty) L1, were it taken */
	for (i = 0; i < 16; i++)
		l4_xen_slots[i] = mm_l4[256 + i];
	want("the victim mfn is one of this domain's own frames", mm_p2m_find(victim) == MM_INVALID);
	end();
	return check_failed ? -1 : 0;
}

/* ---- Attacks ----------------------------------------------------------------- */

static void attacks_mapping(void)
{
	const uint64_t rw = _PAGE_PRESENT | _PAGE_RW;

	attack_l1e("attack.map_victim", S_VICTIM_RW, mm_pte(victim, rw), -EBUSY);
	attack_l1e("attack.map_victim_ro", S_VICTIM_RO, mm_pte(victim, _PAGE_PRESENT), -EBUSY);
	attack_l1e("attack.map_mfn0", S_MFN0, mm_pte(0, rw), -EBUSY);
	attack_l1e("attack.map_beyond_memory", S_BEYOND, mm_pte(BEYOND_MFN, rw), -EPERM);

	/* The last PTE of the victim's frame, as if it were our page table. */
	attack_update("attack.foreign_pagetable", (victim << PAGE_SHIFT) + 0xff8, 0,
		      DOMID_SELF, -EINVAL);

	/* Xen's L4 slots, with our own L3 as the value. */
	attack_update("attack.l4_slot256", l4e_maddr(256), mm_pte(l3_mfn, MM_TABLE), DOMID_SELF, -EINVAL);
	attack_update("attack.l4_slot257", l4e_maddr(257), mm_pte(l3_mfn, MM_TABLE), DOMID_SELF, -EINVAL);
	attack_update("attack.l4_slot258", l4e_maddr(258), mm_pte(l3_mfn, MM_TABLE), DOMID_SELF, -EINVAL);
	attack_update("attack.l4_slot271", l4e_maddr(271), mm_pte(l3_mfn, MM_TABLE), DOMID_SELF, -EINVAL);

	/* Our own live page tables, writable. */
	attack_l1e("attack.map_own_l4_rw", S_OWN_L4, mm_pte(mm_l4_mfn, rw), -EBUSY);
	attack_l1e("attack.map_own_l1_rw", S_OWN_L1, mm_pte(l1_mfn, rw), -EBUSY);
}

static void attacks_types(void)
{
	check_rc("attack.pin_l1_as_l2", mm_pin(2, l1_mfn), -EINVAL);
	check_rc("attack.pin_writable_as_l1", mm_pin(1, own_mfn), -EINVAL);
	check_rc("attack.pin_victim", mm_pin(1, victim), -EINVAL);
}

static void attacks_linear(void)
{
	uint64_t ptr = l4e_maddr(LINEAR_SLOT);
	unsigned int done = 99;
	long rc;

	attack_update("attack.linear_rw", ptr, mm_pte(mm_l4_mfn, _PAGE_PRESENT | _PAGE_RW),
		      DOMID_SELF, -EINVAL);

	begin("attack.linear_ro");
	rc = mm_update(ptr, mm_pte(mm_l4_mfn, _PAGE_PRESENT), DOMID_SELF, &done);
	want_rc("read-only self-map", rc, 0);
	want_rc("done", done, 1);
	want_rc("clear it", mm_update(ptr, 0, DOMID_SELF, NULL), 0);
	want_hex("slot after clearing", mm_l4[LINEAR_SLOT], 0);
	want_rc("TLB_FLUSH_LOCAL", mm_flush_tlb(), 0);
	end();
}

static void attacks_bits(void)
{
	unsigned int done = 99;
	long rc;

	/* A 2 MiB superpage covering the victim. */
	rc = mm_update((l2_mfn << PAGE_SHIFT) + L2_PSE * 8,
		       mm_pte(victim & ~511UL, _PAGE_PRESENT | _PAGE_RW | _PAGE_PSE), DOMID_SELF, &done);
	begin("attack.l2_pse");
	want_rc("result", rc, -EINVAL);
	want_rc("done", done, 0);
	want_hex("entry", l2[L2_PSE], 0);
	end();

	attack_l1e("attack.l1_pcd", S_PCD, mm_pte(own_mfn, _PAGE_PRESENT | _PAGE_RW | _PAGE_PCD), -EINVAL);
}

static void attacks_baseptr(void)
{
	check_rc("attack.baseptr_victim", pv_mmuext_baseptr(MMUEXT_NEW_BASEPTR, victim), -EINVAL);
	check_rc("attack.baseptr_writable", pv_mmuext_baseptr(MMUEXT_NEW_BASEPTR, own_mfn), -EINVAL);
	check_rc("attack.user_baseptr_victim", pv_mmuext_baseptr(MMUEXT_NEW_USER_BASEPTR, victim), -EINVAL);
}

static void attacks_foreign(void)
{
	struct mmuext_op op = { .cmd = MMUEXT_PIN_L1_TABLE, .arg1 = victim };
	unsigned int done = 99;
	unsigned long ext;
	long cur, rc;

	attack_update("attack.machphys_victim", (victim << PAGE_SHIFT) | MMU_MACHPHYS_UPDATE, 0x1234,
		      DOMID_SELF, -EINVAL);

	/* Our own L1, the victim's frame, its domain as pg_owner. */
	begin("attack.foreigndom");
	if (!have_victimdom) {
		fail("no victimdom= on the command line");
	} else {
		rc = mm_update(l1e_maddr(S_FOREIGN), mm_pte(victim, _PAGE_PRESENT | _PAGE_RW),
			       (unsigned int)victimdom, &done);
		want_rc("result", rc, -EPERM);
		want_rc("done", done, 0);
		want_hex("entry", *l1e(S_FOREIGN), 0);
	}
	end();

	begin("attack.mmuext_foreigndom");
	if (!have_victimdom) {
		fail("no victimdom= on the command line");
	} else {
		done = 99;
		rc = HYPERVISOR_mmuext_op(&op, 1, &done, (unsigned int)victimdom);
		want_rc("PIN_L1_TABLE of the victim for its domain", rc, -EPERM);
		want_rc("done", done, 0);
	}
	end();

	cur = mm_domain_query(XENMEM_current_reservation, DOMID_SELF);
	begin("attack.decrease_victim");
	ext = victim;
	want_rc("result", mm_reservation(XENMEM_decrease_reservation, &ext, 1, DOMID_SELF), 0);
	want_rc("own reservation", mm_domain_query(XENMEM_current_reservation, DOMID_SELF), cur);
	end();

	begin("attack.decrease_victim_foreign");
	if (!have_victimdom) {
		fail("no victimdom= on the command line");
	} else {
		ext = victim;
		want_rc("result", mm_reservation(XENMEM_decrease_reservation, &ext, 1,
						 (domid_t)victimdom), 0);
	}
	end();
}

static void attacks_va_mapping(void)
{
	unsigned long va = ATTACK_VA + S_UVM_VICTIM * PAGE_SIZE;

	check_rc("attack.uvm_hypervisor",
		 HYPERVISOR_update_va_mapping(HYPERVISOR_VA, mm_pte(own_mfn, MM_KERNEL_RW), UVMF_INVLPG),
		 -EINVAL);
	begin("attack.uvm_victim");
	want_rc("result", HYPERVISOR_update_va_mapping(va, mm_pte(victim, MM_KERNEL_RW), UVMF_INVLPG),
		-EBUSY);
	want_hex("entry", *l1e(S_UVM_VICTIM), 0);
	end();
}

static void attacks_page_ops(void)
{
	unsigned int i, changed;

	for (i = 0; i < 512; i++)
		own[i] = PATTERN(i);
	check_rc("attack.clear_victim", mm_mmuext(MMUEXT_CLEAR_PAGE, victim, 0), -EINVAL);

	begin("attack.copy_from_victim");
	want_rc("result", mm_mmuext(MMUEXT_COPY_PAGE, own_mfn, victim), -EINVAL);
	for (i = 0, changed = 0; i < 512; i++)
		changed += own[i] != PATTERN(i);
	want_rc("words of the destination changed", changed, 0);
	end();

	check_rc("attack.copy_to_victim", mm_mmuext(MMUEXT_COPY_PAGE, victim, own_mfn), -EINVAL);
	for (i = 0; i < 512; i++)
		own[i] = 0;
}

static void attacks_trapped(void)
{
	unsigned long va = ATTACK_VA + S_TRAP_CONTROL * PAGE_SIZE;
	unsigned long before;
	uint64_t v = 0;

	check_rc("attack.writable_pagetables",
		 HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_writable_pagetables), 0);

	/* The control: a valid PTE through the same path is emulated. */
	own[0] = PATTERN(7);
	begin("attack.trapped_write_control");
	before = mm_last_fault.count;
	want("storing a valid PTE faulted (not emulated)",
	     !mm_probe_write(l1e(S_TRAP_CONTROL), mm_pte(own_mfn, MM_KERNEL_RW)));
	want_hex("entry", *l1e(S_TRAP_CONTROL), mm_pte(own_mfn, MM_KERNEL_RW) | L1_ADJUST);
	want("reading through the new entry faulted", !mm_probe_read((const void *)va, &v));
	want_hex("value read", v, PATTERN(7));
	want("storing 0 faulted", !mm_probe_write(l1e(S_TRAP_CONTROL), 0));
	want_hex("entry after clearing", *l1e(S_TRAP_CONTROL), 0);
	want_rc("INVLPG_LOCAL", mm_invlpg(va), 0);
	want_hex("faults", mm_last_fault.count - before, 0);
	end();
	own[0] = 0;

	attack_trapped("attack.trapped_write_victim", l1e(S_TRAP_VICTIM),
		       mm_pte(victim, _PAGE_PRESENT | _PAGE_RW));
	attack_trapped("attack.trapped_write_own_l4", l1e(S_TRAP_OWN_L4),
		       mm_pte(mm_l4_mfn, _PAGE_PRESENT | _PAGE_RW));
	/* L2s are never emulated, whatever the value. */
	attack_trapped("attack.trapped_write_l2", &l2[L2_TRAPPED],
		       mm_pte(own_mfn, _PAGE_PRESENT | _PAGE_RW));
}

/* Whatever the hypercalls said: nothing of ours maps the victim (or
 * anything else) where the attacks aimed, and Xen's slots are intact. */
static void check_aftermath(void)
{
	unsigned int i;
	uint64_t v;

	begin("attack.no_victim_mapping");
	want_rc("TLB_FLUSH_LOCAL", mm_flush_tlb(), 0);
	for (i = 0; i < 512 && !check_failed; i++) {
		uint64_t e = *l1e(i);

		if (!(e & _PAGE_PRESENT))
			continue;
		check_failed = 1;
		printk("FAIL %s: L1 slot %u maps mfn 0x%lx%s (entry 0x%lx)\n", check_name, i,
		       mm_pte_mfn(e), mm_pte_mfn(e) == victim ? ", the victim" : "", e);
	}
	for (i = 0; i < S_NR && !check_failed; i++) {
		unsigned long va = ATTACK_VA + i * PAGE_SIZE;

		if (!mm_probe_read((const void *)va, &v)) {
			check_failed = 1;
			printk("FAIL %s: 0x%lx (L1 slot %u) is readable: 0x%lx\n", check_name, va, i, v);
		}
	}
	for (i = 1; i < 512 && !check_failed; i++) {
		if (l2[i]) {
			check_failed = 1;
			printk("FAIL %s: L2 slot %u is 0x%lx\n", check_name, i, l2[i]);
		}
	}
	want("the 2 MiB the PSE attempt aimed at is readable",
	     mm_probe_read((const void *)(ATTACK_VA + L2_PSE * (1UL << 21)), &v) != 0);
	want_hex("L4 linear slot", mm_l4[LINEAR_SLOT], 0);
	for (i = 0; i < 16 && !check_failed; i++)
		want_hex("Xen's L4 slots 256-271 unchanged", mm_l4[256 + i], l4_xen_slots[i]);
	end();
}

int guest_main(struct start_info *si)
{
	char arg[32];

	mm_init(si);
	if (cmdline_get(si->cmd_line, "victim", arg, sizeof(arg)) < 0 ||
	    parse_ulong(arg, &victim)) {
		printk("mmuattack: need victim=<decimal mfn> on the command line\n");
		return 1;
	}
	if (cmdline_get(si->cmd_line, "victimdom", arg, sizeof(arg)) >= 0) {
		if (parse_ulong(arg, &victimdom) || victimdom >= DOMID_SELF) {
			printk("mmuattack: bad victimdom=%s\n", arg);
			return 1;
		}
		have_victimdom = 1;
	}
	printk("mmuattack: victim mfn 0x%lx domain %ld\n", victim,
	       have_victimdom ? (long)victimdom : -1L);

	if (setup()) {
		summary();
		return 1;
	}
	attacks_mapping();
	attacks_types();
	attacks_linear();
	attacks_bits();
	attacks_baseptr();
	attacks_foreign();
	attacks_va_mapping();
	attacks_page_ops();
	attacks_trapped();
	check_aftermath();

	summary();
	return failures ? 1 : 0;
}
