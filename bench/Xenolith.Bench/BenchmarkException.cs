namespace Xenolith.Bench;

/// <summary>A measurement could not be taken (a guest crashed, hung, or printed something unexpected).</summary>
internal sealed class BenchmarkException(string message) : Exception(message);
