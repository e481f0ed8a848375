using System.Runtime.InteropServices;
using Xenolith.Kvm.Interop;

namespace Xenolith.Kvm;

/// <summary>Owns one file descriptor: /dev/kvm, a VM, a vCPU or a memfd.</summary>
internal sealed class KvmFileHandle : SafeHandle
{
    public KvmFileHandle(int fd) : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}
