using Xenolith.Abi;
using Xenolith.Hypervisor.Hypercalls;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xenolith.Hypervisor.Pv.Descriptors;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor;

/// <summary>
/// One PV vCPU: a KVM vCPU running the guest at CPL3, and the host thread that runs KVM_RUN and
/// handles every exit in C#. Registers come and go through sync_regs only. This file holds the
/// lifecycle and exit classification; Vcpu.Frame.cs the guest context and the kernel/user switch,
/// Vcpu.Traps.cs exception delivery, Vcpu.Emulation.cs what the instruction emulator may touch.
/// </summary>
public sealed partial class Vcpu : IDisposable
{
    private readonly KvmVcpu _kvm;
    private readonly ManualResetEventSlim _wake = new(false);
    private Thread? _thread;
    private volatile bool _stop;

    /// <summary>
    /// A vCPU of <paramref name="domain"/>. With a start state (vCPU 0, from the domain builder) it
    /// is up and runs at once; without one it stays down until VCPUOP_initialise and VCPUOP_up.
    /// </summary>
    internal Vcpu(Domain domain, int id, VcpuArea area, VcpuStartState? start)
    {
        Domain = domain;
        Id = id;
        Area = area;
        Gdt = new GuestGdt(domain.Xen.Memory, domain.Id, area.GdtShadowMfns, area.ReservedGdtMfn);
        _vcpuInfoAddress = DefaultVcpuInfoAddress(domain, id);
        _singleshotTimer = domain.Xen.Timers.Create(OnSingleshotTimer);
        _periodicTimer = domain.Xen.Timers.Create(OnPeriodicTimer);
        _pollTimer = domain.Xen.Timers.Create(OnPollTimeout);
        _redeliveryTimer = domain.Xen.Timers.Create(OnRedeliveryTimer);
        _kvm = domain.Vm.CreateVcpu(id);
        try
        {
            Configure(start ?? new VcpuStartState(0, 0, 0, 0));
            CalibrateTsc();
            WriteTimeInfo();
            if (start is not null)
            {
                IsInitialised = true;
                _online = true;
            }
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

    /// <summary>What the guest registered with the hypervisor, and its virtual control state.</summary>
    public PvVcpuState Pv { get; } = new();

    /// <summary>The hypervisor's validated copy of the guest's GDT.</summary>
    public GuestGdt Gdt { get; }

    /// <summary>Guest kernel or guest user mode: both run at CPL3; the hypervisor tracks which.</summary>
    public bool InKernelMode { get; private set; } = true;

    /// <summary>Exits handled so far (all kinds): a cheap progress counter for tests and benchmarks.</summary>
    public long Exits { get; private set; }

    /// <summary>Whether the vCPU is blocked (hlt, SCHEDOP_block) waiting for an event.</summary>
    public bool IsBlocked { get; private set; }

    private GuestPageTables Memory => Domain.Xen.GuestMemory;

    private void Configure(in VcpuStartState start)
    {
        _kvm.SetCpuid(Domain.Xen.Cpuid);

        KvmSregs sregs = _kvm.GetSregs();
        sregs.Cr0 = X86.Cr0Pe | X86.Cr0Mp | X86.Cr0Et | X86.Cr0Ne | X86.Cr0Wp | X86.Cr0Pg;
        sregs.Cr4 = X86.Cr4Pae | X86.Cr4Osfxsr | X86.Cr4Osxmmexcpt;
        sregs.Efer = X86.EferSce | X86.EferLme | X86.EferLma | X86.EferNxe;
        sregs.Cr3 = start.Cr3;
        sregs.Cs = FlatSegment(X86Layout.FlatKernelCs64, type: 0xb, longMode: true);
        sregs.Ss = FlatSegment(X86Layout.FlatKernelSs64, type: 0x3, longMode: false);
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
        if (start.Cr3 != 0)
        {
            if (ReplaceBaseReference(0, start.Cr3 >> MachineMemory.PageShift) != 0)
                throw new InvalidOperationException("vCPU start: the page-table base is not a valid L4 of this domain");
            Pv.KernelBaseMfn = start.Cr3 >> MachineMemory.PageShift;
        }

        _kvm.SetMsrs([
            // On hardware KVM syscall enters CPL0 with CS 0xe008; on PVM it stays at CPL3. Either way LSTAR is the stub.
            new KvmMsrEntry(X86.MsrStar, (ulong)HypervisorLayout.HypervisorCs << 32),
            new KvmMsrEntry(X86.MsrLstar, HypervisorLayout.SyscallStubVa),
            new KvmMsrEntry(X86.MsrCstar, HypervisorLayout.Syscall32StubVa),
            new KvmMsrEntry(X86.MsrSfmask, 0x4_7700),
            // SYSENTER_CS 0 makes sysenter fault (#GP on Intel, #UD on AMD in long mode) so the host sees it.
            new KvmMsrEntry(X86.MsrSysenterCs, 0),
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

    private static KvmSegment FlatSegment(ushort selector, byte type, bool longMode, byte dpl = 3) => new()
    {
        Base = 0, Limit = 0xffff_ffff, Selector = selector, Type = type, Present = 1, Dpl = dpl, S = 1,
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
        Kick();
    }

    private void RunLoop()
    {
        try
        {
            _kvm.BindKickToCurrentThread();
            lock (_kickLock)
                _threadAlive = true;
            while (!_stop)
            {
                WaitUntilRunnable();
                if (_stop)
                    break;
                // From here a kick signals the thread (see Kick); events raised before it are seen below.
                Interlocked.Exchange(ref _inGuest, 1);
                DeliverPendingUpcall();
                if (!_stop)
                    SyncShadowPageTables();
                bool exited = !_stop && _kvm.Run();
                Volatile.Write(ref _inGuest, 0);
                _registersValid = true;
                if (exited)
                {
                    Exits++;
                    HandleExit();
                }
                else
                {
                    // Kicked (or stopping): the guest's state is in the registers, wherever it was.
                    _kvm.ConsumeKick();
                    _frameLoaded = false;
                }
            }
        }
        catch (Exception e)
        {
            // A fault in the hypervisor's handling of this guest ends this guest only.
            Domain.Crash($"(XEN) domain {Domain.Id} ({Domain.Name}) vcpu {Id} crashed: hypervisor error: {e.GetType().Name}: {e.Message}\n{e.StackTrace}\n");
        }
        finally
        {
            lock (_kickLock)
                _threadAlive = false;
            SetRunstate(Runstate.Offline);
        }
    }

    private void HandleExit()
    {
        _frameLoaded = false;
        _atShadowSyncExit = false;
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
            HandleSyscall(compat: false);
            return;
        }
        if (rip - HypervisorLayout.Syscall32StubVa <= TrampolineCode.OutInstructionLength)
        {
            HandleSyscall(compat: true);
            return;
        }
        switch (_kvm.Io.Port)
        {
            case HypervisorLayout.HypercallPort:
                LoadFrameFromRegisters();
                long result = Hypercall(viaSyscall: false);
                if (_stop)
                    return;
                if (!ResumeContinuation(viaSyscall: false))
                    regs.Rax = (ulong)result;
                _kvm.MarkRegsDirty();
                StoreFrame();
                break;
            case HypervisorLayout.NullPort:
                if (IsInShadowSyncStub)
                    ShadowSyncExit();
                break;
            default:
                CrashWithDump($"unexpected I/O exit on port 0x{_kvm.Io.Port:x}");
                break;
        }
    }


    /// <summary>
    /// <c>syscall</c>: from guest kernel mode a hypercall (what Linux issues), returning to rcx with
    /// r11's flags; from guest user mode a system call, bounced to the registered callback.
    /// </summary>
    private void HandleSyscall(bool compat)
    {
        ref KvmRegs regs = ref _kvm.Regs;
        // The context syscall left: rcx and r11 hold the return address and flags (both kinds of host).
        // The registers still show the stub, so the frame always goes back.
        LoadFrame(FrameSource.Registers, new GuestFrame
        {
            Rip = regs.Rcx, Rflags = regs.R11, Rsp = regs.Rsp,
            Cs = compat ? X86Layout.FlatRing3Cs32 : X86Layout.FlatRing3Cs64, Ss = X86Layout.FlatRing3Ss64,
        }, changed: true);
        if (InKernelMode)
        {
            long result = Hypercall(viaSyscall: true);
            if (_stop)
                return;
            if (!ResumeContinuation(viaSyscall: true))
                regs.Rax = (ulong)result;
        }
        else
        {
            SyscallFromUser(compat);
            if (_stop)
                return;
        }
        StoreFrame();
    }

    /// <summary>Xen's vcpu_mark_events_pending: sets vcpu_info.evtchn_upcall_pending and kicks the vCPU.</summary>
    public void MarkEventsPending()
    {
        VcpuInfo[SharedInfoLayout.UpcallPending] = 1;
        Kick();
    }

    private void CrashWithDump(string reason, TrapFrame? frame = null)
    {
        // Report the guest's own context when one was loaded, not the trampoline's registers.
        if (frame is null && _frameLoaded)
            frame = new TrapFrame { ErrorCode = _trapErrorCode, Rip = _frame.Rip, Cs = _frame.Cs, Rflags = _frame.Rflags, Rsp = _frame.Rsp, Ss = _frame.Ss };
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
        DisposeTimers();
        if (_thread is null || _thread == Thread.CurrentThread || _thread.Join(TimeSpan.FromSeconds(2)))
        {
            _kvm.Dispose();
            _wake.Dispose();
        }
        // else: the thread is still inside KVM_RUN (a guest spinning without exits); leave the mapping alive.
    }
}
