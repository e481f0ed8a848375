using System.Reflection;

namespace Xenolith.Hypervisor;

/// <summary>What xen_version reports about this hypervisor.</summary>
public static class XenBuildInfo
{
    /// <summary>The Xen interface version Xenolith implements.</summary>
    public const int Major = 4;
    public const int Minor = 19;
    public const string Extraversion = ".0-xenolith";
    public const string Capabilities = "xen-3.0-x86_64";
    public const string Denied = "<denied>";

    public static string Changeset { get; } =
        typeof(XenBuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unavailable";

    public static string Compiler { get; } = $".NET {Environment.Version}";
}
