using System.Diagnostics;
using Xenolith.Abi;
using Xenolith.Hypervisor.Hypercalls;
using Xenolith.Hypervisor.Pv;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor;

// Hypercall entry, and continuations for batches long enough to yield (Xen's hypercall_create_continuation).
public sealed partial class Vcpu
{
    /// <summary>A batch yields after this long, so a vCPU never sits in one hypercall for long.</summary>
    private static readonly long PreemptAfterTicks = Stopwatch.Frequency / 1000;

    /// <summary>Length of <c>mov $nr, %eax</c>, which precedes the <c>out</c> in every hypercall-page entry.</summary>
    private const int MovEaxLength = 5;

    private long _hypercallStart;
    private bool _viaSyscall;
    private HypercallArguments? _continuation;

    /// <summary>Hypercalls that yielded and were re-issued (for tests and benchmarks).</summary>
    public long Continuations { get; private set; }

    /// <summary>Inside a multicall: nested multicalls are refused and inner calls run to completion.</summary>
    internal bool InMulticall { get; set; }

    /// <summary>The page-table base the vCPU runs on now (guest kernel or user L4).</summary>
    internal ulong PageTableBase => _kvm.Sregs.Cr3;

    private long Hypercall(bool viaSyscall)
    {
        // Xen refuses hypercalls from guest user mode.
        if (!InKernelMode)
            return -XenErrno.EPERM;
        _hypercallStart = Stopwatch.GetTimestamp();
        _continuation = null;
        _viaSyscall = viaSyscall;
        return Domain.Xen.Hypercalls.Dispatch(this, HypercallArguments.FromRegisters(_kvm.Regs));
    }

    /// <summary>hypercall_preempt_check: a batch has run long enough (or the domain is stopping) and can be resumed later.</summary>
    internal bool ShouldPreemptHypercall(bool multicall = false)
    {
        if (InMulticall && !multicall)
            return false;
        if (!_stop && Stopwatch.GetTimestamp() - _hypercallStart <= PreemptAfterTicks)
            return false;
        // Only now (rarely) look at the guest's code: can the call be re-issued from where it came?
        return _viaSyscall || HypercallPageEntryAt(_kvm.Regs.Rip) is not null;
    }

    /// <summary>The hypercall re-issues itself with <paramref name="next"/> when the guest resumes.</summary>
    internal void CreateContinuation(in HypercallArguments next) => _continuation = next;

    /// <summary>
    /// Rewinds the guest to re-execute the hypercall with the continuation's arguments: to the
    /// <c>syscall</c> instruction, or to the <c>mov $nr, %eax</c> of the hypercall-page entry (the
    /// <c>out</c> alone cannot be re-executed on hardware hosts, where KVM completes it on resume).
    /// </summary>
    private bool ResumeContinuation(bool viaSyscall)
    {
        if (_continuation is not { } next)
            return false;
        _continuation = null;
        Continuations++;
        ref KvmRegs regs = ref _kvm.Regs;
        regs.Rax = next.Number;
        regs.Rdi = next.Arg1;
        regs.Rsi = next.Arg2;
        regs.Rdx = next.Arg3;
        regs.R10 = next.Arg4;
        regs.R8 = next.Arg5;
        if (viaSyscall)
            EditFrame().Rip -= 2;
        else
            EditFrame().Rip = HypercallPageEntryAt(regs.Rip)!.Value;
        _kvm.MarkRegsDirty();
        return true;
    }

    /// <summary>
    /// The start of the <c>mov $nr,%eax; out %al,$port</c> sequence the exit at <paramref name="rip"/>
    /// came from (RIP is at the out on hardware hosts, past it on PVM), or null if it is not one.
    /// </summary>
    private ulong? HypercallPageEntryAt(ulong rip)
    {
        Span<byte> code = stackalloc byte[MovEaxLength + 2];
        foreach (ulong outAddress in (ReadOnlySpan<ulong>)[rip, rip - 2])
        {
            ulong start = outAddress - MovEaxLength;
            if (CopyFromGuest(start, code) == 0 && code[0] == 0xb8 && code[5] == 0xe6 && code[6] == HypervisorLayout.HypercallPort)
                return start;
        }
        return null;
    }
}
