using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>
/// The MSRs a 64-bit PV guest kernel may touch with rdmsr/wrmsr, as Xen's PV read_msr/write_msr
/// (pv/emul-priv-op.c) and guest_rdmsr/guest_wrmsr (msr.c) allow them. Everything else, including the
/// SYSCALL and SYSENTER MSRs that belong to the hypervisor's own entry path, is #GP(0).
/// </summary>
internal static class MsrPolicy
{
    public const uint Tsc = 0x10;
    public const uint ApicBase = 0x1b;
    public const uint MiscEnable = 0x1a0;
    public const uint CrPat = 0x277;
    public const uint Efer = 0xc000_0080;
    public const uint FsBase = 0xc000_0100;
    public const uint GsBase = 0xc000_0101;
    public const uint ShadowGsBase = 0xc000_0102;

    /// <summary>Where the local APIC sits: the architectural default, which is all a PV guest ever reads.</summary>
    public const ulong ApicBaseAddress = 0xfee0_0000;
    public const ulong ApicBaseBsp = 1UL << 8;
    public const ulong ApicBaseEnable = 1UL << 11;

    /// <summary>
    /// Xen's guest_misc_enable over a host value of 0: BTS_UNAVAIL and PEBS_UNAVAIL (no branch trace store or
    /// PEBS for PV), and XTPR_DISABLE (no xTPR messages, matching the hidden CPUID XTPR bit). PERF_AVAIL and
    /// MONITOR_ENABLE stay clear, as Xen forces them clear.
    /// </summary>
    public const ulong MiscEnableValue = (1UL << 11) | (1UL << 12) | (1UL << 23);

    /// <summary>
    /// XEN_MSR_PAT: the PAT Xen programs and every PV guest sees (WB, WT, UC-, UC, WC, WP, UC, UC), which
    /// the PV ABI fixes so that guest PTE cache bits mean the same thing under every Xen.
    /// </summary>
    public const ulong XenPat = 0x0000_0501_0007_0406;

    /// <summary>
    /// rdmsr: true and the value, or false for #GP(0). The hypercall-page MSR is write-only
    /// (guest_rdmsr_xen refuses index 0).
    /// </summary>
    public static bool TryRead(IEmulatedCpu cpu, uint index, out ulong value)
    {
        switch (index)
        {
            case FsBase:
                value = cpu.FsBase;
                return true;
            case GsBase:
                value = cpu.GsBaseKernel;
                return true;
            case ShadowGsBase:
                value = cpu.GsBaseUser;
                return true;
            case Efer:
                value = cpu.Efer;
                return true;
            case Tsc:
                value = cpu.ReadTsc();
                return true;
            case ApicBase:
                value = ApicBaseValue(cpu);
                return true;
            case MiscEnable:
                value = MiscEnableValue;
                return true;
            case CrPat:
                value = XenPat;
                return true;
            default:
                value = 0;
                return false;
        }
    }

    /// <summary>wrmsr: true if accepted (and applied), false for #GP(0).</summary>
    public static bool TryWrite(IEmulatedCpu cpu, uint index, ulong value)
    {
        switch (index)
        {
            // The segment bases: any canonical address, as wrfsbase/wrgsbase would take.
            case FsBase:
                if (!GuestPageTables.IsCanonical(value))
                    return false;
                cpu.FsBase = value;
                return true;
            case GsBase:
                if (!GuestPageTables.IsCanonical(value))
                    return false;
                cpu.GsBaseKernel = value;
                return true;
            case ShadowGsBase:
                if (!GuestPageTables.IsCanonical(value))
                    return false;
                cpu.GsBaseUser = value;
                return true;

            // The TSC belongs to the hypervisor (and to every other vCPU's view of time): writes are dropped.
            case Tsc:
                return true;

            // Values the guest cannot change: rewriting what it reads is harmless, anything else is refused.
            case Efer:
                return value == cpu.Efer;
            case ApicBase:
                return value == ApicBaseValue(cpu);
            case MiscEnable:
                return value == MiscEnableValue;
            case CrPat:
                return value == XenPat;

            case XenCpuid.HypercallPageMsr:
                return WriteHypercallPage(cpu, value);

            default:
                return false;
        }
    }

    /// <summary>
    /// guest_wrmsr_xen index 0: bits 0-11 pick a page of a multi-page hypercall area (Xen has one page,
    /// so it must be 0), bits 12 and up are the guest frame to fill.
    /// </summary>
    private static bool WriteHypercallPage(IEmulatedCpu cpu, ulong value)
    {
        if ((value & 0xfff) != 0)
            return false;
        return cpu.WriteHypercallPage(value >> 12);
    }

    private static ulong ApicBaseValue(IEmulatedCpu cpu) =>
        ApicBaseAddress | ApicBaseEnable | (cpu.VcpuId == 0 ? ApicBaseBsp : 0);
}
