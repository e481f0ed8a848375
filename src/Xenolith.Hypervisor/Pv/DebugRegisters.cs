namespace Xenolith.Hypervisor.Pv;

/// <summary>Xen's rules for a PV guest's debug registers (set_debugreg, get_debugreg, mov to/from %dr).</summary>
public static class DebugRegisters
{
    /// <summary>Validates and stores into <paramref name="state"/>: 0, -ENODEV (#UD), -EINVAL or -EPERM (#GP).</summary>
    public static long Set(PvVcpuState state, int register, ulong value) => throw new NotImplementedException();

    /// <summary>Reads from <paramref name="state"/>: 0 and the value, or -ENODEV.</summary>
    public static long Get(PvVcpuState state, int register, out ulong value) => throw new NotImplementedException();
}
