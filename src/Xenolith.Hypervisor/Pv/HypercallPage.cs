using Xenolith.Abi;

namespace Xenolith.Hypervisor.Pv;

/// <summary>The hypercall page the hypervisor provides (via the builder's ELF note, or wrmsr 0x40000000).</summary>
public static class HypercallPage
{
    /// <summary>
    /// 32 bytes a hypercall: <c>mov $nr,%eax; out %al,$0xe0; ret</c>, one exit with no CPL0 code.
    /// The iret entry keeps Xen's shape: it pushes rcx, r11 and rax, and never returns.
    /// </summary>
    public static void Write(Span<byte> page)
    {
        page.Fill(0xcc);
        for (int nr = 0; nr < HypercallAbi.PageEntries; nr++)
        {
            Span<byte> entry = page.Slice(nr * HypercallAbi.PageEntrySize, HypercallAbi.PageEntrySize);
            int at = 0;
            if (nr == (int)Hypercall.Iret)
            {
                entry[at++] = 0x51;                      // push %rcx
                entry[at++] = 0x41; entry[at++] = 0x53;  // push %r11
                entry[at++] = 0x50;                      // push %rax
            }
            entry[at++] = 0xb8;                          // mov $nr, %eax
            BitConverter.TryWriteBytes(entry.Slice(at, 4), nr);
            at += 4;
            entry[at++] = 0xe6; entry[at++] = HypervisorLayout.HypercallPort; // out %al, $port
            if (nr == (int)Hypercall.Iret)
            {
                entry[at++] = 0x0f; entry[at++] = 0x0b;  // ud2
            }
            else
            {
                entry[at++] = 0xc3;                      // ret
            }
        }
    }

}
