using System.Text;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Domain0.Toolstack;
using Xenolith.Hypervisor;

namespace Xenolith.Tests.Integration;

/// <summary>Boots built-in guests in-process and collects what they print and how they end.</summary>
internal static class GuestRunner
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public sealed record Result(DomainExit Exit, string Console);

    public static async Task<Result> BootAsync(string guest, string cmdline = "", ulong memoryMiB = 16)
    {
        using var xen = new XenHypervisor(64UL << 20);
        return await BootAsync(xen, guest, cmdline, memoryMiB);
    }

    public static async Task<Result> BootAsync(XenHypervisor xen, string guest, string cmdline = "", ulong memoryMiB = 16, int vcpus = 1)
    {
        using Domain domain = Build(xen, guest, cmdline, memoryMiB, vcpus);
        return await RunAsync(domain);
    }

    public static Domain Build(XenHypervisor xen, string guest, string cmdline = "", ulong memoryMiB = 16, int vcpus = 1) =>
        PvDomainBuilder.Build(xen, new PvBuildRequest(guest, BuiltinGuests.Load(guest), cmdline, memoryMiB) { Vcpus = vcpus }).Domain;

    /// <summary>
    /// Boots a built-in guest through the toolstack, as `xenolith run` does: its xenstore ring is
    /// served by xenstored and its console ring by the console backend. <paramref name="beforeStart"/>
    /// sees the toolstack and the domain before it runs (to watch, write nodes, queue input).
    /// </summary>
    public static async Task<Result> BootWithServicesAsync(string guest, string cmdline = "", ulong memoryMiB = 16, int vcpus = 1,
        Action<Domain0Toolstack, LaunchedDomain>? beforeStart = null)
    {
        using var xen = new XenHypervisor(64UL << 20);
        using var toolstack = new Domain0Toolstack(xen);
        using LaunchedDomain launched = Launch(toolstack, guest, cmdline, memoryMiB, vcpus);
        beforeStart?.Invoke(toolstack, launched);
        return await RunAsync(launched);
    }

    /// <summary>Builds a built-in guest through the toolstack (nodes written, introduced, console attached), not started.</summary>
    public static LaunchedDomain Launch(Domain0Toolstack toolstack, string guest, string cmdline = "", ulong memoryMiB = 16, int vcpus = 1) =>
        toolstack.Launch(new PvBuildRequest(guest, BuiltinGuests.Load(guest), cmdline, memoryMiB) { Vcpus = vcpus });

    /// <summary>Starts a launched domain and collects its console until Domain0 has let go of it.</summary>
    public static Task<Result> RunAsync(LaunchedDomain launched) => RunAsync(launched.Domain, launched.Start, launched.Exited);

    /// <summary>Starts a built domain and collects its console until it exits.</summary>
    public static Task<Result> RunAsync(Domain domain) => RunAsync(domain, domain.Start, domain.Exited);

    private static async Task<Result> RunAsync(Domain domain, Action start, Task<DomainExit> exited)
    {
        var console = new StringBuilder();
        domain.Console.Output += data => { lock (console) console.Append(Encoding.UTF8.GetString(data)); };
        start();
        DomainExit exit;
        try
        {
            exit = await exited.WaitAsync(Timeout);
        }
        catch (TimeoutException)
        {
            lock (console)
                throw new TimeoutException($"{domain.Name} did not finish in {Timeout}; its console:\n{console}");
        }
        lock (console)
            return new Result(exit, console.ToString());
    }
}
