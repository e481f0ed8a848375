using System.Diagnostics;
using System.Globalization;
using Xenolith.Abi;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Domain0.Toolstack;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Grants;

namespace Xenolith.Bench;

/// <summary>
/// Grant copies of 4 KiB pages, each beside a memcpy floor measured in the same run:
/// <list type="bullet">
/// <item>Domain0's backend copy API (<see cref="GrantTables.CopyToGrant"/> and
/// <see cref="GrantTables.CopyFromGrant"/>, over pages a built domain granted to Domain0), against
/// plain 4 KiB host memcpys between the same buffer and the same frames;</item>
/// <item>a guest's GNTTABOP_copy from another domain's grants (the `grant` guests, role=granter
/// bench=1 and role=bench), batched and one per hypercall, against 4 KiB memcpys the same guest
/// times right after. Each hypercall is one exit (~25 us here), so batching is the whole story.</item>
/// </list>
/// </summary>
internal static class GrantBenchmark
{
    /// <summary>Enough distinct pages that the working set is not one hot line of the cache.</summary>
    private const int Pages = 256;

    /// <summary>Passes over every page per sample, each a copy into the grant and one back out.</summary>
    private const int PassesPerSample = 32;

    private const int Samples = 15;

    public static async Task<IReadOnlyList<Figure>> RunAsync(TextWriter progress)
    {
        Figure backend = MeasureBackend(progress);
        var figures = new List<Figure> { backend };
        foreach (int batch in new[] { GuestBatch, 1 })
            figures.Add(await MeasureGuestAsync(batch, progress));
        return figures;
    }

    /// <summary>Copies per GNTTABOP_copy hypercall in the batched guest figure (the guest takes up to 64).</summary>
    private const int GuestBatch = 32;

    private const int GuestCopies = 4096;

