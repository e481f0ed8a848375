using System.Text;
using Xenolith.Abi;
using Xenolith.Domain0.Rings;
using Xenolith.Domain0.Toolstack;
using Xenolith.Domain0.Xenstore;
using Xenolith.Hypervisor;
using Xenolith.Tests.Xenstore;
using Xunit;

namespace Xenolith.Tests.Integration;

/// <summary>Real domains through the toolstack: their nodes, introduction and release, and both rings served over real event channels.</summary>
public sealed class ToolstackGuestTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    private static readonly SharedByteRing StoreRequests = new(
        XenstoreInterface.Request, XenstoreInterface.RingSize, XenstoreInterface.RequestConsumer, XenstoreInterface.RequestProducer);
    private static readonly SharedByteRing StoreResponses = new(
        XenstoreInterface.Response, XenstoreInterface.RingSize, XenstoreInterface.ResponseConsumer, XenstoreInterface.ResponseProducer);
    private static readonly SharedByteRing ConsoleOut = new(
        ConsoleInterface.Output, ConsoleInterface.OutputSize, ConsoleInterface.OutputConsumer, ConsoleInterface.OutputProducer);
    private static readonly SharedByteRing ConsoleIn = new(
        ConsoleInterface.Input, ConsoleInterface.InputSize, ConsoleInterface.InputConsumer, ConsoleInterface.InputProducer);

    private static async Task<XenstoreWatchEvent> NextEvent(XenstoreLocalClient client) =>
        await client.WatchEvents.ReadAsync().AsTask().WaitAsync(s_wait);

    [KvmFact]
    public async Task Hello_ThroughTheToolstack_IsIntroduced_Runs_AndIsReleasedWithItsNodesRemoved()
    {
        using var xen = new XenHypervisor(64UL << 20);
        using var toolstack = new Domain0Toolstack(xen);
        using XenstoreLocalClient watcher = toolstack.Xenstored.ConnectLocal();
        watcher.Watch("@introduceDomain", "in");
        watcher.Watch("@releaseDomain", "out");
        await NextEvent(watcher);
        await NextEvent(watcher);

        using LaunchedDomain launched = GuestRunner.Launch(toolstack, "hello");
        ushort id = launched.Domain.Id;
        string home = $"/local/domain/{id}";

        Assert.Equal(new XenstoreWatchEvent("@introduceDomain", "in"), await NextEvent(watcher));
        Assert.True(toolstack.Xenstored.IsRingAttached(id));
        Assert.Equal("hello", toolstack.Store.Read(home + "/name"));
        Assert.Equal(launched.Boot.StoreMfn.ToString(System.Globalization.CultureInfo.InvariantCulture), toolstack.Store.Read(home + "/store/ring-ref"));
        Assert.Equal(launched.Boot.ConsoleMfn.ToString(System.Globalization.CultureInfo.InvariantCulture), toolstack.Store.Read(home + "/console/ring-ref"));
        Assert.Equal(launched.Boot.StorePort.ToString(System.Globalization.CultureInfo.InvariantCulture), toolstack.Store.Read(home + "/store/port"));
        Assert.Equal("16384", toolstack.Store.Read(home + "/memory/target"));
        Assert.Equal("Domain-0", toolstack.Store.Read("/local/domain/0/name"));
        // As xc_dom_gnttab_seed does: the console and xenstore pages are granted to Domain0 in the reserved entries.
        GrantEntryV1 consoleGrant = xen.Grants.TableOf(launched.Domain)!.ReadEntry(GrantTableLayout.ReservedConsole);
        Assert.Equal((GrantEntryFlags.PermitAccess, DomainIds.Domain0, (uint)launched.Boot.ConsoleMfn), (consoleGrant.Flags, consoleGrant.DomId, consoleGrant.Frame));
        using (Xenolith.Hypervisor.Grants.HostGrantMapping store = xen.Grants.MapForDomain0(id, GrantTableLayout.ReservedXenstore, readOnly: false))
            Assert.Equal(launched.Boot.StoreMfn, store.Mfn);

        GuestRunner.Result result = await GuestRunner.RunAsync(launched);

        Assert.Equal("Hello from Xenolith guest!\nxen_version: 4.19\n", result.Console);
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
        Assert.Equal(new XenstoreWatchEvent("@releaseDomain", "out"), await NextEvent(watcher));
        Assert.False(toolstack.Xenstored.IsRingAttached(id));
        Assert.Null(toolstack.Store.Read(home));
        Assert.Null(toolstack.Store.Read(launched.StoreInfo.VmPath));
        Assert.Null(toolstack.Store.Read($"/local/domain/0/backend/console/{id}"));
    }

    [KvmFact]
    public async Task ExistingGuests_BootUnchanged_WithServices()
    {
        GuestRunner.Result result = await GuestRunner.BootWithServicesAsync("shutdown", "reason=reboot");

        Assert.Equal("shutdown: reason=reboot\n", result.Console);
        Assert.Equal(ShutdownReason.Reboot, result.Exit.Reason);
    }

    /// <summary>
    /// The guest's side played from the host on a built (not started) domain: its requests and
    /// console bytes go into its real ring frames and its sends go through the hypervisor's event
    /// channels, so Domain0's event thread, the frame mappings, xenstored and the console backend
    /// all run as they will for a guest.
    /// </summary>
    [KvmFact]
    public async Task BothRingsOfARealDomain_AreServedThroughItsEventChannels()
    {
        using var xen = new XenHypervisor(64UL << 20);
        using var toolstack = new Domain0Toolstack(xen);
        using LaunchedDomain launched = GuestRunner.Launch(toolstack, "hello");
        Domain domain = launched.Domain;
        var console = new StringBuilder();
        domain.Console.Output += data => { lock (console) console.Append(Encoding.Latin1.GetString(data)); };

        // xenstore: a read of its own name.
        Span<byte> store = xen.Memory.Frame(launched.Boot.StoreMfn);
        byte[] request = XsWire.Encode(XsMessageType.Read, 7, 0, XsWire.Strings("name"));
        Assert.Equal(request.Length, StoreRequests.Write(store, request));
        Assert.Equal(0, xen.EventChannels.Send(domain, launched.Boot.StorePort));
        byte[] reply = new byte[XsWire.HeaderSize + "hello".Length];
        Assert.True(SpinWait.SpinUntil(() => StoreResponses.Available(xen.Memory.Frame(launched.Boot.StoreMfn)) >= reply.Length, s_wait));
        Assert.Equal(reply.Length, StoreResponses.Read(xen.Memory.Frame(launched.Boot.StoreMfn), reply));
        XsReply decoded = XsReply.Decode(reply);
        Assert.Equal((XsMessageType.Read, 7u, "hello"), (decoded.Type, decoded.ReqId, decoded.Text));
        Assert.True(xen.EventChannels.IsPending(domain, (int)launched.Boot.StorePort), "xenstored signalled the guest");

        // console: output out, input in.
        Assert.Equal(13, ConsoleOut.Write(xen.Memory.Frame(launched.Boot.ConsoleMfn), "ring says hi\n"u8));
        Assert.Equal(0, xen.EventChannels.Send(domain, launched.Boot.ConsolePort));
        Assert.True(SpinWait.SpinUntil(() => { lock (console) return console.ToString() == "ring says hi\n"; }, s_wait));
        launched.Console.QueueInput("typed"u8);
        var typed = new byte[5];
        Assert.Equal(5, ConsoleIn.Read(xen.Memory.Frame(launched.Boot.ConsoleMfn), typed));
        Assert.Equal("typed", Encoding.Latin1.GetString(typed));

        // Written just before the end, with no signal: the final drain still delivers it.
        ConsoleOut.Write(xen.Memory.Frame(launched.Boot.ConsoleMfn), "bye\n"u8);
        domain.Shutdown(ShutdownReason.Poweroff);
        await launched.Exited.WaitAsync(s_wait);
        lock (console)
            Assert.Equal("ring says hi\nbye\n", console.ToString());
    }

    [KvmFact]
    public async Task HostTools_SeeTheDomainOverTheSocket()
    {
        string directory = Directory.CreateTempSubdirectory("xenolith-ts").FullName;
        try
        {
            string path = Path.Combine(directory, "xs.sock");
            using var xen = new XenHypervisor(64UL << 20);
            using var toolstack = new Domain0Toolstack(xen, new ToolstackOptions(path));
            using LaunchedDomain launched = GuestRunner.Launch(toolstack, "hello");
            using XsSocketClient tool = XsSocketClient.Connect(path);

            Assert.Equal("hello", tool.Call(XsMessageType.Read, $"/local/domain/{launched.Domain.Id}/name").Text);
            Assert.Equal("T", tool.Call(XsMessageType.IsDomainIntroduced, $"{launched.Domain.Id}").Strings[0]);
            Assert.False(tool.Call(XsMessageType.Watch, "@releaseDomain", "r").IsError);
            tool.NextEvent();

            await GuestRunner.RunAsync(launched);

            Assert.Equal(["@releaseDomain", "r"], tool.NextEvent().Strings);
            Assert.Equal("F", tool.Call(XsMessageType.IsDomainIntroduced, $"{launched.Domain.Id}").Strings[0]);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
