/* Minimal Xen PV x86-64 public ABI definitions used by the Xenolith test
 * guests.  Written from the ABI description; not derived from Xen headers. */
#ifndef XG_XEN_H
#define XG_XEN_H

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>
#endif

/* Virtual base the kernel is linked at (XEN_ELFNOTE_VIRT_BASE). */
#define XG_VIRT_BASE            0xffffffff80000000

/* ELF note types (name "Xen"). */
#define XEN_ELFNOTE_ENTRY               1
#define XEN_ELFNOTE_HYPERCALL_PAGE      2
#define XEN_ELFNOTE_VIRT_BASE           3
#define XEN_ELFNOTE_PADDR_OFFSET        4
#define XEN_ELFNOTE_XEN_VERSION         5
#define XEN_ELFNOTE_GUEST_OS            6
#define XEN_ELFNOTE_GUEST_VERSION       7
#define XEN_ELFNOTE_LOADER              8
#define XEN_ELFNOTE_PAE_MODE            9
#define XEN_ELFNOTE_FEATURES            10

/* Hypercall numbers. */
#define __HYPERVISOR_set_trap_table     0
#define __HYPERVISOR_mmu_update         1
#define __HYPERVISOR_set_gdt            2
#define __HYPERVISOR_stack_switch       3
#define __HYPERVISOR_set_callbacks      4
#define __HYPERVISOR_fpu_taskswitch     5
#define __HYPERVISOR_set_debugreg       8
#define __HYPERVISOR_get_debugreg       9
#define __HYPERVISOR_update_descriptor  10
#define __HYPERVISOR_memory_op          12
#define __HYPERVISOR_multicall          13
#define __HYPERVISOR_update_va_mapping  14
#define __HYPERVISOR_xen_version        17
#define __HYPERVISOR_console_io         18
#define __HYPERVISOR_vm_assist          21
#define __HYPERVISOR_update_va_mapping_otherdomain 22
#define __HYPERVISOR_iret               23
#define __HYPERVISOR_set_segment_base   25
#define __HYPERVISOR_mmuext_op          26
#define __HYPERVISOR_sched_op           29
#define __HYPERVISOR_callback_op        30
#define __HYPERVISOR_physdev_op         33

/* Flat selectors in Xen's reserved GDT page (x86-64 PV).  Guest kernel and
 * user both run at CPL3 on these; the kernel sees its own CS in exception
 * frames with the RPL cleared (0xe030). */
#define FLAT_RING3_CS64                 0xe033
#define FLAT_RING3_SS64                 0xe02b
#define FLAT_KERNEL_CS64                FLAT_RING3_CS64
#define FLAT_KERNEL_SS64                FLAT_RING3_SS64
#define FLAT_KERNEL_CS64_RPL0           0xe030

/* struct iret_context.flags: return as sysret would (rcx/r11 not restored). */
#define VGCF_in_syscall                 (1 << 8)

/* struct trap_info.flags. */
#define TI_DPL_MASK                     3
#define TI_MASK_EVENTS                  4       /* entering masks events */

/* set_segment_base. */
#define SEGBASE_FS                      0
#define SEGBASE_GS_USER                 1
#define SEGBASE_GS_KERNEL               2
#define SEGBASE_GS_USER_SEL             3

/* callback_op. */
#define CALLBACKOP_register             0
#define CALLBACKOP_unregister           1
#define CALLBACKTYPE_event              0
#define CALLBACKTYPE_failsafe           1
#define CALLBACKTYPE_syscall            2
#define CALLBACKTYPE_nmi                4
#define CALLBACKTYPE_sysenter           5
#define CALLBACKTYPE_syscall32          7
#define CALLBACKF_mask_events           1