    /// <summary>One granter, one copier: the copier's GNTTABOP_copy rate in MB/s against its own memcpy rate.</summary>
    private static async Task<Figure> MeasureGuestAsync(int batch, TextWriter progress)
    {
        using var xen = new XenHypervisor(128UL << 20);
        using var toolstack = new Domain0Toolstack(xen);
        // Domain ids are handed out in order: the granter is 1, the copier 2.
        using LaunchedDomain granter = toolstack.Launch(new PvBuildRequest("grant-granter", BuiltinGuests.Load("grant"), "role=granter bench=1 peer=2", 16));
        using LaunchedDomain copier = toolstack.Launch(
            new PvBuildRequest("grant-copier", BuiltinGuests.Load("grant"), $"role=bench peer=1 count={GuestCopies} batch={batch}", 16));
        var granterConsole = new ConsoleRecorder(granter.Domain.Console);
        var console = new ConsoleRecorder(copier.Domain.Console);
        await Task.WhenAll(GuestRun.RunToPoweroffAsync(granter, granterConsole), GuestRun.RunToPoweroffAsync(copier, console));
        uint tscKhz = copier.Domain.Vcpus[0].TscKhz;
        double copy = Statistics.OperationsPerSecondOfLine(console, "grant: copy ", tscKhz) * PageBytes / 1e6;
        double memcpy = Statistics.OperationsPerSecondOfLine(console, "grant: memcpy ", tscKhz) * PageBytes / 1e6;
        string name = batch == 1 ? "grant.guest_copy_4k_single" : "grant.guest_copy_4k_batched";
        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"grant: guest GNTTABOP_copy, {batch} per hypercall: {copy:F1} MB/s; the same guest's memcpy {memcpy:F0} MB/s"));
        return new Figure(name, copy, memcpy, "MB/s");
    }

    private static Figure MeasureBackend(TextWriter progress)
    {
        using var xen = new XenHypervisor(128UL << 20);
        using Domain guest = PvDomainBuilder.Build(xen, new PvBuildRequest("grant-bench", BuiltinGuests.Load("hello"), "", 16)).Domain;
        ulong[] frames = GrantPagesToDomain0(xen, guest);
        byte[] buffer = new byte[PageBytes];
        Random.Shared.NextBytes(buffer);

        // A first round of each warms the JIT up (tiered compilation), so the figures are the steady state.
        MeasureBackendCopy(xen, guest.Id, buffer);
        MeasureMemcpy(xen, frames, buffer);
        var copies = new List<double>();
        var floors = new List<double>();
        for (int i = 0; i < Samples; i++)
        {
            copies.Add(MeasureBackendCopy(xen, guest.Id, buffer));
            floors.Add(MeasureMemcpy(xen, frames, buffer));
        }
        double copy = Statistics.Median(copies), floor = Statistics.Median(floors);
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"grant: {Samples} samples of {Pages * PassesPerSample * 2} 4 KiB copies, backend copy median {copy:F0} MB/s, memcpy {floor:F0} MB/s"));
        return new Figure("grant.backend_copy_4k", copy, floor, "MB/s");
    }

    private const int PageBytes = 4096;

    /// <summary>What the guest's frontend would do: grants refs 0..Pages-1, one page of its memory each, to Domain0, writable.</summary>
    private static ulong[] GrantPagesToDomain0(XenHypervisor xen, Domain guest)
    {
        uint framesNeeded = (uint)((Pages + GrantTableLayout.EntriesPerFrameV1 - 1) / GrantTableLayout.EntriesPerFrameV1);
        if (xen.Grants.SetupTable(guest, DomainIds.Self, framesNeeded, out ulong[] table) != GrantStatus.Okay)
            throw new BenchmarkException("the guest's grant table could not be set up");
        // The last pages of the guest's memory: past everything the builder put at the start.
        ulong[] pages = [.. guest.P2m.Skip(guest.P2m.Count - Pages)];
        for (uint gref = 0; gref < Pages; gref++)
        {
            ulong entry = (table[gref / GrantTableLayout.EntriesPerFrameV1] << 12) + gref % GrantTableLayout.EntriesPerFrameV1 * GrantTableLayout.EntryV1Size;
            xen.Memory.Block.Write(entry, new GrantEntryV1 { DomId = DomainIds.Domain0, Frame = (uint)pages[gref], Flags = GrantEntryFlags.PermitAccess });
        }
        return pages;
    }

    /// <summary>MB/s (10^6 bytes) through CopyToGrant then CopyFromGrant of every page.</summary>
    private static double MeasureBackendCopy(XenHypervisor xen, ushort granter, byte[] buffer)
    {
        GrantTables grants = xen.Grants;
        long start = Stopwatch.GetTimestamp();
        for (int pass = 0; pass < PassesPerSample; pass++)
        {
            for (uint gref = 0; gref < Pages; gref++)
            {
                if (grants.CopyToGrant(granter, gref, 0, buffer) != GrantStatus.Okay
                    || grants.CopyFromGrant(granter, gref, 0, buffer) != GrantStatus.Okay)
                    throw new BenchmarkException($"a backend copy of grant {gref} failed");
            }
        }
        return Throughput(start, Stopwatch.GetTimestamp());
    }

    /// <summary>The floor: the same bytes moved by plain span copies between the buffer and the frames.</summary>
    private static double MeasureMemcpy(XenHypervisor xen, ulong[] frames, byte[] buffer)
    {
        long start = Stopwatch.GetTimestamp();
        for (int pass = 0; pass < PassesPerSample; pass++)
        {
            foreach (ulong mfn in frames)
            {
                buffer.CopyTo(xen.Memory.Frame(mfn));
                xen.Memory.Frame(mfn).CopyTo(buffer);
            }
        }
        return Throughput(start, Stopwatch.GetTimestamp());
    }

    private static double Throughput(long start, long end) =>
        (double)Pages * PassesPerSample * 2 * PageBytes / 1e6 / ((end - start) / (double)Stopwatch.Frequency);
}
