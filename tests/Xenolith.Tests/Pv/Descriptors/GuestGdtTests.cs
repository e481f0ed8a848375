using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xenolith.Hypervisor.Pv.Descriptors;
using Xunit;
using static Xenolith.Tests.Pv.Descriptors.SegmentDescriptorTests;

namespace Xenolith.Tests.Pv.Descriptors;

/// <summary>set_gdt's validation and the shadow copy the CPU actually uses.</summary>
public sealed class GuestGdtTests : IDisposable
{
    private const ushort Guest = 1;
    private const ushort OtherGuest = 2;
    private const ulong Garbage = 0x5a5a_5a5a_5a5a_5a5a;

    private readonly MachineMemory _memory = new(1 << 24);
    private readonly ulong[] _shadow;
    private readonly GuestGdt _gdt;

    public GuestGdtTests()
    {
        _shadow = _memory.Allocate(DomainIds.Xen, (ulong)GuestGdt.MaxFrames);
        ulong reserved = _memory.Allocate(DomainIds.Xen);
        TrampolineCode.WriteReservedGdtPage(_memory.Frame(reserved), HypervisorLayout.VcpuArea(0) + HypervisorLayout.TssOffset);
        // Whatever a shadow page held before must not survive a set_gdt.
        foreach (ulong mfn in _shadow)
            Entries(mfn).Fill(Garbage);
        _gdt = new GuestGdt(_memory, Guest, _shadow, reserved);
    }

    public void Dispose() => _memory.Dispose();

    private Span<ulong> Entries(ulong mfn) => MemoryMarshal.Cast<byte, ulong>(_memory.Frame(mfn));

    /// <summary>A guest frame of valid descriptors: DPL 3 data at every index, unless overridden.</summary>
    private ulong GuestFrame(params (int Index, ulong Descriptor)[] entries)
    {
        ulong mfn = _memory.Allocate(Guest);
        Entries(mfn).Fill(DataDpl3);
        foreach ((int index, ulong descriptor) in entries)
            Entries(mfn)[index] = descriptor;
        return mfn;
    }

    private ulong Shadow(int entry) => Entries(_shadow[entry / 512])[entry % 512];

    [Fact]
    public void Set_CopiesTheFixedFrames_AndZeroesPastThem()
    {
        ulong a = GuestFrame((0, 0), (1, Code64Dpl0), (2, DataDpl0), (3, 0x00af_1b00_0000_ffff), (511, Code64Dpl3));
        ulong b = GuestFrame((0, Code64Dpl0), (1, 0x0000_8000_dead_beef), (2, Code64Dpl0));

        Assert.Equal(0, _gdt.Set([a, b], 514));

        Assert.Equal(514u, _gdt.Entries);
        Assert.Equal(new[] { a, b }, _gdt.Frames);
        Assert.Equal(0UL, Shadow(0));
        Assert.Equal(Code64Dpl3, Shadow(1));
        Assert.Equal(DataDpl3, Shadow(2));
        Assert.Equal(0x00af_1b00_0000_ffffUL, Shadow(3));    // not present: untouched
        Assert.Equal(DataDpl3, Shadow(4));
        Assert.Equal(Code64Dpl3, Shadow(511));
        Assert.Equal(Code64Dpl3, Shadow(512));
        Assert.Equal(0x0000_8000_dead_beefUL, Shadow(513));
        // Past `entries` but inside frame b: loadable, as on Xen (whole frames, full GDTR limit).
        Assert.Equal(Code64Dpl3, Shadow(512 + 2));
        // Past the frames: zero.
        for (int entry = 1024; entry < GuestGdt.MaxEntries; entry++)
            Assert.Equal(0UL, Shadow(entry));

        // Xen fixes the DPLs in the guest's own page too, past `entries` included.
        Assert.Equal(Code64Dpl3, Entries(a)[1]);
        Assert.Equal(DataDpl3, Entries(a)[2]);
        Assert.Equal(Code64Dpl3, Entries(b)[2]);
        Assert.Equal(FrameType.SegmentDescriptors, _memory.TypeOf(a));
        Assert.Equal(FrameType.SegmentDescriptors, _memory.TypeOf(b));
    }

    [Fact]
    public void Set_AllFourteenPages()
    {
        ulong[] frames = [.. Enumerable.Range(0, GuestGdt.MaxFrames).Select(_ => GuestFrame())];
        Assert.Equal(0, _gdt.Set(frames, (uint)GuestGdt.MaxEntries));
        Assert.Equal(DataDpl3, Shadow(GuestGdt.MaxEntries - 1));
    }

