using Xenolith.Abi;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>
/// The CPUID a PV guest sees through forced emulation: the host's leaves filtered as Xen's PV policy, plus
/// Xen's leaves. Built once per domain from KVM_GET_SUPPORTED_CPUID; <see cref="Query"/> is a lookup.
/// </summary>
/// <remarks>
/// The feature masks follow the guest applicability Xen gives each bit in public/arch-x86/cpufeatureset.h:
/// bits marked for HVM guests only ('S', 'H') or for no guest at all are hidden from PV. Leaves beyond the
/// maximum basic or extended leaf, and leaves in no known range, read as all zeros (Xen's "AMD model"),
/// not as Intel's copy of the highest basic leaf.
/// </remarks>
public sealed class CpuidPolicy
{
    /// <summary>KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the entry is for one subleaf (Index), not all of them.</summary>
    private const uint KvmCpuidFlagSignificantIndex = 1;

    private const uint HypervisorRangeFirst = 0x4000_0000, HypervisorRangeLast = 0x4fff_ffff;
    private const uint ExtendedFirst = 0x8000_0000;

    /// <summary>Physical address width reported in Xen leaf 5 when the host table has no leaf 0x80000008.</summary>
    private const uint DefaultPhysicalAddressBits = 46;

    // Leaf 1 EDX: hidden from PV.
    private const uint Leaf1EdxPvHidden =
        (1u << 1)     // VME: virtual-8086 mode extensions: no vm86 for PV ('S')
        | (1u << 3)   // PSE: the guest cannot make large pages; its PTEs go through Xen's validation ('S')
        | (1u << 12)  // MTRR: the memory-type MSRs are the hypervisor's ('S')
        | (1u << 13)  // PGE: global pages are the hypervisor's TLB policy, not the guest's ('S')
        | (1u << 17)  // PSE36: as PSE ('S')
        | (1u << 21)  // DS: debug store, a vPMU feature, off (no annotation)
        | (1u << 29)  // TM1: thermal monitor, power management is the host's (no annotation)
        | (1u << 31); // PBE: pending-break enable, power management (no annotation)

    // Leaf 1 ECX: hidden from PV.
    private const uint Leaf1EcxPvHidden =
        (1u << 2)     // DTES64: debug store, vPMU (no annotation)
        | (1u << 3)   // MONITOR: PV guests cannot use monitor/mwait (leaf 5 is empty too)
        | (1u << 4)   // DSCPL: debug store, vPMU
        | (1u << 5)   // VMX: no nested virtualisation for PV ('S')
        | (1u << 6)   // SMX: safer mode is the platform's
        | (1u << 7)   // EIST: SpeedStep, power management is the host's
        | (1u << 8)   // TM2: thermal monitor 2
        | (1u << 14)  // XTPR: task-priority messages, an APIC feature PV does not have
        | (1u << 15)  // PDCM: perf/debug capability MSR, vPMU
        | (1u << 17)  // PCID: the guest does not own CR3/CR4.PCIDE ('H')
        | (1u << 18)  // DCA: direct cache access, platform
        | (1u << 21)  // X2APIC: no virtual APIC for PV, and no x2APIC MSRs in the MSR policy
        | (1u << 24); // TSC_DEADLINE: an APIC timer mode, no virtual APIC ('S')

    private const uint Leaf1EcxHypervisor = 1u << 31;

    // Leaf 7 subleaf 0 EBX: hidden from PV.
    private const uint Leaf7EbxPvHidden =
        (1u << 0)     // FSGSBASE: CR4.FSGSBASE stays clear, so wr/rd{fs,gs}base would #UD; bases go through set_segment_base/MSRs
        | (1u << 1)   // TSC_ADJUST: the TSC is the hypervisor's ('S')
        | (1u << 2)   // SGX: not virtualised
        | (1u << 7)   // SMEP: the guest kernel runs at CPL3 and does not own CR4 ('S')
        | (1u << 10)  // INVPCID: no PCID for PV ('H')
        | (1u << 12)  // PQM: platform QoS monitoring
        | (1u << 14)  // MPX: opt-in only in Xen, off by default
        | (1u << 15)  // PQE: platform QoS enforcement
        | (1u << 20)  // SMAP: as SMEP ('S')
        | (1u << 25); // PT: processor trace (no annotation)

