using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xunit;

namespace Xenolith.Tests.Integration;

/// <summary>
/// Events, time and vCPUs from inside guests: two domains ping-pong over an interdomain channel, a
/// timer guest sleeps with set_timer_op + block, and a two-vCPU guest exchanges IPIs.
/// </summary>
public sealed class EventGuestTests
{
    /// <summary>The first port after xenstore's (1) and the console's (2), which the builder allocates.</summary>
    private const uint ServerPort = 3;

    [KvmFact]
    public async Task Evtchn_PingPongsAcrossTwoDomains()
    {
        using var xen = new XenHypervisor(128UL << 20);
        using Domain server = GuestRunner.Build(xen, "evtchn", $"role=server port={ServerPort} rounds=50");
        using Domain client = GuestRunner.Build(xen, "evtchn", $"role=client peer={server.Id} rport={ServerPort} rounds=50");
        // Domain0's part, as a toolstack would do it: the server's port, unbound for the client.
        Assert.Equal(0, xen.EventChannels.AllocUnbound(server, DomainIds.Self, client.Id, out uint port));
        Assert.Equal(ServerPort, port);

        Task<GuestRunner.Result> serving = GuestRunner.RunAsync(server);
        GuestRunner.Result clientResult = await GuestRunner.RunAsync(client);
        GuestRunner.Result serverResult = await serving;

        Assert.DoesNotContain("FAIL", clientResult.Console);
        Assert.Contains("evtchn: 0 failures", clientResult.Console);
        Assert.Equal(50, clientResult.Console.Split('\n').Count(line => line.StartsWith("evtchn: rtt ", StringComparison.Ordinal)));
        Assert.DoesNotContain("FAIL", serverResult.Console);
        Assert.Contains("evtchn: 0 failures", serverResult.Console);
        Assert.Equal(ShutdownReason.Poweroff, clientResult.Exit.Reason);
        Assert.Equal(ShutdownReason.Poweroff, serverResult.Exit.Reason);
    }

    [KvmFact]
    public async Task Timer_SleepsWakeOnTime_AndTheWallclockIsTheHosts()
    {
        GuestRunner.Result result = await GuestRunner.BootAsync("timer", "sleeps=10");

        Assert.DoesNotContain("FAIL", result.Console);
        Assert.Contains("timer: 0 failures", result.Console);
        Assert.Equal(10, result.Console.Split('\n').Count(line => line.StartsWith("timer: late ", StringComparison.Ordinal)));
        string wallclock = result.Console.Split('\n').Single(line => line.StartsWith("timer: wallclock ", StringComparison.Ordinal));
        long guestSeconds = long.Parse(wallclock["timer: wallclock ".Length..]);
        Assert.InRange(guestSeconds, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
    }

    [KvmFact]
    public async Task Smp_SecondVcpuComesUp_ExchangesIpis_AndGoesDown()
    {
        using var xen = new XenHypervisor(64UL << 20);
        GuestRunner.Result result = await GuestRunner.BootAsync(xen, "smp", "rounds=100", vcpus: 2);

        Assert.DoesNotContain("FAIL", result.Console);
        Assert.Contains("smp: 0 failures", result.Console);
        Assert.Contains("ok smp.ipi_pingpong", result.Console);
        Assert.Contains("ok smp.vcpu_down", result.Console);
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
    }

    [KvmFact]
    public async Task Pause_StopsTheGuest_AndUnpauseResumesIt()
    {
        using var xen = new XenHypervisor(64UL << 20);
        using Domain domain = GuestRunner.Build(xen, "timer", "sleeps=200");
        Task<GuestRunner.Result> run = GuestRunner.RunAsync(domain);
        await Task.Delay(300);

        domain.Pause();
        long exits = domain.Vcpus[0].Exits;
        await Task.Delay(200);
        Assert.Equal(exits, domain.Vcpus[0].Exits);
        Assert.False(run.IsCompleted);
        domain.Unpause();

        GuestRunner.Result result = await run;
        Assert.Contains("timer: 0 failures", result.Console);
    }
}