/* mmuext_op. */
#define MMUEXT_PIN_L1_TABLE             0
#define MMUEXT_PIN_L2_TABLE             1
#define MMUEXT_PIN_L3_TABLE             2
#define MMUEXT_PIN_L4_TABLE             3
#define MMUEXT_UNPIN_TABLE              4
#define MMUEXT_NEW_BASEPTR              5
#define MMUEXT_TLB_FLUSH_LOCAL          6
#define MMUEXT_INVLPG_LOCAL             7
#define MMUEXT_TLB_FLUSH_MULTI          8
#define MMUEXT_INVLPG_MULTI             9
#define MMUEXT_TLB_FLUSH_ALL            10
#define MMUEXT_INVLPG_ALL               11
#define MMUEXT_FLUSH_CACHE              12
#define MMUEXT_SET_LDT                  13
#define MMUEXT_NEW_USER_BASEPTR         15
#define MMUEXT_CLEAR_PAGE               16
#define MMUEXT_COPY_PAGE                17
#define MMUEXT_FLUSH_CACHE_GLOBAL       18
#define MMUEXT_MARK_SUPER               19
#define MMUEXT_UNMARK_SUPER             20

/* Domain ids. */
#define DOMID_SELF                      0x7ff0
#define DOMID_IO                        0x7ff1
#define DOMID_XEN                       0x7ff2
#define DOMID_INVALID                   0x7ff4

/* mmu_update: the low 3 bits of ptr select the command. */
#define MMU_NORMAL_PT_UPDATE            0
#define MMU_MACHPHYS_UPDATE             1
#define MMU_PT_UPDATE_PRESERVE_AD       2
#define MMU_PT_UPDATE_NO_TRANSLATE      3

/* update_va_mapping flags: flush type in bits 0-1, target in the rest
 * (0 = local, UVMF_ALL, or else a pointer to a vcpu bitmap). */
#define UVMF_NONE                       0
#define UVMF_TLB_FLUSH                  1
#define UVMF_INVLPG                     2
#define UVMF_FLUSHTYPE_MASK             3
#define UVMF_MULTI                      0
#define UVMF_LOCAL                      0
#define UVMF_ALL                        4

/* vm_assist. */
#define VMASST_CMD_enable               0
#define VMASST_CMD_disable              1
#define VMASST_TYPE_4gb_segments        0
#define VMASST_TYPE_4gb_segments_notify 1
#define VMASST_TYPE_writable_pagetables 2
#define VMASST_TYPE_pae_extended_cr3    3
#define VMASST_TYPE_architectural_iopl  4
#define VMASST_TYPE_runstate_update_flag 5
#define VMASST_TYPE_m2p_strict          32

/* memory_op commands (cmd = op | start_extent << MEMOP_EXTENT_SHIFT). */
#define XENMEM_increase_reservation     0
#define XENMEM_decrease_reservation     1
#define XENMEM_maximum_ram_page         2
#define XENMEM_current_reservation      3
#define XENMEM_maximum_reservation      4
#define XENMEM_machphys_mfn_list        5
#define XENMEM_populate_physmap         6
#define XENMEM_memory_map               9
#define XENMEM_machine_memory_map       10
#define XENMEM_exchange                 11
#define XENMEM_machphys_mapping         12
#define XENMEM_set_memory_map           13
#define XENMEM_maximum_gpfn             14
#define MEMOP_EXTENT_SHIFT              6
#define MEMOP_CMD_MASK                  0x3f

/* e820 types (xen_memory_map entries). */
#define E820_RAM                        1
#define E820_RESERVED                   2

/* physdev_op. */
#define PHYSDEVOP_set_iopl              6

/* Entries 0..FIRST_RESERVED_GDT_ENTRY-1 of the GDT belong to the guest. */
#define FIRST_RESERVED_GDT_ENTRY        7168

