using System.Runtime.InteropServices;

namespace Xenolith.Kvm.Interop;

internal static partial class Libc
{
    internal const uint MFD_CLOEXEC = 0x1;

    [LibraryImport(Name, EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int MemfdCreate(string name, uint flags);

    [LibraryImport(Name, EntryPoint = "ftruncate", SetLastError = true)]
    internal static partial int Ftruncate(int fd, long length);
}
