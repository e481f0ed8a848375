using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Pv;

namespace Xenolith.Domain0.Builder;

/// <summary>What to build: a PV domain from a kernel image.</summary>
public sealed record PvBuildRequest(string Name, ReadOnlyMemory<byte> Kernel, string CommandLine, ulong MemoryMiB)
{
    public ReadOnlyMemory<byte> Ramdisk { get; init; }
    public Guid Handle { get; init; } = Guid.NewGuid();
}

/// <summary>
/// Domain0's PV builder: validates the image, creates the domain, gives it memory, loads it and
/// creates vCPU 0. The domain is returned built but not started. Any failure destroys the
/// half-built domain and returns its frames.
/// </summary>
public static class PvDomainBuilder
{
    /// <summary>Feature bits a kernel may require with '!' and still be run here.</summary>
    public const uint SupportedFeatures = 1u << Abi.XenFeature.PaePgdirAbove4Gb;

    // Until event channels exist these are reserved port numbers, as xl would allocate them.
    public const uint StoreEvtchn = 1;
    public const uint ConsoleEvtchn = 2;

    public const ulong MaxMemoryMiB = 1024 * 1024;

    public static (Domain Domain, PvBootImage Boot) Build(XenHypervisor xen, PvBuildRequest request)
    {
        if (request.MemoryMiB is 0 or > MaxMemoryMiB)
            throw new KernelImageException($"memory must be 1..{MaxMemoryMiB} MiB, got {request.MemoryMiB}");
        XenKernelImage image = XenKernelImage.Parse(request.Kernel);
        image.RequireOnlySupportedFeatures(SupportedFeatures);

        Domain domain = xen.CreateDomain(request.Name, request.Handle);
        try
        {
            domain.PopulatePhysmap(request.MemoryMiB * 256);
            var context = new PvLoadContext(domain.P2m, domain.SharedInfoMfn, StoreEvtchn, ConsoleEvtchn);
            PvBootImage boot = PvImageLoader.Load(xen.Memory, context, image, request.Ramdisk.Span, request.CommandLine);
            domain.MemoryMap = [new E820Entry(0, domain.TotalPages << 12, E820Entry.Ram)];
            domain.PinBootstrapPageTables(boot.L4Mfn);
            domain.CreateVcpu(0, boot.Start);
            return (domain, boot);
        }
        catch
        {
            domain.Dispose();
            throw;
        }
    }
}
