namespace Xenolith.Bench;

/// <summary>A named benchmark: it writes progress to the given writer and returns its figures.</summary>
internal sealed record Benchmark(string Name, string Description, Func<TextWriter, Task<IReadOnlyList<Figure>>> RunAsync);
