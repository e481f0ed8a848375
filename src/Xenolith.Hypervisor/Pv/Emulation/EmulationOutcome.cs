namespace Xenolith.Hypervisor.Pv.Emulation;

public enum EmulationResult
{
    /// <summary>Done: registers and Frame.Rip already updated; resume the guest.</summary>
    Emulated,

    /// <summary>Done (Frame.Rip is past a hlt): block the vCPU until an event is pending, then resume.</summary>
    Halt,

    /// <summary>Not emulated: deliver the exception <see cref="EmulationOutcome.Vector"/> to the guest (Frame.Rip unchanged).</summary>
    Fault,
}

/// <summary>What the emulator decided for one #GP or #UD.</summary>
public readonly record struct EmulationOutcome(EmulationResult Result, int Vector = 0, int? ErrorCode = null)
{
    public static EmulationOutcome Emulated => new(EmulationResult.Emulated);
    public static EmulationOutcome Halt => new(EmulationResult.Halt);
    public static EmulationOutcome GeneralProtection(int errorCode = 0) => new(EmulationResult.Fault, 13, errorCode);
    public static EmulationOutcome InvalidOpcode => new(EmulationResult.Fault, 6);
}
