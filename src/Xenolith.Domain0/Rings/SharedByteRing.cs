using System.Runtime.InteropServices;

namespace Xenolith.Domain0.Rings;

/// <summary>
/// One direction of a byte ring in a page shared with a guest (xenstore's req/rsp, the console's
/// in/out): a power-of-two data area and two free-running 32-bit indices, the consumer's and the
/// producer's. Both indices are read from the page every time and checked, because the guest can
/// write anything there: more than <see cref="Size"/> bytes between them is corruption, reported
/// as -1, and the page is left alone. Bytes are copied out once before anything looks at them.
/// Memory order is the protocol's: the producer index is read before the data it covers and
/// written after the data it publishes; the consumer index is written after the data is copied.
/// </summary>
public readonly record struct SharedByteRing(int DataOffset, int Size, int ConsumerOffset, int ProducerOffset)
{
    public const int Corrupt = -1;

    /// <summary>Bytes waiting to be read, or <see cref="Corrupt"/>.</summary>
    public int Available(Span<byte> page)
    {
        uint consumer = Volatile.Read(ref Index(page, ConsumerOffset));
        uint producer = Volatile.Read(ref Index(page, ProducerOffset));
        uint available = producer - consumer;
        return available > (uint)Size ? Corrupt : (int)available;
    }

    /// <summary>Free room for a writer, or <see cref="Corrupt"/>.</summary>
    public int Free(Span<byte> page)
    {
        int used = Available(page);
        return used == Corrupt ? Corrupt : Size - used;
    }

    /// <summary>
    /// As a consumer: copies up to <paramref name="destination"/>.Length waiting bytes out and
    /// moves the consumer index past them. Returns the count, or <see cref="Corrupt"/>.
    /// </summary>
    public int Read(Span<byte> page, Span<byte> destination)
    {
        ref uint consumerIndex = ref Index(page, ConsumerOffset);
        uint consumer = Volatile.Read(ref consumerIndex);
        uint producer = Volatile.Read(ref Index(page, ProducerOffset));
        uint available = producer - consumer;
        if (available > (uint)Size)
            return Corrupt;
        int count = (int)Math.Min(available, (uint)destination.Length);
        Copy(page.Slice(DataOffset, Size), (int)(consumer & (uint)(Size - 1)), destination[..count]);
        Volatile.Write(ref consumerIndex, consumer + (uint)count);
        return count;
    }

    /// <summary>
    /// As a producer: copies as much of <paramref name="source"/> as fits and publishes it by moving
    /// the producer index. Returns the count, or <see cref="Corrupt"/>.
    /// </summary>
    public int Write(Span<byte> page, ReadOnlySpan<byte> source)
    {
        ref uint producerIndex = ref Index(page, ProducerOffset);
        uint consumer = Volatile.Read(ref Index(page, ConsumerOffset));
        uint producer = Volatile.Read(ref producerIndex);
        uint used = producer - consumer;
        if (used > (uint)Size)
            return Corrupt;
        int count = (int)Math.Min((uint)Size - used, (uint)source.Length);
        Span<byte> data = page.Slice(DataOffset, Size);
        int at = (int)(producer & (uint)(Size - 1));
        int first = Math.Min(count, Size - at);
        source[..first].CopyTo(data[at..]);
        source[first..count].CopyTo(data);
        Volatile.Write(ref producerIndex, producer + (uint)count);
        return count;
    }

    /// <summary>Both indices to zero (a reconnection); only while the other side waits for it.</summary>
    public void Reset(Span<byte> page)
    {
        Volatile.Write(ref Index(page, ConsumerOffset), 0);
        Volatile.Write(ref Index(page, ProducerOffset), 0);
    }

    private static void Copy(Span<byte> data, int at, Span<byte> destination)
    {
        int first = Math.Min(destination.Length, data.Length - at);
        data.Slice(at, first).CopyTo(destination);
        data[..(destination.Length - first)].CopyTo(destination[first..]);
    }

    private static ref uint Index(Span<byte> page, int offset) => ref MemoryMarshal.AsRef<uint>(page.Slice(offset, sizeof(uint)));
}
