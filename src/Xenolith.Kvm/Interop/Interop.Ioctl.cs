using System.Runtime.InteropServices;

namespace Xenolith.Kvm.Interop;

internal static partial class Libc
{
    // ioctl is variadic in C; on x86-64 SysV an integer/pointer third argument is passed
    // the same way for variadic and fixed-arity calls, so two fixed overloads suffice.
    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(int fd, nuint request, nuint argument);

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static unsafe partial int Ioctl(int fd, nuint request, void* argument);
}
