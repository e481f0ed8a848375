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
#define __HYPERVISOR_xen_version        17
#define __HYPERVISOR_console_io         18
#define __HYPERVISOR_vm_assist          21
#define __HYPERVISOR_sched_op           29

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

#endif /* !__ASSEMBLER__ */
#endif /* XG_XEN_H */
