namespace Xenolith.Hypervisor.Pv;

/// <summary>
/// The few bytes of code that run inside the guest's VM on the hypervisor's behalf. Every entry
/// exits to the host process at once with an <c>out</c>; the host reads the frame, decides, and
/// (for traps) rewrites the iret frame the stub then returns through. CPL0 code is emulated at
/// ~560 ns an instruction on PVM hosts, so each path is four instructions at most.
/// </summary>
public static class TrampolineCode
{
    /// <summary>Vectors for which the CPU pushes an error code.</summary>
    public static bool HasErrorCode(int vector) => vector is 8 or 10 or 11 or 12 or 13 or 14 or 17 or 21 or 29 or 30;

    /// <summary>Vectors that run on IST1 so a broken stack can still be reported.</summary>
    public static bool UsesIst(int vector) => vector is 2 or 8 or 18;

    /// <summary>Length of <c>out %al, $imm8</c>.</summary>
    public const int OutInstructionLength = 2;

    /// <summary>The stub page: for each vector, [push $0;] out %al,$TrapPort; add $8,%rsp; iretq.</summary>
    public static void WriteStubPage(Span<byte> page)
    {
        page.Fill(0xcc);
        for (int vector = 0; vector < 256; vector++)
        {
            Span<byte> stub = page.Slice(vector * HypervisorLayout.StubSize, HypervisorLayout.StubSize);
            int at = 0;
            if (!HasErrorCode(vector))
            {
                stub[at++] = 0x6a; stub[at++] = 0x00;                     // push $0 (uniform frame)
            }
            stub[at++] = 0xe6; stub[at++] = HypervisorLayout.TrapPort;    // out %al, $TrapPort
            stub[at++] = 0x48; stub[at++] = 0x83; stub[at++] = 0xc4; stub[at++] = 0x08; // add $8, %rsp
            stub[at++] = 0x48; stub[at++] = 0xcf;                         // iretq
        }
    }

    /// <summary>
    /// The syscall entries: LSTAR (64-bit code) at offset 0 and CSTAR (compatibility-mode code) at
    /// <see cref="HypervisorLayout.Syscall32StubOffset"/>. On PVM hosts <c>syscall</c> arrives here
    /// still at CPL3, so the page is user-executable and read-only, and each stub is only an
    /// <c>out</c> to a port the TSS permits. The host resumes the guest itself; the ud2 is never reached.
    /// </summary>
    public static void WriteSyscallPage(Span<byte> page)
    {
        page.Fill(0xcc);
        foreach (int at in (ReadOnlySpan<int>)[0, HypervisorLayout.Syscall32StubOffset])
        {
            page[at] = 0xe6; page[at + 1] = HypervisorLayout.SyscallPort;  // out %al, $SyscallPort
            page[at + 2] = 0x0f; page[at + 3] = 0x0b;                     // ud2
        }
    }

    /// <summary>
    /// The shadow-sync stub: entered at CPL0 on the way back to the guest with rsi = a list of rcx
    /// directmap addresses and the guest's rax, rdi, rsi and rcx saved above an error-code slot and an
    /// iret frame, and the list page's last quadword a flag asking for an exit before the iretq. Rewriting each listed quadword with its own value is a guest write that KVM's shadow
    /// MMU tracks (an aligned one drops that entry's shadow, a misaligned one the whole shadow page),
    /// which host writes to page tables never are. Reloading CR3 then flushes the TLB on hardware hosts.
    /// </summary>
    public static void WriteShadowSyncPage(Span<byte> page)
    {
        page.Fill(0xcc);
        ReadOnlySpan<byte> code =
        [
            0x48, 0x8b, 0x3e,         // 1: mov (%rsi), %rdi
            0x48, 0x8b, 0x07,         //    mov (%rdi), %rax
            0x48, 0x89, 0x07,         //    mov %rax, (%rdi)
            0x48, 0x83, 0xc6, 0x08,   //    add $8, %rsi
            0xff, 0xc9,               //    dec %ecx
            0x75, 0xef,               //    jnz 1b
            0x0f, 0x20, 0xd8,         //    mov %cr3, %rax
            0x0f, 0x22, 0xd8,         //    mov %rax, %cr3
            0x48, 0x81, 0xce, 0xf8, 0x0f, 0x00, 0x00, // or $0xff8, %rsi (the list page's exit flag)
            0x48, 0x83, 0x3e, 0x00,   //    cmpq $0, (%rsi)
            0x59,                     //    pop %rcx
            0x5f,                     //    pop %rdi
            0x5e,                     //    pop %rsi
            0x58,                     //    pop %rax
            0x74, 0x02,               //    je 1f
            0xe6, HypervisorLayout.NullPort, // out %al, $NullPort (rsp at an error code and iret frame)
            0x48, 0x8d, 0x64, 0x24, 0x08, // 1: lea 8(%rsp), %rsp (the error-code slot; flags unchanged)
            0x48, 0xcf,               //    iretq
        ];
        code.CopyTo(page);
    }

