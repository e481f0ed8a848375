using System.Diagnostics;
using Xenolith.Hypervisor.Events;
using Xunit;

namespace Xenolith.Tests.Events;

/// <summary>
/// The hypervisor setting bits while the guest clears others in the same words, on two threads: an
/// update lost on either side would leave an event nobody handles.
/// </summary>
public sealed class EventChannelsConcurrencyTests
{
    private const int Ports = 100;          // two selector words
    private const int SendsPerPort = 200;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public void EverySendIsHandled_WhileTheGuestAcknowledgesConcurrently()
    {
        var domain = new FakeEventChannelDomain(1, vcpus: 1);
        var channels = new EventChannels(_ => null);
        var ports = new uint[Ports];
        for (int i = 0; i < Ports; i++)
            Assert.Equal(0, channels.BindIpi(domain, 0, out ports[i]));

        // 1 from a port's send until the guest has handled it: each port has at most one event in
        // flight, so every send must produce exactly one handling.
        var inFlight = new int[Ports + 1];
        var handled = new int[Ports + 1];
        int sendsDone = 0;
        var clock = Stopwatch.StartNew();
        string? failure = null;

        var guest = new Thread(() =>
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref sendsDone) == 0 || domain.UpcallPending(0) || domain.Selector(0) != 0)
            {
                if (clock.Elapsed > Deadline)
                    return;
                if (!domain.UpcallPending(0) && domain.Selector(0) == 0)
                {
                    spin.SpinOnce();
                    continue;
                }
                foreach (int port in domain.HandleUpcall(0))
                {
                    handled[port]++;
                    Volatile.Write(ref inFlight[port], 0);
                }
            }
        });
        guest.Start();

        try
        {
            for (int round = 0; round < SendsPerPort && failure is null; round++)
            {
                foreach (uint port in ports)
                {
                    var spin = new SpinWait();
                    while (Volatile.Read(ref inFlight[port]) != 0)
                    {
                        if (clock.Elapsed > Deadline)
                        {
                            failure = $"round {round}: the event on port {port} was never handled";
                            break;
                        }
                        spin.SpinOnce();
                    }
                    if (failure is not null)
                        break;
                    Volatile.Write(ref inFlight[port], 1);
                    Assert.Equal(0, channels.Send(domain, port));
                }
            }
        }
        finally
        {
            Volatile.Write(ref sendsDone, 1);
            guest.Join();
        }

        Assert.Null(failure);
        foreach (uint port in ports)
        {
            Assert.Equal(SendsPerPort, handled[port]);
            Assert.False(domain.IsPendingBit((int)port));
        }
    }
}