/* Page-table entry bits (for update_va_mapping). */
#define _PAGE_PRESENT                   0x001
#define _PAGE_RW                        0x002
#define _PAGE_USER                      0x004
#define _PAGE_PWT                       0x008
#define _PAGE_PCD                       0x010
#define _PAGE_ACCESSED                  0x020
#define _PAGE_DIRTY                     0x040
#define _PAGE_PSE                       0x080   /* L2/L3: superpage */
#define _PAGE_PAT                       0x080   /* L1 */
#define _PAGE_GLOBAL                    0x100
#define _PAGE_GUEST_KERNEL              (1UL << 52)     /* Xen: guest-kernel L1 mapping */
#define _PAGE_NX                        (1UL << 63)
#define PTE_ADDR_MASK                   0x000ffffffffff000UL

/* console_io commands. */
#define CONSOLEIO_write                 0
#define CONSOLEIO_read                  1

/* sched_op commands. */
#define SCHEDOP_yield                   0
#define SCHEDOP_shutdown                2

/* Shutdown reasons. */
#define SHUTDOWN_poweroff               0
#define SHUTDOWN_reboot                 1
#define SHUTDOWN_suspend                2
#define SHUTDOWN_crash                  3
#define SHUTDOWN_watchdog               4
#define SHUTDOWN_soft_reset             5

/* xen_version commands. */
#define XENVER_version                  0
#define XENVER_extraversion             1
#define XENVER_capabilities             3
#define XENVER_get_features             6

#ifndef __ASSEMBLER__

typedef char xen_extraversion_t[16];
typedef char xen_capabilities_info_t[1024];

struct xen_feature_info {
	unsigned int submap_idx;
	uint32_t submap;
};

struct sched_shutdown {
	unsigned int reason;
};

#define XG_START_INFO_MAGIC     "xen-3.0-x86_64"
#define XG_MAX_GUEST_CMDLINE    1024

struct start_info {
	char magic[32];
	uint64_t nr_pages;
	uint64_t shared_info;
	uint32_t flags;
	uint64_t store_mfn;
	uint32_t store_evtchn;
	union {
		struct {
			uint64_t mfn;
			uint32_t evtchn;
		} domU;
		struct {
			uint32_t info_off;
			uint32_t info_size;
		} dom0;
	} console;
	uint64_t pt_base;
	uint64_t nr_pt_frames;
	uint64_t mfn_list;
	uint64_t mod_start;
	uint64_t mod_len;
	char cmd_line[XG_MAX_GUEST_CMDLINE];
	uint64_t first_p2m_pfn;
	uint64_t nr_p2m_frames;
};

_Static_assert(offsetof(struct start_info, magic) == 0, "magic");
_Static_assert(offsetof(struct start_info, nr_pages) == 32, "nr_pages");
_Static_assert(offsetof(struct start_info, shared_info) == 40, "shared_info");
_Static_assert(offsetof(struct start_info, flags) == 48, "flags");
_Static_assert(offsetof(struct start_info, store_mfn) == 56, "store_mfn");
_Static_assert(offsetof(struct start_info, store_evtchn) == 64, "store_evtchn");
_Static_assert(offsetof(struct start_info, console.domU.mfn) == 72, "console.mfn");
_Static_assert(offsetof(struct start_info, console.domU.evtchn) == 80, "console.evtchn");
_Static_assert(offsetof(struct start_info, pt_base) == 88, "pt_base");
_Static_assert(offsetof(struct start_info, nr_pt_frames) == 96, "nr_pt_frames");
_Static_assert(offsetof(struct start_info, mfn_list) == 104, "mfn_list");
_Static_assert(offsetof(struct start_info, mod_start) == 112, "mod_start");
_Static_assert(offsetof(struct start_info, mod_len) == 120, "mod_len");
_Static_assert(offsetof(struct start_info, cmd_line) == 128, "cmd_line");
_Static_assert(offsetof(struct start_info, first_p2m_pfn) == 1152, "first_p2m_pfn");
_Static_assert(offsetof(struct start_info, nr_p2m_frames) == 1160, "nr_p2m_frames");
_Static_assert(sizeof(struct start_info) == 1168, "sizeof start_info");

/* One entry of the virtual IDT (set_trap_table); an address of 0 ends the
 * array.  flags: bits 0-1 the DPL an int $n needs, TI_MASK_EVENTS. */
