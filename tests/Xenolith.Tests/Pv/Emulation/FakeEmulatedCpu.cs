using Xenolith.Hypervisor.Pv;
using Xenolith.Hypervisor.Pv.Emulation;
using Xenolith.Kvm;
using Xunit;

namespace Xenolith.Tests.Pv.Emulation;

/// <summary>An <see cref="IEmulatedCpu"/> over plain fields: guest memory is a set of 4 KiB pages at chosen addresses.</summary>
internal sealed class FakeEmulatedCpu : IEmulatedCpu
{
    public const ulong Cr0Base = 0x8005_0033; // PE|MP|ET|NE|WP|PG
    public const ulong Cr0Ts = 1UL << 3;
    private const int PageSize = 4096;

    private GuestFrame _frame;
    private readonly Dictionary<ulong, byte[]> _pages = [];

    public FakeEmulatedCpu(CpuidPolicy? cpuid = null)
    {
        Cpuid = cpuid ?? new CpuidPolicy(ReadOnlySpan<KvmCpuidEntry2>.Empty, 4, 19);
        _frame.Cs = 0xe033;
        _frame.Rflags = 0x202;
    }

    public ulong[] Gprs { get; } = new ulong[16];
    public ref GuestFrame Frame => ref _frame;
    public bool InKernelMode { get; set; } = true;
    public bool Is64BitCode { get; set; } = true;
    public int VcpuId { get; set; }
    public PvVcpuState State { get; } = new();
    public bool ArchitecturalIopl { get; set; }
    public ulong FsBase { get; set; }
    public ulong GsBaseKernel { get; set; }
    public ulong GsBaseUser { get; set; }
    public bool EventsMasked { get; set; }
    public ulong Cr0 => Cr0Base | (State.FpuTaskSwitched ? Cr0Ts : 0);
    public ulong Cr4 { get; set; } = 0x620; // PAE|OSFXSR|OSXMMEXCPT
    public ulong Efer { get; set; } = 0xd01;  // SCE|LME|LMA|NXE
    public ulong Tsc { get; set; } = 0x1234_5678_9abc;
    public CpuidPolicy Cpuid { get; }

    public bool AcceptBasePointer { get; set; } = true;
    public ulong? LoadedBasePointer { get; private set; }
    public bool AcceptHypercallPage { get; set; } = true;
    public ulong? HypercallPageGmfn { get; private set; }
    public ulong[] DebugRegisters { get; } = new ulong[8];
    public long DebugRegisterResult { get; set; }
    public bool PortsPermitted { get; set; }
    public int FpuTaskSwitchCalls { get; private set; }

    public ulong ReadGpr(int index) => Gprs[index];
    public void WriteGpr(int index, ulong value) => Gprs[index] = value;

    /// <summary>Maps zeroed pages covering [va, va+length).</summary>
    public void Map(ulong va, int length)
    {
        for (ulong page = va & ~(ulong)(PageSize - 1); page < va + (ulong)length; page += PageSize)
            _pages.TryAdd(page, new byte[PageSize]);
    }

    /// <summary>Maps the pages under <paramref name="va"/> and writes <paramref name="bytes"/> there.</summary>
    public void Poke(ulong va, ReadOnlySpan<byte> bytes)
    {
        Map(va, bytes.Length);
        Assert.Equal(0, CopyToGuest(va, bytes));
    }

    /// <summary>Puts <paramref name="code"/> at <paramref name="rip"/> and points Frame.Rip at it.</summary>
    public void Code(ulong rip, params byte[] code)
    {
        Poke(rip, code);
        _frame.Rip = rip;
    }

    public byte[] Peek(ulong va, int length)
    {
        var bytes = new byte[length];
        Assert.Equal(0, CopyFromGuest(va, bytes));
        return bytes;
    }

    public int CopyFromGuest(ulong va, Span<byte> destination)
    {
        if (!AllMapped(va, destination.Length))
            return -14;
        for (int i = 0; i < destination.Length; i++)
        {
            ulong a = va + (ulong)i;
            destination[i] = _pages[a & ~(ulong)(PageSize - 1)][(int)(a & (PageSize - 1))];
        }
        return 0;
    }

    public int CopyToGuest(ulong va, ReadOnlySpan<byte> source)
    {
        if (!AllMapped(va, source.Length))
            return -14;
        for (int i = 0; i < source.Length; i++)
        {
            ulong a = va + (ulong)i;
            _pages[a & ~(ulong)(PageSize - 1)][(int)(a & (PageSize - 1))] = source[i];
        }
        return 0;
    }

    private bool AllMapped(ulong va, int length)
    {
        for (int i = 0; i < length; i++)
            if (!_pages.ContainsKey((va + (ulong)i) & ~(ulong)(PageSize - 1)))
                return false;
        return true;
    }

    public ulong ReadTsc() => Tsc;

    public void SetFpuTaskSwitched(bool set)
    {
        FpuTaskSwitchCalls++;
        State.FpuTaskSwitched = set;
    }

    public long SetDebugRegister(int register, ulong value)
    {
        if (DebugRegisterResult == 0)
            DebugRegisters[register] = value;
        return DebugRegisterResult;
    }

    public long GetDebugRegister(int register, out ulong value)
    {
        value = DebugRegisterResult == 0 ? DebugRegisters[register] : 0;
        return DebugRegisterResult;
    }

    public bool LoadKernelBasePointer(ulong mfn)
    {
        if (!AcceptBasePointer)
            return false;
        LoadedBasePointer = mfn;
        State.KernelBaseMfn = mfn;
        return true;
    }

    public bool WriteHypercallPage(ulong gmfn)
    {
        if (!AcceptHypercallPage)
            return false;
        HypercallPageGmfn = gmfn;
        return true;
    }

    public bool IoPortPermitted(ushort port, int size) => PortsPermitted;
}
