using System.Diagnostics;

namespace Xenolith.Hypervisor.Time;

/// <summary>
/// Xen's system time (NOW()): nanoseconds since the hypervisor started, counted on the host's
/// CLOCK_MONOTONIC (what <see cref="Stopwatch"/> reads on Linux), and the UTC wall-clock time at
/// system time zero, which is what shared_info's wallclock fields hold.
/// </summary>
public sealed class SystemClock
{
    private const long NanosecondsPerSecond = 1_000_000_000;
    private readonly long _epoch;

    public SystemClock()
    {
        _epoch = MonotonicNanoseconds();
        long unixNanoseconds = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100 - Now;
        WallclockSeconds = unixNanoseconds / NanosecondsPerSecond;
        WallclockNanoseconds = (uint)(unixNanoseconds % NanosecondsPerSecond);
    }

    /// <summary>Seconds since the Unix epoch at system time zero.</summary>
    public long WallclockSeconds { get; }

    public uint WallclockNanoseconds { get; }

    /// <summary>System time now, in nanoseconds.</summary>
    public long Now => MonotonicNanoseconds() - _epoch;

    /// <summary>The CLOCK_MONOTONIC reading at which system time reaches <paramref name="systemTime"/>.</summary>
    public long ToMonotonic(long systemTime) => systemTime + _epoch;

    public static long MonotonicNanoseconds()
    {
        long ticks = Stopwatch.GetTimestamp();
        return Stopwatch.Frequency == NanosecondsPerSecond ? ticks : (long)((Int128)ticks * NanosecondsPerSecond / Stopwatch.Frequency);
    }
}
