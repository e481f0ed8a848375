using System.Buffers.Binary;
using Xenolith.Abi;
using Xenolith.Hypervisor.Events;
using Xenolith.Hypervisor.Grants;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor;

/// <summary>A PV domain: its memory, its KVM VM, its vCPUs and its lifecycle.</summary>
public sealed partial class Domain : IDisposable, IPageTableOwner, IEventChannelDomain, IGrantDomain
{
    private readonly List<Vcpu> _vcpus = [];
    private readonly TaskCompletionSource<DomainExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ulong[] _p2m = [];
    private ulong _vmAssist;
    private int _dying;
    private List<ulong>? _shadowSyncs;
    private readonly Lock _shadowSyncLock = new();

    internal Domain(XenHypervisor xen, ushort id, string name, Guid handle, KvmVm vm)
    {
        Xen = xen;
        Id = id;
        Name = name;
        Handle = handle;
        Vm = vm;
        Mappings = new HypervisorMappings(xen.Memory, xen.Trampoline);
        SharedInfoMfn = xen.Memory.Allocate(id);
        InitialiseSharedInfo();
    }

    /// <summary>
    /// Every upcall starts masked (Xen's arch_domain_create), and the wallclock holds UTC at system
    /// time zero, written with the version protocol the guest reads it by.
    /// </summary>
    private void InitialiseSharedInfo()
    {
        Span<byte> shared = SharedInfo;
        for (int i = 0; i < SharedInfoLayout.LegacyMaxVcpus; i++)
            shared[i * SharedInfoLayout.VcpuInfoSize + SharedInfoLayout.UpcallMask] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(shared[WallclockLayout.Version..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(shared[WallclockLayout.Seconds..], (uint)Xen.Clock.WallclockSeconds);
        BinaryPrimitives.WriteUInt32LittleEndian(shared[WallclockLayout.SecondsHigh..], (uint)(Xen.Clock.WallclockSeconds >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(shared[WallclockLayout.Nanoseconds..], Xen.Clock.WallclockNanoseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(shared[WallclockLayout.Version..], 2);
    }

    public XenHypervisor Xen { get; }
    public ushort Id { get; }
    public string Name { get; }
    public Guid Handle { get; }
    internal KvmVm Vm { get; }
    public HypervisorMappings Mappings { get; }
    public DomainConsole Console { get; } = new();

    /// <summary>Every guest here is unprivileged: Domain0 is the host process itself.</summary>
    public bool IsPrivileged => false;

    /// <summary>The shared_info page: a machine frame the guest maps by its machine address.</summary>
    public ulong SharedInfoMfn { get; }

    /// <summary>The domain's pseudo-physical to machine map (its frames, in pfn order).</summary>
    public IReadOnlyList<ulong> P2m => _p2m;

    public IReadOnlyList<Vcpu> Vcpus => _vcpus;

    /// <summary>The domain's 4 KiB shared_info page.</summary>
    public Span<byte> SharedInfo => Xen.Memory.Frame(SharedInfoMfn);

    /// <summary>This domain's event-channel ports.</summary>
    public EventChannelTable EventChannels { get; } = new();

    /// <summary>This domain's grant table, its mappings of others' grants, and the toolstack's limits on both.</summary>
    public DomainGrants Grants { get; } = new();

    int IEventChannelDomain.VcpuCount => _vcpus.Count;

    Span<byte> IEventChannelDomain.VcpuInfo(int vcpu) => _vcpus[vcpu].VcpuInfo;

    void IEventChannelDomain.KickVcpu(int vcpu) => _vcpus[vcpu].Kick();

    void IEventChannelDomain.WakePollers(int port)
    {
        foreach (Vcpu vcpu in _vcpus)
        {
            if (vcpu.IsPolling(port))
                vcpu.Kick();
        }
    }

    /// <summary>Paused by the toolstack: no vCPU enters the guest until <see cref="Unpause"/>.</summary>
    public bool IsPaused => Volatile.Read(ref _pauseCount) > 0;
    private int _pauseCount;

    /// <summary>
    /// Xen's domain_pause: returns once no vCPU runs guest code (each is parked, blocked, or stopped).
    /// Pauses nest; each needs its <see cref="Unpause"/>.
    /// </summary>
    public void Pause()
    {
        Interlocked.Increment(ref _pauseCount);
        foreach (Vcpu vcpu in _vcpus)
            vcpu.Kick();
        var spin = new SpinWait();
        while (!_vcpus.TrueForAll(vcpu => vcpu.IsQuiescent))
            spin.SpinOnce(sleep1Threshold: 10);
    }

    public void Unpause()
    {
        if (Interlocked.Decrement(ref _pauseCount) < 0)
        {
            Interlocked.Increment(ref _pauseCount);
            throw new InvalidOperationException($"domain {Id} is not paused");
        }
        foreach (Vcpu vcpu in _vcpus)
            vcpu.Kick();
    }

    public ShutdownReason? PendingShutdownCode { get; set; }

    public Task<DomainExit> Exited => _exit.Task;

    public bool IsDying => Volatile.Read(ref _dying) != 0;

    /// <summary>XENVER_get_features submap 0: only what Xenolith implements.</summary>
    public uint FeatureSubmap0
    {
        get
        {
            uint map = 1u << XenFeature.DirectMapped;
            if (IsVmAssistEnabled(VmAssist.TypePaeExtendedCr3))
                map |= 1u << XenFeature.PaePgdirAbove4Gb;
            return map;
        }
    }

    public bool IsVmAssistEnabled(int type) => (Interlocked.Read(ref _vmAssist) & (1UL << type)) != 0;

    public void SetVmAssist(int type, bool enabled)
    {
        if (enabled)
            Interlocked.Or(ref _vmAssist, 1UL << type);
        else
            Interlocked.And(ref _vmAssist, ~(1UL << type));
    }

    /// <summary>
    /// Records that the hypervisor rewrote the page-table quadword at <paramref name="machineAddress"/>
    /// while it may be in use: the next vCPU to resume replays the write as the guest (see
    /// Vcpu.SyncShadowPageTables). An address one past a frame's start asks KVM to drop every
    /// shadow of that frame (a misaligned write).
    /// </summary>
    public void QueueShadowSync(ulong machineAddress)
    {
        lock (_shadowSyncLock)
            (_shadowSyncs ??= []).Add(machineAddress);
    }

    /// <summary>The frame stops being a page table: KVM must keep no shadow of it.</summary>
    public void QueueShadowDrop(ulong mfn) => QueueShadowSync((mfn << MachineMemory.PageShift) + 1);

    void IPageTableOwner.WriteHypervisorL4Slots(Span<ulong> l4) => Mappings.WriteL4Slots(l4);

    /// <summary>
    /// Pins the builder's L4 (as Xen's domain builder does with MMUEXT_PIN_L4_TABLE), validating
    /// every bootstrap table beneath it and filling in the hypervisor's slots.
    /// </summary>
    public void PinBootstrapPageTables(ulong l4Mfn)
    {
        int rc;
        lock (Xen.Memory.SyncRoot)
            rc = Xen.PageTypes.Pin(l4Mfn, FrameType.L4PageTable, this);
        if (rc != 0)
            throw new InvalidOperationException($"the bootstrap page tables do not validate ({rc})");
    }

    internal List<ulong>? TakeShadowSyncs()
    {
        // Runs after every exit: nothing pending must cost no lock.
        if (Volatile.Read(ref _shadowSyncs) is null)
            return null;
        lock (_shadowSyncLock)
        {
            List<ulong>? list = _shadowSyncs;
            _shadowSyncs = null;
            return list;
        }
    }

    internal void RequeueShadowSyncs(List<ulong> writes)
    {
        lock (_shadowSyncLock)
        {
            if (_shadowSyncs is null)
                _shadowSyncs = writes;
            else
                _shadowSyncs.AddRange(writes);
        }
    }

    /// <summary>Makes KVM forget every shadow page table of this VM (a memslot change does that).</summary>
    internal void DropAllShadows() => Xen.DropAllShadows(Vm);

    /// <summary>Gives the domain <paramref name="pages"/> frames of machine memory (pfn 0..pages-1).</summary>
    public void PopulatePhysmap(ulong pages)
    {
        if (_p2m.Length != 0)
            throw new InvalidOperationException("the domain already has memory");
        _p2m = Xen.Memory.Allocate(Id, pages);
        for (ulong pfn = 0; pfn < pages; pfn++)
            Xen.Memory.SetMachineToPhys(_p2m[pfn], pfn);
        TotalPages = pages;
        MaxPages = Math.Max(MaxPages, pages);
    }

    /// <summary>
    /// Creates vCPU <paramref name="id"/> (in order). vCPU 0 gets the builder's start state and runs
    /// at once; the others (no start state) wait for VCPUOP_initialise and VCPUOP_up.
    /// </summary>
    public Vcpu CreateVcpu(int id, VcpuStartState? start)
    {
        if (id != _vcpus.Count || id >= HypervisorLayout.MaxVcpus)
            throw new ArgumentOutOfRangeException(nameof(id), "vCPUs are created in order, up to the limit");
        var vcpu = new Vcpu(this, id, Mappings.CreateVcpuArea(id), start);
        _vcpus.Add(vcpu);
        return vcpu;
    }

    public void Start()
    {
        foreach (Vcpu vcpu in _vcpus)
            vcpu.Start();
    }

    /// <summary>The guest asked to shut down (SCHEDOP_shutdown).</summary>
    public void Shutdown(ShutdownReason reason) => Finish(new DomainExit(reason, null));

    /// <summary>The hypervisor kills the domain: only this domain suffers.</summary>
    public void Crash(string report) => Finish(new DomainExit(ShutdownReason.Crash, report));

    private void Finish(DomainExit exit)
    {
        if (Interlocked.Exchange(ref _dying, 1) != 0)
            return;
        foreach (Vcpu vcpu in _vcpus)
            vcpu.RequestStop();
        _exit.TrySetResult(exit);
    }

    public void Dispose()
    {
        Finish(new DomainExit(ShutdownReason.Poweroff, null));
        Xen.EventChannels.CloseAll(this);
        foreach (Vcpu vcpu in _vcpus)
            vcpu.Dispose();
        Vm.Dispose();
        Xen.ReleaseDomain(this);
        // Its mappings of grants return their pins, and its own table goes; frames others still
        // map stay with them (below).
        Xen.Grants.ReleaseDomain(this);
        // The VM is gone: every frame goes back, except those other domains or Domain0 still map.
        Xen.PageTypes.ReleaseDomain(Id);
        Xen.Memory.Free(Mappings.Frames);
    }
}

/// <summary>Where vCPU 0 starts: the builder's entry point, boot stack, start_info and page tables.</summary>
public readonly record struct VcpuStartState(ulong Rip, ulong Rsp, ulong Rsi, ulong Cr3);
