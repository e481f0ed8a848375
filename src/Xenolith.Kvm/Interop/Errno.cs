using System.Runtime.InteropServices;

namespace Xenolith.Kvm.Interop;

/// <summary>The few errno values the KVM layer reacts to, and the one place errno becomes an exception.</summary>
internal static class Errno
{
    internal const int EINTR = 4;
    internal const int EAGAIN = 11;

    internal static int Last => Marshal.GetLastPInvokeError();

    internal static KvmException Exception(string operation) => new(operation, Last);
}
