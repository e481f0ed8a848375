namespace Xenolith.Domain0.Builder;

/// <summary>
/// Types of the ELF notes named "Xen" that a PV kernel carries, numbered as in Xen's
/// public/elfnote.h (XEN_ELFNOTE_*).
/// </summary>
public enum XenElfNoteType : uint
{
    /// <summary>XEN_ELFNOTE_INFO: free-form, ignored by loaders.</summary>
    Info = 0,

    /// <summary>XEN_ELFNOTE_ENTRY: virtual address of the kernel entry point.</summary>
    Entry = 1,

    /// <summary>XEN_ELFNOTE_HYPERCALL_PAGE: virtual address of the page Xen fills with hypercall stubs.</summary>
    HypercallPage = 2,

    /// <summary>XEN_ELFNOTE_VIRT_BASE: virtual address the kernel is mapped at.</summary>
    VirtBase = 3,

    /// <summary>XEN_ELFNOTE_PADDR_OFFSET: value subtracted from VIRT_BASE to turn ELF physical addresses into virtual ones.</summary>
    PaddrOffset = 4,

    /// <summary>XEN_ELFNOTE_XEN_VERSION: the Xen interface version the kernel was built for ("xen-3.0").</summary>
    XenVersion = 5,

    /// <summary>XEN_ELFNOTE_GUEST_OS: guest operating system name, e.g. "linux".</summary>
    GuestOs = 6,

    /// <summary>XEN_ELFNOTE_GUEST_VERSION: guest operating system version string.</summary>
    GuestVersion = 7,

    /// <summary>XEN_ELFNOTE_LOADER: loader the image expects, e.g. "generic".</summary>
    Loader = 8,

    /// <summary>XEN_ELFNOTE_PAE_MODE: PAE capability of a 32-bit kernel ("yes", "bimodal", ...).</summary>
    PaeMode = 9,

    /// <summary>XEN_ELFNOTE_FEATURES: '|'-separated feature names, '!' marking required ones.</summary>
    Features = 10,

    /// <summary>XEN_ELFNOTE_BSD_SYMTAB: "yes" when the loader should load the symbol table (BSD kernels).</summary>
    BsdSymtab = 11,

    /// <summary>XEN_ELFNOTE_HV_START_LOW: lowest hypervisor virtual address a 32-bit PAE guest tolerates.</summary>
    HvStartLow = 12,

    /// <summary>XEN_ELFNOTE_L1_MFN_VALID: mask/value pair describing valid L1 page table entries.</summary>
    L1MfnValid = 13,

    /// <summary>XEN_ELFNOTE_SUSPEND_CANCEL: non-zero when the guest supports cancelled suspends.</summary>
    SuspendCancel = 14,

    /// <summary>XEN_ELFNOTE_INIT_P2M: virtual address at which to map the initial physical-to-machine table.</summary>
    InitP2m = 15,

    /// <summary>XEN_ELFNOTE_MOD_START_PFN: non-zero when the kernel takes the initrd as a PFN, not mapped.</summary>
    ModStartPfn = 16,

    /// <summary>XEN_ELFNOTE_SUPPORTED_FEATURES: 32-bit feature mask ORed into the supported set.</summary>
    SupportedFeatures = 17,

    /// <summary>XEN_ELFNOTE_PHYS32_ENTRY: 32-bit physical entry point for PVH.</summary>
    Phys32Entry = 18,
}
