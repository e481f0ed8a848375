namespace Xenolith.Hypervisor.Pv;

/// <summary>
/// Where the CPL0 trampoline lives in every PV guest's address space, and the I/O ports it exits through.
/// PML4 slot 256 is unusable on PVM hosts (the host reserves it), so the trampoline takes slot 258;
/// slot 257 is kept for the read-only M2P table (see HOST-KVM.md).
/// </summary>
public static class HypervisorLayout
{
    public const int TrampolineSlot = 258;
    public const ulong Base = 0xffff_0000_0000_0000UL | ((ulong)TrampolineSlot << 39);

    // Shared by every vCPU of every domain (one machine frame each).
    public const ulong IdtVa = Base + 0x0000;
    public const ulong StubsVa = Base + 0x1000;
    public const ulong SyscallStubVa = Base + 0x2000;
    public const int Syscall32StubOffset = 16;
    public const ulong Syscall32StubVa = SyscallStubVa + Syscall32StubOffset;
    public const ulong ShadowSyncVa = Base + 0x3000;

    // Per-vCPU areas start at the second 2 MiB so the first L1 holds only the shared pages.
    public const ulong PerVcpuBase = Base + 0x20_0000;
    public const ulong PerVcpuStride = 0x2_0000;
    public const int VcpusPerL1 = 0x20_0000 / (int)PerVcpuStride;
    public const int MaxVcpus = 128;

    public const ulong GdtOffset = 0x0000;            // 16 pages: 14 guest frames, the reserved page, a zero page
    public const int GdtPages = 16;
    public const ulong TssOffset = 0x1_0000;
    public const ulong StackOffset = 0x1_2000;        // two pages; 0x1_1000 is an unmapped guard
    public const int StackPages = 2;
    public const ulong StackTopOffset = 0x1_4000;
    public const ulong IstStackOffset = 0x1_5000;     // #DF, NMI, #MC; 0x1_4000 is a guard
    public const ulong IstStackTopOffset = 0x1_6000;
    public const ulong ShadowSyncListOffset = 0x1_7000; // 0x1_6000 is a guard

    /// <summary>
    /// PML4 slot 257: the read-only machine-to-physical table every PV guest may read. Xen puts it
    /// in slot 256, which PVM hosts reserve; guests find it through XENMEM_machphys_mapping.
    /// </summary>
    public const int M2pSlot = 257;
    public const ulong M2pBase = 0xffff_0000_0000_0000UL | ((ulong)M2pSlot << 39);

    /// <summary>
    /// PML4 slot 262 (Xen's directmap slot): all of machine memory, supervisor-only, 2 MiB pages, so
    /// hypervisor code running inside a guest's VM (the shadow-sync stub) can reach any frame.
    /// </summary>
    public const int DirectmapSlot = 262;
    public const ulong DirectmapBase = 0xffff_0000_0000_0000UL | ((ulong)DirectmapSlot << 39);
    public const ulong DirectmapSize = 1UL << 39;

    public static ulong DirectmapVa(ulong machineAddress) => DirectmapBase + machineAddress;

    public static ulong VcpuArea(int vcpu) => PerVcpuBase + (ulong)vcpu * PerVcpuStride;

    // Stubs: one 16-byte stub per vector in the stub page.
    public const int StubSize = 16;

    // Ports. The TSS I/O bitmap lets CPL3 reach only HypercallPort, NullPort and SyscallPort.
    public const byte HypercallPort = 0xe0;
    public const byte NullPort = 0xe1;
    public const byte SyscallPort = 0xe2;
    public const byte TrapPort = 0xe3;

    // Selectors in the reserved GDT page (0xe000 = entry 7168).
    public const ushort HypervisorCs = 0xe008;
    public const ushort HypervisorDs = 0xe010;
    public const ushort TssSelector = 0xe040;

    /// <summary>The TSS and its I/O bitmap (ports 0..1023 plus the terminating byte).</summary>
    public const int TssIoBitmapOffset = 0x68;
    public const int TssIoBitmapBytes = 1024 / 8;
    public const uint TssLimit = TssIoBitmapOffset + TssIoBitmapBytes;
}