    [Fact]
    public void Set_TooManyEntries()
    {
        ulong[] frames = [.. Enumerable.Range(0, GuestGdt.MaxFrames + 1).Select(_ => GuestFrame())];
        Assert.Equal(-XenErrno.EINVAL, _gdt.Set(frames, X86Layout.FirstReservedGdtEntry + 1));
        Assert.Equal(-XenErrno.EINVAL, _gdt.Set(frames, uint.MaxValue));
        Assert.Equal(0u, _gdt.Entries);
    }

    [Fact]
    public void Set_RefusesFramesTheDomainDoesNotOwn()
    {
        ulong own = GuestFrame();
        ulong foreign = _memory.Allocate(OtherGuest);
        Assert.Equal(-XenErrno.EINVAL, _gdt.Set([own, foreign], 600));
        Assert.Equal(-XenErrno.EINVAL, _gdt.Set([_shadow[0]], 1));             // the hypervisor's
        Assert.Equal(-XenErrno.EINVAL, _gdt.Set([_memory.FrameCount], 1));     // outside machine memory
        Assert.Equal(-XenErrno.EINVAL, _gdt.Set([0], 1));
        ulong free = _memory.Allocate(Guest);
        _memory.Free([free]);
        Assert.Equal(-XenErrno.EINVAL, _gdt.Set([free], 1));
        Assert.Equal(FrameType.None, _memory.TypeOf(own));
    }

    [Theory]
    [InlineData(FrameType.L1PageTable)]
    [InlineData(FrameType.L2PageTable)]
    [InlineData(FrameType.L3PageTable)]
    [InlineData(FrameType.L4PageTable)]
    [InlineData(FrameType.Writable)]
    public void Set_RefusesFramesInAnotherUse(FrameType type)
    {
        ulong frame = GuestFrame();
        _memory.Page(frame).Type = type;        // in use: one type reference held
        _memory.Page(frame).TypeCount = 1;
        Assert.Equal(-XenErrno.EINVAL, _gdt.Set([frame], 1));
        Assert.Equal(type, _memory.TypeOf(frame));
    }

    [Theory]
    [InlineData(0x0000_8900_0000_0067UL)]   // TSS
    [InlineData(0x0000_ec00_0013_1000UL)]   // call gate
    public void Set_OneBadDescriptorAnywhereInTheFrame_RefusesTheWholeCall(ulong bad)
    {
        ulong first = GuestFrame((5, Code64Dpl3));
        Assert.Equal(0, _gdt.Set([first], 10));

        ulong a = GuestFrame((1, Code64Dpl0));
        ulong b = GuestFrame((511, bad));
        // Entry 1023 lies past `entries`, but Xen validates whole pages.
        Assert.Equal(-XenErrno.EINVAL, _gdt.Set([a, b], 513));

        Assert.Equal(10u, _gdt.Entries);
        Assert.Equal(new[] { first }, _gdt.Frames);
        Assert.Equal(Code64Dpl3, Shadow(5));
        Assert.Equal(Entries(first)[10], Shadow(10));       // the old GDT, whole frame
        Assert.Equal(0UL, Shadow(512));                     // the failed second frame is not in the shadow
        Assert.Equal(Code64Dpl0, Entries(a)[1]);            // no fix-up written on failure
        Assert.Equal(FrameType.SegmentDescriptors, _memory.TypeOf(first));
        Assert.Equal(FrameType.None, _memory.TypeOf(a));
        Assert.Equal(FrameType.None, _memory.TypeOf(b));
    }

    [Fact]
    public void Set_ZeroEntries_ClearsTheGdt()
    {
        ulong frame = GuestFrame();
        Assert.Equal(0, _gdt.Set([frame], 512));

        Assert.Equal(0, _gdt.Set([], 0));

        Assert.Equal(0u, _gdt.Entries);
        Assert.Empty(_gdt.Frames);
        for (int entry = 0; entry < GuestGdt.MaxEntries; entry++)
            Assert.Equal(0UL, Shadow(entry));
        Assert.Equal(FrameType.None, _memory.TypeOf(frame));
        Assert.False(_gdt.TryGetDescriptor(0x13, out _));
    }

    [Fact]
    public void Set_ReleasesDroppedFrames_UnlessAnotherGdtHoldsThem()
    {
        ulong a = GuestFrame(), b = GuestFrame(), c = GuestFrame();
        Assert.Equal(0, _gdt.Set([a, b], 1024));

        Assert.Equal(0, _gdt.Set([b, c], 1024, mfn => mfn == a));   // a is still in another vCPU's GDT
        Assert.Equal(FrameType.SegmentDescriptors, _memory.TypeOf(a));

        Assert.Equal(0, _gdt.Set([c], 1));
        Assert.Equal(FrameType.None, _memory.TypeOf(b));
        Assert.Equal(FrameType.SegmentDescriptors, _memory.TypeOf(c));
    }

