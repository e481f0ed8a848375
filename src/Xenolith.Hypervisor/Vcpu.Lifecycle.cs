using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Hypercalls;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xenolith.Hypervisor.Pv.Descriptors;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor;

// Up, down, VCPUOP_initialise and domain pause: when the vCPU's thread may enter the guest.
public sealed partial class Vcpu
{
    private volatile bool _online;
    private volatile bool _parked;

    /// <summary>Registers and segments VCPUOP_initialise set, applied by the vCPU's own thread before it next runs.</summary>
    private (KvmRegs Regs, ushort Cs, ushort Ss, ulong FsBase, ulong GsBase, ulong Cr3)? _pendingContext;

    /// <summary>Given a context (by the builder or VCPUOP_initialise): only then may it come up.</summary>
    public bool IsInitialised { get; private set; }

    /// <summary>VCPUOP_is_up: brought up and not brought down.</summary>
    public bool IsUp => _online;

    /// <summary>Not running guest code and not about to: parked (down or paused), blocked, or stopped.</summary>
    internal bool IsQuiescent => _stop || _thread is null || Volatile.Read(ref _inGuest) == 0 && (_parked || IsBlocked);

    /// <summary>Parks the thread while the vCPU is down or its domain paused; then applies a new context, if any.</summary>
    private void WaitUntilRunnable()
    {
        // Every exit passes here: the common case must cost no lock.
        if (_online && !Domain.IsPaused && _pendingContext is null && _runstate == Runstate.Running)
            return;
        while (!_stop && !(_online && !Domain.IsPaused))
        {
            SetRunstate(Runstate.Offline);
            _parked = true;
            _wake.Reset();
            if (_stop || _online && !Domain.IsPaused)
                break;
            _wake.Wait();
        }
        _parked = false;
        if (_stop)
            return;
        if (_pendingContext is { } context)
        {
            _pendingContext = null;
            LoadContext(context.Regs, context.Cs, context.Ss, context.FsBase, context.GsBase, context.Cr3);
        }
        SetRunstate(Runstate.Running);
    }

    /// <summary>VCPUOP_up: -EINVAL until initialised (Xen's rule).</summary>
    internal long BringUp()
    {
        if (!IsInitialised)
            return -XenErrno.EINVAL;
        _online = true;
        Kick();
        return 0;
    }

    /// <summary>VCPUOP_down: the vCPU stops before it next enters the guest (at once, when it downs itself).</summary>
    internal void BringDown()
    {
        _online = false;
        Kick();
    }

    /// <summary>
    /// VCPUOP_initialise (Xen's arch_set_info_guest for a 64-bit PV vCPU) from another vCPU of the
    /// domain, while this one is down: -EEXIST once initialised, -EINVAL for a non-canonical address,
    /// a bad selector, GDT, debug register or LDT, or page-table bases that are not valid L4s of the
    /// domain. The registers are loaded by this vCPU's own thread when it comes up.
    /// </summary>
    internal long Initialise(ReadOnlySpan<byte> context)
    {
        // Two vCPUs initialising the same third one: the second must see -EEXIST, not half a context.
        lock (_initialiseLock)
            return InitialiseLocked(context);
    }

    private readonly Lock _initialiseLock = new();

