using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Domain0.Toolstack.Config;

namespace Xenolith.Domain0.Toolstack;

/// <summary>One domain to boot: where its kernel came from and how to build it.</summary>
public sealed record RunTarget(string Name, byte[] Kernel, byte[] Ramdisk, string CommandLine, ulong MemoryMiB)
{
    /// <summary>vCPUs (xl's <c>vcpus</c>).</summary>
    public int Vcpus { get; init; } = 1;

    /// <summary>The kernel's file, when it came from one (recorded in xenstore as xl does).</summary>
    public string? KernelPath { get; init; }

    public const ulong DefaultMemoryMiB = 128;
    private const long MaxImageBytes = 256L * 1024 * 1024;

    public PvBuildRequest ToBuildRequest() => new(Name, Kernel, CommandLine, MemoryMiB) { Ramdisk = Ramdisk, Vcpus = Vcpus };

    /// <summary>
    /// Resolves what the user named: an xl.cfg file, a kernel ELF file, or a built-in guest.
    /// --cmdline and --memory override what a config says.
    /// </summary>
    public static RunTarget Resolve(string? target, string? commandLine, ulong? memoryMiB)
    {
        target ??= BuiltinGuests.Default;
        if (!File.Exists(target))
        {
            if (BuiltinGuests.Exists(target))
                return new RunTarget(target, BuiltinGuests.Load(target), [], commandLine ?? "", memoryMiB ?? DefaultMemoryMiB);
            throw new ConfigException($"{target}: no such file, and no built-in guest of that name (built-in: {string.Join(", ", BuiltinGuests.Names)})");
        }
        byte[] head = new byte[4];
        using (FileStream f = File.OpenRead(target))
            f.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        if (head is [0x7f, (byte)'E', (byte)'L', (byte)'F'])
            return new RunTarget(Path.GetFileNameWithoutExtension(target), ReadImage(target, "kernel"), [], commandLine ?? "", memoryMiB ?? DefaultMemoryMiB)
            {
                KernelPath = Path.GetFullPath(target),
            };

        DomainConfig config = XlConfigParser.Load(target);
        return new RunTarget(
            config.Name,
            ReadImage(config.Kernel, "kernel"),
            config.Ramdisk is null ? [] : ReadImage(config.Ramdisk, "ramdisk"),
            commandLine ?? config.CommandLine,
            memoryMiB ?? (ulong)config.MemoryMiB)
        {
            Vcpus = config.Vcpus,
            KernelPath = Path.GetFullPath(config.Kernel),
        };
    }

    private static byte[] ReadImage(string path, string what)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
                throw new ConfigException($"{what} '{path}': no such file");
            if (info.Length > MaxImageBytes)
                throw new ConfigException($"{what} '{path}': {info.Length} bytes is larger than the {MaxImageBytes >> 20} MiB limit");
            return File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new ConfigException($"{what} '{path}': {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ConfigException($"{what} '{path}': {e.Message}");
        }
    }
}
