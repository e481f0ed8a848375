using System.Numerics;
using Iced.Intel;

namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>
/// Xen's writable page tables (pv/ro-page-fault.c): a guest kernel's store into one of its own L1
/// tables, which it maps read-only, faults; the hypervisor decodes the instruction with Iced,
/// merges the written bytes into the whole 8-byte entry, and commits the result only if it
/// validates as an L1 entry. Handled: mov, xchg, cmpxchg, and/or/xor, bts/btr with a 1, 2, 4 or
/// 8-byte naturally aligned memory operand in the faulting page (what Linux's set_pte,
/// ptep_get_and_clear, ptep_set_wrprotect and test_and_clear_bit compile to). Anything else, or
/// a value that fails validation, leaves the #PF to the guest, as on Xen.
/// </summary>
public static class PageTableWriteEmulator
{
    private const int MaxInstructionLength = 15;

    /// <summary>Reads the current 8-byte entry at the (8-byte aligned) guest address.</summary>
    public delegate ulong EntryReader(ulong entryAddress);

    /// <summary>Validates and stores a new entry; false if the value is refused.</summary>
    public delegate bool EntryCommitter(ulong entryAddress, ulong value);

    /// <summary>Emulates the store at Frame.Rip that faulted on <paramref name="faultAddress"/>; false if not handled.</summary>
    public static bool TryEmulate(IEmulatedCpu cpu, ulong faultAddress, EntryReader read, EntryCommitter commit)
    {
        if (!cpu.Is64BitCode)
            return false;
        var bytes = new byte[MaxInstructionLength];
        int count = GuestCode.Read(cpu, cpu.Frame.Rip, bytes);
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes, 0, count), cpu.Frame.Rip, DecoderOptions.None);
        decoder.Decode(out Instruction instruction);
        if (decoder.LastError != DecoderError.None || instruction.IsInvalid || instruction.Op0Kind != OpKind.Memory && instruction.Op1Kind != OpKind.Memory)
            return false;

        int size = instruction.MemorySize.GetSize();
        if (size is not (1 or 2 or 4 or 8) || instruction.MemorySegment is not (Register.DS or Register.ES or Register.SS))
            return false;
        if (!TryEffectiveAddress(cpu, instruction, out ulong address)
            || (address & (ulong)(size - 1)) != 0 || address >> 12 != faultAddress >> 12)
            return false;

        ulong entryAddress = address & ~7UL;
        int shift = (int)(address & 7) * 8;
        ulong mask = GprAccess.Mask(size);
        ulong entry = read(entryAddress);
        ulong old = (entry >> shift) & mask;
        ulong rflags = cpu.Frame.Rflags;
        ulong result;
        Action? afterCommit = null;

        switch (instruction.Mnemonic)
        {
            case Mnemonic.Mov when instruction.Op0Kind == OpKind.Memory:
                if (!TrySource(cpu, instruction, 1, size, out result))
                    return false;
                break;
            case Mnemonic.Xchg:
            {
                int registerOperand = instruction.Op0Kind == OpKind.Memory ? 1 : 0;
                Register register = instruction.GetOpRegister(registerOperand);
                if (!IsPlainGpr(register) || !TrySource(cpu, instruction, registerOperand, size, out result))
                    return false;
                afterCommit = () => GprAccess.Write(cpu, register.GetNumber(), old, size);
                break;
            }
            case Mnemonic.Cmpxchg when instruction.Op0Kind == OpKind.Memory:
            {
                if (!TrySource(cpu, instruction, 1, size, out ulong source))
                    return false;
                ulong accumulator = GprAccess.Read(cpu, GprAccess.Rax, size);
                cpu.Frame.Rflags = ArithmeticFlags(rflags, accumulator - old, size, carry: accumulator < old,
                    overflow: ((accumulator ^ old) & (accumulator ^ (accumulator - old)) & SignBit(size)) != 0);
                if (accumulator != old)
                {
                    GprAccess.Write(cpu, GprAccess.Rax, old, size);
                    GuestCode.Advance(cpu, instruction.Length);
                    return true;
                }
                result = source;
                break;
            }
            case Mnemonic.And or Mnemonic.Or or Mnemonic.Xor when instruction.Op0Kind == OpKind.Memory:
            {
                if (!TrySource(cpu, instruction, 1, size, out ulong source))
                    return false;
                result = instruction.Mnemonic switch
                {
                    Mnemonic.And => old & source,
                    Mnemonic.Or => old | source,
                    _ => old ^ source,
                } & mask;
                ulong logic = ArithmeticFlags(rflags, result, size, carry: false, overflow: false);
                afterCommit = () => cpu.Frame.Rflags = logic;
                break;
            }
            case Mnemonic.Bts or Mnemonic.Btr when instruction.Op0Kind == OpKind.Memory:
            {
                if (!TrySource(cpu, instruction, 1, size, out ulong bitIndex))
                    return false;
                if (instruction.Op1Kind == OpKind.Register && bitIndex >= (ulong)(size * 8))
                    return false;  // a register bit offset may address other bytes: not a page-table store
                int bit = (int)(bitIndex % (ulong)(size * 8));
                bool wasSet = ((old >> bit) & 1) != 0;
                result = instruction.Mnemonic == Mnemonic.Bts ? old | (1UL << bit) : old & ~(1UL << bit);
                ulong flags = wasSet ? rflags | X86.RflagsCf : rflags & ~X86.RflagsCf;
                afterCommit = () => cpu.Frame.Rflags = flags;
                break;
            }
            default:
                return false;
        }

        ulong updated = (entry & ~(mask << shift)) | ((result & mask) << shift);
        if (!commit(entryAddress, updated))
            return false;
        afterCommit?.Invoke();
        GuestCode.Advance(cpu, instruction.Length);
        return true;
    }

    private static bool TryEffectiveAddress(IEmulatedCpu cpu, in Instruction instruction, out ulong address)
    {
        bool ok = true;
        ulong nextIp = instruction.NextIP;
        address = instruction.GetVirtualAddress(0, 0, (Register register, int _, int _) =>
        {
            if (register is Register.DS or Register.ES or Register.SS)
                return 0;
            if (register == Register.RIP)
                return nextIp;
            if (!IsPlainGpr(register) || register.GetSize() < 4)
            {
                ok = false;
                return 0;
            }
            return GprAccess.Read(cpu, register.GetNumber(), register.GetSize());
        });
        return ok;
    }

    /// <summary>The register or immediate operand <paramref name="operand"/>, as the instruction sees it.</summary>
    private static bool TrySource(IEmulatedCpu cpu, in Instruction instruction, int operand, int size, out ulong value)
    {
        value = 0;
        switch (instruction.GetOpKind(operand))
        {
            case OpKind.Register:
                Register register = instruction.GetOpRegister(operand);
                if (!IsPlainGpr(register))
                    return false;
                value = GprAccess.Read(cpu, register.GetNumber(), register.GetSize());
                return true;
            case OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32 or OpKind.Immediate8to16 or OpKind.Immediate8to32
                or OpKind.Immediate8to64 or OpKind.Immediate32to64 or OpKind.Immediate64:
                value = instruction.GetImmediate(operand) & GprAccess.Mask(size);
                return true;
            default:
                return false;
        }
    }

    /// <summary>A general-purpose register other than AH, CH, DH and BH.</summary>
    private static bool IsPlainGpr(Register register) =>
        register.IsGPR() && register is not (Register.AH or Register.CH or Register.DH or Register.BH);

    private static ulong SignBit(int size) => 1UL << (size * 8 - 1);

    /// <summary>ZF, SF, PF from <paramref name="value"/>, CF and OF as given; AF cleared.</summary>
    private static ulong ArithmeticFlags(ulong rflags, ulong value, int size, bool carry, bool overflow)
    {
        value &= GprAccess.Mask(size);
        rflags &= ~(X86.RflagsCf | X86.RflagsPf | X86.RflagsAf | X86.RflagsZf | X86.RflagsSf | X86.RflagsOf);
        if (carry) rflags |= X86.RflagsCf;
        if (overflow) rflags |= X86.RflagsOf;
        if (value == 0) rflags |= X86.RflagsZf;
        if ((value & SignBit(size)) != 0) rflags |= X86.RflagsSf;
        if (BitOperations.PopCount(value & 0xff) % 2 == 0) rflags |= X86.RflagsPf;
        return rflags;
    }
}