    // Leaf 7 subleaf 0 ECX: hidden from PV.
    private const uint Leaf7EcxPvHidden =
        (1u << 2)     // UMIP: a CR4 bit the guest does not own ('S')
        | (1u << 3)   // PKU: protection keys need CR4.PKE ('H')
        | (1u << 4)   // OSPKE: mirrors CR4.PKE, which is clear
        | (1u << 5)   // WAITPKG: umonitor/umwait, as MONITOR
        | (1u << 7)   // CET_SS: shadow stacks are not virtualised for PV
        | (1u << 16); // LA57: PV guests have 4-level paging only

    // Leaf 0x80000001 ECX: hidden from PV.
    private const uint Extended1EcxPvHidden =
        (1u << 2)     // SVM: no nested virtualisation for PV ('S')
        | (1u << 3)   // EXTAPIC: no virtual APIC
        | (1u << 4)   // CR8_LEGACY: CR8 is the APIC TPR, which PV does not have ('S')
        | (1u << 9)   // OSVW: OS-visible workaround MSRs are the host's
        | (1u << 10)  // IBS: instruction-based sampling, vPMU
        | (1u << 12)  // SKINIT: platform
        | (1u << 13)  // WDT: watchdog timer, platform
        | (1u << 15)  // LWP: lightweight profiling
        | (1u << 19)  // NODEID_MSR: platform topology
        | (1u << 22)  // TOPOEXT: topology leaves, not virtualised
        | (1u << 23)  // PERFCTR_CORE: vPMU
        | (1u << 24)  // PERFCTR_NB: vPMU
        | (1u << 29); // MONITORX: as MONITOR

    // Leaf 0x80000001 EDX: hidden from PV.
    private const uint Extended1EdxPvHidden =
        1u << 26;     // PAGE1GB: the guest cannot make 1 GiB pages ('H')

    private readonly Dictionary<(uint Leaf, uint? Subleaf), (uint Eax, uint Ebx, uint Ecx, uint Edx)> _leaves = [];

    public CpuidPolicy(ReadOnlySpan<KvmCpuidEntry2> supported, uint xenMajor, uint xenMinor)
    {
        uint maxBasic = 0, maxExtended = 0;
        bool haveBasic = false, haveExtended = false, invariantTsc = false, rdtscp = false;
        uint physicalAddressBits = DefaultPhysicalAddressBits;
        foreach (ref readonly KvmCpuidEntry2 entry in supported)
        {
            switch (entry.Function)
            {
                case 0:
                    haveBasic = true;
                    maxBasic = entry.Eax;
                    break;
                case ExtendedFirst:
                    haveExtended = true;
                    maxExtended = entry.Eax;
                    break;
                case 0x8000_0001:
                    rdtscp = (entry.Edx & (1u << 27)) != 0;
                    break;
                case 0x8000_0007:
                    invariantTsc = (entry.Edx & (1u << 8)) != 0;
                    break;
                case 0x8000_0008 when (entry.Eax & 0xff) != 0:
                    physicalAddressBits = entry.Eax & 0xff;
                    break;
            }
        }

        foreach (ref readonly KvmCpuidEntry2 entry in supported)
        {
            uint leaf = entry.Function;
            bool inRange = leaf < HypervisorRangeFirst
                ? haveBasic && leaf <= maxBasic
                : leaf >= ExtendedFirst && haveExtended && leaf <= maxExtended;
            if (!inRange)
                continue; // KVM's own 0x40000000 leaves included: Xen's replace them below.
            uint? subleaf = (entry.Flags & KvmCpuidFlagSignificantIndex) != 0 ? entry.Index : null;
            _leaves[(leaf, subleaf)] = Mask(leaf, subleaf, (entry.Eax, entry.Ebx, entry.Ecx, entry.Edx));
        }

        AddXenLeaves(xenMajor, xenMinor, invariantTsc, rdtscp, physicalAddressBits);
    }

