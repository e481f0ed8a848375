using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Grants;
using Xenolith.Hypervisor.Memory;
using Xunit;

namespace Xenolith.Tests.Grants;

/// <summary>GNTTABOP_map_grant_ref and unmap_grant_ref for PV mappers: the PTE, the pins, the granter's status bits, and every refusal.</summary>
public sealed class GrantMapTests : GranterAndMapper
{
    private const uint HostRw = GrantMapFlags.HostMap;
    private const uint HostRo = GrantMapFlags.HostMap | GrantMapFlags.ReadOnly;

    private (uint Ref, uint Foreign, uint ForeignWritable, uint Type) Counts(ulong mfn)
    {
        PageInfo page = _w.Memory.Page(mfn);
        return (page.RefCount, page.ForeignRefs, page.ForeignWritable, page.TypeCount);
    }

    [Fact]
    public void WritableHostMap_WritesTheGrantPte_MarksReadingAndWriting_AndUnmapUndoesAll()
    {
        ulong frame = _w.Grant(_granter, 5, _mapper.Id);

        GrantMapGrantRef op = _w.Map(_mapper, _cr3, _granter.Id, 5, HostRw);

        Assert.Equal(GrantStatus.Okay, op.Status);
        Assert.Equal(frame << MachineMemory.PageShift, op.DevBusAddr);
        ulong pte = _w.EntryAt(_l1, 0);
        Assert.Equal(GrantTables.GrantPte(frame, HostRw), pte);
        Assert.Equal(Pte.Present | Pte.Writable | Pte.Accessed | Pte.Dirty | Pte.NoExecute | Pte.User | PageTableRules.GuestKernel,
            pte & ~Pte.AddressMask);
        Assert.Equal(Permit | GrantEntryFlags.Reading | GrantEntryFlags.Writing, _w.Flags(_granter, 5));
        Assert.Equal((2u, 1u, 1u, 1u), Counts(frame));
        Assert.Equal(1, _mapper.Grants.MappingsInUse);
        _w.Checker.Check("while mapped");

        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase, 0));

        Assert.Equal(0UL, _w.EntryAt(_l1, 0));
        Assert.Equal(Permit, _w.Flags(_granter, 5));
        Assert.Equal((1u, 0u, 0u, 0u), Counts(frame));
        Assert.Equal(0, _mapper.Grants.MappingsInUse);
        Assert.Contains((_l1 << MachineMemory.PageShift), _mapper.ShadowSyncs);   // the present PTE went away under the CPU
    }

    [Fact]
    public void ReadOnlyMap_OfAReadOnlyGrant_SetsOnlyReading_AndTheApplicationMapIsUserGlobal()
    {
        ulong frame = _w.Grant(_granter, 1, _mapper.Id, readOnly: true);

        GrantMapGrantRef op = _w.Map(_mapper, _cr3, _granter.Id, 1, HostRo | GrantMapFlags.ApplicationMap, GrantWorld.MapBase + 0x3000);

        Assert.Equal(GrantStatus.Okay, op.Status);
        Assert.Equal(Pte.Present | Pte.Accessed | Pte.Dirty | Pte.NoExecute | Pte.User | Pte.Global, _w.EntryAt(_l1, 3) & ~Pte.AddressMask);
        Assert.Equal(Permit | GrantEntryFlags.ReadOnly | GrantEntryFlags.Reading, _w.Flags(_granter, 1));
        Assert.Equal((2u, 1u, 0u, 0u), Counts(frame));
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase + 0x3000, 0));
        Assert.Equal(Permit | GrantEntryFlags.ReadOnly, _w.Flags(_granter, 1));
    }

    [Fact]
    public void TwoMappings_KeepTheStatusBitsUntilTheLastGoes_WritingGoesWithTheLastWritablePin()
    {
        _w.Grant(_granter, 2, _mapper.Id);
        GrantMapGrantRef rw = _w.Map(_mapper, _cr3, _granter.Id, 2, HostRw, GrantWorld.MapBase);
        GrantMapGrantRef ro = _w.Map(_mapper, _cr3, _granter.Id, 2, HostRo, GrantWorld.MapBase + 0x1000);
        Assert.Equal((GrantStatus.Okay, GrantStatus.Okay), (rw.Status, ro.Status));
        Assert.NotEqual(rw.Handle, ro.Handle);

        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, rw.Handle, GrantWorld.MapBase, 0));
        Assert.Equal(Permit | GrantEntryFlags.Reading, _w.Flags(_granter, 2));
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, ro.Handle, GrantWorld.MapBase + 0x1000, 0));
        Assert.Equal(Permit, _w.Flags(_granter, 2));
    }

    [Fact]
    public void ContainsPte_WritesTheNamedEntry_AndAMisalignedOrForeignTableIsRefused()
    {
        ulong frame = _w.Grant(_granter, 3, _mapper.Id);
        ulong pteAddress = (_l1 << MachineMemory.PageShift) + 7 * 8;

        Assert.Equal(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 3, HostRw | GrantMapFlags.ContainsPte, pteAddress + 4).Status);
        ulong grantersPage = _w.Allocate(_granter);
        Assert.Equal(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 3, HostRw | GrantMapFlags.ContainsPte, grantersPage << MachineMemory.PageShift).Status);
        Assert.Equal(Permit, _w.Flags(_granter, 3));

        GrantMapGrantRef op = _w.Map(_mapper, _cr3, _granter.Id, 3, HostRw | GrantMapFlags.ContainsPte, pteAddress);
        Assert.Equal(GrantStatus.Okay, op.Status);
        Assert.Equal(frame, Pte.Mfn(_w.EntryAt(_l1, 7)));
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, pteAddress, 0));
        Assert.Equal(0UL, _w.EntryAt(_l1, 7));
    }

    [Fact]
    public void DeviceMap_ReturnsTheBusAddress_AndHoldsTheFrameUntilUnmappedByIt()
    {
        ulong frame = _w.Grant(_granter, 4, _mapper.Id);

        GrantMapGrantRef op = _w.Map(_mapper, _cr3, _granter.Id, 4, GrantMapFlags.DeviceMap, hostAddr: 0);

        Assert.Equal(GrantStatus.Okay, op.Status);
        Assert.Equal(frame << 12, op.DevBusAddr);
        Assert.Equal((2u, 1u, 1u, 1u), Counts(frame));
        Assert.Equal(GrantStatus.GeneralError, _w.Grants.Unmap(_mapper, _cr3, op.Handle, 0, (frame + 1) << 12));
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, 0, 0));   // names no part: nothing happens
        Assert.Equal(1, _mapper.Grants.MappingsInUse);
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, 0, op.DevBusAddr));
        Assert.Equal((1u, 0u, 0u, 0u), Counts(frame));
        Assert.Equal(Permit, _w.Flags(_granter, 4));
    }

    [Fact]
    public void HostAndDeviceMap_UnmappingOnePart_KeepsTheHandleForTheOther()
    {
        ulong frame = _w.Grant(_granter, 4, _mapper.Id);
        GrantMapGrantRef op = _w.Map(_mapper, _cr3, _granter.Id, 4, HostRw | GrantMapFlags.DeviceMap);
        Assert.Equal((3u, 2u, 2u, 2u), Counts(frame));

        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase, 0));
        Assert.Equal(Permit | GrantEntryFlags.Reading | GrantEntryFlags.Writing, _w.Flags(_granter, 4));
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, 0, op.DevBusAddr));
        Assert.Equal(Permit, _w.Flags(_granter, 4));
        Assert.Equal(GrantStatus.BadHandle, _w.Grants.Unmap(_mapper, _cr3, op.Handle, 0, op.DevBusAddr));
    }

    [Fact]
    public void MapReplacingAPresentEntry_DropsWhatTheOldEntryHeld()
    {
        ulong own = _w.Allocate(_mapper);
        lock (_w.Memory.SyncRoot)
            Assert.Equal(0, _w.Types.UpdateEntry(_l1 << 12, Pte.Make(own, Pte.Present | Pte.Writable), false, _mapper));
        Assert.Equal((2u, 1u), (_w.Memory.Page(own).RefCount, _w.Memory.Page(own).TypeCount));
        _w.Grant(_granter, 6, _mapper.Id);

        Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _granter.Id, 6, HostRw).Status);

        Assert.Equal((1u, 0u), (_w.Memory.Page(own).RefCount, _w.Memory.Page(own).TypeCount));
        _w.Checker.Check("after the replacement");
    }

    // ---- refusals: each leaves no pin, no status bit and no handle behind ----

    private void AssertRefused(short expected, GrantMapGrantRef op, uint gref = 7)
    {
        Assert.Equal(expected, op.Status);
        Assert.Equal(0xdeadu, op.Handle);                         // only a success writes the handle
        Assert.Equal(0, _mapper.Grants.MappingsInUse);
        Assert.Equal(0UL, _w.EntryAt(_l1, 0));
        if (gref < _w.Grants.TableOf(_granter)!.EntryCount)
            Assert.Equal(0, _w.Flags(_granter, gref) & (GrantEntryFlags.Reading | GrantEntryFlags.Writing));
        _w.Checker.Check(() => $"after refusing with {expected}");
    }

    [Fact]
    public void NeitherHostNorDeviceMap_IsBadGntref()
    {
        _w.Grant(_granter, 7, _mapper.Id);
        AssertRefused(GrantStatus.BadGntref, _w.Map(_mapper, _cr3, _granter.Id, 7, GrantMapFlags.ReadOnly));
    }

    [Fact]
    public void MissingDomain_OrDomidSelf_IsBadDomain()
    {
        _w.Grant(_granter, 7, _mapper.Id);
        AssertRefused(GrantStatus.BadDomain, _w.Map(_mapper, _cr3, 99, 7, HostRw));
        AssertRefused(GrantStatus.BadDomain, _w.Map(_mapper, _cr3, DomainIds.Self, 7, HostRw));
        _granter.IsDying = true;
        AssertRefused(GrantStatus.BadDomain, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw));
    }

    [Fact]
    public void RefBeyondTheTable_IsBadGntref()
    {
        _w.TableFrames(_granter, 1);
        AssertRefused(GrantStatus.BadGntref, _w.Map(_mapper, _cr3, _granter.Id, GrantTableLayout.EntriesPerFrameV1, HostRw), GrantTableLayout.EntriesPerFrameV1);
        AssertRefused(GrantStatus.BadGntref, _w.Map(_mapper, _cr3, _granter.Id, uint.MaxValue, HostRw), uint.MaxValue);
    }

    [Fact]
    public void EntryNotGrantingTheMapper_IsGeneralError_AsXenAnswers()
    {
        ulong frame = _w.Allocate(_granter);
        _w.WriteGrant(_granter, 7, 3, frame, Permit);                          // granted to someone else
        AssertRefused(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw));
        _w.WriteGrant(_granter, 7, _mapper.Id, frame, GrantEntryFlags.Invalid); // not (or no longer) granted
        AssertRefused(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw));
        _w.WriteGrant(_granter, 7, _mapper.Id, frame, GrantEntryFlags.AcceptTransfer);
        AssertRefused(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw));
        _w.WriteGrant(_granter, 7, _mapper.Id, frame, Permit | GrantEntryFlags.SubPage);
        AssertRefused(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw));
    }

    [Fact]
    public void ReadOnlyGrantMappedWritable_IsGeneralError_ButReadOnlyMapWorks()
    {
        _w.Grant(_granter, 7, _mapper.Id, readOnly: true);
        AssertRefused(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw));
        Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRo).Status);
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, 0, GrantWorld.MapBase, 0));
    }

    [Fact]
    public void FrameTheGranterDoesNotOwn_IsBadPage()
    {
        ulong mappersFrame = _w.Allocate(_mapper);
        _w.WriteGrant(_granter, 7, _mapper.Id, mappersFrame, Permit);
        AssertRefused(GrantStatus.BadPage, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw));
        _w.WriteGrant(_granter, 7, _mapper.Id, _w.Memory.FrameCount + 5, Permit);
        AssertRefused(GrantStatus.BadPage, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw));
    }

    [Fact]
    public void HostAddressWithoutAnL1_IsGeneralError_AsXenAnswersForPv()
    {
        _w.Grant(_granter, 7, _mapper.Id);
        AssertRefused(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw, hostAddr: 0x8000_0000));
        AssertRefused(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw, hostAddr: 0xffff_8100_0000_0000));
        AssertRefused(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw, hostAddr: 0x0000_8000_0000_0000));
    }

    [Fact]
    public void WritableMapOfAGrantersPageTable_IsGeneralError()
    {
        ulong table = _w.Allocate(_granter);
        lock (_w.Memory.SyncRoot)
            Assert.Equal(0, _w.Types.Pin(table, FrameType.L1PageTable, _granter));
        _w.WriteGrant(_granter, 7, _mapper.Id, table, Permit);
        AssertRefused(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw));
        AssertRefused(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, GrantMapFlags.DeviceMap));
    }

    [Fact]
    public void BeyondTheMaptrackLimit_IsNoDeviceSpace_UntilAHandleIsFreed()
    {
        _mapper.Grants.MaxMaptrackHandles = 2;
        _w.Grant(_granter, 7, _mapper.Id);
        GrantMapGrantRef first = _w.Map(_mapper, _cr3, _granter.Id, 7, HostRo, GrantWorld.MapBase);
        GrantMapGrantRef second = _w.Map(_mapper, _cr3, _granter.Id, 7, HostRo, GrantWorld.MapBase + 0x1000);
        Assert.Equal((GrantStatus.Okay, GrantStatus.Okay), (first.Status, second.Status));

        GrantMapGrantRef third = _w.Map(_mapper, _cr3, _granter.Id, 7, HostRo, GrantWorld.MapBase + 0x2000);
        Assert.Equal(GrantStatus.NoDeviceSpace, third.Status);
        Assert.Equal(0UL, _w.EntryAt(_l1, 2));

        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, first.Handle, GrantWorld.MapBase, 0));
        Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRo, GrantWorld.MapBase + 0x2000).Status);
        _mapper.Grants.MaxMaptrackHandles = 0;
        Assert.Equal(GrantStatus.NoDeviceSpace, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRo, GrantWorld.MapBase + 0x3000).Status);
    }

    [Fact]
    public void PinCountsNearOverflow_AreRefused()
    {
        ulong frame = _w.Grant(_granter, 7, _mapper.Id);
        const uint DeviceRo = GrantMapFlags.DeviceMap | GrantMapFlags.ReadOnly;
        for (int i = 0; i < 128; i++)
            Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _granter.Id, 7, DeviceRo, 0).Status);
        Assert.Equal(GrantStatus.GeneralError, _w.Map(_mapper, _cr3, _granter.Id, 7, DeviceRo, 0).Status);
        for (uint handle = 0; handle < 128; handle++)
            Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, handle, 0, frame << MachineMemory.PageShift));
        Assert.Equal(Permit, _w.Flags(_granter, 7));
    }

    [Fact]
    public void AnEntryPinnedForOneDomain_CannotBeMappedByAnother()
    {
        FakeGrantDomain other = _w.AddDomain(3);
        (ulong otherCr3, _) = _w.AddressSpace(other);
        ulong frame = _w.Grant(_granter, 7, _mapper.Id);
        GrantMapGrantRef op = _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw);
        _w.WriteGrant(_granter, 7, other.Id, frame, Permit | GrantEntryFlags.Reading | GrantEntryFlags.Writing);   // the granter re-aims it meanwhile

        Assert.Equal(GrantStatus.GeneralError, _w.Map(other, otherCr3, _granter.Id, 7, HostRw).Status);
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase, 0));
    }

    [Fact]
    public void UnmapOfABadHandle_IsBadHandle_AndOfTheWrongAddress_GeneralErrorWithTheMappingIntact()
    {
        ulong frame = _w.Grant(_granter, 7, _mapper.Id);
        Assert.Equal(GrantStatus.BadHandle, _w.Grants.Unmap(_mapper, _cr3, 0, GrantWorld.MapBase, 0));
        GrantMapGrantRef op = _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw);
        Assert.Equal(GrantStatus.BadHandle, _w.Grants.Unmap(_mapper, _cr3, op.Handle + 1, GrantWorld.MapBase, 0));
        Assert.Equal(GrantStatus.BadHandle, _w.Grants.Unmap(_mapper, _cr3, uint.MaxValue, GrantWorld.MapBase, 0));

        Assert.Equal(GrantStatus.GeneralError, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase + 0x1000, 0));
        Assert.Equal(GrantStatus.GeneralError, _w.Grants.Unmap(_mapper, _cr3, op.Handle, 0x8000_0000, 0));
        Assert.Equal(frame, Pte.Mfn(_w.EntryAt(_l1, 0)));
        Assert.Equal(Permit | GrantEntryFlags.Reading | GrantEntryFlags.Writing, _w.Flags(_granter, 7));

        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase, 0));
        Assert.Equal(GrantStatus.BadHandle, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase, 0));
    }

    [Fact]
    public void ImplicitUnmap_ByTheMapperOverwritingThePte_DropsTheFrameReference_ThePinsStayAsOnXen()
    {
        ulong frame = _w.Grant(_granter, 7, _mapper.Id);
        GrantMapGrantRef op = _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw);
        lock (_w.Memory.SyncRoot)
            Assert.Equal(0, _w.Types.UpdateEntry(_l1 << 12, 0, false, _mapper));
        Assert.Equal((1u, 0u, 0u, 0u), Counts(frame));
        _w.Checker.Check("after the implicit unmap");

        Assert.Equal(GrantStatus.GeneralError, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase, 0));
        Assert.Equal(Permit | GrantEntryFlags.Reading | GrantEntryFlags.Writing, _w.Flags(_granter, 7));
        _w.Grants.ReleaseDomain(_mapper);   // only the mapper's death returns them
        Assert.Equal(Permit, _w.Flags(_granter, 7));
    }

    [Fact]
    public void AGuestCannotForgeOrWidenAGrantPte()
    {
        ulong frame = _w.Grant(_granter, 7, _mapper.Id, readOnly: true);
        Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _granter.Id, 7, HostRo).Status);
        ulong pte = _w.EntryAt(_l1, 0);
        lock (_w.Memory.SyncRoot)
        {
            Assert.Equal(-XenErrno.EBUSY, _w.Types.UpdateEntry(_l1 << 12, pte | Pte.Writable, false, _mapper));
            Assert.Equal(-XenErrno.EBUSY, _w.Types.UpdateEntry((_l1 << 12) + 8, pte, false, _mapper));
        }
        Assert.Equal(frame, Pte.Mfn(_w.EntryAt(_l1, 0)));
        Assert.Equal(0UL, _w.EntryAt(_l1, 1));
    }

    [Fact]
    public void MappingItsOwnGrant_HoldsOrdinaryReferences()
    {
        ulong frame = _w.Grant(_mapper, 7, _mapper.Id);
        GrantMapGrantRef op = _w.Map(_mapper, _cr3, _mapper.Id, 7, HostRw);
        Assert.Equal(GrantStatus.Okay, op.Status);
        Assert.Equal((2u, 0u, 0u, 1u), Counts(frame));
        _w.Checker.Check("while mapping its own grant");
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase, 0));
        Assert.Equal((1u, 0u, 0u, 0u), Counts(frame));
    }

    [Fact]
    public void UnmapAndReplace_MovesTheOtherPteIn()
    {
        ulong frame = _w.Grant(_granter, 7, _mapper.Id);
        ulong own = _w.Allocate(_mapper);
        lock (_w.Memory.SyncRoot)
            Assert.Equal(0, _w.Types.UpdateEntry((_l1 << 12) + 8, Pte.Make(own, Pte.Present | Pte.Writable), false, _mapper));
        GrantMapGrantRef op = _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw);

        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase, 0, newAddr: GrantWorld.MapBase + 0x1000));

        Assert.Equal(own, Pte.Mfn(_w.EntryAt(_l1, 0)));
        Assert.Equal(0UL, _w.EntryAt(_l1, 1));
        Assert.Equal((1u, 0u, 0u, 0u), Counts(frame));
        Assert.Equal(Permit, _w.Flags(_granter, 7));
    }

    [Fact]
    public void ConcurrentGuestEdits_OfTheSameWord_AreNeverLost_AndThePinBitsEndClear()
    {
        _w.Grant(_granter, 7, _mapper.Id);
        ref ulong word = ref _w.EntryWord(_granter, 7);
        ulong address = (_w.TableFrames(_granter)[0] << 12) + 7 * 8;
        using var stop = new CancellationTokenSource();
        int toggles = 0;
        // The granting guest flips a bit of its own (GTF_PAT) with locked instructions all along.
        var guest = new Thread(() =>
        {
            ref ulong entry = ref _w.Memory.Block.GetRef<ulong>(address);
            while (!stop.IsCancellationRequested)
            {
                ulong seen = Volatile.Read(ref entry);
                if (Interlocked.CompareExchange(ref entry, seen ^ GrantEntryFlags.Pat, seen) == seen)
                    toggles++;
            }
        });
        guest.Start();
        int okay = 0;
        for (int i = 0; i < 2000; i++)
        {
            GrantMapGrantRef op = _w.Map(_mapper, _cr3, _granter.Id, 7, HostRw);
            if (op.Status != GrantStatus.Okay)
            {
                Assert.Equal(GrantStatus.GeneralError, op.Status);   // "unstable" after Xen's five tries, never anything else
                continue;
            }
            okay++;
            Assert.Equal(GrantEntryFlags.Reading | GrantEntryFlags.Writing,
                _w.Flags(_granter, 7) & (GrantEntryFlags.Reading | GrantEntryFlags.Writing));
            Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, op.Handle, GrantWorld.MapBase, 0));
        }
        stop.Cancel();
        guest.Join();
        Assert.True(okay > 0);
        ushort flags = (ushort)Volatile.Read(ref word);
        Assert.Equal(toggles % 2 == 1 ? GrantEntryFlags.Pat : 0, flags & GrantEntryFlags.Pat);
        Assert.Equal(Permit, flags & ~GrantEntryFlags.Pat);
    }
}
