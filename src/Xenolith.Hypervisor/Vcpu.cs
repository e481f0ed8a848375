using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Hypercalls;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor;

/// <summary>
/// One PV vCPU: a KVM vCPU running the guest at CPL3, and the host thread that runs KVM_RUN and
/// handles every exit in C#. Registers come and go through sync_regs only.
/// </summary>
public sealed class Vcpu : IDisposable
{
    private readonly KvmVcpu _kvm;
    private Thread? _thread;
    private volatile bool _stop;

    internal Vcpu(Domain domain, int id, VcpuArea area, in VcpuStartState start)
    {
        Domain = domain;
        Id = id;
        Area = area;
        _kvm = domain.Vm.CreateVcpu(id);
        try
        {
            Configure(start);
        }
        catch
        {
            _kvm.Dispose();
            throw;
        }
    }

    public Domain Domain { get; }
    public int Id { get; }
    public VcpuArea Area { get; }

    /// <summary>Guest kernel or guest user mode: both run at CPL3; the hypervisor tracks which.</summary>
    public bool InKernelMode { get; internal set; } = true;

    /// <summary>Exits handled so far (all kinds): a cheap progress counter for tests and benchmarks.</summary>
    public long Exits { get; private set; }

    private GuestPageTables Memory => Domain.Xen.GuestMemory;

    private void Configure(in VcpuStartState start)
    {
        _kvm.SetCpuid(Domain.Xen.Cpuid);

        KvmSregs sregs = _kvm.GetSregs();
        sregs.Cr0 = X86.Cr0Pe | X86.Cr0Mp | X86.Cr0Et | X86.Cr0Ne | X86.Cr0Wp | X86.Cr0Pg;
        sregs.Cr4 = X86.Cr4Pae | X86.Cr4Osfxsr | X86.Cr4Osxmmexcpt;
        sregs.Efer = X86.EferSce | X86.EferLme | X86.EferLma | X86.EferNxe;
        sregs.Cr3 = start.Cr3;
        sregs.Cs = Segment(X86Layout.FlatKernelCs64, type: 0xb, longMode: true);
        sregs.Ss = Segment(X86Layout.FlatKernelSs64, type: 0x3, longMode: false);
        sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = NullSegment();
        sregs.Ldt = NullSegment();
        sregs.Ldt.Type = 2;
        sregs.Tr = new KvmSegment
        {
            Base = Area.TssVa, Limit = HypervisorLayout.TssLimit, Selector = HypervisorLayout.TssSelector,
            Type = 0xb, Present = 1,
        };
        sregs.Gdt = new KvmDtable { Base = Area.GdtVa, Limit = HypervisorLayout.GdtPages * 4096 - 1 };
        sregs.Idt = new KvmDtable { Base = HypervisorLayout.IdtVa, Limit = 256 * 16 - 1 };
        _kvm.SetSregs(sregs);

        _kvm.SetMsrs([
            // On hardware KVM syscall enters CPL0 with CS 0xe008; on PVM it stays at CPL3. Either way LSTAR is the stub.
            new KvmMsrEntry(X86.MsrStar, (ulong)HypervisorLayout.HypervisorCs << 32),
            new KvmMsrEntry(X86.MsrLstar, HypervisorLayout.SyscallStubVa),
            new KvmMsrEntry(X86.MsrCstar, HypervisorLayout.SyscallStubVa),
            new KvmMsrEntry(X86.MsrSfmask, 0x4_7700),
            new KvmMsrEntry(X86.MsrFsBase, 0),
            new KvmMsrEntry(X86.MsrGsBase, 0),
            new KvmMsrEntry(X86.MsrKernelGsBase, 0),
        ]);

        _kvm.SetRegs(new KvmRegs
        {
            Rip = start.Rip, Rsp = start.Rsp, Rsi = start.Rsi,
            Rflags = X86.RflagsReserved | X86.RflagsIf,
        });
    }

    private static KvmSegment Segment(ushort selector, byte type, bool longMode) => new()
    {
        Base = 0, Limit = 0xffff_ffff, Selector = selector, Type = type, Present = 1, Dpl = 3, S = 1,
        L = longMode ? (byte)1 : (byte)0, Db = longMode ? (byte)0 : (byte)1, G = 1,
    };

    private static KvmSegment NullSegment() => new() { Unusable = 1 };

    internal void Start()
    {
        _thread = new Thread(RunLoop) { IsBackground = true, Name = $"d{Domain.Id}v{Id}" };
        _thread.Start();
    }

    internal void RequestStop()
    {
        _stop = true;
        _kvm.ImmediateExit = true;
    }

    private void RunLoop()
    {
        try
        {
            while (!_stop)
            {
                if (!_kvm.Run())
                    continue;
                Exits++;
                HandleExit();
            }
        }
        catch (Exception e)
        {
            // A fault in the hypervisor's handling of this guest ends this guest only.
            Domain.Crash($"(XEN) domain {Domain.Id} ({Domain.Name}) vcpu {Id} crashed: hypervisor error: {e.GetType().Name}: {e.Message}\n");
        }
    }

