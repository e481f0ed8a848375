using System.Runtime.InteropServices;

namespace Xenolith.Kvm.Interop;

internal static partial class Libc
{
    internal const int SIG_BLOCK = 0;

    /// <summary>glibc's sigset_t: 1024 bits (the kernel uses only the first 64).</summary>
    [StructLayout(LayoutKind.Sequential, Size = 128)]
    internal struct SigSet
    {
        private ulong _first;

        internal static SigSet Of(int signal) => new() { _first = 1UL << (signal - 1) };

        internal readonly ulong KernelMask => _first;

        internal readonly SigSet Without(int signal) => new() { _first = _first & ~(1UL << (signal - 1)) };
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        internal long Seconds;
        internal long Nanoseconds;
    }

    // pthread_sigmask and pthread_kill return the error number instead of setting errno.
    [LibraryImport(Name, EntryPoint = "pthread_sigmask")]
    internal static unsafe partial int PthreadSigmask(int how, SigSet* set, SigSet* oldSet);

    [LibraryImport(Name, EntryPoint = "pthread_self")]
    internal static partial nuint PthreadSelf();

    [LibraryImport(Name, EntryPoint = "pthread_kill")]
    internal static partial int PthreadKill(nuint thread, int signal);

    [LibraryImport(Name, EntryPoint = "sigtimedwait", SetLastError = true)]
    internal static unsafe partial int SigTimedWait(SigSet* set, void* info, Timespec* timeout);
}
