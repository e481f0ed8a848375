using Xenolith.Kvm.Interop;

namespace Xenolith.Kvm.Host;

/// <summary>
/// A timerfd on CLOCK_MONOTONIC (the clock <see cref="System.Diagnostics.Stopwatch"/> reads on
/// Linux): one thread blocks in <see cref="Wait"/> while any thread re-arms it, and a re-arm takes
/// effect on the blocked wait at once. Microsecond wake-ups, where managed waits round to milliseconds.
/// </summary>
public sealed unsafe class MonotonicTimer : IDisposable
{
    private readonly int _fd;
    private bool _disposed;

    public MonotonicTimer()
    {
        _fd = Libc.TimerfdCreate(Libc.CLOCK_MONOTONIC, Libc.TFD_CLOEXEC);
        if (_fd < 0)
            throw Errno.Exception("timerfd_create");
    }

    /// <summary>Fires at <paramref name="monotonicNanoseconds"/> (at once if it has passed); 0 disarms.</summary>
    public void ArmAt(long monotonicNanoseconds)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Libc.Itimerspec spec = default;
        if (monotonicNanoseconds > 0)
        {
            spec.Value.Seconds = monotonicNanoseconds / 1_000_000_000;
            spec.Value.Nanoseconds = monotonicNanoseconds % 1_000_000_000;
        }
        if (Libc.TimerfdSettime(_fd, Libc.TFD_TIMER_ABSTIME, &spec, null) != 0)
            throw Errno.Exception("timerfd_settime");
    }

    /// <summary>Blocks until the armed time has passed (returns at once if it already has).</summary>
    public void Wait()
    {
        ulong expirations;
        while (Libc.Read(_fd, &expirations, sizeof(ulong)) < 0)
        {
            if (Errno.Last != Errno.EINTR)
                throw Errno.Exception("read timerfd");
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Libc.Close(_fd);
    }
}
