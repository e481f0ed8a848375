using System.Runtime.InteropServices;
using Xenolith.Kvm.Interop;

namespace Xenolith.Kvm;

/// <summary>The /dev/kvm system handle: capability queries and VM creation.</summary>
public sealed unsafe class KvmSystem : IDisposable
{
    public const string DevicePath = "/dev/kvm";
    private const int ExpectedApiVersion = 12;

    private readonly KvmFileHandle _handle;

    private KvmSystem(KvmFileHandle handle)
    {
        _handle = handle;
        VcpuMmapSize = Check(Libc.Ioctl(handle.Fd, KvmIoctl.GetVcpuMmapSize, 0), "KVM_GET_VCPU_MMAP_SIZE");
    }

    /// <summary>Size of the kvm_run area each vCPU maps.</summary>
    public int VcpuMmapSize { get; }

    /// <summary>
    /// Whether KVM here is the PVM backend (pagetable-based software virtualization), whose CPL3
    /// guest code runs on the host's own control registers: a guest CR0.TS, for one, never traps.
    /// </summary>
    public static bool IsPvmBackend => Directory.Exists("/sys/module/kvm_pvm");

    /// <summary>True when /dev/kvm exists and this process may open it.</summary>
    public static bool IsAvailable(out string reason)
    {
        int fd = Libc.Open(DevicePath, Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            reason = $"{DevicePath}: {Marshal.GetPInvokeErrorMessage(Errno.Last)}";
            return false;
        }
        Libc.Close(fd);
        reason = "";
        return true;
    }

    public static KvmSystem Open()
    {
        int fd = Libc.Open(DevicePath, Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0)
            throw Errno.Exception($"open {DevicePath}");
        var handle = new KvmFileHandle(fd);
        int version = Libc.Ioctl(fd, KvmIoctl.GetApiVersion, 0);
        if (version != ExpectedApiVersion)
        {
            handle.Dispose();
            throw new KvmException($"KVM_GET_API_VERSION returned {version}, expected {ExpectedApiVersion}", 0);
        }
        return new KvmSystem(handle);
    }

    public int CheckExtension(KvmCapability capability) =>
        Math.Max(0, Libc.Ioctl(_handle.Fd, KvmIoctl.CheckExtension, (nuint)capability));

    public KvmVm CreateVm()
    {
        int fd = Check(Libc.Ioctl(_handle.Fd, KvmIoctl.CreateVm, 0), "KVM_CREATE_VM");
        return new KvmVm(new KvmFileHandle(fd), this);
    }

    /// <summary>The CPUID entries KVM can present to a guest (KVM_GET_SUPPORTED_CPUID).</summary>
    public KvmCpuidEntry2[] GetSupportedCpuid()
    {
        const int MaxEntries = 256;
        int size = 8 + MaxEntries * sizeof(KvmCpuidEntry2);
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)size);
        try
        {
            *(uint*)buffer = MaxEntries;
            Check(Libc.Ioctl(_handle.Fd, KvmIoctl.GetSupportedCpuid, buffer), "KVM_GET_SUPPORTED_CPUID");
            uint count = *(uint*)buffer;
            return new ReadOnlySpan<KvmCpuidEntry2>(buffer + 8, (int)count).ToArray();
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    public void Dispose() => _handle.Dispose();

    internal static int Check(int result, string operation) => result < 0 ? throw Errno.Exception(operation) : result;
}

/// <summary>KVM_CAP_* numbers Xenolith asks about.</summary>
public enum KvmCapability : uint
{
    UserMemory = 3,
    SyncRegs = 74,
    ImmediateExit = 136,
    X86UserSpaceMsr = 188,
    X86MsrFilter = 189,
}
