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
#define __HYPERVISOR_set_timer_op       15
#define __HYPERVISOR_xen_version        17
#define __HYPERVISOR_console_io         18
#define __HYPERVISOR_grant_table_op     20
#define __HYPERVISOR_vm_assist          21
#define __HYPERVISOR_update_va_mapping_otherdomain 22
#define __HYPERVISOR_iret               23
#define __HYPERVISOR_vcpu_op            24
#define __HYPERVISOR_set_segment_base   25
#define __HYPERVISOR_mmuext_op          26
#define __HYPERVISOR_sched_op           29
#define __HYPERVISOR_callback_op        30
#define __HYPERVISOR_event_channel_op   32
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
#define SCHEDOP_block                   1       /* unmasks events, then blocks until one is pending */
#define SCHEDOP_shutdown                2
#define SCHEDOP_poll                    3

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

/* vcpu_guest_context.flags (VCPUOP_initialise). */
#define VGCF_i387_valid                 (1 << 0)
#define VGCF_in_kernel                  (1 << 2)
#define VGCF_failsafe_disables_events   (1 << 3)
#define VGCF_syscall_disables_events    (1 << 4)
#define VGCF_online                     (1 << 5)

/* Virtual IRQs (xen.h): per-vCPU ones are TIMER, DEBUG, XENOPROF, XENPMU. */
#define VIRQ_TIMER                      0
#define VIRQ_DEBUG                      1
#define VIRQ_CONSOLE                    2
#define VIRQ_DOM_EXC                    3
#define VIRQ_TBUF                       4
#define VIRQ_DEBUGGER                   6
#define VIRQ_XENOPROF                   7
#define VIRQ_CON_RING                   8
#define VIRQ_PCPU_STATE                 9
#define VIRQ_MEM_EVENT                  10
#define VIRQ_ARGO                       11
#define VIRQ_ENOMEM                     12
#define VIRQ_XENPMU                     13
#define NR_VIRQS                        24

/* event_channel_op commands (event_channel.h). */
#define EVTCHNOP_bind_interdomain       0
#define EVTCHNOP_bind_virq              1
#define EVTCHNOP_bind_pirq              2
#define EVTCHNOP_close                  3
#define EVTCHNOP_send                   4
#define EVTCHNOP_status                 5
#define EVTCHNOP_alloc_unbound          6
#define EVTCHNOP_bind_ipi               7
#define EVTCHNOP_bind_vcpu              8
#define EVTCHNOP_unmask                 9
#define EVTCHNOP_reset                  10
#define EVTCHNOP_init_control           11
#define EVTCHNOP_expand_array           12
#define EVTCHNOP_set_priority           13

/* evtchn_status.status. */
#define EVTCHNSTAT_closed               0
#define EVTCHNSTAT_unbound              1
#define EVTCHNSTAT_interdomain          2
#define EVTCHNSTAT_pirq                 3
#define EVTCHNSTAT_virq                 4
#define EVTCHNSTAT_ipi                  5

/* The 2-level ABI on x86-64: 64 selector bits of 64 ports each. */
#define EVTCHN_2L_NR_CHANNELS           4096

/* vcpu_op commands (vcpu.h). */
#define VCPUOP_initialise               0
#define VCPUOP_up                       1
#define VCPUOP_down                     2
#define VCPUOP_is_up                    3
#define VCPUOP_get_runstate_info        4
#define VCPUOP_register_runstate_memory_area 5
#define VCPUOP_set_periodic_timer       6
#define VCPUOP_stop_periodic_timer      7
#define VCPUOP_set_singleshot_timer     8
#define VCPUOP_stop_singleshot_timer    9
#define VCPUOP_register_vcpu_info       10
#define VCPUOP_send_nmi                 11
#define VCPUOP_get_physid               12
#define VCPUOP_register_vcpu_time_memory_area 13

/* vcpu_runstate_info.state. */
#define RUNSTATE_running                0
#define RUNSTATE_runnable               1
#define RUNSTATE_blocked                2
#define RUNSTATE_offline                3

/* vcpu_set_singleshot_timer.flags: the timeout must lie in the future
 * (else -ETIME). */
#define VCPU_SSHOTTMR_future            (1U << 0)

