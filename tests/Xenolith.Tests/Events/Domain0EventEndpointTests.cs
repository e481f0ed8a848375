using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Events;
using Xunit;

namespace Xenolith.Tests.Events;

/// <summary>Domain0's event-channel end against fake guests: binding, both directions of signals, unbinding.</summary>
public sealed class Domain0EventEndpointTests : IDisposable
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    private readonly Dictionary<ushort, FakeEventChannelDomain> _guests = [];
    private readonly EventChannels _channels;
    private readonly Domain0EventEndpoint _dom0;
    private readonly FakeEventChannelDomain _guest;

    public Domain0EventEndpointTests()
    {
        Domain0EventEndpoint? dom0 = null;
        _channels = new EventChannels(id => id == 0 ? dom0 : _guests.GetValueOrDefault(id));
        _dom0 = dom0 = new Domain0EventEndpoint(_channels);
        _guest = new FakeEventChannelDomain(1);
        _guests.Add(1, _guest);
    }

    public void Dispose() => _dom0.Dispose();

    /// <summary>A port of the guest's, unbound for Domain0, as the builder allocates the xenstore and console ports.</summary>
    private uint GuestPortForDomain0()
    {
        Assert.Equal(0, _channels.AllocUnbound(_guest, DomainIds.Self, DomainIds.Domain0, out uint port));
        return port;
    }

    [Fact]
    public void Bind_RunsTheHandlerOnce_ThenOnEverySendFromTheGuest()
    {
        uint guestPort = GuestPortForDomain0();
        using var calls = new SemaphoreSlim(0);
        Assert.Equal(0, _dom0.BindInterdomain(_guest.Id, guestPort, () => calls.Release(), out uint local));

        Assert.True(calls.Wait(s_wait), "a new port starts pending, so its handler runs once");
        Assert.Equal(new EventChannelBinding(EventChannelState.Interdomain, 0, 0, (int)local, 0), _guest.EventChannels[(int)guestPort]);
        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(0, _channels.Send(_guest, guestPort));
            Assert.True(calls.Wait(s_wait), $"send {i} was not delivered");
        }
    }

    [Fact]
    public void Notify_SetsTheGuestsPortPending_AndKicksItsVcpu()
    {
        uint guestPort = GuestPortForDomain0();
        Assert.Equal(0, _dom0.BindInterdomain(_guest.Id, guestPort, () => { }, out uint local));

        Assert.Equal(0, _dom0.Notify(local));

        Assert.True(_guest.IsPendingBit((int)guestPort));
        Assert.Equal([0], _guest.Kicks);
    }

    [Fact]
    public void TheGuestFindsDomain0ById_AndBindsToAPortDomain0Offered()
    {
        using var calls = new SemaphoreSlim(0);
        Assert.Equal(0, _dom0.AllocUnbound(_guest.Id, () => calls.Release(), out uint offered));

        Assert.Equal(0, _channels.BindInterdomain(_guest, DomainIds.Domain0, offered, out uint guestPort));
        Assert.Equal(0, _channels.Send(_guest, guestPort));

        Assert.True(calls.Wait(s_wait));
    }

    [Fact]
    public void Bind_Errors_AreXens()
    {
        uint guestPort = GuestPortForDomain0();
        Assert.Equal(-XenErrno.ESRCH, _dom0.BindInterdomain(9, guestPort, () => { }, out _));
        Assert.Equal(-XenErrno.EINVAL, _dom0.BindInterdomain(_guest.Id, guestPort + 1, () => { }, out _));
        Assert.Equal(0, _channels.AllocUnbound(_guest, DomainIds.Self, 5, out uint forSomeoneElse));
        Assert.Equal(-XenErrno.EINVAL, _dom0.BindInterdomain(_guest.Id, forSomeoneElse, () => { }, out _));
    }

    [Fact]
    public void Unbind_PutsTheGuestsPortBackToWaitingForDomain0_AndStopsTheHandler()
    {
        uint guestPort = GuestPortForDomain0();
        int calls = 0;
        Assert.Equal(0, _dom0.BindInterdomain(_guest.Id, guestPort, () => Interlocked.Increment(ref calls), out uint local));
        SpinWait.SpinUntil(() => Volatile.Read(ref calls) == 1, s_wait);

        Assert.Equal(0, _dom0.Unbind(local));
        Assert.Equal(0, _channels.Send(_guest, guestPort));
        Thread.Sleep(50);

        Assert.Equal(1, Volatile.Read(ref calls));
        Assert.Equal(new EventChannelBinding(EventChannelState.Unbound, 0, 0, 0, 0), _guest.EventChannels[(int)guestPort]);
        Assert.Equal(-XenErrno.EINVAL, _dom0.Unbind(local));
    }

    [Fact]
    public void AHandlerThatThrows_DoesNotStopOtherPortsEvents()
    {
        uint bad = GuestPortForDomain0();
        uint good = GuestPortForDomain0();
        using var calls = new SemaphoreSlim(0);
        Assert.Equal(0, _dom0.BindInterdomain(_guest.Id, bad, () => throw new InvalidOperationException("backend bug"), out _));
        Assert.Equal(0, _dom0.BindInterdomain(_guest.Id, good, () => calls.Release(), out _));
        Assert.True(calls.Wait(s_wait));

        Assert.Equal(0, _channels.Send(_guest, bad));
        Assert.Equal(0, _channels.Send(_guest, good));

        Assert.True(calls.Wait(s_wait));
    }

    [Fact]
    public void SendsFromManyThreads_AreNeverLost()
    {
        const int Ports = 8;
        const int Rounds = 300;
        var guestPorts = new uint[Ports];
        var counts = new int[Ports];
        for (int i = 0; i < Ports; i++)
        {
            guestPorts[i] = GuestPortForDomain0();
            int index = i;
            Assert.Equal(0, _dom0.BindInterdomain(_guest.Id, guestPorts[i], () => Interlocked.Increment(ref counts[index]), out _));
        }
        Assert.True(SpinWait.SpinUntil(() => Enumerable.Range(0, Ports).All(p => Volatile.Read(ref counts[p]) >= 1), s_wait));

        // Each round waits for its own event: a lost wake-up would stall a round.
        Parallel.For(0, Ports, i =>
        {
            for (int round = 0; round < Rounds; round++)
            {
                int before = Volatile.Read(ref counts[i]);
                Assert.Equal(0, _channels.Send(_guest, guestPorts[i]));
                Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref counts[i]) > before, s_wait), $"port {i} round {round}");
            }
        });
    }

    [Fact]
    public void Dispose_ClosesEveryPort_AndRefusesNewBindings()
    {
        uint guestPort = GuestPortForDomain0();
        Assert.Equal(0, _dom0.BindInterdomain(_guest.Id, guestPort, () => { }, out _));

        _dom0.Dispose();

        Assert.Equal(EventChannelState.Unbound, _guest.EventChannels[(int)guestPort].State);
        Assert.Throws<ObjectDisposedException>(() => _dom0.BindInterdomain(_guest.Id, guestPort, () => { }, out _));
    }
}
