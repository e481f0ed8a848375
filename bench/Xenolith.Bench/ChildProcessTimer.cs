using System.Diagnostics;

namespace Xenolith.Bench;

/// <summary>
/// Times a child process from just before it is started to the first byte on its stdout:
/// what a user waiting at a terminal sees, runtime startup and JIT included.
/// </summary>
internal static class ChildProcessTimer
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(2);

    /// <summary>Runs the process to its end (it must exit 0) and returns milliseconds to its first stdout byte.</summary>
    public static async Task<double> MillisecondsToFirstStdoutByteAsync(string fileName, IReadOnlyList<string> arguments)
    {
        var startInfo = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        string commandLine = $"{fileName} {string.Join(' ', arguments)}";
        using var process = new Process { StartInfo = startInfo };
        using var timeout = new CancellationTokenSource(s_timeout);

        long started = Stopwatch.GetTimestamp();
        process.Start();
        long firstByte = 0;
        try
        {
            // Read the raw stream, not the StreamReader: a reader would wait for a line or a full buffer.
            Stream stdout = process.StandardOutput.BaseStream;
            var buffer = new byte[4096];
            while (await stdout.ReadAsync(buffer, timeout.Token) > 0)
            {
                if (firstByte == 0)
                    firstByte = Stopwatch.GetTimestamp();
            }
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new BenchmarkException($"'{commandLine}' did not finish within {s_timeout.TotalSeconds:F0} s");
        }

        if (process.ExitCode != 0)
            throw new BenchmarkException($"'{commandLine}' exited with {process.ExitCode}");
        if (firstByte == 0)
            throw new BenchmarkException($"'{commandLine}' wrote nothing to stdout");
        return Statistics.ElapsedMicroseconds(started, firstByte) / 1000;
    }
}
