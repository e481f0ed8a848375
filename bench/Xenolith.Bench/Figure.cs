using System.Globalization;

namespace Xenolith.Bench;

/// <summary>
/// One reported figure and the floor it is compared with. Absolute times on a given machine
/// say little (an exit costs ~25 µs under nested PVM, ~1–2 µs on hardware KVM); the ratio to
/// a floor measured in the same run is what carries over between machines.
/// </summary>
internal readonly record struct Figure(string Name, double Value, double Floor, string Unit)
{
    public double Ratio => Value / Floor;

    /// <summary>The contract's line format, e.g. "hypercall.page: 25.31 us (floor: 24.90 us, ratio: 1.02)".</summary>
    public string Format() => string.Create(CultureInfo.InvariantCulture,
        $"{Name}: {Value:F2} {Unit} (floor: {Floor:F2} {Unit}, ratio: {Ratio:F2})");
}
