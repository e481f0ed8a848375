using System.Diagnostics;
using System.Globalization;
using Xenolith.Abi;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Grants;

namespace Xenolith.Bench;

/// <summary>
/// Grant copies. For now the host side only: Domain0's backend copy API (<see cref="GrantTables.CopyToGrant"/>
/// and <see cref="GrantTables.CopyFromGrant"/>, 4 KiB each, over pages a built domain granted to
/// Domain0), against the floor of plain 4 KiB memcpys between the same host buffer and the same
/// frames, measured in the same run. A guest-driven GNTTABOP_copy figure (the `grant` guest with
/// role=bench) belongs beside it as a second figure of this benchmark.
/// </summary>
internal static class GrantBenchmark
{
    /// <summary>Enough distinct pages that the working set is not one hot line of the cache.</summary>
    private const int Pages = 256;

    /// <summary>Passes over every page per sample, each a copy into the grant and one back out.</summary>
    private const int PassesPerSample = 32;

    private const int Samples = 15;

    public static Task<IReadOnlyList<Figure>> RunAsync(TextWriter progress)
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
        return Task.FromResult<IReadOnlyList<Figure>>([new Figure("grant.backend_copy_4k", copy, floor, "MB/s")]);
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
