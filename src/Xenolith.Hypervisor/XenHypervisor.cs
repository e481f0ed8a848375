using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xenolith.Hypervisor.Events;
using Xenolith.Hypervisor.Grants;
using Xenolith.Hypervisor.Hypercalls;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xenolith.Hypervisor.Pv.Emulation;
using Xenolith.Hypervisor.Time;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor;

/// <summary>
/// The hypervisor ("Xen"): machine memory, the trampoline, the hypercall table, and the domains.
/// One KVM VM per domain, each mapping the whole machine pool at guest-physical = machine address;
/// what a guest can reach is decided by the page tables the hypervisor lets it install.
/// </summary>
public sealed class XenHypervisor : IDisposable
{
    private readonly Dictionary<ushort, Domain> _domains = [];
    private readonly Lock _lock = new();
    private ushort _nextDomainId = DomainIds.FirstGuest;

    public XenHypervisor(ulong machineMemoryBytes, ILoggerFactory? loggerFactory = null)
    {
        Logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Xen");
        Kvm = KvmSystem.Open();
        try
        {
            Clock = new SystemClock();
            Timers = new TimerQueue(Clock);
            // Domain0 is the host process, not a Domain: its event-channel end is found by id 0 too.
            EventChannels = new EventChannels(id => id == DomainIds.Domain0 ? Domain0Events : FindDomain(id));
            Domain0Events = new Domain0EventEndpoint(EventChannels, Logger);
            Memory = new MachineMemory(machineMemoryBytes);
            GuestMemory = new GuestPageTables(Memory);
            PageTypes = new PageTypes(Memory);
            Grants = new GrantTables(Memory, PageTypes, id => FindDomain(id));
            Trampoline = new Trampoline(Memory);
            Cpuid = Kvm.GetSupportedCpuid();
            Hypercalls = new HypercallTable();
            ConsoleIoHypercall.Register(Hypercalls);
            XenVersionHypercall.Register(Hypercalls);
            SchedOpHypercall.Register(Hypercalls);
            VmAssistHypercall.Register(Hypercalls);
            TrapHypercalls.Register(Hypercalls);
            CpuStateHypercalls.Register(Hypercalls);
            DescriptorTableHypercalls.Register(Hypercalls);
            DebugRegisterHypercalls.Register(Hypercalls);
            MmuextOpHypercall.Register(Hypercalls);
            MmuUpdateHypercall.Register(Hypercalls);
            UpdateVaMappingHypercall.Register(Hypercalls);
            MulticallHypercall.Register(Hypercalls);
            MemoryOpHypercall.Register(Hypercalls);
            PhysdevOpHypercall.Register(Hypercalls);
            EventChannelOpHypercall.Register(Hypercalls);
            VcpuOpHypercall.Register(Hypercalls);
            TimerHypercalls.Register(Hypercalls);
            GrantTableOpHypercall.Register(Hypercalls);
            CpuidPolicy = new CpuidPolicy(Cpuid, XenBuildInfo.Major, XenBuildInfo.Minor);
        }
        catch
        {
            Timers?.Dispose();
            Memory?.Dispose();
            Kvm.Dispose();
            throw;
        }
    }

    public ILogger Logger { get; }

    /// <summary>System time (Xen's NOW()) and the wallclock at its zero.</summary>
    public SystemClock Clock { get; }

    /// <summary>Every vCPU's singleshot, periodic and poll timers.</summary>
    public TimerQueue Timers { get; }

    /// <summary>Event channels between and within domains.</summary>
    public EventChannels EventChannels { get; }

    /// <summary>Domain0's event-channel end: how xenstored and the backends bind and signal guests' ports.</summary>
    public Domain0EventEndpoint Domain0Events { get; }
    internal KvmSystem Kvm { get; }
    public MachineMemory Memory { get; }
    public GuestPageTables GuestMemory { get; }

    /// <summary>Frame types, reference counts and page-table validation for every domain.</summary>
    public PageTypes PageTypes { get; }

    /// <summary>Every domain's grant table and grant mappings, and Domain0's backend API to them.</summary>
    public GrantTables Grants { get; }
    public Trampoline Trampoline { get; }
    public HypercallTable Hypercalls { get; }
    internal KvmCpuidEntry2[] Cpuid { get; }

    /// <summary>What PV guests read through forced-emulation CPUID.</summary>
    public CpuidPolicy CpuidPolicy { get; }

    public Domain CreateDomain(string name, Guid handle)
    {
        ushort id;
        lock (_lock)
        {
            if (_nextDomainId > DomainIds.MaxGuest)
                throw new InvalidOperationException("no domain ids left");
            id = _nextDomainId++;
        }
        KvmVm vm = Kvm.CreateVm();
        try
        {
            vm.MapMemory(0, 0, Memory.Block);
            var domain = new Domain(this, id, name, handle, vm);
            lock (_lock)
                _domains.Add(id, domain);
            return domain;
        }
        catch
        {
            vm.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Any memslot deletion makes KVM discard all its shadow page tables: cycling a one-page slot
    /// beyond machine memory is the host's only way to do that (~140 us here), used when too many
    /// page-table writes are pending to replay them one by one.
    /// </summary>
    internal void DropAllShadows(KvmVm vm)
    {
        ulong gpa = ((Memory.Block.Size >> 30) + 1) << 30;
        vm.MapMemory(ScratchSlot, gpa, _scratch);
        vm.UnmapMemory(ScratchSlot);
    }

    private const uint ScratchSlot = 1;
    private readonly Xenolith.Kvm.Memory.MemoryBlock _scratch = Xenolith.Kvm.Memory.MemoryBlock.CreateShared(MachineMemory.PageSize, "xenolith-scratch-slot");

    public Domain? FindDomain(ushort id)
    {
        lock (_lock)
            return _domains.GetValueOrDefault(id);
    }

    internal void ReleaseDomain(Domain domain)
    {
        lock (_lock)
            _domains.Remove(domain.Id);
    }

    public void Dispose()
    {
        Domain[] domains;
        lock (_lock)
            domains = [.. _domains.Values];
        foreach (Domain domain in domains)
            domain.Dispose();
        Domain0Events.Dispose();
        Timers.Dispose();
        Memory.Dispose();
        _scratch.Dispose();
        Kvm.Dispose();
    }
}
