using Xenolith.Abi;

namespace Xenolith.Hypervisor;

/// <summary>How a domain ended: the shutdown reason and, for a crash the hypervisor detected, its report.</summary>
public sealed record DomainExit(ShutdownReason Reason, string? CrashReport)
{
    public bool Crashed => Reason == ShutdownReason.Crash;
}
