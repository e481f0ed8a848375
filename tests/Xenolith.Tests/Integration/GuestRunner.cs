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

    public static async Task<Result> BootAsync(XenHypervisor xen, string guest, string cmdline = "", ulong memoryMiB = 16)
    {
        (Domain domain, _) = PvDomainBuilder.Build(xen, new PvBuildRequest(guest, BuiltinGuests.Load(guest), cmdline, memoryMiB));
        using (domain)
        {
            var console = new StringBuilder();
            domain.Console.Output += data => { lock (console) console.Append(Encoding.UTF8.GetString(data)); };
            domain.Start();
            DomainExit exit = await domain.Exited.WaitAsync(Timeout);
            lock (console)
                return new Result(exit, console.ToString());
        }
    }
}
