using Xenolith.Kvm;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>A hypercall as the x86-64 PV ABI passes it: number in rax, arguments in rdi, rsi, rdx, r10, r8.</summary>
public readonly record struct HypercallArguments(ulong Number, ulong Arg1, ulong Arg2, ulong Arg3, ulong Arg4, ulong Arg5)
{
    public static HypercallArguments FromRegisters(in KvmRegs regs) =>
        new(regs.Rax, regs.Rdi, regs.Rsi, regs.Rdx, regs.R10, regs.R8);

    /// <summary>Xen takes commands as C ints: the low 32 bits, sign-extended.</summary>
    public static int AsInt(ulong value) => (int)(uint)value;

    /// <summary>Xen takes counts as unsigned ints: the low 32 bits.</summary>
    public static uint AsUInt(ulong value) => (uint)value;
}