    /// <summary>
    /// Offset in the shadow-sync list page of the flag that makes the stub exit (through the null
    /// port, with a trap frame at rsp) before its iretq: set when a kick interrupted the stub, so a
    /// pending upcall is delivered before the guest resumes rather than at some later exit.
    /// </summary>
    public const int ShadowSyncExitFlagOffset = 0xff8;

    /// <summary>Quadwords the shadow-sync stub saves below the error-code slot: rcx, rdi, rsi, rax (pop order).</summary>
    public const int ShadowSyncSavedRegisters = 4;

    /// <summary>The shared IDT: interrupt gates into the stubs, DPL 3 only where the guest may use int n directly.</summary>
    public static void WriteIdt(Span<byte> page)
    {
        for (int vector = 0; vector < 256; vector++)
        {
            ulong target = HypervisorLayout.StubsVa + (ulong)(vector * HypervisorLayout.StubSize);
            int dpl = vector is 3 or 4 or 0x80 ? 3 : 0;
            Span<byte> gate = page.Slice(vector * 16, 16);
            gate.Clear();
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(gate, (ushort)target);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(gate[2..], HypervisorLayout.HypervisorCs);
            gate[4] = (byte)(UsesIst(vector) ? 1 : 0);
            gate[5] = (byte)(0x80 | (dpl << 5) | 0x0e);                    // present, DPL, 64-bit interrupt gate
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(gate[6..], (ushort)(target >> 16));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(gate[8..], (uint)(target >> 32));
        }
    }

    /// <summary>
    /// The reserved GDT page (entries 0xe000..): Xen's flat ring-3 selectors for the guest, the
    /// hypervisor's ring-0 selectors for the gates, and this vCPU's TSS.
    /// </summary>
    public static void WriteReservedGdtPage(Span<byte> page, ulong tssVa)
    {
        page.Clear();
        Span<ulong> entries = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(page);
        entries[1] = 0x00af_9b00_0000_ffff;   // 0xe008 hypervisor CS, 64-bit, DPL 0
        entries[2] = 0x00cf_9300_0000_ffff;   // 0xe010 hypervisor DS, DPL 0
        entries[4] = 0x00cf_fb00_0000_ffff;   // 0xe023 FLAT_RING3_CS32
        entries[5] = 0x00cf_f300_0000_ffff;   // 0xe02b FLAT_RING3_DS32 / SS64
        entries[6] = 0x00af_fb00_0000_ffff;   // 0xe033 FLAT_RING3_CS64
        ulong limit = HypervisorLayout.TssLimit;
        entries[8] = (limit & 0xffff) | ((tssVa & 0xff_ffff) << 16) | (0x8bUL << 40) /* present, busy 64-bit TSS */
                     | (((limit >> 16) & 0xf) << 48) | (((tssVa >> 24) & 0xff) << 56);
        entries[9] = tssVa >> 32;
    }

    /// <summary>The 64-bit TSS: RSP0 and IST1 on the hypervisor stacks, and an I/O bitmap opening only our ports.</summary>
    public static void WriteTss(Span<byte> page, ulong rsp0, ulong ist1)
    {
        page.Clear();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(page[4..], rsp0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(page[36..], ist1);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(page[102..], HypervisorLayout.TssIoBitmapOffset);
        Span<byte> bitmap = page.Slice(HypervisorLayout.TssIoBitmapOffset, HypervisorLayout.TssIoBitmapBytes + 1);
        bitmap.Fill(0xff);
        foreach (byte port in (ReadOnlySpan<byte>)[HypervisorLayout.HypercallPort, HypervisorLayout.NullPort, HypervisorLayout.SyscallPort])
            bitmap[port / 8] &= (byte)~(1 << (port % 8));
    }
}
