using Iced.Intel;
using Xenolith.Abi;

namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>
/// Emulates the privileged instructions a PV guest kernel may execute at CPL3 (they fault with #GP
/// there), and the forced-emulation CPUID (ud2; .ascii "xen"; cpuid), decoding with Iced. This is Xen's
/// pv_emulate_privileged_op and emulate_forced_invalid_op: anything not recognised goes back to the guest
/// as the fault it raised. Guest bytes are untrusted: no input makes these methods throw.
/// </summary>
public static class PrivilegedOpEmulator
{
    /// <summary>The longest x86 instruction.</summary>
    private const int MaxInstructionLength = 15;

    /// <summary>ud2; .ascii "xen" (5 bytes) and cpuid (0f a2).</summary>
    private const int ForcedCpuidLength = 7;

    /// <summary>A #GP(0) from the guest at Frame.Rip.</summary>
    public static EmulationOutcome EmulateGeneralProtection(IEmulatedCpu cpu)
    {
        var bytes = new byte[MaxInstructionLength];
        int count = GuestCode.Read(cpu, cpu.Frame.Rip, bytes);
        if (count == 0)
            return EmulationOutcome.GeneralProtection();

        if (!TryDecode(cpu, bytes, count, out Instruction instruction, out bool lockedInvalid))
            return lockedInvalid ? EmulationOutcome.InvalidOpcode : EmulationOutcome.GeneralProtection();
        return Emulate(cpu, instruction);
    }

    /// <summary>A #UD from the guest at Frame.Rip: only the forced-emulation prefix followed by cpuid is emulated.</summary>
    public static EmulationOutcome EmulateInvalidOpcode(IEmulatedCpu cpu)
    {
        // Xen accepts the prefix from guest user mode as well as kernel mode (no CPUID faulting is offered).
        Span<byte> bytes = stackalloc byte[16];
        int count = GuestCode.Read(cpu, cpu.Frame.Rip, bytes);
        if (count < ForcedCpuidLength)
            return EmulationOutcome.InvalidOpcode;
        ReadOnlySpan<byte> prefix = ForcedEmulation.Prefix;
        if (!bytes[..prefix.Length].SequenceEqual(prefix) || bytes[prefix.Length] != 0x0f || bytes[prefix.Length + 1] != 0xa2)
            return EmulationOutcome.InvalidOpcode;

        return Cpuid(cpu, ForcedCpuidLength);
    }

    /// <summary>
    /// Decodes one instruction in the current code size. An encoding Iced rejects only because of its LOCK
    /// prefix is #UD on hardware, so <paramref name="lockedInvalid"/> reports that case; any other undecodable
    /// or truncated byte sequence is left to #GP.
    /// </summary>
    private static bool TryDecode(IEmulatedCpu cpu, byte[] bytes, int count, out Instruction instruction, out bool lockedInvalid)
    {
        bool is64 = cpu.Is64BitCode;
        int bitness = is64 ? 64 : 32;
        ulong rip = is64 ? cpu.Frame.Rip : (uint)cpu.Frame.Rip;
        lockedInvalid = false;
        var decoder = Decoder.Create(bitness, new ByteArrayCodeReader(bytes, 0, count), rip, DecoderOptions.None);
        decoder.Decode(out instruction);
        if (decoder.LastError == DecoderError.None && !instruction.IsInvalid)
            return true;

        if (decoder.LastError == DecoderError.InvalidInstruction)
        {
            var lenient = Decoder.Create(bitness, new ByteArrayCodeReader(bytes, 0, count), rip, DecoderOptions.NoInvalidCheck);
            lenient.Decode(out Instruction relaxed);
            lockedInvalid = lenient.LastError == DecoderError.None && !relaxed.IsInvalid && relaxed.HasLockPrefix;
        }
        return false;
    }

