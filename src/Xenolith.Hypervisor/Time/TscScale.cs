namespace Xenolith.Hypervisor.Time;

/// <summary>
/// vcpu_time_info's tsc_to_system_mul and tsc_shift: nanoseconds = ((tsc delta shifted left by
/// shift, or right if negative) * mul) >> 32, the fixed-point form every PV guest's pvclock uses.
/// </summary>
public readonly record struct TscScale(uint Multiplier, sbyte Shift)
{
    /// <summary>Xen's set_time_scale: normalise the rate into (1, 2] GHz by shifting, then a 32.32 fraction.</summary>
    public static TscScale FromKhz(uint khz)
    {
        ArgumentOutOfRangeException.ThrowIfZero(khz);
        const ulong OneSecond = 1_000_000_000;
        ulong ticksPerSecond = (ulong)khz * 1000;
        int shift = 0;
        while (ticksPerSecond > OneSecond * 2)
        {
            ticksPerSecond >>= 1;
            shift--;
        }
        while (ticksPerSecond <= OneSecond)
        {
            ticksPerSecond <<= 1;
            shift++;
        }
        return new TscScale((uint)((OneSecond << 32) / ticksPerSecond), (sbyte)shift);
    }

    /// <summary>What a guest computes for a TSC delta (pvclock's scale_delta).</summary>
    public ulong ToNanoseconds(ulong tscDelta)
    {
        ulong shifted = Shift >= 0 ? tscDelta << Shift : tscDelta >> -Shift;
        return (ulong)(((UInt128)shifted * Multiplier) >> 32);
    }
}
