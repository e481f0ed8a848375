namespace Xenolith.Hypervisor;

/// <summary>
/// The hypervisor console as one domain sees it: output goes to whoever listens (the CLI, a
/// test), input is queued by Domain0 for CONSOLEIO_read.
/// </summary>
public sealed class DomainConsole
{
    private const int MaxQueuedInput = 64 * 1024;
    private readonly Queue<byte> _input = new();
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
        {
            foreach (byte b in data)
            {
                if (_input.Count >= MaxQueuedInput)
                    break;
                _input.Enqueue(b);
            }
        }
    }

    public byte[] ReadInput(int max)
    {
        lock (_lock)
        {
            int count = Math.Min(max, _input.Count);
            var data = new byte[count];
            for (int i = 0; i < count; i++)
                data[i] = _input.Dequeue();
            return data;
        }
    }
}
