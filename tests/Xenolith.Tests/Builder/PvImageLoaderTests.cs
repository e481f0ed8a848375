using System.Runtime.InteropServices;
using System.Text;
using Xenolith.Abi;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xunit;

namespace Xenolith.Tests.Builder;

/// <summary>
/// The builder's output read back the way the guest will see it: through its own page tables,
/// from a discontiguous set of frames. No KVM needed: machine memory is just a memfd.
/// </summary>
public sealed class PvImageLoaderTests : IDisposable
{
    private const ulong Pages = 4096; // 16 MiB
    private readonly MachineMemory _memory = new(64UL << 20);
    private readonly ulong[] _p2m;
    private readonly PvBootImage _boot;
    private readonly GuestPageTables _tables;
    private readonly XenKernelImage _image = XenKernelImage.Parse(BuiltinGuests.Load("hello"));

    public PvImageLoaderTests()
    {
        // Take every other frame so the domain's memory is deliberately discontiguous, and reversed.
        ulong[] all = _memory.Allocate(1, Pages * 2);
        _p2m = [.. all.Where((_, i) => i % 2 == 1).Reverse()];
        var context = new PvLoadContext(_p2m, SharedInfoMfn: 7, StoreEvtchn: 1, ConsoleEvtchn: 2);
        _boot = PvImageLoader.Load(_memory, context, _image, Encoding.ASCII.GetBytes("initrd-bytes"), "console=hvc0 reason=test");
        _tables = new GuestPageTables(_memory);
    }

    public void Dispose() => _memory.Dispose();

    private ulong Cr3 => _boot.Start.Cr3;

    private StartInfo ReadStartInfo()
    {
        Span<byte> bytes = stackalloc byte[StartInfo.Size];
        Assert.Equal(0, _tables.CopyFromGuest(Cr3, _boot.Start.Rsi, bytes));
        return MemoryMarshal.Read<StartInfo>(bytes);
    }

    [Fact]
    public void StartInfo_IsFilledAsXenFillsIt()
    {
        StartInfo info = ReadStartInfo();
        PvLayout layout = _boot.Layout;

        Assert.Equal("xen-3.0-x86_64", Encoding.ASCII.GetString(info.Magic).TrimEnd('\0'));
        Assert.Equal(Pages, info.NrPages);
        Assert.Equal(7UL << 12, info.SharedInfo);
        Assert.Equal(StartInfoFlags.None, info.Flags);
        Assert.Equal(_p2m[layout.PfnOf(layout.XenstorePage)], info.StoreMfn);
        Assert.Equal(1u, info.StoreEvtchn);
        Assert.Equal(_p2m[layout.PfnOf(layout.ConsolePage)], info.ConsoleMfn);
        Assert.Equal(2u, info.ConsoleEvtchn);
        Assert.Equal(layout.PageTablesStart, info.PtBase);
        Assert.Equal(layout.PageTables.Total, info.NrPtFrames);
        Assert.Equal(layout.P2mStart, info.MfnList);
        Assert.Equal(layout.RamdiskStart, info.ModStart);
        Assert.Equal(12UL, info.ModLen);
        Assert.Equal("console=hvc0 reason=test", Encoding.ASCII.GetString(info.CmdLine).TrimEnd('\0'));
        Assert.Equal(layout.PfnOf(layout.P2mStart), info.FirstP2mPfn);
        Assert.Equal(layout.P2mPages, info.NrP2mFrames);
    }

    [Fact]
    public void StartState_EntersAtTheImageEntry_WithStartInfoAndBootStack()
    {
        Assert.Equal(_image.VirtEntry, _boot.Start.Rip);
        Assert.Equal(_boot.Layout.StartInfo, _boot.Start.Rsi);
        Assert.Equal(_boot.Layout.BootStack + 4096, _boot.Start.Rsp);
        Assert.Equal(_p2m[_boot.Layout.PfnOf(_boot.Layout.PageTablesStart)] << 12, _boot.Start.Cr3);
    }

    [Fact]
    public void P2mList_ReadThroughTheGuestMapping_IsTheDomainsFrames()
    {
        var list = new ulong[Pages];
        Assert.Equal(0, _tables.CopyFromGuest(Cr3, _boot.Layout.P2mStart, MemoryMarshal.AsBytes(list.AsSpan())));
        Assert.Equal(_p2m, list);
    }

