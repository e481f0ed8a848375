namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>
/// Emulates the privileged instructions a PV guest kernel may execute at CPL3 (they fault with #GP
/// there), and the forced-emulation CPUID (ud2; .ascii "xen"; cpuid), decoding with Iced.
/// </summary>
public static class PrivilegedOpEmulator
{
    /// <summary>A #GP(0) from the guest at Frame.Rip.</summary>
    public static EmulationOutcome EmulateGeneralProtection(IEmulatedCpu cpu) => throw new NotImplementedException();

    /// <summary>A #UD from the guest at Frame.Rip: only the forced-emulation prefix followed by cpuid is emulated.</summary>
    public static EmulationOutcome EmulateInvalidOpcode(IEmulatedCpu cpu) => throw new NotImplementedException();
}