/* vcpu_time_info.flags. */
#define XEN_PVCLOCK_TSC_STABLE_BIT      (1 << 0)

/* shared_info holds the vcpu_info of the first 32 vCPUs. */
#define XEN_LEGACY_MAX_VCPUS            32

/* ctrlreg[3] of vcpu_guest_context from an L4 frame number (x86-64). */
#define xen_pfn_to_cr3(pfn)             ((unsigned long)(pfn) << 12)
#define xen_cr3_to_pfn(cr3)             ((unsigned long)(cr3) >> 12)

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

/* ---- Event channels (event_channel.h) ---------------------------------- */

typedef uint32_t evtchn_port_t;

struct evtchn_alloc_unbound {
	domid_t dom, remote_dom;        /* IN */
	evtchn_port_t port;             /* OUT */
};
_Static_assert(offsetof(struct evtchn_alloc_unbound, port) == 4, "alloc_unbound.port");
_Static_assert(sizeof(struct evtchn_alloc_unbound) == 8, "sizeof evtchn_alloc_unbound");

struct evtchn_bind_interdomain {
	domid_t remote_dom;             /* IN */
	evtchn_port_t remote_port;      /* IN */
	evtchn_port_t local_port;       /* OUT */
};
_Static_assert(offsetof(struct evtchn_bind_interdomain, remote_port) == 4, "bind_interdomain.remote_port");
_Static_assert(sizeof(struct evtchn_bind_interdomain) == 12, "sizeof evtchn_bind_interdomain");

struct evtchn_bind_virq {
	uint32_t virq;                  /* IN */
	uint32_t vcpu;                  /* IN */
	evtchn_port_t port;             /* OUT */
};
_Static_assert(sizeof(struct evtchn_bind_virq) == 12, "sizeof evtchn_bind_virq");

struct evtchn_bind_ipi {
	uint32_t vcpu;                  /* IN */
	evtchn_port_t port;             /* OUT */
};

struct evtchn_close {
	evtchn_port_t port;
};

struct evtchn_send {
	evtchn_port_t port;
};

struct evtchn_status {
	domid_t dom;                    /* IN */
	evtchn_port_t port;             /* IN */
	uint32_t status;                /* OUT: EVTCHNSTAT_* */
	uint32_t vcpu;                  /* OUT: the vCPU it notifies */
	union {
		struct {
			domid_t dom;
		} unbound;
		struct {
			domid_t dom;
			evtchn_port_t port;
		} interdomain;
		uint32_t pirq;
		uint32_t virq;
	} u;
};
_Static_assert(offsetof(struct evtchn_status, port) == 4, "evtchn_status.port");
_Static_assert(offsetof(struct evtchn_status, status) == 8, "evtchn_status.status");
_Static_assert(offsetof(struct evtchn_status, vcpu) == 12, "evtchn_status.vcpu");
_Static_assert(offsetof(struct evtchn_status, u) == 16, "evtchn_status.u");
_Static_assert(offsetof(struct evtchn_status, u.interdomain.port) == 20, "evtchn_status.u.interdomain.port");
_Static_assert(sizeof(struct evtchn_status) == 24, "sizeof evtchn_status");

struct evtchn_bind_vcpu {
	evtchn_port_t port;
	uint32_t vcpu;
};

struct evtchn_unmask {
	evtchn_port_t port;
};

/* ---- shared_info, vcpu_info, time (xen.h, arch-x86) ---------------------- */

/* Per-vCPU time base: system time (ns) = system_time +
 * ((tsc - tsc_timestamp) << tsc_shift (>> if negative)) * tsc_to_system_mul >> 32.
 * version is odd while the hypervisor updates the record. */
struct vcpu_time_info {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;                  /* XEN_PVCLOCK_* */
	uint8_t pad1[2];
};
_Static_assert(offsetof(struct vcpu_time_info, tsc_timestamp) == 8, "vcpu_time_info.tsc_timestamp");
_Static_assert(offsetof(struct vcpu_time_info, system_time) == 16, "vcpu_time_info.system_time");
_Static_assert(offsetof(struct vcpu_time_info, tsc_to_system_mul) == 24, "vcpu_time_info.tsc_to_system_mul");
_Static_assert(offsetof(struct vcpu_time_info, tsc_shift) == 28, "vcpu_time_info.tsc_shift");
_Static_assert(sizeof(struct vcpu_time_info) == 32, "sizeof vcpu_time_info");

