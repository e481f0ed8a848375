using Microsoft.Extensions.Logging;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Console;
using Xenolith.Domain0.Rings;
using Xenolith.Domain0.Xenstore;
using Xenolith.Hypervisor;

namespace Xenolith.Domain0.Toolstack;

/// <summary>What the toolstack serves besides building domains.</summary>
/// <param name="XenstoredSocketPath">Where host tools reach xenstored; null serves no socket.</param>
public sealed record ToolstackOptions(string? XenstoredSocketPath = null);

/// <summary>
/// Domain0's services on one <see cref="XenHypervisor"/>, and the launcher that uses them: what
/// xl, libxl, xenstored and xenconsoled are together on Xen. <see cref="Launch"/> builds a domain,
/// writes its xenstore nodes as xl does, introduces it to xenstored (@introduceDomain fires) and
/// attaches the console backend to its console ring; when the domain ends, the console is drained
/// one last time, xenstored releases it (@releaseDomain fires) and its nodes are removed.
/// Dispose it before the hypervisor.
/// </summary>
public sealed class Domain0Toolstack : IDisposable
{
    private readonly IGuestRingConnector _rings;
    private readonly ILogger _logger;

    public Domain0Toolstack(XenHypervisor xen, ToolstackOptions? options = null)
    {
        Xen = xen;
        _logger = xen.Logger;
        _rings = new HypervisorRingConnector(xen);
        Xenstored = new XenstoredService(_rings, logger: _logger);
        try
        {
            Store = Xenstored.ConnectLocal();
            DomainStoreLayout.WriteDomain0(Store);
            if (options?.XenstoredSocketPath is { } path)
                Xenstored.Listen(path);
        }
        catch
        {
            Xenstored.Dispose();
            throw;
        }
    }

    public XenHypervisor Xen { get; }

    public XenstoredService Xenstored { get; }

    /// <summary>The toolstack's own xenstore connection (privileged).</summary>
    public XenstoreLocalClient Store { get; }

    /// <summary>
    /// Builds the domain <paramref name="request"/> describes and sets it up for Domain0's services;
    /// it is not started. <paramref name="kernelPath"/> is only recorded (/vm/&lt;uuid&gt;/image/kernel).
    /// </summary>
    public LaunchedDomain Launch(PvBuildRequest request, string? kernelPath = null)
    {
        (Domain domain, PvBootImage boot) = PvDomainBuilder.Build(Xen, request);
        var info = new DomainStoreInfo(domain.Id, domain.Name, domain.Handle, request.MemoryMiB * 1024, request.Vcpus,
            boot.StoreMfn, boot.StorePort, boot.ConsoleMfn, boot.ConsolePort)
        {
            KernelPath = kernelPath,
            CommandLine = request.CommandLine,
        };
        ConsoleBackend? console = null;
        try
        {
            Xen.Grants.SeedReservedEntries(domain, DomainIds.Domain0, boot.ConsoleMfn, DomainIds.Domain0, boot.StoreMfn);
            DomainStoreLayout.Create(Store, info);
            console = ConsoleBackend.Attach(_rings, domain.Id, boot.ConsoleMfn, boot.ConsolePort, domain.Console, _logger);
            Store.Introduce(domain.Id, boot.StoreMfn, boot.StorePort);
            return new LaunchedDomain(this, domain, boot, console, info);
        }
        catch
        {
            console?.Dispose();
            Xenstored.ReleaseDomain(domain.Id);
            TryDestroyNodes(info);
            domain.Dispose();
            throw;
        }
    }

    /// <summary>Domain0's side of a domain's end: console drained, xenstored released, nodes removed.</summary>
    internal void TearDown(LaunchedDomain launched)
    {
        launched.Console.Dispose();
        Xenstored.ReleaseDomain(launched.Domain.Id);
        TryDestroyNodes(launched.StoreInfo);
    }

    private void TryDestroyNodes(DomainStoreInfo info)
    {
        try
        {
            DomainStoreLayout.Destroy(Store, info);
        }
        catch (Exception e) when (e is XenstoreException or ObjectDisposedException)
        {
            _logger.LogWarning(e, "toolstack: cannot remove domain {Domain}'s xenstore nodes", info.DomId);
        }
    }

    public void Dispose()
    {
        Store.Dispose();
        Xenstored.Dispose();
    }
}
