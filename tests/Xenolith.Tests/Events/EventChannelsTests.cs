using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Events;
using Xunit;

namespace Xenolith.Tests.Events;

/// <summary>Each event-channel operation's success and error paths, and the 2-level bits it leaves.</summary>
public sealed class EventChannelsTests
{
    private const ushort Missing = 9;

    private readonly Dictionary<ushort, FakeEventChannelDomain> _domains = [];
    private readonly EventChannels _channels;
    private readonly FakeEventChannelDomain _a;
    private readonly FakeEventChannelDomain _b;

    public EventChannelsTests()
    {
        _channels = new EventChannels(id => _domains.GetValueOrDefault(id));
        _a = Add(new FakeEventChannelDomain(1));
        _b = Add(new FakeEventChannelDomain(2));
    }

    // alloc_unbound

    [Fact]
    public void AllocUnbound_TakesTheLowestFreePortFromOne()
    {
        Assert.Equal(1u, Unbound(_a, _b.Id));
        Assert.Equal(2u, Unbound(_a, _b.Id));
        Assert.Equal(0, _channels.Close(_a, 1));
        Assert.Equal(1u, Unbound(_a, _b.Id));
        Assert.Equal(new EventChannelBinding(EventChannelState.Unbound, 0, _b.Id, 0, 0), _a.EventChannels[1]);
    }

    [Fact]
    public void AllocUnbound_DomidSelfOrOwnId_NamesTheCaller()
    {
        Assert.Equal(0, _channels.AllocUnbound(_a, _a.Id, DomainIds.Self, out uint port));
        Assert.Equal(_a.Id, _a.EventChannels[(int)port].RemoteDomain);
    }

    [Fact]
    public void AllocUnbound_InAnotherDomain_NeedsPrivilege()
    {
        Assert.Equal(-XenErrno.EPERM, _channels.AllocUnbound(_a, _b.Id, DomainIds.Self, out _));
        Assert.Equal(EventChannelState.Free, _b.EventChannels[1].State);

        _a.IsPrivileged = true;
        Assert.Equal(0, _channels.AllocUnbound(_a, _b.Id, DomainIds.Self, out uint port));
        // DOMID_SELF as the remote is the caller, not the domain that gets the port.
        Assert.Equal(new EventChannelBinding(EventChannelState.Unbound, 0, _a.Id, 0, 0), _b.EventChannels[(int)port]);
    }

    [Fact]
    public void AllocUnbound_MissingDomain_IsEsrch_ButAMissingRemoteIsAccepted()
    {
        Assert.Equal(-XenErrno.ESRCH, _channels.AllocUnbound(_a, Missing, DomainIds.Self, out _));
        Assert.Equal(0, _channels.AllocUnbound(_a, DomainIds.Self, Missing, out uint port));
        Assert.Equal(Missing, _a.EventChannels[(int)port].RemoteDomain);
    }

