using Xenolith.Abi;

namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>
/// mov to and from %cr0-%cr4 and %dr0-%dr7 by a PV guest kernel (Xen's read_cr/write_cr and read_dr/write_dr
/// in pv/emul-priv-op.c). The guest sees virtual registers: CR0.TS is its own, CR2 is the last fault address
/// delivered, CR3 names its kernel L4, CR4 is fixed, and the debug registers go through set_debugreg's checks.
/// </summary>
internal static class ControlRegisters
{
    public const ulong Cr0Ts = 1UL << 3;

    /// <summary>The value a read of %cr<paramref name="register"/> yields, or false for #GP(0) (CR8 and the reserved ones).</summary>
    public static bool TryRead(IEmulatedCpu cpu, int register, out ulong value)
    {
        switch (register)
        {
            case 0:
                value = cpu.Cr0;
                return true;
            case 2:
                value = cpu.State.Cr2;
                return true;
            case 3:
                // xen_pfn_to_cr3 of the kernel L4: PV has no PCID, so the low 12 bits are 0.
                value = cpu.State.KernelBaseMfn << 12;
                return true;
            case 4:
                value = cpu.Cr4;
                return true;
            default:
                value = 0;
                return false;
        }
    }

    /// <summary>A write of <paramref name="value"/> to %cr<paramref name="register"/>: true if applied, false for #GP(0).</summary>
    public static bool TryWrite(IEmulatedCpu cpu, int register, ulong value)
    {
        switch (register)
        {
            case 0:
                // Only TS is the guest's (fpu_taskswitch); every other CR0 bit is the hypervisor's.
                if (((value ^ cpu.Cr0) & ~Cr0Ts) != 0)
                    return false;
                cpu.SetFpuTaskSwitched((value & Cr0Ts) != 0);
                return true;
            case 2:
                cpu.State.Cr2 = value;
                return true;
            case 3:
                // xen_cr3_to_pfn: the frame is the top bits; new_guest_cr3 validates it as an L4.
                return cpu.LoadKernelBasePointer(value >> 12);
            case 4:
                // Xen would accept and fix up (pv_fixup_guest_cr4); with no guest-controllable CR4 bit here,
                // only a write of the current value is meaningful.
                return value == cpu.Cr4;
            default:
                return false;
        }
    }

    /// <summary>mov from %dr<paramref name="register"/>: -ENODEV is #UD (DR4/5 with CR4.DE, DR8-15), any other failure #GP(0).</summary>
    public static EmulationOutcome Read(IEmulatedCpu cpu, int register, out ulong value)
    {
        value = 0;
        if (register > 7)
            return EmulationOutcome.InvalidOpcode;
        long rc = cpu.GetDebugRegister(register, out value);
        return Outcome(rc);
    }

    /// <summary>mov to %dr<paramref name="register"/> through set_debugreg's validation.</summary>
    public static EmulationOutcome Write(IEmulatedCpu cpu, int register, ulong value)
    {
        if (register > 7)
            return EmulationOutcome.InvalidOpcode;
        return Outcome(cpu.SetDebugRegister(register, value));
    }

    private static EmulationOutcome Outcome(long rc) => rc switch
    {
        0 => EmulationOutcome.Emulated,
        -XenErrno.ENODEV => EmulationOutcome.InvalidOpcode,
        _ => EmulationOutcome.GeneralProtection(),
    };
}
