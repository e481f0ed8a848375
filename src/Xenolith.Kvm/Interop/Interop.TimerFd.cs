using System.Runtime.InteropServices;

namespace Xenolith.Kvm.Interop;

internal static partial class Libc
{
    internal const int CLOCK_MONOTONIC = 1;
    internal const int TFD_CLOEXEC = 0x80000;
    internal const int TFD_TIMER_ABSTIME = 1;

    [StructLayout(LayoutKind.Sequential)]
    internal struct Itimerspec
    {
        internal Timespec Interval;
        internal Timespec Value;
    }

    [LibraryImport(Name, EntryPoint = "timerfd_create", SetLastError = true)]
    internal static partial int TimerfdCreate(int clock, int flags);

    [LibraryImport(Name, EntryPoint = "timerfd_settime", SetLastError = true)]
    internal static unsafe partial int TimerfdSettime(int fd, int flags, Itimerspec* value, Itimerspec* old);

    [LibraryImport(Name, EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(int fd, void* buffer, nuint count);
}
