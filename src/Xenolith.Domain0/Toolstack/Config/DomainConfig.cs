using System.Collections.ObjectModel;

namespace Xenolith.Domain0.Toolstack.Config;

/// <summary>
/// A guest domain's configuration as read from an xl.cfg file, with xl's defaults applied.
/// </summary>
public sealed record DomainConfig
{
    /// <summary>The domain name (<c>name</c>).</summary>
    public required string Name { get; init; }

    /// <summary>The kernel image path as written (<c>kernel</c>); relative paths are relative to the current directory, as in xl.</summary>
    public required string Kernel { get; init; }

    /// <summary>The initial ramdisk path as written (<c>ramdisk</c>), if any.</summary>
    public string? Ramdisk { get; init; }

    /// <summary>
    /// The kernel command line: <c>cmdline</c> when set, otherwise built from <c>root</c> and
    /// <c>extra</c> as xl builds it ("root=ROOT EXTRA").
    /// </summary>
    public string CommandLine { get; init; } = "";

    /// <summary>Initial memory in MiB (<c>memory</c>); xl's default is 128.</summary>
    public int MemoryMiB { get; init; } = 128;

    /// <summary>Maximum memory in MiB (<c>maxmem</c>); defaults to <see cref="MemoryMiB"/>.</summary>
    public int MaxMemoryMiB { get; init; }

    /// <summary>Number of virtual CPUs (<c>vcpus</c>).</summary>
    public int Vcpus { get; init; } = 1;

    /// <summary>Guest type (<c>type</c>); only "pv" is supported now.</summary>
    public string Type { get; init; } = "pv";

    /// <summary>The domain UUID as written (<c>uuid</c>), if any.</summary>
    public string? Uuid { get; init; }

    /// <summary>Settings that were parsed but are not acted on yet, by key, so the caller can warn about them.</summary>
    public IReadOnlyDictionary<string, XlValue> Unrecognised { get; init; } = ReadOnlyDictionary<string, XlValue>.Empty;
}