    private static EmulationOutcome Emulate(IEmulatedCpu cpu, in Instruction instruction)
    {
        int length = instruction.Length;
        switch (instruction.Code)
        {
            case Code.Rdmsr:
                return cpu.InKernelMode ? Rdmsr(cpu, length) : EmulationOutcome.GeneralProtection();
            case Code.Wrmsr:
                return cpu.InKernelMode ? Wrmsr(cpu, length) : EmulationOutcome.GeneralProtection();

            case Code.Mov_r64_cr or Code.Mov_r32_cr:
                return cpu.InKernelMode ? MovFromCr(cpu, instruction) : EmulationOutcome.GeneralProtection();
            case Code.Mov_cr_r64 or Code.Mov_cr_r32:
                return cpu.InKernelMode ? MovToCr(cpu, instruction) : EmulationOutcome.GeneralProtection();
            case Code.Mov_r64_dr or Code.Mov_r32_dr:
                return cpu.InKernelMode ? MovFromDr(cpu, instruction) : EmulationOutcome.GeneralProtection();
            case Code.Mov_dr_r64 or Code.Mov_dr_r32:
                return cpu.InKernelMode ? MovToDr(cpu, instruction) : EmulationOutcome.GeneralProtection();

            case Code.Clts:
                if (!cpu.InKernelMode)
                    return EmulationOutcome.GeneralProtection();
                cpu.SetFpuTaskSwitched(false);
                return Done(cpu, length);

            // Cache flushes: Xen ignores them from a domain without cache-flush rights (wbnoinvd is wbinvd with
            // an f3 prefix, and runs as wbinvd where unsupported).
            case Code.Wbinvd or Code.Wbnoinvd or Code.Invd:
                return cpu.InKernelMode ? Done(cpu, length) : EmulationOutcome.GeneralProtection();

            case Code.Hlt:
                if (!cpu.InKernelMode)
                    return EmulationOutcome.GeneralProtection();
                GuestCode.Advance(cpu, length);
                return EmulationOutcome.Halt;

            // cli/sti act on the virtual interrupt flag, evtchn_upcall_mask, when the virtual IOPL allows.
            case Code.Cli or Code.Sti:
                if (!IoPorts.IoplOk(cpu))
                    return EmulationOutcome.GeneralProtection();
                cpu.EventsMasked = instruction.Code == Code.Cli;
                return Done(cpu, length);

            // Only reachable with the guest's own CPUID faulting, which is not offered; Xen's emulator serves
            // it from the policy all the same.
            case Code.Cpuid:
                return Cpuid(cpu, length);

            case Code.In_AL_imm8:
                return IoPorts.In(cpu, instruction.Immediate8, 1, length);
            case Code.In_AX_imm8:
                return IoPorts.In(cpu, instruction.Immediate8, 2, length);
            case Code.In_EAX_imm8:
                return IoPorts.In(cpu, instruction.Immediate8, 4, length);
            case Code.In_AL_DX:
                return IoPorts.In(cpu, Dx(cpu), 1, length);
            case Code.In_AX_DX:
                return IoPorts.In(cpu, Dx(cpu), 2, length);
            case Code.In_EAX_DX:
                return IoPorts.In(cpu, Dx(cpu), 4, length);
            case Code.Out_imm8_AL:
                return IoPorts.Out(cpu, instruction.Immediate8, 1, length);
            case Code.Out_imm8_AX:
                return IoPorts.Out(cpu, instruction.Immediate8, 2, length);
            case Code.Out_imm8_EAX:
                return IoPorts.Out(cpu, instruction.Immediate8, 4, length);
            case Code.Out_DX_AL:
                return IoPorts.Out(cpu, Dx(cpu), 1, length);
            case Code.Out_DX_AX:
                return IoPorts.Out(cpu, Dx(cpu), 2, length);
            case Code.Out_DX_EAX:
                return IoPorts.Out(cpu, Dx(cpu), 4, length);

            case Code.Insb_m8_DX:
                return Ins(cpu, instruction, 1);
            case Code.Insw_m16_DX:
                return Ins(cpu, instruction, 2);
            case Code.Insd_m32_DX:
                return Ins(cpu, instruction, 4);
            case Code.Outsb_DX_m8:
                return Outs(cpu, instruction, 1);
            case Code.Outsw_DX_m16:
                return Outs(cpu, instruction, 2);
            case Code.Outsd_DX_m32:
                return Outs(cpu, instruction, 4);

            // lgdt, lidt, ltr, lldt, invlpg, swapgs, sysret, iret to ring 0, ... : the guest must use hypercalls.
            default:
                return EmulationOutcome.GeneralProtection();
        }
    }

    private static EmulationOutcome Done(IEmulatedCpu cpu, int length)
    {
        GuestCode.Advance(cpu, length);
        return EmulationOutcome.Emulated;
    }

    /// <summary>cpuid with eax = leaf and ecx = subleaf, answered from the domain's policy; results zero-extend.</summary>
    private static EmulationOutcome Cpuid(IEmulatedCpu cpu, int length)
    {
        uint leaf = (uint)cpu.ReadGpr(GprAccess.Rax);
        uint subleaf = (uint)cpu.ReadGpr(GprAccess.Rcx);
        var (eax, ebx, ecx, edx) = cpu.Cpuid.Query(leaf, subleaf);
        cpu.WriteGpr(GprAccess.Rax, eax);
        cpu.WriteGpr(GprAccess.Rbx, ebx);
        cpu.WriteGpr(GprAccess.Rcx, ecx);
        cpu.WriteGpr(GprAccess.Rdx, edx);
        return Done(cpu, length);
    }

