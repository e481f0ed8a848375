using System.Diagnostics;
using System.Globalization;

namespace Xenolith.Bench;

/// <summary>Medians: robust to the one-off outliers (tier-up, a host hiccup) that nested KVM produces.</summary>
internal static class Statistics
{
    public static double Median(IReadOnlyCollection<double> samples)
    {
        if (samples.Count == 0)
            throw new ArgumentException("no samples", nameof(samples));
        double[] sorted = [.. samples.Order()];
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>The nearest-rank percentile (p in 0..100) of the samples.</summary>
    public static double Percentile(IReadOnlyCollection<double> samples, double p)
    {
        if (samples.Count == 0)
            throw new ArgumentException("no samples", nameof(samples));
        double[] sorted = [.. samples.Order()];
        int rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>
    /// A guest's "PREFIX TICKS" line (rdtsc ticks it timed itself) in microseconds, at the vCPU's
    /// TSC rate in kHz; a malformed line voids the measurement.
    /// </summary>
    public static double MicrosecondsOfTickLine(string line, string prefix, uint tscKhz) =>
        ulong.TryParse(line.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out ulong ticks)
            ? ticks * 1000.0 / tscKhz
            : throw new BenchmarkException($"malformed line from the guest: \"{line}\"");

    /// <summary>
    /// A guest's "PREFIX N ops TICKS ticks" line (N operations it timed itself with rdtsc) as
    /// operations per second at the vCPU's TSC rate in kHz; a missing or malformed line voids the
    /// measurement.
    /// </summary>
    public static double OperationsPerSecondOfLine(ConsoleRecorder console, string prefix, uint tscKhz)
    {
        string line = console.LinesStartingWith(prefix).SingleOrDefault()
            ?? throw new BenchmarkException($"the guest printed no \"{prefix}\" line; its console:\n{console.Transcript}");
        string[] words = line[prefix.Length..].Split(' ');
        if (words.Length != 4 || words[1] != "ops" || words[3] != "ticks"
            || !ulong.TryParse(words[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong ops)
            || !ulong.TryParse(words[2], NumberStyles.None, CultureInfo.InvariantCulture, out ulong ticks) || ticks == 0)
            throw new BenchmarkException($"malformed line from the guest: \"{line}\"");
        return ops / (ticks / (tscKhz * 1000.0));
    }

    public static double ElapsedMicroseconds(long startTimestamp, long endTimestamp) =>
        (endTimestamp - startTimestamp) * 1e6 / Stopwatch.Frequency;
}
