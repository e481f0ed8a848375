namespace Xenolith.Hypervisor;

/// <summary>
/// Keystrokes waiting for a guest to read them (through CONSOLEIO_read or its console ring): a
/// bounded FIFO that keeps the oldest input and drops what arrives beyond the limit, so a guest
/// that never reads cannot make Domain0 hold unbounded memory. Not thread-safe: owners lock.
/// </summary>
public sealed class ConsoleInputQueue
{
    public const int DefaultLimit = 64 * 1024;

    private readonly Queue<byte> _bytes = new();

    public int Limit { get; init; } = DefaultLimit;

    public int Count => _bytes.Count;

    /// <summary>Appends what fits under the limit; returns how many bytes were kept.</summary>
    public int Enqueue(ReadOnlySpan<byte> data)
    {
        int kept = Math.Min(data.Length, Limit - _bytes.Count);
        foreach (byte b in data[..Math.Max(kept, 0)])
            _bytes.Enqueue(b);
        return Math.Max(kept, 0);
    }

    /// <summary>Moves up to <paramref name="destination"/>.Length of the oldest bytes out; returns how many.</summary>
    public int Dequeue(Span<byte> destination)
    {
        int count = Math.Min(destination.Length, _bytes.Count);
        for (int i = 0; i < count; i++)
            destination[i] = _bytes.Dequeue();
        return count;
    }
}