    private void HandleExit()
    {
        switch (_kvm.ExitReason)
        {
            case KvmExitReason.Io:
                HandleIo();
                break;
            case KvmExitReason.Shutdown:
                CrashWithDump("triple fault (the trampoline itself faulted)");
                break;
            case KvmExitReason.Intr:
                break;
            case KvmExitReason.Hlt:
                CrashWithDump("hlt at CPL0");
                break;
            case KvmExitReason.FailEntry:
                CrashWithDump($"KVM entry failed (hardware reason 0x{_kvm.ExitData[0]:x})");
                break;
            case KvmExitReason.InternalError:
                CrashWithDump($"KVM internal error (suberror {(uint)_kvm.ExitData[0]})");
                break;
            default:
                CrashWithDump($"unexpected KVM exit {_kvm.ExitReason} ({(uint)_kvm.ExitReason})");
                break;
        }
    }

    private void HandleIo()
    {
        ref KvmRegs regs = ref _kvm.Regs;
        if (_kvm.Io.Direction != KvmIoExit.DirectionOut)
        {
            CrashWithDump($"unexpected I/O read from port 0x{_kvm.Io.Port:x}");
            return;
        }
        // RIP points at the out (VMX/SVM: KVM steps over it on the next run unless we move RIP) or
        // just past it (PVM emulates the out to completion first); both fall inside the same stub.
        ulong rip = regs.Rip;
        if (rip - HypervisorLayout.StubsVa < 4096 && _kvm.Sregs.Cs.Dpl == 0)
        {
            HandleTrap((int)((rip - HypervisorLayout.StubsVa) / HypervisorLayout.StubSize));
            return;
        }
        if (rip - HypervisorLayout.SyscallStubVa <= TrampolineCode.OutInstructionLength)
        {
            HandleSyscall(ref regs);
            return;
        }
        switch (_kvm.Io.Port)
        {
            case HypervisorLayout.HypercallPort:
                regs.Rax = (ulong)Hypercall(regs);
                _kvm.MarkRegsDirty();
                break;
            case HypervisorLayout.NullPort:
                break;
            default:
                CrashWithDump($"unexpected I/O exit on port 0x{_kvm.Io.Port:x}");
                break;
        }
    }

    private long Hypercall(in KvmRegs regs)
    {
        // Xen refuses hypercalls from guest user mode.
        if (!InKernelMode)
            return -XenErrno.EPERM;
        return Domain.Xen.Hypercalls.Dispatch(this, HypercallArguments.FromRegisters(regs));
    }

    /// <summary><c>syscall</c> from guest kernel mode is a hypercall (what Linux issues); return to rcx with r11's flags.</summary>
    private void HandleSyscall(ref KvmRegs regs)
    {
        if (!InKernelMode)
        {
            CrashWithDump("system call from guest user mode with no syscall callback registered");
            return;
        }
        long result = Hypercall(regs);
        if (_stop)
            return;
        regs.Rax = (ulong)result;
        regs.Rip = regs.Rcx;
        regs.Rflags = (regs.R11 & X86.RflagsGuestMask) | X86.RflagsReserved | X86.RflagsIf;
        _kvm.MarkRegsDirty();
        if (_kvm.Sregs.Cs.Dpl != 0)
            return;
        // Hardware KVM: syscall really entered CPL0, so the return must load ring-3 selectors.
        ref KvmSregs sregs = ref _kvm.Sregs;
        sregs.Cs = Segment(X86Layout.FlatKernelCs64, type: 0xb, longMode: true);
        sregs.Ss = Segment(X86Layout.FlatKernelSs64, type: 0x3, longMode: false);
        _kvm.MarkSregsDirty();
    }

    private void HandleTrap(int vector)
    {
        if (!TryReadTrapFrame(out TrapFrame frame))
        {
            CrashWithDump($"trap {vector} with a frame outside the hypervisor stack");
            return;
        }
        if (frame.Cpl == 0)
        {
            CrashWithDump($"{X86.VectorName(vector)} (vector {vector}) inside the trampoline", frame);
            return;
        }
        // No trap table yet: every exception is fatal to the domain, never a hang.
        CrashWithDump($"unhandled {X86.VectorName(vector)} (vector {vector}) in guest {(InKernelMode ? "kernel" : "user")} mode, no handler registered", frame);
    }

    private bool TryReadTrapFrame(out TrapFrame frame)
    {
        frame = default;
        ulong? ma = Area.StackMachineAddress(_kvm.Regs.Rsp, TrapFrame.Size);
        if (ma is null)
            return false;
        frame = MemoryMarshal.Read<TrapFrame>(Domain.Xen.Memory.Block.GetSpan(ma.Value, TrapFrame.Size));
        return true;
    }

    private void CrashWithDump(string reason, TrapFrame? frame = null)
    {
        Domain.Crash(CrashReport.Format(this, reason, _kvm.Regs, _kvm.Sregs, frame));
        _stop = true;
    }

    // Guest memory as the vCPU currently sees it (its current page tables).

    public int CopyFromGuest(ulong va, Span<byte> destination) => Memory.CopyFromGuest(_kvm.Sregs.Cr3, va, destination);

    public int CopyToGuest(ulong va, ReadOnlySpan<byte> source) => Memory.CopyToGuest(_kvm.Sregs.Cr3, va, source);

    public int ReadGuest<T>(ulong va, out T value) where T : unmanaged => Memory.ReadGuest(_kvm.Sregs.Cr3, va, out value);

    public void Dispose()
    {
        RequestStop();
        if (_thread is null || _thread == Thread.CurrentThread || _thread.Join(TimeSpan.FromSeconds(2)))
            _kvm.Dispose();
        // else: the thread is still inside KVM_RUN (a guest spinning without exits); leave the mapping alive.
    }
}