    /// <summary>rdmsr: ecx names the MSR; edx:eax receive it, each zero-extended.</summary>
    private static EmulationOutcome Rdmsr(IEmulatedCpu cpu, int length)
    {
        uint index = (uint)cpu.ReadGpr(GprAccess.Rcx);
        if (!MsrPolicy.TryRead(cpu, index, out ulong value))
            return EmulationOutcome.GeneralProtection();
        cpu.WriteGpr(GprAccess.Rax, (uint)value);
        cpu.WriteGpr(GprAccess.Rdx, value >> 32);
        return Done(cpu, length);
    }

    /// <summary>wrmsr: ecx names the MSR, edx:eax is the value.</summary>
    private static EmulationOutcome Wrmsr(IEmulatedCpu cpu, int length)
    {
        uint index = (uint)cpu.ReadGpr(GprAccess.Rcx);
        ulong value = (cpu.ReadGpr(GprAccess.Rdx) << 32) | (uint)cpu.ReadGpr(GprAccess.Rax);
        return MsrPolicy.TryWrite(cpu, index, value) ? Done(cpu, length) : EmulationOutcome.GeneralProtection();
    }

    private static EmulationOutcome MovFromCr(IEmulatedCpu cpu, in Instruction instruction)
    {
        if (!ControlRegisters.TryRead(cpu, instruction.Op1Register.GetNumber(), out ulong value))
            return EmulationOutcome.GeneralProtection();
        WriteOperand(cpu, instruction.Op0Register, value);
        return Done(cpu, instruction.Length);
    }

    private static EmulationOutcome MovToCr(IEmulatedCpu cpu, in Instruction instruction)
    {
        ulong value = ReadOperand(cpu, instruction.Op1Register);
        return ControlRegisters.TryWrite(cpu, instruction.Op0Register.GetNumber(), value)
            ? Done(cpu, instruction.Length)
            : EmulationOutcome.GeneralProtection();
    }

    private static EmulationOutcome MovFromDr(IEmulatedCpu cpu, in Instruction instruction)
    {
        EmulationOutcome outcome = ControlRegisters.Read(cpu, instruction.Op1Register.GetNumber(), out ulong value);
        if (outcome.Result != EmulationResult.Emulated)
            return outcome;
        WriteOperand(cpu, instruction.Op0Register, value);
        return Done(cpu, instruction.Length);
    }

    private static EmulationOutcome MovToDr(IEmulatedCpu cpu, in Instruction instruction)
    {
        ulong value = ReadOperand(cpu, instruction.Op1Register);
        EmulationOutcome outcome = ControlRegisters.Write(cpu, instruction.Op0Register.GetNumber(), value);
        return outcome.Result == EmulationResult.Emulated ? Done(cpu, instruction.Length) : outcome;
    }

    /// <summary>ins: destination ES:[rdi/edi/di], the width of the index chosen by the address size.</summary>
    private static EmulationOutcome Ins(IEmulatedCpu cpu, in Instruction instruction, int size)
    {
        int addressSize = instruction.Op0Kind switch
        {
            OpKind.MemoryESRDI => 8,
            OpKind.MemoryESEDI => 4,
            _ => 2,
        };
        return IoPorts.StringIo(cpu, input: true, size, addressSize, Register.ES, IsRep(instruction), Dx(cpu), instruction.Length);
    }

    /// <summary>outs: source seg:[rsi/esi/si], DS unless overridden.</summary>
    private static EmulationOutcome Outs(IEmulatedCpu cpu, in Instruction instruction, int size)
    {
        int addressSize = instruction.Op1Kind switch
        {
            OpKind.MemorySegRSI => 8,
            OpKind.MemorySegESI => 4,
            _ => 2,
        };
        return IoPorts.StringIo(cpu, input: false, size, addressSize, instruction.MemorySegment, IsRep(instruction), Dx(cpu), instruction.Length);
    }

    /// <summary>f2 repeats ins/outs just as f3 does (Xen's rep_prefix() takes either).</summary>
    private static bool IsRep(in Instruction instruction) => instruction.HasRepPrefix || instruction.HasRepnePrefix;

    private static ushort Dx(IEmulatedCpu cpu) => (ushort)cpu.ReadGpr(GprAccess.Rdx);

    /// <summary>A 64- or 32-bit general-purpose operand of mov cr/dr (32-bit in compatibility mode).</summary>
    private static ulong ReadOperand(IEmulatedCpu cpu, Register register) =>
        GprAccess.Read(cpu, register.GetNumber(), register.GetSize());

    private static void WriteOperand(IEmulatedCpu cpu, Register register, ulong value) =>
        GprAccess.Write(cpu, register.GetNumber(), value, register.GetSize());
}
