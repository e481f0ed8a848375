using System.Text;
using Xenolith.Abi;
using Xenolith.Domain0.Toolstack;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Grants;
using Xunit;

namespace Xenolith.Tests.Integration;

/// <summary>
/// Guests that use Domain0's services from the inside: xenstore over the store ring, grant tables
/// between two domains (negotiated through xenstore), and the console ring both ways.
/// </summary>
public sealed class ServicesGuestTests
{
    /// <summary>Every check the guest made passed, it said so last, and it powered off.</summary>
    private static void AssertAllPassed(GuestRunner.Result result, string guest, int minimumChecks)
    {
        Assert.DoesNotContain("FAIL", result.Console);
        Assert.Contains($"{guest}: 0 failures", result.Console);
        Assert.True(result.Console.Split('\n').Count(line => line.StartsWith("ok ", StringComparison.Ordinal)) >= minimumChecks,
            $"fewer than {minimumChecks} checks ran:\n{result.Console}");
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
    }

    [KvmFact]
    public async Task Xenstore_EveryOperationAndError_FromInsideAGuest()
    {
        GuestRunner.Result result = await GuestRunner.BootWithServicesAsync("xenstore", "test=ops");

        AssertAllPassed(result, "xenstore", minimumChecks: 45);
        Assert.Contains("xenstore: domid 1\n", result.Console);
        Assert.Contains("xenstore: name xenstore\n", result.Console);
        foreach (string check in new[] { "enoent", "eacces_write_name", "einval_bad_char", "einval_path_too_long", "watch_fires",
                     "unwatch", "tx_conflict", "tx_retry", "set_perms_give_away", "raw_unknown_type", "raw_after_errors" })
            Assert.Contains($"ok xenstore.{check}\n", result.Console);
    }

    [KvmFact]
    public async Task Grants_BetweenTwoDomains_MapCopyRefusalsAndTheGranterSeesItsPagesInUse()
    {
        const int MaxMaps = 40;
        using var xen = new XenHypervisor(128UL << 20);
        using var toolstack = new Domain0Toolstack(xen);
        // Domain ids are handed out in order: the granter is 1, the mapper 2.
        using LaunchedDomain granter = GuestRunner.Launch(toolstack, "grant", "role=granter peer=2");
        using LaunchedDomain mapper = GuestRunner.Launch(toolstack, "grant", $"role=mapper peer=1 maxmaps={MaxMaps}");
        Assert.Equal((1, 2), (granter.Domain.Id, mapper.Domain.Id));
        mapper.Domain.Grants.MaxMaptrackHandles = MaxMaps;

        GuestRunner.Result[] results = await BothAsync(GuestRunner.RunAsync(granter), GuestRunner.RunAsync(mapper));

        AssertAllPassed(results[0], "grant", minimumChecks: 8);
        AssertAllPassed(results[1], "grant", minimumChecks: 25);
        foreach (string check in new[] { "flags_while_mapped", "end_access_while_mapped", "flags_after_unmap", "peer_writes_landed", "end_access" })
            Assert.Contains($"ok grant.{check}\n", results[0].Console);
        foreach (string check in new[] { "map_bad_ref", "map_bad_domain", "map_not_granted", "map_granted_to_another",
                     "map_readonly_grant_writable", "unmap_bad_handle", "copy_from_gref", "copy_to_gref", "copy_to_readonly_gref",
                     "copy_bad_ref", "copy_source_beyond_page", "maptrack_exhaust", "map_rw", "map_ro", "unmap" })
            Assert.Contains($"ok grant.{check}\n", results[1].Console);
        Assert.Equal(0, mapper.Domain.Grants.MappingsInUse);
    }

    [KvmFact]
    public async Task Grants_Domain0MapsAGuestsGrant_AsABackendWould()
    {
        using var xen = new XenHypervisor(128UL << 20);
        using var toolstack = new Domain0Toolstack(xen);
        using LaunchedDomain granter = GuestRunner.Launch(toolstack, "grant", "role=granter peer=2");
        using LaunchedDomain mapper = GuestRunner.Launch(toolstack, "grant", "role=mapper peer=1");
        // The granter grants its "other" page (ref 10) to Domain0 and publishes it before it waits for the mapper.
        string? otherRef = null;
        granter.Domain.Console.Output += data =>
        {
            string text = Encoding.UTF8.GetString(data);
            int at = text.IndexOf(" other ", StringComparison.Ordinal);
            if (text.StartsWith("grant: granted rw ", StringComparison.Ordinal) && at > 0)
                Volatile.Write(ref otherRef, text[(at + 7)..].Trim());
        };
        Task<GuestRunner.Result> granterRun = GuestRunner.RunAsync(granter);
        await WaitUntil(() => Volatile.Read(ref otherRef) is not null);
        uint gref = uint.Parse(otherRef!, System.Globalization.CultureInfo.InvariantCulture);

        using (HostGrantMapping page = xen.Grants.MapForDomain0(granter.Domain.Id, gref, readOnly: false))
        {
            Assert.Equal(InUse,
                xen.Grants.TableOf(granter.Domain)!.ReadEntry(gref).Flags & (InUse));
            page.Span[0] = 0x5a;
            var copy = new byte[16];
            Assert.Equal(0, xen.Grants.CopyFromGrant(granter.Domain.Id, gref, 0, copy));
            Assert.Equal(0x5a, copy[0]);
        }
        Assert.Equal(0, xen.Grants.TableOf(granter.Domain)!.ReadEntry(gref).Flags & (InUse));

        GuestRunner.Result[] results = await BothAsync(granterRun, GuestRunner.RunAsync(mapper));
        AssertAllPassed(results[0], "grant", minimumChecks: 8);
        AssertAllPassed(results[1], "grant", minimumChecks: 25);
    }

    [KvmFact]
    public async Task Console_RingEchoesTerminalInput()
    {
        GuestRunner.Result result = await GuestRunner.BootWithServicesAsync("console", "test=echo",
            beforeStart: (_, launched) => launched.Console.QueueInput("typed at the terminal\n"u8));

        Assert.Equal("console: ring ready\nconsole: got typed at the terminal\nconsole: ok\n", result.Console);
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
    }

    [KvmFact]
    public async Task Console_RingFlood_LosesAndReordersNothing_AndTheLastLineBeforePoweroffArrives()
    {
        GuestRunner.Result result = await GuestRunner.BootWithServicesAsync("console", "test=flood");

        var expected = new StringBuilder("console: ring ready\n");
        for (int i = 0; i < 8192; i++)
            expected.Append(i % 64 == 63 ? '\n' : (char)('a' + (i - i / 64) % 26));
        expected.Append("console: flood done\n");
        Assert.Equal(expected.ToString(), result.Console);
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
    }

    private const ushort InUse = GrantEntryFlags.Reading | GrantEntryFlags.Writing;

    /// <summary>Both domains' results; if either fails, both consoles go into the failure, since each waits for the other.</summary>
    private static async Task<GuestRunner.Result[]> BothAsync(Task<GuestRunner.Result> first, Task<GuestRunner.Result> second)
    {
        try
        {
            return await Task.WhenAll(first, second);
        }
        catch
        {
            string Describe(Task<GuestRunner.Result> t) => t.IsCompletedSuccessfully ? t.Result.Console : t.Exception?.InnerException?.Message ?? "?";
            throw new Xunit.Sdk.XunitException($"first domain:\n{Describe(first)}\nsecond domain:\n{Describe(second)}");
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        DateTime deadline = DateTime.UtcNow + GuestRunner.Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("the guest never got there");
            await Task.Delay(5);
        }
    }
}