    /// <summary>The four registers cpuid returns for <paramref name="leaf"/>/<paramref name="subleaf"/>; all zeros for an unknown leaf.</summary>
    public (uint Eax, uint Ebx, uint Ecx, uint Edx) Query(uint leaf, uint subleaf)
    {
        if (_leaves.TryGetValue((leaf, subleaf), out var exact))
            return exact;
        return _leaves.TryGetValue((leaf, null), out var any) ? any : default;
    }

    /// <summary>Xen's PV policy over one host leaf (calculate_pv_max_policy, recalculate_misc, guest_cpuid's PV adjustments).</summary>
    private static (uint Eax, uint Ebx, uint Ecx, uint Edx) Mask(uint leaf, uint? subleaf, (uint Eax, uint Ebx, uint Ecx, uint Edx) r)
    {
        switch (leaf)
        {
            case 1:
                r.Eax &= 0x0fff_0fff;  // processor type (bits 13:12) and reserved bits: clobbered, as Xen does
                r.Ebx &= 0x00ff_ffff;  // initial APIC id: 0 for every PV vCPU (there is no APIC to name)
                r.Ecx = (r.Ecx & ~Leaf1EcxPvHidden) | Leaf1EcxHypervisor; // OSXSAVE stays as the table has it
                r.Edx &= ~Leaf1EdxPvHidden;
                return r;
            case 5:     // MONITOR/MWAIT parameters: MONITOR is hidden
            case 6:     // thermal and power management: the host's
            case 0xa:   // architectural performance monitoring: no vPMU
            case 0x8000_000a: // SVM features: no SVM for PV
                return default;
            case 7 when subleaf is null or 0:
                r.Ebx &= ~Leaf7EbxPvHidden;
                r.Ecx &= ~Leaf7EcxPvHidden;
                return r;
            case 0x8000_0001:
                r.Ecx &= ~Extended1EcxPvHidden;
                r.Edx &= ~Extended1EdxPvHidden;
                return r;
            default:
                return r;
        }
    }

    /// <summary>cpuid_hypervisor_leaves for a PV domain without Viridian: leaves 0x40000000-0x40000005.</summary>
    private void AddXenLeaves(uint major, uint minor, bool invariantTsc, bool rdtscp, uint physicalAddressBits)
    {
        uint first = XenCpuid.FirstLeaf;
        // Leaf 0: the largest Xen leaf and the "XenVMMXenVMM" signature.
        _leaves[(first, null)] = (first + XenCpuid.MaxLeafIndex, XenCpuid.SignatureEbx, XenCpuid.SignatureEcx, XenCpuid.SignatureEdx);
        // Leaf 1: the version the guest checks before trusting the rest.
        _leaves[(first + 1, null)] = ((major << 16) | minor, 0, 0, 0);
        // Leaf 2: one hypercall page, installed through MSR 0x40000000; mmu_update keeps A/D bits on request.
        _leaves[(first + 2, null)] = (1, XenCpuid.HypercallPageMsr, XenCpuid.Feature1MmuPtUpdatePreserveAd, 0);
        // Leaf 3 subleaf 0 (time features): bit 1 = the host TSC is safe to read directly (invariant), bit 2 =
        // rdtscp is available. No vTSC (bit 0), tsc_mode 0 (default), and no tsc_khz or incarnation to report.
        // Subleaves 1 (scale/offset) and 2 (host kHz) read as zeros: Xenolith has no virtual TSC to describe.
        uint timeFeatures = (invariantTsc ? 1u << 1 : 0) | (rdtscp ? 1u << 2 : 0);
        _leaves[(first + 3, 0)] = (timeFeatures, 0, 0, 0);
        // Leaf 4 is HVM-only: zeros for PV. Leaf 5 subleaf 0 (PV parameters): EBX = machine address bits.
        _leaves[(first + 5, 0)] = (0, physicalAddressBits, 0, 0);
    }
}
