using System.Diagnostics;

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

    public static double ElapsedMicroseconds(long startTimestamp, long endTimestamp) =>
        (endTimestamp - startTimestamp) * 1e6 / Stopwatch.Frequency;
}