    [Fact]
    public void Set_RevalidatesAFrameAlreadyInUse()
    {
        // Without a validating MMU the guest may still write its GDT frame directly: set_gdt trusts nothing it copied before.
        ulong frame = GuestFrame();
        Assert.Equal(0, _gdt.Set([frame], 512));
        Entries(frame)[7] = 0x0000_8900_0000_0067;
        Assert.Equal(-XenErrno.EINVAL, _gdt.Set([frame], 512));
        Assert.Equal(DataDpl3, Shadow(7));
    }

    [Fact]
    public void TryGetDescriptor_GuestEntries()
    {
        Assert.Equal(0, _gdt.Set([GuestFrame((2, Code64Dpl0))], 4));
        Assert.True(_gdt.TryGetDescriptor(0x13, out ulong descriptor));
        Assert.Equal(Code64Dpl3, descriptor);
        Assert.True(_gdt.TryGetDescriptor(0x18, out descriptor));   // the RPL does not matter
        Assert.Equal(DataDpl3, descriptor);
        Assert.True(_gdt.TryGetDescriptor(0, out descriptor));
        Assert.Equal(0UL, descriptor);
        Assert.True(_gdt.TryGetDescriptor(3, out descriptor));
        Assert.Equal(0UL, descriptor);
    }

    [Fact]
    public void TryGetDescriptor_ReservedEntries()
    {
        Assert.True(_gdt.TryGetDescriptor(X86Layout.FlatRing3Cs64, out ulong descriptor));
        Assert.Equal(0x00af_fb00_0000_ffffUL, descriptor);
        Assert.True(_gdt.TryGetDescriptor(X86Layout.FlatRing3Ss64, out descriptor));
        Assert.Equal(0x00cf_f300_0000_ffffUL, descriptor);
        Assert.True(_gdt.TryGetDescriptor(0xe008, out descriptor));
        Assert.Equal(0x00af_9b00_0000_ffffUL, descriptor);
        Assert.True(_gdt.TryGetDescriptor(0xeff8, out descriptor));   // last reserved entry: empty
        Assert.Equal(0UL, descriptor);
    }

    [Theory]
    [InlineData((ushort)0x0007)]    // LDT entry 0
    [InlineData((ushort)0x0017)]    // LDT entry 2
    [InlineData((ushort)0xe037)]    // LDT, in the reserved range
    [InlineData((ushort)0x1003)]    // entry 512: past the only frame
    [InlineData((ushort)0xdffb)]    // entry 7167: the last guest entry, unused
    [InlineData((ushort)0xf003)]    // entry 7680: page 15, past the reserved page
    [InlineData((ushort)0xfffb)]
    public void TryGetDescriptor_Refuses(ushort selector)
    {
        Assert.Equal(0, _gdt.Set([GuestFrame()], 4));
        Assert.False(_gdt.TryGetDescriptor(selector, out _));
    }

    [Fact]
    public void OnDescriptorWritten_UpdatesOnlyFramesOfThisGdt()
    {
        ulong a = GuestFrame(), b = GuestFrame();
        Assert.Equal(0, _gdt.Set([a, b], 520));

        _gdt.OnDescriptorWritten(a, 3, Code64Dpl3);
        _gdt.OnDescriptorWritten(b, 7, Code64Dpl3);
        _gdt.OnDescriptorWritten(b, 8, Code64Dpl3);          // entry 520: past Entries, inside frame b
        _gdt.OnDescriptorWritten(GuestFrame(), 4, Code64Dpl3);

        Assert.Equal(Code64Dpl3, Shadow(3));
        Assert.Equal(DataDpl3, Shadow(4));
        Assert.Equal(Code64Dpl3, Shadow(519));
        Assert.Equal(Code64Dpl3, Shadow(520));
        Assert.Equal(0UL, Shadow(1024 + 4));
        Assert.True(_gdt.TryGetDescriptor((519 << 3) | 3, out ulong descriptor));
        Assert.Equal(Code64Dpl3, descriptor);
    }

    [Fact]
    public void OnDescriptorWritten_AFrameListedTwice_UpdatesBothPages()
    {
        ulong a = GuestFrame();
        Assert.Equal(0, _gdt.Set([a, a], 1024));
        _gdt.OnDescriptorWritten(a, 9, Code64Dpl3);
        Assert.Equal(Code64Dpl3, Shadow(9));
        Assert.Equal(Code64Dpl3, Shadow(512 + 9));
    }
}
