using System.Runtime.CompilerServices;
using Xenolith.Kvm.Interop;

namespace Xenolith.Kvm.Memory;

/// <summary>
/// A shared mapping of a memfd (the machine memory pool): every access goes through a
/// bounds-checked span or reference, so a bad offset is an exception, never a stray write.
/// </summary>
public sealed unsafe class MemoryBlock : IDisposable
{
    private readonly KvmFileHandle _memfd;
    private byte* _base;

    private MemoryBlock(KvmFileHandle memfd, byte* baseAddress, ulong size)
    {
        _memfd = memfd;
        _base = baseAddress;
        Size = size;
    }

    public ulong Size { get; }

    internal nint HostAddress => (nint)_base;

    /// <summary>Creates a zero-filled pool backed lazily by a memfd.</summary>
    public static MemoryBlock CreateShared(ulong size, string name)
    {
        if (size == 0 || (size & 0xfff) != 0)
            throw new ArgumentOutOfRangeException(nameof(size), "size must be a non-zero multiple of 4 KiB");
        int fd = Libc.MemfdCreate(name, Libc.MFD_CLOEXEC);
        if (fd < 0)
            throw Errno.Exception("memfd_create");
        var handle = new KvmFileHandle(fd);
        if (Libc.Ftruncate(fd, (long)size) != 0)
        {
            handle.Dispose();
            throw Errno.Exception("ftruncate memfd");
        }
        nint address = Libc.Mmap(0, (nuint)size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_NORESERVE, fd, 0);
        if (address == Libc.MAP_FAILED)
        {
            handle.Dispose();
            throw Errno.Exception("mmap memfd");
        }
        return new MemoryBlock(handle, (byte*)address, size);
    }

    public bool Contains(ulong offset, ulong length) => offset <= Size && length <= Size - offset;

    public Span<byte> GetSpan(ulong offset, int length)
    {
        CheckRange(offset, (ulong)length);
        return new Span<byte>(_base + offset, length);
    }

    public ref T GetRef<T>(ulong offset) where T : unmanaged
    {
        CheckRange(offset, (ulong)sizeof(T));
        return ref Unsafe.AsRef<T>(_base + offset);
    }

    public T Read<T>(ulong offset) where T : unmanaged
    {
        CheckRange(offset, (ulong)sizeof(T));
        return Unsafe.ReadUnaligned<T>(_base + offset);
    }

    public void Write<T>(ulong offset, T value) where T : unmanaged
    {
        CheckRange(offset, (ulong)sizeof(T));
        Unsafe.WriteUnaligned(_base + offset, value);
    }

    private void CheckRange(ulong offset, ulong length)
    {
        if (_base == null)
            ThrowDisposed();
        if (!Contains(offset, length))
            ThrowOutOfRange(offset, length);
    }

    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(MemoryBlock));

    private void ThrowOutOfRange(ulong offset, ulong length) =>
        throw new ArgumentOutOfRangeException(nameof(offset), $"range 0x{offset:x}+0x{length:x} lies outside the 0x{Size:x}-byte block");

    public void Dispose()
    {
        if (_base == null)
            return;
        Libc.Munmap((nint)_base, (nuint)Size);
        _base = null;
        _memfd.Dispose();
    }
}
