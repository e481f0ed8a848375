using System.CommandLine;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Toolstack;
using Xenolith.Domain0.Toolstack.Config;
using Xenolith.Domain0.Xenstore;
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
        var socket = new Option<string?>("--xenstored-socket")
        {
            Description = $"where host tools reach xenstored, or 'off' (default: ${XenstoreSocketPath.EnvironmentVariable}, else $XDG_RUNTIME_DIR/xenolith/xenstored.sock)",
        };
        var command = new Command("run", "Boot one or more domains in the foreground, streaming their consoles to stdout.")
        {
            targets, cmdline, memory, socket,
        };
        command.SetAction((result, cancellationToken) => RunAsync(
            result.GetValue(targets) ?? [], result.GetValue(cmdline), result.GetValue(memory), result.GetValue(socket), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string[] names, string? cmdline, ulong? memory, string? socket, CancellationToken cancellationToken)
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
            var run = new ForegroundRun(Console.Out, Console.Error)
            {
                // Typed input reaches the first domain's console ring; at the end of stdin (CI's /dev/null) nothing does.
                Input = Console.OpenStandardInput(),
                XenstoredSocketPath = socket == "off" ? null : socket ?? XenstoreSocketPath.Default(),
            };
            return await run.RunAsync(targets, cancellationToken);
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
