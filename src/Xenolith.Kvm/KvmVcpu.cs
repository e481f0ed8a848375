using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xenolith.Kvm.Interop;

namespace Xenolith.Kvm;

/// <summary>
/// One KVM vCPU and its mmap'd kvm_run. Registers travel through kvm_run's sync_regs on every
/// exit (KVM_CAP_SYNC_REGS): each vCPU ioctl costs ~4.5 µs on these hosts, sync_regs costs nothing.
/// </summary>
public sealed unsafe class KvmVcpu : IDisposable
{
    private const int ExitUnionOffset = 32;
    private const int ValidRegsOffset = 288;
    private const int DirtyRegsOffset = 296;
    private const int SyncRegsOffset = 304;
    private const int SyncSregsOffset = SyncRegsOffset + 144;
    private const ulong SyncRegs = 1, SyncSregs = 2;

    private readonly KvmFileHandle _handle;
    private readonly byte* _run;
    private readonly int _runSize;
    private bool _disposed;

    internal KvmVcpu(KvmFileHandle handle, int id, int runSize)
    {
        _handle = handle;
        Id = id;
        _runSize = runSize;
        nint run = Libc.Mmap(0, (nuint)runSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, handle.Fd, 0);
        if (run == Libc.MAP_FAILED)
        {
            handle.Dispose();
            throw Errno.Exception("mmap kvm_run");
        }
        _run = (byte*)run;
        // Ask KVM to copy regs and sregs into kvm_run on every exit.
        *(ulong*)(_run + ValidRegsOffset) = SyncRegs | SyncSregs;
    }

    public int Id { get; }

    private ref KvmRunHeader Header => ref Unsafe.AsRef<KvmRunHeader>(_run);

    public KvmExitReason ExitReason => (KvmExitReason)Header.ExitReason;

    /// <summary>General registers as of the last exit; writes take effect if <see cref="MarkRegsDirty"/> is called.</summary>
    public ref KvmRegs Regs => ref Unsafe.AsRef<KvmRegs>(_run + SyncRegsOffset);

    /// <summary>Special registers as of the last exit; writes take effect if <see cref="MarkSregsDirty"/> is called (costly: avoid on hot paths).</summary>
    public ref KvmSregs Sregs => ref Unsafe.AsRef<KvmSregs>(_run + SyncSregsOffset);

    public ref readonly KvmIoExit Io => ref Unsafe.AsRef<KvmIoExit>(_run + ExitUnionOffset);

    /// <summary>The data bytes of an I/O exit, bounds-checked against the kvm_run mapping.</summary>
    public Span<byte> IoData
    {
        get
        {
            ref readonly KvmIoExit io = ref Io;
            ulong length = (ulong)io.Size * io.Count;
            if (io.DataOffset > (ulong)_runSize || length > (ulong)_runSize - io.DataOffset)
                throw new InvalidOperationException("kvm_run I/O data lies outside the kvm_run mapping");
            return new Span<byte>(_run + io.DataOffset, (int)length);
        }
    }

    /// <summary>The raw exit union (256 bytes), for diagnostics of exits Xenolith does not decode.</summary>
    public ReadOnlySpan<ulong> ExitData => new(_run + ExitUnionOffset, 32);

    /// <summary>Set before KVM_RUN (or from another thread) to make the next KVM_RUN return at once.</summary>
    public bool ImmediateExit
    {
        get => Volatile.Read(ref Header.ImmediateExit) != 0;
        set => Volatile.Write(ref Header.ImmediateExit, value ? (byte)1 : (byte)0);
    }

    public void MarkRegsDirty() => *(ulong*)(_run + DirtyRegsOffset) |= SyncRegs;

    public void MarkSregsDirty() => *(ulong*)(_run + DirtyRegsOffset) |= SyncSregs;