struct arch_vcpu_info {
	unsigned long cr2;
	unsigned long pad;
};

struct vcpu_info {
	uint8_t evtchn_upcall_pending;
	uint8_t evtchn_upcall_mask;
	unsigned long evtchn_pending_sel;
	struct arch_vcpu_info arch;
	struct vcpu_time_info time;
};
_Static_assert(offsetof(struct vcpu_info, evtchn_upcall_mask) == 1, "vcpu_info.evtchn_upcall_mask");
_Static_assert(offsetof(struct vcpu_info, evtchn_pending_sel) == 8, "vcpu_info.evtchn_pending_sel");
_Static_assert(offsetof(struct vcpu_info, arch.cr2) == 16, "vcpu_info.arch.cr2");
_Static_assert(offsetof(struct vcpu_info, time) == 32, "vcpu_info.time");
_Static_assert(sizeof(struct vcpu_info) == 64, "sizeof vcpu_info");

struct arch_shared_info {
	unsigned long max_pfn;
	unsigned long pfn_to_mfn_frame_list_list;
	unsigned long nmi_reason;
	unsigned long p2m_cr3;
	unsigned long p2m_vaddr;
	unsigned long p2m_generation;
};

struct shared_info {
	struct vcpu_info vcpu_info[XEN_LEGACY_MAX_VCPUS];
	unsigned long evtchn_pending[64];       /* a bit per port */
	unsigned long evtchn_mask[64];
	/* Wallclock time at system time 0, odd wc_version while updated. */
	uint32_t wc_version;
	uint32_t wc_sec;
	uint32_t wc_nsec;
	uint32_t wc_sec_hi;                     /* x86: bits 32-63 of the seconds */
	struct arch_shared_info arch;
};
_Static_assert(offsetof(struct shared_info, evtchn_pending) == 2048, "shared_info.evtchn_pending");
_Static_assert(offsetof(struct shared_info, evtchn_mask) == 2560, "shared_info.evtchn_mask");
_Static_assert(offsetof(struct shared_info, wc_version) == 3072, "shared_info.wc_version");
_Static_assert(offsetof(struct shared_info, wc_sec) == 3076, "shared_info.wc_sec");
_Static_assert(offsetof(struct shared_info, wc_nsec) == 3080, "shared_info.wc_nsec");
_Static_assert(offsetof(struct shared_info, wc_sec_hi) == 0xc0c, "shared_info.wc_sec_hi");
_Static_assert(offsetof(struct shared_info, arch) == 3088, "shared_info.arch");

/* ---- sched_op ------------------------------------------------------------ */

struct sched_poll {
	evtchn_port_t *ports;           /* guest handle */
	unsigned int nr_ports;
	uint64_t timeout;               /* absolute system time (ns), 0 = none */
};
_Static_assert(offsetof(struct sched_poll, nr_ports) == 8, "sched_poll.nr_ports");
_Static_assert(offsetof(struct sched_poll, timeout) == 16, "sched_poll.timeout");
_Static_assert(sizeof(struct sched_poll) == 24, "sizeof sched_poll");

/* ---- vcpu_op (vcpu.h) ---------------------------------------------------- */

struct vcpu_runstate_info {
	int state;                      /* RUNSTATE_* */
	uint64_t state_entry_time;      /* system time (ns) the state began */
	uint64_t time[4];               /* ns spent in each RUNSTATE_* */
};
_Static_assert(offsetof(struct vcpu_runstate_info, state_entry_time) == 8, "runstate.state_entry_time");
_Static_assert(offsetof(struct vcpu_runstate_info, time) == 16, "runstate.time");
_Static_assert(sizeof(struct vcpu_runstate_info) == 48, "sizeof vcpu_runstate_info");

struct vcpu_set_periodic_timer {
	uint64_t period_ns;
};

struct vcpu_set_singleshot_timer {
	uint64_t timeout_abs_ns;        /* absolute system time (ns) */
	uint32_t flags;                 /* VCPU_SSHOTTMR_* */
};
_Static_assert(sizeof(struct vcpu_set_singleshot_timer) == 16, "sizeof vcpu_set_singleshot_timer");

