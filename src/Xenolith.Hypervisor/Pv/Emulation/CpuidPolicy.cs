using Xenolith.Kvm;

namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>The CPUID a PV guest sees through forced emulation: the host's leaves filtered as Xen's PV policy, plus Xen's leaves.</summary>
public sealed class CpuidPolicy
{
    public CpuidPolicy(ReadOnlySpan<KvmCpuidEntry2> supported, uint xenMajor, uint xenMinor) => throw new NotImplementedException();

    public (uint Eax, uint Ebx, uint Ecx, uint Edx) Query(uint leaf, uint subleaf) => throw new NotImplementedException();
}
