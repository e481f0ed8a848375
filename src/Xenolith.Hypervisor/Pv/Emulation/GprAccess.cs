namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>
/// x86's sub-register write rules over <see cref="IEmulatedCpu"/>'s whole-register accessors: a
/// 32-bit destination zero-extends into the 64-bit register, 16- and 8-bit destinations keep the rest.
/// </summary>
internal static class GprAccess
{
    public const int Rax = 0, Rcx = 1, Rdx = 2, Rbx = 3, Rsi = 6, Rdi = 7;

    /// <summary>All ones in the low <paramref name="size"/> bytes (1, 2, 4 or 8).</summary>
    public static ulong Mask(int size) => size >= 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    /// <summary>The low <paramref name="size"/> bytes of a register.</summary>
    public static ulong Read(IEmulatedCpu cpu, int index, int size) => cpu.ReadGpr(index) & Mask(size);

    /// <summary>Writes the low <paramref name="size"/> bytes as the hardware would for that operand size.</summary>
    public static void Write(IEmulatedCpu cpu, int index, ulong value, int size)
    {
        switch (size)
        {
            case 8:
                cpu.WriteGpr(index, value);
                break;
            case 4:
                cpu.WriteGpr(index, (uint)value);
                break;
            default:
                ulong mask = Mask(size);
                cpu.WriteGpr(index, (cpu.ReadGpr(index) & ~mask) | (value & mask));
                break;
        }
    }
}