struct vcpu_register_vcpu_info {
	uint64_t mfn;                   /* frame holding the new vcpu_info */
	uint32_t offset;                /* its offset in that frame */
	uint32_t rsvd;
};
_Static_assert(sizeof(struct vcpu_register_vcpu_info) == 16, "sizeof vcpu_register_vcpu_info");

/* The register part of vcpu_guest_context (arch-x86/xen-x86_64.h). */
struct cpu_user_regs {
	uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
	uint64_t rax, rcx, rdx, rsi, rdi;
	uint32_t error_code;
	uint32_t entry_vector;
	uint64_t rip;
	uint16_t cs, _pad0[1];
	uint8_t saved_upcall_mask;
	uint8_t _pad1[3];
	uint64_t rflags;
	uint64_t rsp;
	uint16_t ss, _pad2[3];
	uint16_t es, _pad3[3];
	uint16_t ds, _pad4[3];
	uint16_t fs, _pad5[3];
	uint16_t gs, _pad6[3];
};
_Static_assert(offsetof(struct cpu_user_regs, error_code) == 120, "cpu_user_regs.error_code");
_Static_assert(offsetof(struct cpu_user_regs, rip) == 128, "cpu_user_regs.rip");
_Static_assert(offsetof(struct cpu_user_regs, cs) == 136, "cpu_user_regs.cs");
_Static_assert(offsetof(struct cpu_user_regs, saved_upcall_mask) == 140, "cpu_user_regs.saved_upcall_mask");
_Static_assert(offsetof(struct cpu_user_regs, rflags) == 144, "cpu_user_regs.rflags");
_Static_assert(offsetof(struct cpu_user_regs, ss) == 160, "cpu_user_regs.ss");
_Static_assert(sizeof(struct cpu_user_regs) == 200, "sizeof cpu_user_regs");

/* VCPUOP_initialise's argument (arch-x86/xen.h, x86-64 guest view). */
struct vcpu_guest_context {
	struct { char x[512]; } fpu_ctxt;
	unsigned long flags;                    /* VGCF_* */
	struct cpu_user_regs user_regs;
	struct trap_info trap_ctxt[256];        /* the virtual IDT, by vector */
	unsigned long ldt_base, ldt_ents;
	unsigned long gdt_frames[16], gdt_ents;
	unsigned long kernel_ss, kernel_sp;
	unsigned long ctrlreg[8];               /* [3]: xen_pfn_to_cr3(L4 mfn); [1]: user L4 */
	unsigned long debugreg[8];
	unsigned long event_callback_eip;
	unsigned long failsafe_callback_eip;
	unsigned long syscall_callback_eip;
	unsigned long vm_assist;
	uint64_t fs_base;
	uint64_t gs_base_kernel;
	uint64_t gs_base_user;
};
_Static_assert(offsetof(struct vcpu_guest_context, flags) == 512, "vcpu_guest_context.flags");
_Static_assert(offsetof(struct vcpu_guest_context, user_regs) == 520, "vcpu_guest_context.user_regs");
_Static_assert(offsetof(struct vcpu_guest_context, trap_ctxt) == 720, "vcpu_guest_context.trap_ctxt");
_Static_assert(offsetof(struct vcpu_guest_context, ldt_base) == 4816, "vcpu_guest_context.ldt_base");
_Static_assert(offsetof(struct vcpu_guest_context, gdt_frames) == 4832, "vcpu_guest_context.gdt_frames");
_Static_assert(offsetof(struct vcpu_guest_context, kernel_ss) == 4968, "vcpu_guest_context.kernel_ss");
_Static_assert(offsetof(struct vcpu_guest_context, ctrlreg) == 4984, "vcpu_guest_context.ctrlreg");
_Static_assert(offsetof(struct vcpu_guest_context, event_callback_eip) == 5112, "vcpu_guest_context.event_callback_eip");
_Static_assert(offsetof(struct vcpu_guest_context, vm_assist) == 5136, "vcpu_guest_context.vm_assist");
_Static_assert(sizeof(struct vcpu_guest_context) == 5168, "sizeof vcpu_guest_context");

#endif /* !__ASSEMBLER__ */
#endif /* XG_XEN_H */
