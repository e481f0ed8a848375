using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>
/// Records a domain's console as timestamped lines. The handler runs on the vCPU thread the
/// moment the guest's console write reaches the hypervisor, so its timestamps bracket guest
/// work with no scheduling delay; it takes the timestamp before doing anything else.
/// </summary>
internal sealed class ConsoleRecorder
{
    private readonly Lock _lock = new();
    private readonly List<byte> _partialLine = [];
    private readonly List<(string Text, long Timestamp)> _lines = [];
    private long _firstByteTimestamp;

    public ConsoleRecorder(DomainConsole console) => console.Output += OnOutput;

    /// <summary>When the first byte arrived (a <see cref="Stopwatch"/> timestamp), or 0 if none yet.</summary>
    public long FirstByteTimestamp
    {
        get
        {
            lock (_lock)
                return _firstByteTimestamp;
        }
    }

    /// <summary>Everything the guest wrote so far, for failure reports.</summary>
    public string Transcript
    {
        get
        {
            lock (_lock)
            {
                var text = new StringBuilder();
                foreach ((string line, _) in _lines)
                    text.Append(line).Append('\n');
                return text.Append(Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(_partialLine))).ToString();
            }
        }
    }

    /// <summary>When the line that reads exactly <paramref name="text"/> was completed by its newline.</summary>
    public long TimestampOfLine(string text)
    {
        lock (_lock)
        {
            foreach ((string line, long timestamp) in _lines)
            {
                if (line == text)
                    return timestamp;
            }
        }
        throw new BenchmarkException($"the guest never printed \"{text}\"; its console:\n{Transcript}");
    }

    /// <summary>The completed lines that start with <paramref name="prefix"/>, in order.</summary>
    public IReadOnlyList<string> LinesStartingWith(string prefix)
    {
        lock (_lock)
            return [.. _lines.Where(l => l.Text.StartsWith(prefix, StringComparison.Ordinal)).Select(l => l.Text)];
    }

    private void OnOutput(ReadOnlySpan<byte> data)
    {
        long now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            if (_firstByteTimestamp == 0 && !data.IsEmpty)
                _firstByteTimestamp = now;
            foreach (byte b in data)
            {
                if (b != (byte)'\n')
                {
                    _partialLine.Add(b);
                    continue;
                }
                _lines.Add((Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(_partialLine)), now));
                _partialLine.Clear();
            }
        }
    }
}
