using System.Text;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Xenstore;
using Xenolith.Hypervisor;

namespace Xenolith.Domain0.Toolstack;

/// <summary>
/// `xenolith run`: build and boot domains in this process with Domain0's services (xenstored,
/// console backends), stream their consoles, feed input to the first one's console ring, and wait
/// for them all to end. One domain's console goes out raw; several are prefixed line by line.
/// </summary>
public sealed class ForegroundRun(TextWriter stdout, TextWriter stderr)
{
    /// <summary>Machine memory beyond the guests' own: trampoline pages, shared_info, slack.</summary>
    private const ulong OverheadMiB = 32;

    /// <summary>One lock for stdout: console output arrives on vCPU threads and Domain0's event thread.</summary>
    private readonly Lock _stdoutGate = new();

    /// <summary>What to type into the first domain's console (stdin); null for none. Read until its end.</summary>
    public Stream? Input { get; init; }

    /// <summary>Where to serve xenstored for host tools; null for nowhere. A socket in use is warned about and skipped.</summary>
    public string? XenstoredSocketPath { get; init; }

    public async Task<int> RunAsync(IReadOnlyList<RunTarget> targets, CancellationToken cancellationToken = default)
    {
        ulong poolMiB = OverheadMiB + targets.Aggregate(0UL, (sum, t) => sum + t.MemoryMiB + 4);
        using var xen = new XenHypervisor(poolMiB << 20);
        using var toolstack = new Domain0Toolstack(xen);
        ServeSocket(toolstack);
        var domains = new List<LaunchedDomain>();
        try
        {
            foreach (RunTarget target in targets)
            {
                LaunchedDomain launched = toolstack.Launch(target.ToBuildRequest(), target.KernelPath);
                domains.Add(launched);
                AttachConsole(launched.Domain, prefix: targets.Count > 1 ? $"[{launched.Domain.Name}] " : null);
            }
            foreach (LaunchedDomain launched in domains)
                launched.Start();
            if (Input is not null)
                StartInputPump(Input, domains[0]);

            DomainExit[] exits = await Task.WhenAll(domains.Select(d => d.Exited)).WaitAsync(cancellationToken);
            await stdout.FlushAsync(cancellationToken);
            foreach (DomainExit exit in exits.Where(e => e.CrashReport is not null))
                await stderr.WriteAsync(exit.CrashReport);
            return ExitCodes.For(exits.Select(e => e.Reason));
        }
        finally
        {
            foreach (LaunchedDomain launched in domains)
                launched.Dispose();
        }
    }

    private void ServeSocket(Domain0Toolstack toolstack)
    {
        if (XenstoredSocketPath is not { } path)
            return;
        try
        {
            toolstack.Xenstored.Listen(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            stderr.WriteLine($"xenolith: not serving xenstored on {path}: {e.Message}");
        }
    }

    /// <summary>
    /// Copies the input stream into the domain's console ring on a thread of its own: a read from a
    /// terminal blocks until a line is typed, and the process may end while it does. At the end of
    /// the stream (at once when stdin is /dev/null, as in CI) the thread ends.
    /// </summary>
    private static void StartInputPump(Stream input, LaunchedDomain target)
    {
        var thread = new Thread(() =>
        {
            var buffer = new byte[4096];
            try
            {
                int read;
                while (!target.Exited.IsCompleted && (read = input.Read(buffer)) > 0)
                    target.Console.QueueInput(buffer.AsSpan(0, read));
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
            }
        })
        { IsBackground = true, Name = "console input" };
        thread.Start();
    }

    private void AttachConsole(Domain domain, string? prefix)
    {
        var line = new StringBuilder();
        var decoder = Encoding.UTF8.GetDecoder();
        domain.Console.Output += data =>
        {
            lock (_stdoutGate)
            {
                // A decoder: ring output arrives in chunks that may split a UTF-8 sequence.
                var chars = new char[decoder.GetCharCount(data, flush: false)];
                decoder.GetChars(data, chars, flush: false);
                if (prefix is null)
                {
                    stdout.Write(chars);
                    stdout.Flush();
                    return;
                }
                foreach (char c in chars)
                {
                    line.Append(c);
                    if (c != '\n')
                        continue;
                    stdout.Write(prefix + line);
                    line.Clear();
                }
                stdout.Flush();
            }
        };
    }
}