    private long InitialiseLocked(ReadOnlySpan<byte> context)
    {
        if (IsInitialised)
            return -XenErrno.EEXIST;
        ulong[] words = MemoryMarshal.Cast<byte, ulong>(context).ToArray();
        ulong Word(int offset) => words[offset / sizeof(ulong)];
        CpuUserRegs user = MemoryMarshal.Read<CpuUserRegs>(context[VcpuGuestContext.UserRegs..]);
        ulong flags = Word(VcpuGuestContext.Flags);
        ReadOnlySpan<TrapInfo> traps = MemoryMarshal.Cast<byte, TrapInfo>(context.Slice(VcpuGuestContext.TrapContext, 256 * TrapInfo.Size));
        ulong kernelCr3 = Word(VcpuGuestContext.ControlRegisters + 3 * 8);
        ulong userCr3 = Word(VcpuGuestContext.ControlRegisters + 1 * 8);
        bool inKernel = (flags & VcpuGuestContext.FlagInKernel) != 0;

        foreach (ulong address in (ReadOnlySpan<ulong>)[user.Rip, user.Rsp, Word(VcpuGuestContext.EventCallback),
                     Word(VcpuGuestContext.FailsafeCallback), Word(VcpuGuestContext.SyscallCallback), Word(VcpuGuestContext.LdtBase),
                     Word(VcpuGuestContext.FsBase), Word(VcpuGuestContext.GsBaseKernel), Word(VcpuGuestContext.GsBaseUser)])
        {
            if (!GuestPageTables.IsCanonical(address))
                return -XenErrno.EINVAL;
        }
        foreach (TrapInfo trap in traps)
        {
            if (!GuestPageTables.IsCanonical(trap.Address))
                return -XenErrno.EINVAL;
        }
        ulong ldtBase = Word(VcpuGuestContext.LdtBase), ldtEntries = Word(VcpuGuestContext.LdtEntries);
        if (ldtEntries > 8192 || ldtBase % MachineMemory.PageSize != 0)
            return -XenErrno.EINVAL;
        if (!inKernel && userCr3 == 0)
            return -XenErrno.EINVAL;

        var pv = new PvVcpuState();
        for (int i = 0; i < VcpuGuestContext.DebugRegisterCount; i++)
        {
            if (i is 4 or 5)
                continue;
            if (DebugRegisters.Set(pv, i, Word(VcpuGuestContext.DebugRegisters + i * 8)) != 0)
                return -XenErrno.EINVAL;
        }

        ulong gdtEntries = Word(VcpuGuestContext.GdtEntries);
        if (gdtEntries > GuestGdt.MaxEntries)
            return -XenErrno.EINVAL;
        Span<ulong> frames = stackalloc ulong[VcpuGuestContext.GdtFrameCount];
        MemoryMarshal.Cast<byte, ulong>(context.Slice(VcpuGuestContext.GdtFrames, VcpuGuestContext.GdtFrameCount * 8)).CopyTo(frames);
        int gdtFrames = (int)((gdtEntries + GuestGdt.EntriesPerFrame - 1) / GuestGdt.EntriesPerFrame);
        long rc = DescriptorTableHypercalls.SetGdt(this, frames[..gdtFrames], (uint)gdtEntries);
        if (rc != 0)
            return rc;

        ushort cs = TrapHypercalls.FixupSelector(user.Cs), ss = TrapHypercalls.FixupSelector(user.Ss);
        if (!TryLoadSegment(cs, SegmentLoad.Code, out _) || !TryLoadSegment(ss, SegmentLoad.Stack, out _))
            return -XenErrno.EINVAL;

        ulong kernelBase = kernelCr3 >> MachineMemory.PageShift, userBase = userCr3 >> MachineMemory.PageShift;
        if (ReplaceBaseReference(0, kernelBase) != 0)
            return -XenErrno.EINVAL;
        if (userBase != 0 && ReplaceBaseReference(0, userBase) != 0)
        {
            ReplaceBaseReference(kernelBase, 0);
            return -XenErrno.EINVAL;
        }

        // Validated: from here nothing fails.
        traps.CopyTo(Pv.TrapTable);
        foreach (ref TrapInfo trap in Pv.TrapTable.AsSpan())
            trap.Cs = TrapHypercalls.FixupSelector(trap.Cs);
        Pv.EventCallback = Word(VcpuGuestContext.EventCallback);
        Pv.FailsafeCallback = Word(VcpuGuestContext.FailsafeCallback);
        Pv.SyscallCallback = Word(VcpuGuestContext.SyscallCallback);
        Pv.FailsafeDisablesEvents = (flags & VcpuGuestContext.FlagFailsafeDisablesEvents) != 0;
        Pv.SyscallDisablesEvents = (flags & VcpuGuestContext.FlagSyscallDisablesEvents) != 0;
        Pv.KernelSs = TrapHypercalls.FixupSelector((ushort)Word(VcpuGuestContext.KernelSs));
        Pv.KernelSp = Word(VcpuGuestContext.KernelSp);
        Pv.LdtBase = ldtBase;
        Pv.LdtEntries = (uint)ldtEntries;
        pv.DebugAddress.CopyTo(Pv.DebugAddress, 0);
        Pv.Dr6 = pv.Dr6;
        Pv.Dr7 = pv.Dr7;
        Pv.Iopl = (int)((user.Rflags >> 12) & 3);
        Pv.KernelBaseMfn = kernelBase;
        Pv.UserBaseMfn = userBase;
        InKernelMode = inKernel;
        ulong gsKernel = Word(VcpuGuestContext.GsBaseKernel), gsUser = Word(VcpuGuestContext.GsBaseUser);
        Pv.InactiveGsBase = inKernel ? gsUser : gsKernel;
        var regs = new KvmRegs
        {
            R15 = user.R15, R14 = user.R14, R13 = user.R13, R12 = user.R12, Rbp = user.Rbp, Rbx = user.Rbx,
            R11 = user.R11, R10 = user.R10, R9 = user.R9, R8 = user.R8, Rax = user.Rax, Rcx = user.Rcx,
            Rdx = user.Rdx, Rsi = user.Rsi, Rdi = user.Rdi, Rip = user.Rip, Rsp = user.Rsp,
            Rflags = (user.Rflags & X86.RflagsGuestMask & ~X86.RflagsIopl) | X86.RflagsReserved | X86.RflagsIf,
        };
        _pendingContext = (regs, cs, ss, Word(VcpuGuestContext.FsBase), inKernel ? gsKernel : gsUser,
            (inKernel ? kernelBase : userBase) << MachineMemory.PageShift);
        IsInitialised = true;
        return 0;
    }

    /// <summary>Loads an initialised context into KVM: on the vCPU's own thread, before it first runs.</summary>
    private void LoadContext(in KvmRegs regs, ushort csSelector, ushort ssSelector, ulong fsBase, ulong gsBase, ulong cr3)
    {
        if (!TryLoadSegment(csSelector, SegmentLoad.Code, out KvmSegment cs) || !TryLoadSegment(ssSelector, SegmentLoad.Stack, out KvmSegment ss))
        {
            CrashWithDump($"cannot load cs {csSelector:x4} / ss {ssSelector:x4} of the initialised context");
            return;
        }
        KvmSregs sregs = _kvm.GetSregs();
        sregs.Cs = cs;
        sregs.Ss = ss;
        sregs.Fs.Base = fsBase;
        sregs.Gs.Base = gsBase;
        sregs.Cr3 = cr3;
        _kvm.SetSregs(sregs);
        _kvm.SetRegs(regs);
        _registersValid = false;
        _frameLoaded = false;
    }
}
