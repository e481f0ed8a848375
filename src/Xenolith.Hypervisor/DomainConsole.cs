namespace Xenolith.Hypervisor;

/// <summary>
/// The hypervisor console as one domain sees it: output goes to whoever listens (the CLI, a
/// test), input is queued by Domain0 for CONSOLEIO_read.
/// </summary>
public sealed class DomainConsole
{
    private readonly ConsoleInputQueue _input = new();
    private readonly Lock _lock = new();
    private Action<ReadOnlySpan<byte>>? _output;
    private long _bytesWritten;

    /// <summary>Receives every byte the guest writes. Called on the vCPU's thread.</summary>
    public event Action<ReadOnlySpan<byte>>? Output
    {
        add { lock (_lock) _output += value; }
        remove { lock (_lock) _output -= value; }
    }

    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    public void Write(ReadOnlySpan<byte> data)
    {
        Interlocked.Add(ref _bytesWritten, data.Length);
        _output?.Invoke(data);
    }

    /// <summary>Queues input for the guest; beyond the limit the oldest input is kept and the rest dropped.</summary>
    public void QueueInput(ReadOnlySpan<byte> data)
    {
        lock (_lock)
            _input.Enqueue(data);
    }

    public byte[] ReadInput(int max)
    {
        lock (_lock)
        {
            var data = new byte[Math.Min(max, _input.Count)];
            _input.Dequeue(data);
            return data;
        }
    }
}