    [Fact]
    public void Allocation_PastTheLimit_IsEnospc_AndADyingDomainAllocatesNothing()
    {
        var small = Add(new FakeEventChannelDomain(3, maxPort: 3));
        for (uint expected = 1; expected <= 3; expected++)
            Assert.Equal(expected, Unbound(small, _a.Id));
        Assert.Equal(-XenErrno.ENOSPC, _channels.AllocUnbound(small, DomainIds.Self, _a.Id, out _));
        Assert.Equal(-XenErrno.ENOSPC, _channels.BindIpi(small, 0, out _));
        Assert.Equal(-XenErrno.ENOSPC, _channels.BindVirq(small, Virq.Timer, 0, out _));
        Assert.Equal(-XenErrno.ENOSPC, _channels.BindInterdomain(small, _a.Id, Unbound(_a, small.Id), out _));

        _a.IsDying = true;
        Assert.Equal(-XenErrno.EINVAL, _channels.AllocUnbound(_a, DomainIds.Self, _b.Id, out _));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindIpi(_a, 0, out _));
    }

    [Fact]
    public void Table_AllowsAtMostTheTwoLevelAbisPorts()
    {
        Assert.Equal(4095, new EventChannelTable(4095).MaxPort);
        Assert.Throws<ArgumentOutOfRangeException>(() => new EventChannelTable(4096));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EventChannelTable(0));
        Assert.Equal(EventChannelState.Reserved, new EventChannelTable()[0].State);
    }

    // bind_interdomain

    [Fact]
    public void BindInterdomain_ConnectsBothEnds_AndMarksTheNewPortPending()
    {
        uint waiting = Unbound(_b, _a.Id);
        Assert.Equal(0, _channels.BindInterdomain(_a, _b.Id, waiting, out uint local));

        Assert.Equal(new EventChannelBinding(EventChannelState.Interdomain, 0, _b.Id, (int)waiting, 0), _a.EventChannels[(int)local]);
        Assert.Equal(new EventChannelBinding(EventChannelState.Interdomain, 0, _a.Id, (int)local, 0), _b.EventChannels[(int)waiting]);
        Assert.True(_a.IsPendingBit((int)local));
        Assert.Equal([0], _a.Kicks);
        Assert.Equal([(int)local], _a.PollerWakeups);
        Assert.False(_b.IsPendingBit((int)waiting));
        Assert.Empty(_b.Kicks);
    }

    [Fact]
    public void BindInterdomain_Loopback()
    {
        uint waiting = Unbound(_a, DomainIds.Self);
        Assert.Equal(0, _channels.BindInterdomain(_a, DomainIds.Self, waiting, out uint local));
        _a.ClearPendingBit((int)local);
        Assert.Equal(0, _channels.Send(_a, local));
        Assert.True(_a.IsPendingBit((int)waiting));
        Assert.Equal(0, _channels.Send(_a, waiting));
        Assert.True(_a.IsPendingBit((int)local));
    }

    [Fact]
    public void BindInterdomain_Refusals()
    {
        uint forC = Unbound(_b, 3);
        uint ipi = Ipi(_b, 0);
        Assert.Equal(-XenErrno.ESRCH, _channels.BindInterdomain(_a, Missing, 1, out _));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindInterdomain(_a, _b.Id, 5000, out _));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindInterdomain(_a, _b.Id, 0, out _));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindInterdomain(_a, _b.Id, 100, out _));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindInterdomain(_a, _b.Id, forC, out _));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindInterdomain(_a, _b.Id, ipi, out _));

        uint waiting = Unbound(_b, _a.Id);
        Assert.Equal(0, _channels.BindInterdomain(_a, _b.Id, waiting, out _));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindInterdomain(_a, _b.Id, waiting, out _));

        // Nothing was allocated by the refusals: the one success took port 1.
        Assert.Equal(EventChannelState.Interdomain, _a.EventChannels[1].State);
        Assert.Equal(EventChannelState.Free, _a.EventChannels[2].State);
    }

    // send and the 2-level bits

    [Fact]
    public void Send_Interdomain_RaisesThePeersPortOnItsNotifyVcpu()
    {
        (uint local, uint remote) = Connect(_a, _b);
        Assert.Equal(0, _channels.BindVcpu(_b, remote, 1));

        Assert.Equal(0, _channels.Send(_a, local));
        Assert.True(_b.IsPendingBit((int)remote));
        Assert.Equal(1UL << ((int)remote / 64), _b.Selector(1));
        Assert.True(_b.UpcallPending(1));
        Assert.Equal(0UL, _b.Selector(0));
        Assert.False(_b.UpcallPending(0));
        Assert.Equal([1], _b.Kicks);
        Assert.Equal([(int)remote], _b.PollerWakeups);
        Assert.Empty(_a.Kicks);

        // Already pending: nothing more happens, not even a poller wake-up.
        _b.ClearRecords();
        Assert.Equal(0, _channels.Send(_a, local));
        Assert.Empty(_b.Kicks);
        Assert.Empty(_b.PollerWakeups);
    }

    [Fact]
    public void Send_Ipi_RaisesItsOwnPort()
    {
        uint port = Ipi(_a, 1);
        Assert.Equal(0, _channels.Send(_a, port));
        Assert.True(_a.IsPendingBit((int)port));
        Assert.True(_a.UpcallPending(1));
        Assert.Equal([1], _a.Kicks);
    }

    [Fact]
    public void Send_Unbound_IsDroppedSilently_AndOtherPortsAreEinval()
    {
        uint unbound = Unbound(_a, _b.Id);
        uint virq = BindVirq(_a, Virq.Timer, 0);
        Assert.Equal(0, _channels.Send(_a, unbound));
        Assert.False(_a.IsPendingBit((int)unbound));
        Assert.Equal(-XenErrno.EINVAL, _channels.Send(_a, virq));
        Assert.Equal(-XenErrno.EINVAL, _channels.Send(_a, 0));
        Assert.Equal(-XenErrno.EINVAL, _channels.Send(_a, 50));
        Assert.Equal(-XenErrno.EINVAL, _channels.Send(_a, 1024));
        Assert.Equal(-XenErrno.EINVAL, _channels.Send(_a, uint.MaxValue));
        Assert.Empty(_a.Kicks);
        Assert.Empty(_a.PollerWakeups);
    }

    [Fact]
    public void Send_ToAMaskedPort_SetsPendingAndWakesPollers_ButNoSelectorUpcallOrKick()
    {
        (uint local, uint remote) = Connect(_a, _b);
        _b.SetMaskBit((int)remote);
        Assert.Equal(0, _channels.Send(_a, local));
        Assert.True(_b.IsPendingBit((int)remote));
        Assert.Equal([(int)remote], _b.PollerWakeups);
        Assert.Equal(0UL, _b.Selector(0));
        Assert.False(_b.UpcallPending(0));
        Assert.Empty(_b.Kicks);

        // Unmask re-raises it, as the send would have done.
        Assert.Equal(0, _channels.Unmask(_b, remote));
        Assert.False(_b.IsMasked((int)remote));
        Assert.Equal(1UL << ((int)remote / 64), _b.Selector(0));
        Assert.True(_b.UpcallPending(0));
        Assert.Equal([0], _b.Kicks);
    }

    [Fact]
    public void Unmask_OfAPortThatIsNotPending_OnlyClearsTheMask()
    {
        uint port = Ipi(_a, 0);
        _a.SetMaskBit((int)port);
        Assert.Equal(0, _channels.Unmask(_a, port));
        Assert.False(_a.IsMasked((int)port));
        Assert.Equal(0UL, _a.Selector(0));
        Assert.Empty(_a.Kicks);
    }

    [Fact]
    public void Unmask_OfAPortThatIsNotMasked_DoesNotReRaise()
    {
        uint port = Ipi(_a, 0);
        Assert.Equal(0, _channels.Send(_a, port));
        _a.TakeUpcall(0);
        _a.ClearRecords();
        Assert.Equal(0, _channels.Unmask(_a, port));
        Assert.Equal(0UL, _a.Selector(0));
        Assert.Empty(_a.Kicks);
    }

    [Fact]
    public void Unmask_BadPortIsEinval_AndAFreePortKeepsItsMask()
    {
        Assert.Equal(-XenErrno.EINVAL, _channels.Unmask(_a, 1024));
        _a.SetMaskBit(5);
        _a.SetPendingBit(5);
        Assert.Equal(0, _channels.Unmask(_a, 5));
        Assert.True(_a.IsMasked(5));
        Assert.Empty(_a.Kicks);
    }

    [Fact]
    public void SecondEventInTheSameWord_FindsTheSelectorSet_AndDoesNotKick()
    {
        uint first = Ipi(_a, 0), second = Ipi(_a, 0);
        Assert.Equal(0, _channels.Send(_a, first));
        Assert.Equal(0, _channels.Send(_a, second));
        Assert.Equal([0], _a.Kicks);
        Assert.Equal([(int)first, (int)second], _a.PollerWakeups);
    }

    [Fact]
    public void EventInAnotherWord_SetsItsSelectorBit_ButTheUpcallIsAlreadyPending()
    {
        var wide = Add(new FakeEventChannelDomain(3, vcpus: 1));
        var ports = Enumerable.Range(0, 70).Select(_ => Ipi(wide, 0)).ToArray();
        Assert.Equal(0, _channels.Send(wide, ports[0]));
        Assert.Equal(0, _channels.Send(wide, ports[^1]));
        Assert.Equal(0b11UL, wide.Selector(0));
        Assert.Equal([0], wide.Kicks);

        // Once the guest has taken the upcall, the next event raises it again.
        Assert.Equal(0b11UL, wide.TakeUpcall(0));
        wide.ClearPendingBit((int)ports[0]);
        Assert.Equal(0, _channels.Send(wide, ports[0]));
        Assert.Equal([0, 0], wide.Kicks);
    }

    [Fact]
    public void SelectorStillSet_FromAnEventNotYetConsumed_MeansNoUpcall()
    {
        uint first = Ipi(_a, 0), second = Ipi(_a, 0);
        Assert.Equal(0, _channels.Send(_a, first));
        // The guest cleared upcall_pending but has not yet taken the selector word.
        _a.VcpuInfo(0)[SharedInfoLayout.UpcallPending] = 0;
        Assert.Equal(0, _channels.Send(_a, second));
        Assert.False(_a.UpcallPending(0));
        Assert.Equal([0], _a.Kicks);
    }

    // bind_virq, bind_ipi, bind_vcpu and VIRQ delivery

    [Fact]
    public void BindVirq_PerVcpu_OnePortPerVcpu()
    {
        uint onOne = BindVirq(_a, Virq.Timer, 1);
        uint onZero = BindVirq(_a, Virq.Timer, 0);
        Assert.NotEqual(onOne, onZero);
        Assert.Equal(-XenErrno.EEXIST, _channels.BindVirq(_a, Virq.Timer, 1, out _));
        Assert.Equal(new EventChannelBinding(EventChannelState.Virq, 1, 0, 0, Virq.Timer), _a.EventChannels[(int)onOne]);
        Assert.Equal((int)onOne, _a.EventChannels.VirqPort(1, Virq.Timer));

        Assert.True(_channels.RaiseVirq(_a, 1, Virq.Timer));
        Assert.True(_a.IsPendingBit((int)onOne));
        Assert.False(_a.IsPendingBit((int)onZero));
        Assert.Equal([1], _a.Kicks);
        Assert.False(_channels.RaiseVirq(_a, 0, Virq.Debug));
    }

    [Fact]
    public void BindVirq_Refusals()
    {
        Assert.Equal(-XenErrno.EINVAL, _channels.BindVirq(_a, Virq.Count, 0, out _));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindVirq(_a, uint.MaxValue, 0, out _));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindVirq(_a, Virq.Console, 1, out _));
        // A global VIRQ with a vCPU that does not exist: the global check comes first.
        Assert.Equal(-XenErrno.EINVAL, _channels.BindVirq(_a, Virq.Argo, 7, out _));
        Assert.Equal(-XenErrno.ENOENT, _channels.BindVirq(_a, Virq.Timer, 2, out _));
        Assert.Equal(-XenErrno.ENOENT, _channels.BindVirq(_a, Virq.Timer, uint.MaxValue, out _));
        BindVirq(_a, Virq.Console, 0);
        Assert.Equal(-XenErrno.EEXIST, _channels.BindVirq(_a, Virq.Console, 0, out _));
    }

    [Fact]
    public void GlobalVirq_GoesToTheVcpuItsPortWasMovedTo()
    {
        uint port = BindVirq(_a, Virq.DomExc, 0);
        Assert.Equal(0, _channels.BindVcpu(_a, port, 1));
        Assert.True(_channels.RaiseVirq(_a, 0, Virq.DomExc));
        Assert.Equal([1], _a.Kicks);
        Assert.True(_a.UpcallPending(1));
        Assert.Equal(new EventChannelBinding(EventChannelState.Virq, 1, 0, 0, Virq.DomExc), _a.EventChannels[(int)port]);

        // Its binding still belongs to vCPU 0, so closing and binding it again works.
        Assert.Equal(0, _channels.Close(_a, port));
        Assert.Equal(0, _a.EventChannels.VirqPort(0, Virq.DomExc));
        Assert.False(_channels.RaiseVirq(_a, 0, Virq.DomExc));
        BindVirq(_a, Virq.DomExc, 0);
    }

    [Fact]
    public void RaiseVirq_RejectsWhatOnlyAHostBugCouldPass()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _channels.RaiseVirq(_a, 0, Virq.Count));
        Assert.Throws<ArgumentOutOfRangeException>(() => _channels.RaiseVirq(_a, 2, Virq.Timer));
    }

    [Fact]
    public void BindIpi_NeedsAnExistingVcpu()
    {
        Assert.Equal(-XenErrno.ENOENT, _channels.BindIpi(_a, 2, out _));
        Assert.Equal(new EventChannelBinding(EventChannelState.Ipi, 1, 0, 0, 0), _a.EventChannels[(int)Ipi(_a, 1)]);
    }

    [Fact]
    public void BindVcpu_MovesOnlyUnboundInterdomainAndGlobalVirqPorts()
    {
        uint unbound = Unbound(_a, _b.Id);
        uint ipi = Ipi(_a, 0);
        uint timer = BindVirq(_a, Virq.Timer, 0);
        Assert.Equal(0, _channels.BindVcpu(_a, unbound, 1));
        Assert.Equal(1, _a.EventChannels[(int)unbound].NotifyVcpu);
        Assert.Equal(-XenErrno.EINVAL, _channels.BindVcpu(_a, ipi, 1));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindVcpu(_a, timer, 1));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindVcpu(_a, 0, 1));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindVcpu(_a, 20, 1));
        Assert.Equal(-XenErrno.EINVAL, _channels.BindVcpu(_a, 1024, 1));
        // The vCPU is checked before the port.
        Assert.Equal(-XenErrno.ENOENT, _channels.BindVcpu(_a, 1024, 2));

        // The interdomain binding keeps the vCPU the unbound port was moved to.
        Assert.Equal(0, _channels.BindInterdomain(_b, _a.Id, unbound, out uint theirs));
        Assert.Equal(0, _channels.Send(_b, theirs));
        Assert.Equal([1], _a.Kicks);
    }

    // close

    [Fact]
    public void Close_Interdomain_LeavesThePeerUnboundWaitingForTheCloser()
    {
        (uint local, uint remote) = Connect(_a, _b);
        Assert.Equal(0, _channels.BindVcpu(_b, remote, 1));
        Assert.Equal(0, _channels.Close(_a, local));

        Assert.Equal(new EventChannelBinding(EventChannelState.Free, 0, 0, 0, 0), _a.EventChannels[(int)local]);
        Assert.Equal(new EventChannelBinding(EventChannelState.Unbound, 1, _a.Id, 0, 0), _b.EventChannels[(int)remote]);

        // The peer's sends are now dropped, and the closer may connect to it again.
        Assert.Equal(0, _channels.Send(_b, remote));
        Assert.Empty(_a.Kicks);
        Assert.Equal(0, _channels.BindInterdomain(_a, _b.Id, remote, out _));
    }

    [Fact]
    public void Close_ClearsThePendingBit_AndAReusedPortNotifiesVcpuZero()
    {
        (uint local, uint remote) = Connect(_a, _b);
        Assert.Equal(0, _channels.BindVcpu(_a, local, 1));
        _a.SetMaskBit((int)local);
        Assert.Equal(0, _channels.Send(_b, remote));
        Assert.True(_a.IsPendingBit((int)local));
        Assert.Equal(0, _channels.Close(_a, local));
        Assert.False(_a.IsPendingBit((int)local));
        // The mask bit is the guest's: Xen leaves it alone.
        Assert.True(_a.IsMasked((int)local));
        Assert.Equal(local, Unbound(_a, _b.Id));
        Assert.Equal(0, _a.EventChannels[(int)local].NotifyVcpu);
    }

    [Fact]
    public void Close_Refusals()
    {
        Assert.Equal(-XenErrno.EINVAL, _channels.Close(_a, 0));
        Assert.Equal(-XenErrno.EINVAL, _channels.Close(_a, 1));
        Assert.Equal(-XenErrno.EINVAL, _channels.Close(_a, 1024));
        uint port = Ipi(_a, 0);
        Assert.Equal(0, _channels.Close(_a, port));
        Assert.Equal(-XenErrno.EINVAL, _channels.Close(_a, port));
    }

    [Fact]
    public void Close_Virq_FreesTheBinding()
    {
        uint port = BindVirq(_a, Virq.Timer, 1);
        Assert.Equal(0, _channels.Close(_a, port));
        Assert.Equal(0, _a.EventChannels.VirqPort(1, Virq.Timer));
        Assert.False(_channels.RaiseVirq(_a, 1, Virq.Timer));
        Assert.Equal(port, BindVirq(_a, Virq.Timer, 1));
    }

    // status

    [Fact]
    public void Status_ReportsEachState()
    {
        (uint local, uint remote) = Connect(_a, _b);
        uint unbound = Unbound(_a, 5);
        uint virq = BindVirq(_a, Virq.Debug, 1);
        uint ipi = Ipi(_a, 1);

        AssertStatus(_a, 0, EvtchnStat.Closed, 0);
        AssertStatus(_a, 1000, EvtchnStat.Closed, 0);
        EventChannelStatus s = AssertStatus(_a, local, EvtchnStat.Interdomain, 0);
        Assert.Equal((_b.Id, remote), (s.RemoteDom, s.RemotePort));
        Assert.Equal(5, AssertStatus(_a, unbound, EvtchnStat.Unbound, 0).RemoteDom);
        Assert.Equal((uint)Virq.Debug, AssertStatus(_a, virq, EvtchnStat.Virq, 1).Virq);
        AssertStatus(_a, ipi, EvtchnStat.Ipi, 1);
    }

    [Fact]
    public void Status_OfAnotherDomain()
    {
        uint port = Ipi(_b, 0);
        Assert.Equal(-XenErrno.ESRCH, _channels.Status(_a, Missing, 1, out _));
        // Xen checks the port before the permission.
        Assert.Equal(-XenErrno.EINVAL, _channels.Status(_a, _b.Id, 1024, out _));
        Assert.Equal(-XenErrno.EPERM, _channels.Status(_a, _b.Id, port, out _));
        _a.IsPrivileged = true;
        Assert.Equal(0, _channels.Status(_a, _b.Id, port, out EventChannelStatus status));
        Assert.Equal((_b.Id, port, EvtchnStat.Ipi), (status.Dom, status.Port, status.Status));
    }

    // reset and domain destruction

    [Fact]
    public void Reset_ClosesEveryPort()
    {
        (uint local, uint remote) = Connect(_a, _b);
        BindVirq(_a, Virq.Timer, 0);
        Ipi(_a, 1);
        Unbound(_a, _b.Id);

        Assert.Equal(-XenErrno.ESRCH, _channels.Reset(_a, Missing));
        Assert.Equal(-XenErrno.EPERM, _channels.Reset(_a, _b.Id));
        Assert.Equal(0, _channels.Reset(_a, DomainIds.Self));

        for (int port = 1; port <= _a.EventChannels.MaxPort; port++)
            Assert.Equal(EventChannelState.Free, _a.EventChannels[port].State);
        Assert.Equal(EventChannelState.Reserved, _a.EventChannels[0].State);
        Assert.False(_a.IsPendingBit((int)local));
        Assert.Equal(0, _a.EventChannels.VirqPort(0, Virq.Timer));
        Assert.Equal(new EventChannelBinding(EventChannelState.Unbound, 0, _a.Id, 0, 0), _b.EventChannels[(int)remote]);
        Assert.Equal(1u, BindVirq(_a, Virq.Timer, 0));
    }

    [Fact]
    public void Reset_OfAnotherDomain_ByAPrivilegedCaller()
    {
        Ipi(_b, 0);
        _a.IsPrivileged = true;
        Assert.Equal(0, _channels.Reset(_a, _b.Id));
        Assert.Equal(EventChannelState.Free, _b.EventChannels[1].State);
    }

    [Fact]
    public void ADyingDomain_ReceivesNothing_AndCloseAllUnbindsItsPeers()
    {
        (uint local, uint remote) = Connect(_a, _b);
        uint timer = BindVirq(_b, Virq.Timer, 0);
        uint ipi = Ipi(_b, 0);
        _b.IsDying = true;

        Assert.Equal(0, _channels.Send(_a, local));
        Assert.Equal(0, _channels.Send(_b, ipi));
        Assert.False(_channels.RaiseVirq(_b, 0, Virq.Timer));
        Assert.False(_b.IsPendingBit((int)remote));
        Assert.False(_b.IsPendingBit((int)ipi));
        Assert.False(_b.IsPendingBit((int)timer));
        Assert.Empty(_b.Kicks);

        _channels.CloseAll(_b);
        Assert.Equal(new EventChannelBinding(EventChannelState.Unbound, 0, _b.Id, 0, 0), _a.EventChannels[(int)local]);
        Assert.All(Enumerable.Range(1, _b.EventChannels.MaxPort), port => Assert.Equal(EventChannelState.Free, _b.EventChannels[port].State));
        Assert.Equal(0, _channels.Send(_a, local));
    }

    // IsPending

    [Fact]
    public void IsPending_OnlyForBoundPorts()
    {
        uint port = Ipi(_a, 0);
        Assert.False(_channels.IsPending(_a, (int)port));
        _a.SetMaskBit((int)port);
        Assert.Equal(0, _channels.Send(_a, port));
        Assert.True(_channels.IsPending(_a, (int)port));

        _a.SetPendingBit(7);
        Assert.False(_channels.IsPending(_a, 7));
        Assert.False(_channels.IsPending(_a, -1));
        Assert.False(_channels.IsPending(_a, 1024));
    }

    private FakeEventChannelDomain Add(FakeEventChannelDomain domain)
    {
        _domains[domain.Id] = domain;
        return domain;
    }

    private uint Unbound(FakeEventChannelDomain owner, ushort remote)
    {
        Assert.Equal(0, _channels.AllocUnbound(owner, DomainIds.Self, remote, out uint port));
        return port;
    }

    private uint Ipi(FakeEventChannelDomain owner, uint vcpu)
    {
        Assert.Equal(0, _channels.BindIpi(owner, vcpu, out uint port));
        return port;
    }

    private uint BindVirq(FakeEventChannelDomain owner, int virq, uint vcpu)
    {
        Assert.Equal(0, _channels.BindVirq(owner, (uint)virq, vcpu, out uint port));
        return port;
    }

    /// <summary>An interdomain channel from <paramref name="local"/>, with the bind's own event on it consumed.</summary>
    private (uint Local, uint Remote) Connect(FakeEventChannelDomain local, FakeEventChannelDomain remote)
    {
        uint waiting = Unbound(remote, local.Id);
        Assert.Equal(0, _channels.BindInterdomain(local, remote.Id, waiting, out uint port));
        local.TakeUpcall(0);
        local.ClearPendingBit((int)port);
        local.ClearRecords();
        return (port, waiting);
    }

    private EventChannelStatus AssertStatus(FakeEventChannelDomain domain, uint port, uint expected, uint vcpu)
    {
        Assert.Equal(0, _channels.Status(domain, DomainIds.Self, port, out EventChannelStatus status));
        Assert.Equal((expected, vcpu), (status.Status, status.Vcpu));
        return status;
    }
}