    /// <summary>Enters the guest until the next exit. Returns false if the run was interrupted (EINTR) before any exit.</summary>
    public bool Run()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int result = Libc.Ioctl(_handle.Fd, KvmIoctl.Run, 0);
        if (result < 0)
        {
            int errno = Errno.Last;
            if (errno is Errno.EINTR or Errno.EAGAIN)
                return false;
            throw new KvmException("KVM_RUN", errno);
        }
        return true;
    }

    /// <summary>
    /// The signal that interrupts KVM_RUN when another thread needs this vCPU (an event to deliver,
    /// a pause): a real-time signal the .NET runtime does not use (it takes SIGRTMIN itself).
    /// </summary>
    public const int KickSignal = 40;

    private nuint _thread;

    /// <summary>
    /// Prepares the calling thread (the one that will run KVM_RUN) to be kicked: the kick signal is
    /// blocked on this thread except inside KVM_RUN (KVM_SET_SIGNAL_MASK). A kick that arrives while
    /// the guest runs ends KVM_RUN with EINTR; one that arrives outside it stays pending, so the next
    /// KVM_RUN returns at once and no kick is ever lost. The signal is never delivered to a handler,
    /// so none is installed. Call <see cref="ConsumeKick"/> after an interrupted run.
    /// </summary>
    public void BindKickToCurrentThread()
    {
        Libc.SigSet kick = Libc.SigSet.Of(KickSignal), old;
        int rc = Libc.PthreadSigmask(Libc.SIG_BLOCK, &kick, &old);
        if (rc != 0)
            throw new KvmException("pthread_sigmask", rc);
        // KVM's struct kvm_signal_mask: the length of the kernel's sigset (8), then the set.
        byte* mask = stackalloc byte[4 + sizeof(ulong)];
        *(uint*)mask = sizeof(ulong);
        *(ulong*)(mask + 4) = old.Without(KickSignal).KernelMask;
        KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.SetSignalMask, mask), "KVM_SET_SIGNAL_MASK");
        Volatile.Write(ref _thread, Libc.PthreadSelf());
    }

    /// <summary>
    /// Interrupts KVM_RUN on the vCPU's thread (or makes its next one return at once). The caller
    /// guarantees the thread is still alive: signalling an exited thread is undefined behaviour.
    /// </summary>
    public void Kick()
    {
        nuint thread = Volatile.Read(ref _thread);
        if (thread == 0)
            throw new InvalidOperationException("the vCPU thread has not bound the kick signal");
        int rc = Libc.PthreadKill(thread, KickSignal);
        if (rc != 0)
            throw new KvmException("pthread_kill", rc);
    }

    /// <summary>Clears a pending kick on the calling (vCPU) thread, so the next KVM_RUN enters the guest.</summary>
    public void ConsumeKick()
    {
        Libc.SigSet kick = Libc.SigSet.Of(KickSignal);
        Libc.Timespec now = default;
        while (Libc.SigTimedWait(&kick, null, &now) == KickSignal)
        {
        }
    }

    public KvmRegs GetRegs()
    {
        KvmRegs regs;
        KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.GetRegs, &regs), "KVM_GET_REGS");
        return regs;
    }

    public void SetRegs(in KvmRegs regs)
    {
        fixed (KvmRegs* p = &regs)
            KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.SetRegs, p), "KVM_SET_REGS");
    }

    public KvmSregs GetSregs()
    {
        KvmSregs sregs;
        KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.GetSregs, &sregs), "KVM_GET_SREGS");
        return sregs;
    }

    /// <summary>Loads special registers with a full ioctl: for vCPU setup, not the exit path.</summary>
    public void SetSregs(in KvmSregs sregs)
    {
        fixed (KvmSregs* p = &sregs)
            KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.SetSregs, p), "KVM_SET_SREGS");
    }

    /// <summary>Reads DR0-DR3, DR6 and DR7 with a full ioctl (they are not in sync_regs).</summary>
    public KvmDebugRegs GetDebugRegs()
    {
        KvmDebugRegs regs;
        KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.GetDebugRegs, &regs), "KVM_GET_DEBUGREGS");
        return regs;
    }

    /// <summary>Loads DR0-DR3, DR6 and DR7 with a full ioctl. KVM refuses non-zero flags and upper bits in DR6/DR7.</summary>
    public void SetDebugRegs(in KvmDebugRegs regs)
    {
        fixed (KvmDebugRegs* p = &regs)
            KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.SetDebugRegs, p), "KVM_SET_DEBUGREGS");
    }

    /// <summary>The frequency the guest's time-stamp counter runs at, in kHz (KVM_GET_TSC_KHZ answers in its return value).</summary>
    public uint GetTscKhz() => (uint)KvmSystem.Check(Libc.Ioctl(_handle.Fd, KvmIoctl.GetTscKhz, 0), "KVM_GET_TSC_KHZ");

    public void SetCpuid(ReadOnlySpan<KvmCpuidEntry2> entries) =>
        IoctlWithEntries(KvmIoctl.SetCpuid2, "KVM_SET_CPUID2", entries);

    public void SetMsrs(ReadOnlySpan<KvmMsrEntry> entries)
    {
        int set = IoctlWithEntries(KvmIoctl.SetMsrs, "KVM_SET_MSRS", entries);
        if (set != entries.Length)
            throw new KvmException($"KVM_SET_MSRS set {set} of {entries.Length} MSRs (MSR 0x{entries[set].Index:x} refused)", 0);
    }

    /// <summary>Reads one MSR with KVM_GET_MSRS (an ioctl: for emulation slow paths only).</summary>
    public ulong GetMsr(uint index)
    {
        Span<KvmMsrEntry> entry = [new KvmMsrEntry(index, 0)];
        if (IoctlWithEntries(KvmIoctl.GetMsrs, "KVM_GET_MSRS", entry, entry) != 1)
            throw new KvmException($"KVM_GET_MSRS did not read MSR 0x{index:x}", 0);
        return entry[0].Data;
    }

    /// <summary>
    /// The kvm_cpuid2 / kvm_msrs shape: a u32 count, 4 bytes of padding, then the entries. For ioctls
    /// that fill the entries in, <paramref name="result"/> receives them afterwards.
    /// </summary>
    private int IoctlWithEntries<T>(nuint request, string name, ReadOnlySpan<T> entries, Span<T> result = default) where T : unmanaged
    {
        int size = 8 + entries.Length * sizeof(T);
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)size);
        try
        {
            *(uint*)buffer = (uint)entries.Length;
            entries.CopyTo(new Span<T>(buffer + 8, entries.Length));
            int done = KvmSystem.Check(Libc.Ioctl(_handle.Fd, request, buffer), name);
            new ReadOnlySpan<T>(buffer + 8, entries.Length)[..result.Length].CopyTo(result);
            return done;
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Libc.Munmap((nint)_run, (nuint)_runSize);
        _handle.Dispose();
    }
}
