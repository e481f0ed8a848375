using System.Text;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
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

    /// <summary>Starts a built domain and collects its console until it exits.</summary>
    public static async Task<Result> RunAsync(Domain domain)
    {
        var console = new StringBuilder();
        domain.Console.Output += data => { lock (console) console.Append(Encoding.UTF8.GetString(data)); };
        domain.Start();
        DomainExit exit;
        try
        {
            exit = await domain.Exited.WaitAsync(Timeout);
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