struct trap_info {
	uint8_t vector;
	uint8_t flags;
	uint16_t cs;
	uint64_t address;
};
_Static_assert(offsetof(struct trap_info, address) == 8, "trap_info.address");
_Static_assert(sizeof(struct trap_info) == 16, "sizeof trap_info");

struct callback_register {
	uint16_t type;
	uint16_t flags;
	uint64_t address;
};
_Static_assert(offsetof(struct callback_register, address) == 8, "callback_register.address");

struct callback_unregister {
	uint16_t type;
	uint16_t _unused;
};

struct mmuext_op {
	uint32_t cmd;
	uint64_t arg1;          /* mfn or linear address */
	uint64_t arg2;
};
_Static_assert(offsetof(struct mmuext_op, arg1) == 8, "mmuext_op.arg1");
_Static_assert(sizeof(struct mmuext_op) == 24, "sizeof mmuext_op");

typedef uint16_t domid_t;

/* mmu_update request: ptr = machine address of the entry | command. */
struct mmu_update {
	uint64_t ptr;
	uint64_t val;
};
_Static_assert(sizeof(struct mmu_update) == 16, "sizeof mmu_update");

/* multicall: only result is written back. */
struct multicall_entry {
	unsigned long op;
	unsigned long result;
	unsigned long args[6];
};
_Static_assert(offsetof(struct multicall_entry, result) == 8, "multicall_entry.result");
_Static_assert(offsetof(struct multicall_entry, args) == 16, "multicall_entry.args");
_Static_assert(sizeof(struct multicall_entry) == 64, "sizeof multicall_entry");

/* XENMEM_{increase,decrease}_reservation, XENMEM_populate_physmap. */
struct xen_memory_reservation {
	unsigned long *extent_start;    /* guest handle of xen_pfn_t */
	unsigned long nr_extents;
	uint32_t extent_order;
	uint32_t mem_flags;             /* bits 0-7: address_bits */
	domid_t domid;
};
_Static_assert(offsetof(struct xen_memory_reservation, nr_extents) == 8, "reservation.nr_extents");
_Static_assert(offsetof(struct xen_memory_reservation, extent_order) == 16, "reservation.extent_order");
_Static_assert(offsetof(struct xen_memory_reservation, mem_flags) == 20, "reservation.mem_flags");
_Static_assert(offsetof(struct xen_memory_reservation, domid) == 24, "reservation.domid");
_Static_assert(sizeof(struct xen_memory_reservation) == 32, "sizeof xen_memory_reservation");

/* XENMEM_machphys_mapping: where the read-only M2P table is mapped. */
struct xen_machphys_mapping {
	unsigned long v_start, v_end;
	unsigned long max_mfn;
};
_Static_assert(sizeof(struct xen_machphys_mapping) == 24, "sizeof xen_machphys_mapping");

/* XENMEM_memory_map: nr_entries in (capacity) and out (entries written). */
struct xen_memory_map {
	uint32_t nr_entries;
	void *buffer;                   /* struct e820entry[] */
};
_Static_assert(offsetof(struct xen_memory_map, buffer) == 8, "xen_memory_map.buffer");
_Static_assert(sizeof(struct xen_memory_map) == 16, "sizeof xen_memory_map");

struct e820entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));
_Static_assert(offsetof(struct e820entry, type) == 16, "e820entry.type");
_Static_assert(sizeof(struct e820entry) == 20, "sizeof e820entry");

struct physdev_set_iopl {
	uint32_t iopl;
};

/* What HYPERVISOR_iret finds at the guest's rsp (the iret entry of the
 * hypercall page pushes rax, r11 and rcx on top of flags..ss). */
struct iret_context {
	uint64_t rax, r11, rcx, flags, rip, cs, rflags, rsp, ss;
};
_Static_assert(sizeof(struct iret_context) == 72, "sizeof iret_context");

#endif /* !__ASSEMBLER__ */
#endif /* XG_XEN_H */
