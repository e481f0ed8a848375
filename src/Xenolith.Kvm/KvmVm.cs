using Xenolith.Kvm.Interop;
using Xenolith.Kvm.Memory;

namespace Xenolith.Kvm;

/// <summary>One KVM virtual machine: its memory slots and its vCPUs.</summary>
public sealed unsafe class KvmVm : IDisposable
{
    private readonly KvmFileHandle _handle;
    private readonly KvmSystem _system;

    internal KvmVm(KvmFileHandle handle, KvmSystem system)
    {
        _handle = handle;
        _system = system;
    }

    /// <summary>Maps <paramref name="block"/> into guest-physical space at <paramref name="guestPhysicalAddress"/>.</summary>
    public void MapMemory(uint slot, ulong guestPhysicalAddress, MemoryBlock block)
    {
        var region = new KvmUserspaceMemoryRegion
        {
            Slot = slot,
            GuestPhysAddr = guestPhysicalAddress,
            MemorySize = block.Size,
            UserspaceAddr = (ulong)block.HostAddress,
        };
        KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.SetUserMemoryRegion, &region), "KVM_SET_USER_MEMORY_REGION");
    }

    /// <summary>Removes a memory slot.</summary>
    public void UnmapMemory(uint slot)
    {
        var region = new KvmUserspaceMemoryRegion { Slot = slot };
        KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.SetUserMemoryRegion, &region), "KVM_SET_USER_MEMORY_REGION");
    }

    public KvmVcpu CreateVcpu(int id)
    {
        int fd = KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.CreateVcpu, (nuint)id), "KVM_CREATE_VCPU");
        return new KvmVcpu(new KvmFileHandle(fd), id, _system.VcpuMmapSize);
    }

    public void Dispose() => _handle.Dispose();
}
