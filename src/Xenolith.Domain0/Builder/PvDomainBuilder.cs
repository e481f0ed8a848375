using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Pv;

namespace Xenolith.Domain0.Builder;

/// <summary>What to build: a PV domain from a kernel image.</summary>
public sealed record PvBuildRequest(string Name, ReadOnlyMemory<byte> Kernel, string CommandLine, ulong MemoryMiB)
{
    public ReadOnlyMemory<byte> Ramdisk { get; init; }

    /// <summary>vCPUs the domain has; vCPU 0 boots, the others wait for VCPUOP_initialise and VCPUOP_up.</summary>
    public int Vcpus { get; init; } = 1;
    public Guid Handle { get; init; } = Guid.NewGuid();
}

/// <summary>
/// Domain0's PV builder: validates the image, creates the domain, gives it memory, loads it and
/// creates its vCPUs and the xenstore and console event channels (unbound, for Domain0 to bind).
/// The domain is returned built but not started. Any failure destroys the half-built domain and
/// returns its frames.
/// </summary>
public static class PvDomainBuilder
{
    /// <summary>Feature bits a kernel may require with '!' and still be run here.</summary>
    public const uint SupportedFeatures = 1u << Abi.XenFeature.PaePgdirAbove4Gb;

    public const ulong MaxMemoryMiB = 1024 * 1024;

    public static (Domain Domain, PvBootImage Boot) Build(XenHypervisor xen, PvBuildRequest request)
    {
        if (request.MemoryMiB is 0 or > MaxMemoryMiB)
            throw new KernelImageException($"memory must be 1..{MaxMemoryMiB} MiB, got {request.MemoryMiB}");
        if (request.Vcpus is < 1 or > HypervisorLayout.MaxVcpus)
            throw new KernelImageException($"vcpus must be 1..{HypervisorLayout.MaxVcpus}, got {request.Vcpus}");
        XenKernelImage image = XenKernelImage.Parse(request.Kernel);
        image.RequireOnlySupportedFeatures(SupportedFeatures);

        Domain domain = xen.CreateDomain(request.Name, request.Handle);
        try
        {
            domain.PopulatePhysmap(request.MemoryMiB * 256);
            // As xl does: one port each for xenstore and the console, unbound until Domain0's backends bind them.
            uint storePort = AllocateDomain0Port(xen, domain);
            uint consolePort = AllocateDomain0Port(xen, domain);
            var context = new PvLoadContext(domain.P2m, domain.SharedInfoMfn, storePort, consolePort);
            PvBootImage boot = PvImageLoader.Load(xen.Memory, context, image, request.Ramdisk.Span, request.CommandLine);
            domain.MemoryMap = [new E820Entry(0, domain.TotalPages << 12, E820Entry.Ram)];
            domain.PinBootstrapPageTables(boot.L4Mfn);
            domain.CreateVcpu(0, boot.Start);
            for (int id = 1; id < request.Vcpus; id++)
                domain.CreateVcpu(id, null);
            return (domain, boot);
        }
        catch
        {
            domain.Dispose();
            throw;
        }
    }

    private static uint AllocateDomain0Port(XenHypervisor xen, Domain domain)
    {
        int rc = xen.EventChannels.AllocUnbound(domain, DomainIds.Self, DomainIds.Domain0, out uint port);
        if (rc != 0)
            throw new InvalidOperationException($"cannot allocate an event channel for Domain0 ({rc})");
        return port;
    }
}