    [Fact]
    public void BootstrapMapping_IsOneToOneOntoPfns_AndPageTablesAreReadOnly()
    {
        PvLayout layout = _boot.Layout;
        for (ulong va = layout.VirtBase; va < layout.End; va += 4096)
        {
            Assert.True(_tables.TryTranslate(Cr3, va, write: false, out ulong ma));
            Assert.Equal(_p2m[layout.PfnOf(va)] << 12, ma);
            bool isTable = va >= layout.PageTablesStart && va < layout.PageTablesStart + layout.PageTables.Total * 4096;
            Assert.Equal(!isTable, _tables.TryTranslate(Cr3, va, write: true, out _));
        }
    }

    [Fact]
    public void BootstrapMapping_EndsOn4MiB_WithAtLeast512KiBPadding()
    {
        PvLayout layout = _boot.Layout;
        Assert.Equal(0UL, layout.MappingEnd % (4 << 20));
        Assert.True(layout.MappingEnd - layout.End >= 512 * 1024);
        Assert.True(_tables.TryTranslate(Cr3, layout.MappingEnd - 4096, write: true, out _));
        Assert.False(_tables.TryTranslate(Cr3, layout.MappingEnd, write: false, out _));
    }

    [Fact]
    public void Layout_FollowsXensStartOfDayOrder()
    {
        PvLayout l = _boot.Layout;
        ulong[] order = [l.KernelStart, l.KernelEnd, l.RamdiskStart, l.P2mStart, l.StartInfo, l.XenstorePage, l.ConsolePage, l.PageTablesStart, l.BootStack, l.End];
        Assert.Equal(order.Order(), order);
        Assert.All(order, a => Assert.Equal(0UL, a % 4096));
        Assert.Equal(l.KernelEnd, l.RamdiskStart);
        Assert.Equal(l.RamdiskStart + 4096, l.P2mStart);
        Assert.Equal(Pages * 8 / 4096, l.P2mPages);
        Assert.Equal(l.P2mStart + l.P2mPages * 4096, l.StartInfo);
        Assert.Equal(l.PageTablesStart + l.PageTables.Total * 4096, l.BootStack);
    }

    [Fact]
    public void L4_LeavesTheHypervisorSlotsToTheHypervisor()
    {
        Span<ulong> l4 = MemoryMarshal.Cast<byte, ulong>(_memory.Frame(_boot.L4Mfn));
        for (int slot = 256; slot < 272; slot++)
            Assert.Equal(0UL, l4[slot]);
    }

    [Fact]
    public void HypercallPage_IsFilled_AtTheNotedAddress()
    {
        var page = new byte[4096];
        Assert.Equal(0, _tables.CopyFromGuest(Cr3, _image.VirtHypercallPage!.Value, page));
        // xen_version (17): mov $17,%eax; out %al,$0xe0; ret
        Assert.Equal(new byte[] { 0xb8, 17, 0, 0, 0, 0xe6, 0xe0, 0xc3 }, page.AsSpan(17 * 32, 8).ToArray());
        // iret (23) pushes rcx, r11, rax first, as Xen's does, and never returns.
        Assert.Equal(new byte[] { 0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0xe6, 0xe0, 0x0f, 0x0b }, page.AsSpan(23 * 32, 13).ToArray());
    }

    [Fact]
    public void KernelSegments_AreCopiedToTheirVirtualAddresses()
    {
        foreach (ElfLoadSegment segment in _image.Segments)
        {
            byte[] expected = _image.FileBytes(segment).ToArray();
            var actual = new byte[expected.Length];
            Assert.Equal(0, _tables.CopyFromGuest(Cr3, segment.PhysicalAddress + _image.VirtOffset, actual));
            if (segment.VirtualAddress == _image.VirtHypercallPage)
                continue; // the hypercall page was filled over the image's placeholder
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void TooLittleMemory_IsRefusedWithTheAmountNeeded()
    {
        var error = Assert.Throws<KernelImageException>(() => PvLayout.Compute(_image, 0, nrPages: 16));
        Assert.Contains("not enough memory", error.Message);
    }

    [Fact]
    public void PageTableCounts_CoverTheRange()
    {
        Assert.Equal(new PageTableCounts(1, 1, 1, 2), PageTableCounts.For(0xffffffff80000000, 0xffffffff80400000));
        Assert.Equal(new PageTableCounts(1, 1, 2, 2), PageTableCounts.For(0xffffffffbfe00000, 0xffffffffc0200000));
        Assert.Equal(new PageTableCounts(1, 2, 2, 2), PageTableCounts.For(0x7fffffe00000, 0x800000200000));
    }
}
