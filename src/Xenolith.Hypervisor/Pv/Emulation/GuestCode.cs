namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>Fetching the faulting instruction's bytes and stepping past it, in 64-bit or compatibility mode.</summary>
internal static class GuestCode
{
    private const int PageSize = 4096;

    /// <summary>
    /// Reads up to <c>destination.Length</c> bytes at <paramref name="rip"/>: the part on the first page, then the
    /// rest from the next page if that is readable, so an instruction that ends right before an unmapped page still
    /// decodes. Returns how many bytes were read (0 if the first byte is unreadable).
    /// </summary>
    public static int Read(IEmulatedCpu cpu, ulong rip, Span<byte> destination)
    {
        bool wrap32 = !cpu.Is64BitCode;
        if (wrap32)
            rip = (uint)rip;
        int first = Math.Min(destination.Length, PageSize - (int)(rip & (PageSize - 1)));
        if (cpu.CopyFromGuest(rip, destination[..first]) != 0)
            return 0;
        if (first == destination.Length)
            return first;
        ulong next = rip + (ulong)first;
        if (wrap32)
            next = (uint)next;
        return cpu.CopyFromGuest(next, destination[first..]) == 0 ? destination.Length : first;
    }

    /// <summary>Moves Frame.Rip past <paramref name="length"/> bytes; compatibility-mode code wraps at 4 GiB.</summary>
    public static void Advance(IEmulatedCpu cpu, int length)
    {
        ulong rip = cpu.Frame.Rip + (ulong)length;
        cpu.Frame.Rip = cpu.Is64BitCode ? rip : (uint)rip;
    }
}
