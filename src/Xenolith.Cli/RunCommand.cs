using System.CommandLine;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Toolstack;
using Xenolith.Domain0.Toolstack.Config;
using Xenolith.Kvm;

namespace Xenolith.Cli;

/// <summary>`xenolith run [TARGET...]`: boot domains in the foreground and exit with the guest's shutdown reason.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var targets = new Argument<string[]>("target")
        {
            Description = "xl.cfg files, kernel ELF images, or built-in guest names (default: the built-in 'hello' guest)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var cmdline = new Option<string?>("--cmdline") { Description = "guest kernel command line (overrides the config's)" };
        var memory = new Option<ulong?>("--memory") { Description = "guest memory in MiB (overrides the config's; default 128)" };
        var command = new Command("run", "Boot one or more domains in the foreground, streaming their consoles to stdout.")
        {
            targets, cmdline, memory,
        };
        command.SetAction((result, cancellationToken) => RunAsync(
            result.GetValue(targets) ?? [], result.GetValue(cmdline), result.GetValue(memory), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string[] names, string? cmdline, ulong? memory, CancellationToken cancellationToken)
    {
        if (!KvmSystem.IsAvailable(out string reason))
        {
            await Console.Error.WriteLineAsync($"xenolith: KVM is not available ({reason})");
            return ExitCodes.Unavailable;
        }
        try
        {
            RunTarget[] targets = names.Length == 0
                ? [RunTarget.Resolve(null, cmdline, memory)]
                : [.. names.Select(n => RunTarget.Resolve(n, cmdline, memory))];
            return await new ForegroundRun(Console.Out, Console.Error).RunAsync(targets, cancellationToken);
        }
        catch (Exception e) when (e is ConfigException or KernelImageException)
        {
            await Console.Error.WriteLineAsync($"xenolith: {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (OperationCanceledException)
        {
            return ExitCodes.Internal;
        }
    }
}
