using System.Runtime.InteropServices;

namespace Xenolith.Kvm;

/// <summary>A failed host call into KVM or the kernel, naming the operation and the errno.</summary>
public sealed class KvmException : Exception
{
    public KvmException(string operation, int errno)
        : base($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})")
    {
        Operation = operation;
        ErrorNumber = errno;
    }

    public string Operation { get; }

    public int ErrorNumber { get; }
}
