using System.Text;
using Xenolith.Domain0.Builder;
using Xenolith.Hypervisor;

namespace Xenolith.Domain0.Toolstack;

/// <summary>
/// `xenolith run`: build and boot domains in this process, stream their consoles, wait for
/// them all to end. One domain's console goes out raw; several are prefixed line by line.
/// </summary>
public sealed class ForegroundRun(TextWriter stdout, TextWriter stderr)
{
    /// <summary>Machine memory beyond the guests' own: trampoline pages, shared_info, slack.</summary>
    private const ulong OverheadMiB = 32;

    /// <summary>One lock for stdout: several domains' vCPU threads write to it.</summary>
    private readonly Lock _stdoutGate = new();

    public async Task<int> RunAsync(IReadOnlyList<RunTarget> targets, CancellationToken cancellationToken = default)
    {
        ulong poolMiB = OverheadMiB + targets.Aggregate(0UL, (sum, t) => sum + t.MemoryMiB + 4);
        using var xen = new XenHypervisor(poolMiB << 20);
        var domains = new List<Domain>();
        try
        {
            foreach (RunTarget target in targets)
            {
                (Domain domain, _) = PvDomainBuilder.Build(xen, target.ToBuildRequest());
                domains.Add(domain);
                AttachConsole(domain, prefix: targets.Count > 1 ? $"[{domain.Name}] " : null);
            }
            foreach (Domain domain in domains)
                domain.Start();

            DomainExit[] exits = await Task.WhenAll(domains.Select(d => d.Exited)).WaitAsync(cancellationToken);
            await stdout.FlushAsync(cancellationToken);
            foreach (DomainExit exit in exits.Where(e => e.CrashReport is not null))
                await stderr.WriteAsync(exit.CrashReport);
            return ExitCodes.For(exits.Select(e => e.Reason));
        }
        finally
        {
            foreach (Domain domain in domains)
                domain.Dispose();
        }
    }

    private void AttachConsole(Domain domain, string? prefix)
    {
        var line = new StringBuilder();
        domain.Console.Output += data =>
        {
            string text = Encoding.UTF8.GetString(data);
            lock (_stdoutGate)
            {
                if (prefix is null)
                {
                    stdout.Write(text);
                    stdout.Flush();
                    return;
                }
                foreach (char c in text)
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
