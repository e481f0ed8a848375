using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Events;
using Xunit;

namespace Xenolith.Tests.Events;

/// <summary>
/// Random sequences of guest operations, host VIRQs, the guest's own bit flips and domain deaths
/// over three domains of two vCPUs, each checked after every step against a small reference model
/// written from Xen's event_channel.c and event_2l.c: every port's binding, every VIRQ binding,
/// every pending, mask and selector bit, upcall_pending, and which vCPUs were kicked and which
/// ports woke pollers.
/// </summary>
public sealed class EventChannelsRandomTests
{
    private const int Seeds = 6;
    private const int OpsPerSeed = 3000;
    private const int Vcpus = 2;
    private const int Words = TwoLevelEventChannels.MaxPorts / 64;
    private const ushort Missing = 9;
    private const int PrefilledPorts = 60;

    /// <summary>Domain 1 runs out of ports often, 2 spans two selector words (see <see cref="PrefilledPorts"/>), 3 is privileged.</summary>
    private static readonly int[] MaxPorts = [9, 70, 200];

    public static TheoryData<int> AllSeeds()
    {
        var data = new TheoryData<int>();
        for (int seed = 1; seed <= Seeds; seed++)
            data.Add(seed);
        return data;
    }

    [Theory]
    [MemberData(nameof(AllSeeds))]
    public void RandomSequences_MatchTheReferenceModel(int seed)
    {
        var run = new Run(seed);
        for (int step = 0; step < OpsPerSeed; step++)
        {
            string op = run.Step();
            run.Check(() => $"seed {seed} step {step}: {op}\nlast ops:\n{string.Join("\n", run.History.TakeLast(12))}");
        }

        // The seeds are fixed, so these are deterministic: they make sure a generator that only
        // produces refusals cannot pass as coverage.
        Stats s = run.Stats;
        Assert.True(s.Successes[nameof(EventChannels.BindInterdomain)] >= 20, $"only {s.Successes[nameof(EventChannels.BindInterdomain)]} interdomain binds");
        Assert.True(s.Successes[nameof(EventChannels.BindVirq)] >= 10, $"only {s.Successes[nameof(EventChannels.BindVirq)]} VIRQ binds");
        Assert.True(s.Successes[nameof(EventChannels.Close)] >= 50, $"only {s.Successes[nameof(EventChannels.Close)]} closes");
        Assert.True(s.Successes[nameof(EventChannels.BindVcpu)] >= 10, $"only {s.Successes[nameof(EventChannels.BindVcpu)]} vCPU rebinds");
        Assert.True(s.Refusals.GetValueOrDefault(-XenErrno.ENOSPC) >= 10, "ENOSPC never reached");
        Assert.True(s.Refusals.GetValueOrDefault(-XenErrno.EPERM) >= 5, "EPERM never reached");
        Assert.True(s.Kicks >= 50, $"only {s.Kicks} kicks");
        Assert.True(s.KicksOfVcpu1 >= 10, $"only {s.KicksOfVcpu1} kicks of vCPU 1");
        Assert.True(s.SelectorBitsAboveWord0 >= 1, "no event ever reached the second selector word");
        Assert.True(s.UnmaskReRaises >= 3, $"only {s.UnmaskReRaises} unmasks re-raised an event");
        Assert.True(s.PeersUnboundByDeath >= 1, "no domain died with a connected peer");
    }

    private sealed class Stats
    {
        public readonly Dictionary<string, int> Successes = new()
        {
            [nameof(EventChannels.BindInterdomain)] = 0,
            [nameof(EventChannels.BindVirq)] = 0,
            [nameof(EventChannels.Close)] = 0,
            [nameof(EventChannels.BindVcpu)] = 0,
        };
        public readonly Dictionary<int, int> Refusals = [];
        public int Kicks, KicksOfVcpu1, SelectorBitsAboveWord0, UnmaskReRaises, PeersUnboundByDeath;
    }

    /// <summary>The reference model of one domain: plain arrays, no sharing, no atomics.</summary>
    private sealed class ModelDomain(ushort id, int maxPort, bool privileged)
    {
        public readonly ushort Id = id;
        public readonly int MaxPort = maxPort;
        public readonly bool Privileged = privileged;
        public bool Dying;
        public bool ClosedAll;
        public readonly EventChannelBinding[] Ports = InitialPorts(maxPort);
        public readonly Dictionary<(int Vcpu, int Virq), int> VirqPorts = [];
        public readonly ulong[] Pending = new ulong[Words];
        public readonly ulong[] Masked = new ulong[Words];
        public readonly ulong[] Selector = new ulong[Vcpus];
        public readonly bool[] Upcall = new bool[Vcpus];
        public readonly List<int> Kicks = [];
        public readonly List<int> Wakeups = [];

        private static EventChannelBinding[] InitialPorts(int maxPort)
        {
            var ports = new EventChannelBinding[maxPort + 1];
            ports[0] = new EventChannelBinding(EventChannelState.Reserved, 0, 0, 0, 0);
            return ports;
        }

        public static bool Get(ulong[] bits, int port) => (bits[port / 64] >> (port % 64) & 1) != 0;

        public static void Set(ulong[] bits, int port, bool value)
        {
            if (value)
                bits[port / 64] |= 1UL << (port % 64);
            else
                bits[port / 64] &= ~(1UL << (port % 64));
        }
    }

    private sealed class Run
    {
        private readonly Random _rng;
        private readonly FakeEventChannelDomain[] _real = new FakeEventChannelDomain[3];
        private readonly ModelDomain[] _model = new ModelDomain[3];
        private readonly EventChannels _channels;

        public readonly List<string> History = [];
        public readonly Stats Stats = new();

        public Run(int seed)
        {
            _rng = new Random(seed);
            _channels = new EventChannels(id => id is >= 1 and <= 3 ? _real[id - 1] : null);
            for (int i = 0; i < 3; i++)
                Create(i);
        }

        private void Create(int index)
        {
            ushort id = (ushort)(index + 1);
            bool privileged = index == 2;
            _real[index] = new FakeEventChannelDomain(id, Vcpus, MaxPorts[index]) { IsPrivileged = privileged };
            _model[index] = new ModelDomain(id, MaxPorts[index], privileged);
            // Domain 2 starts with most of its first selector word in use, so that new ports reach the second.
            for (int i = 0; index == 1 && i < PrefilledPorts; i++)
                Expect($"d{id} prefill bind_ipi", _channels.BindIpi(_real[index], (uint)(i % Vcpus), out uint port), port, BindIpi(_model[index], (uint)(i % Vcpus)), nameof(EventChannels.BindIpi));
        }

        public string Step()
        {
            if (AdvanceDeath() is { } death)
            {
                History.Add(death);
                return death;
            }
            int c = _rng.Next(3);
            FakeEventChannelDomain real = _real[c];
            ModelDomain model = _model[c];
            int roll = _rng.Next(1000);
            string op;
            if (roll < 110)
            {
                ushort dom = PickDomain(c), remote = PickDomain(c);
                int rc = _channels.AllocUnbound(real, dom, remote, out uint port);
                op = Expect($"d{real.Id} alloc_unbound(dom {dom}, remote {remote})", rc, port, AllocUnbound(model, dom, remote), nameof(EventChannels.AllocUnbound));
            }
            else if (roll < 230)
            {
                ushort dom = PickDomain(c);
                uint remotePort = PickRemotePort(model, dom);
                int rc = _channels.BindInterdomain(real, dom, remotePort, out uint port);
                op = Expect($"d{real.Id} bind_interdomain(dom {dom}, port {remotePort})", rc, port, BindInterdomain(model, dom, remotePort), nameof(EventChannels.BindInterdomain));
            }
            else if (roll < 310)
            {
                uint virq = (uint)(_rng.Next(10) == 0 ? _rng.Next(Virq.Count, 40) : PickVirq());
                uint vcpu = PickVcpu();
                int rc = _channels.BindVirq(real, virq, vcpu, out uint port);
                op = Expect($"d{real.Id} bind_virq(virq {virq}, vcpu {vcpu})", rc, port, BindVirq(model, virq, vcpu), nameof(EventChannels.BindVirq));
            }
            else if (roll < 370)
            {
                uint vcpu = PickVcpu();
                int rc = _channels.BindIpi(real, vcpu, out uint port);
                op = Expect($"d{real.Id} bind_ipi(vcpu {vcpu})", rc, port, BindIpi(model, vcpu), nameof(EventChannels.BindIpi));
            }
            else if (roll < 420)
            {
                uint port = PickPort(model), vcpu = PickVcpu();
                op = Expect($"d{real.Id} bind_vcpu(port {port}, vcpu {vcpu})", _channels.BindVcpu(real, port, vcpu), 0, (BindVcpu(model, port, vcpu), 0), nameof(EventChannels.BindVcpu));
            }
            else if (roll < 490)
            {
                uint port = PickPort(model);
                op = Expect($"d{real.Id} close({port})", _channels.Close(real, port), 0, (Close(model, port), 0), nameof(EventChannels.Close));
            }
            else if (roll < 660)
            {
                uint port = PickPort(model);
                op = Expect($"d{real.Id} send({port})", _channels.Send(real, port), 0, (Send(model, port), 0), nameof(EventChannels.Send));
            }
            else if (roll < 700)
            {
                ushort dom = PickDomain(c);
                uint port = PickPort(FindModel(model, dom) ?? model);
                op = $"d{real.Id} status(dom {dom}, port {port})";
                int rc = _channels.Status(real, dom, port, out EventChannelStatus status);
                (int expectedRc, EventChannelStatus expected) = Status(model, dom, port);
                Compare(op, expectedRc, rc);
                if (rc == 0 && !status.Equals(expected))
                    Assert.Fail($"{op}: status {Describe(status)}, expected {Describe(expected)}");
                Count(nameof(EventChannels.Status), rc);
            }
            else if (roll < 770)
            {
                uint port = PickMaskedPort(model);
                ulong[] selectorsBefore = [.. model.Selector];
                op = Expect($"d{real.Id} unmask({port})", _channels.Unmask(real, port), 0, (Unmask(model, port), 0), nameof(EventChannels.Unmask));
                if (!model.Selector.SequenceEqual(selectorsBefore))
                    Stats.UnmaskReRaises++;
            }
            else if (roll < 773)
            {
                ushort dom = PickDomain(c);
                op = Expect($"d{real.Id} reset(dom {dom})", _channels.Reset(real, dom), 0, (Reset(model, dom), 0), nameof(EventChannels.Reset));
            }
            else if (roll < 823)
            {
                int virq = PickVirq();
                int vcpu = _rng.Next(Vcpus);
                op = $"host raise_virq(d{real.Id}, vcpu {vcpu}, virq {virq})";
                bool delivered = _channels.RaiseVirq(real, vcpu, virq);
                if (delivered != RaiseVirq(model, vcpu, virq))
                    Assert.Fail($"{op}: returned {delivered}");
            }
            else if (roll < 843)
            {
                int port = (int)PickPort(model);
                op = $"host is_pending(d{real.Id}, {port})";
                bool pending = _channels.IsPending(real, port);
                bool expected = port <= model.MaxPort && model.Ports[port].State > EventChannelState.Reserved && ModelDomain.Get(model.Pending, port);
                if (pending != expected)
                    Assert.Fail($"{op}: returned {pending}");
            }
            else if (roll < 995 || _model.Any(m => m.Dying))
            {
                op = GuestFlip(real, model);
            }
            else
            {
                real.IsDying = model.Dying = true;
                op = $"d{real.Id} starts dying";
            }
            History.Add(op);
            return op;
        }

        /// <summary>What a guest kernel does to the bits itself, without a hypercall.</summary>
        private string GuestFlip(FakeEventChannelDomain real, ModelDomain model)
        {
            int port = (int)Math.Min(PickPort(model), TwoLevelEventChannels.MaxPorts - 1);
            int vcpu = _rng.Next(Vcpus);
            switch (_rng.Next(8))
            {
                case 0 or 1:
                    real.SetMaskBit(port);
                    ModelDomain.Set(model.Masked, port, true);
                    return $"guest d{real.Id} mask {port}";
                case 2:
                    real.ClearMaskBit(port);
                    ModelDomain.Set(model.Masked, port, false);
                    return $"guest d{real.Id} clear mask {port}";
                case 3:
                    real.SetPendingBit(port);
                    ModelDomain.Set(model.Pending, port, true);
                    return $"guest d{real.Id} set pending {port}";
                case 4:
                    real.ClearPendingBit(port);
                    ModelDomain.Set(model.Pending, port, false);
                    return $"guest d{real.Id} clear pending {port}";
                case 5 or 6:
                    List<int> handled = real.HandleUpcall(vcpu);
                    List<int> expected = [];
                    for (int word = 0; word < Words; word++)
                    {
                        if ((model.Selector[vcpu] & 1UL << word) == 0)
                            continue;
                        for (int bit = 0; bit < 64; bit++)
                        {
                            int ready = word * 64 + bit;
                            if (ModelDomain.Get(model.Pending, ready) && !ModelDomain.Get(model.Masked, ready))
                            {
                                ModelDomain.Set(model.Pending, ready, false);
                                expected.Add(ready);
                            }
                        }
                    }
                    model.Upcall[vcpu] = false;
                    model.Selector[vcpu] = 0;
                    if (!handled.SequenceEqual(expected))
                        Assert.Fail($"guest handled [{string.Join(",", handled)}] on vCPU {vcpu}, model [{string.Join(",", expected)}]");
                    return $"guest d{real.Id} handles an upcall on vCPU {vcpu}: [{string.Join(",", handled)}]";
                default:
                    ulong taken = real.TakeUpcall(vcpu);
                    if (taken != model.Selector[vcpu])
                        Assert.Fail($"guest took selector {taken:x} on vCPU {vcpu}, model has {model.Selector[vcpu]:x}");
                    model.Upcall[vcpu] = false;
                    model.Selector[vcpu] = 0;
                    return $"guest d{real.Id} take upcall on vCPU {vcpu}";
            }
        }

        /// <summary>
        /// A dying domain soon has its ports closed (until then it holds them but receives nothing),
        /// and is then replaced by a new domain with the same id.
        /// </summary>
        private string? AdvanceDeath()
        {
            int index = Array.FindIndex(_model, m => m.Dying);
            if (index < 0 || _rng.Next(25) != 0)
                return null;
            FakeEventChannelDomain real = _real[index];
            ModelDomain model = _model[index];
            if (model.ClosedAll)
            {
                Create(index);
                return $"d{real.Id} replaced by a new domain";
            }
            _channels.CloseAll(real);
            int peersBefore = CountPeersOf(model.Id);
            for (int port = 1; port <= model.MaxPort; port++)
                if (model.Ports[port].State != EventChannelState.Free)
                    Close(model, (uint)port);
            Stats.PeersUnboundByDeath += peersBefore - CountPeersOf(model.Id);
            model.ClosedAll = true;
            return $"host close_all(d{real.Id})";
        }

        private int CountPeersOf(ushort id) =>
            _model.Where(m => m.Id != id).Sum(m => m.Ports.Count(p => p.State == EventChannelState.Interdomain && p.RemoteDomain == id));

        // Pickers: mostly meaningful values, some out of range.

        private ushort PickDomain(int callerIndex) => _rng.Next(20) switch
        {
            < 8 => DomainIds.Self,
            < 11 => (ushort)(callerIndex + 1),
            < 19 => (ushort)(_rng.Next(3) + 1),
            _ => Missing,
        };

        private uint PickVcpu() => (uint)(_rng.Next(12) == 0 ? Vcpus : _rng.Next(Vcpus));

        private int PickVirq() => _rng.Next(4) switch
        {
            0 => Virq.Timer,
            1 => Virq.Debug,
            2 => _rng.Next(2) == 0 ? Virq.Console : Virq.DomExc,
            _ => _rng.Next(Virq.Count),
        };

        private uint PickPort(ModelDomain model)
        {
            int roll = _rng.Next(20);
            if (roll < 13)
            {
                int[] bound = [.. Enumerable.Range(1, model.MaxPort).Where(p => model.Ports[p].State != EventChannelState.Free)];
                if (bound.Length > 0)
                    return (uint)bound[_rng.Next(bound.Length)];
            }
            return roll switch
            {
                < 18 => (uint)_rng.Next(model.MaxPort + 1),
                18 => (uint)(model.MaxPort + 1 + _rng.Next(3)),
                _ => (uint)_rng.Next(TwoLevelEventChannels.MaxPorts + 10),
            };
        }

        /// <summary>Mostly a port the guest masked (as a kernel unmasks what it masked), preferably one with an event waiting.</summary>
        private uint PickMaskedPort(ModelDomain model)
        {
            int[] masked = [.. Enumerable.Range(1, model.MaxPort).Where(p => ModelDomain.Get(model.Masked, p))];
            int[] waiting = [.. masked.Where(p => ModelDomain.Get(model.Pending, p))];
            if (waiting.Length > 0 && _rng.Next(2) == 0)
                return (uint)waiting[_rng.Next(waiting.Length)];
            return masked.Length > 0 && _rng.Next(3) != 0 ? (uint)masked[_rng.Next(masked.Length)] : PickPort(model);
        }

        private uint PickRemotePort(ModelDomain caller, ushort dom)
        {
            if (FindModel(caller, dom) is { } remote && _rng.Next(4) != 0)
            {
                int[] waiting = [.. Enumerable.Range(1, remote.MaxPort).Where(p => remote.Ports[p] is { State: EventChannelState.Unbound } b && b.RemoteDomain == caller.Id)];
                if (waiting.Length > 0)
                    return (uint)waiting[_rng.Next(waiting.Length)];
            }
            return PickPort(FindModel(caller, dom) ?? caller);
        }

        // The reference model: Xen's semantics, written out plainly.

        private ModelDomain? FindModel(ModelDomain caller, ushort dom) =>
            dom == DomainIds.Self || dom == caller.Id ? caller : dom is >= 1 and <= 3 ? _model[dom - 1] : null;

        private static bool MayControl(ModelDomain caller, ModelDomain target) => caller.Privileged || caller.Id == target.Id;

        private static int FreePort(ModelDomain d)
        {
            if (d.Dying)
                return -XenErrno.EINVAL;
            for (int port = 1; port <= d.MaxPort; port++)
                if (d.Ports[port].State == EventChannelState.Free)
                    return port;
            return -XenErrno.ENOSPC;
        }

        private static void SetPending(ModelDomain d, int vcpu, int port)
        {
            if (d.Dying || ModelDomain.Get(d.Pending, port))
                return;
            ModelDomain.Set(d.Pending, port, true);
            if (!ModelDomain.Get(d.Masked, port))
                RaiseSelector(d, vcpu, port);
            d.Wakeups.Add(port);
        }

        private static void RaiseSelector(ModelDomain d, int vcpu, int port)
        {
            ulong bit = 1UL << (port / 64);
            if ((d.Selector[vcpu] & bit) != 0)
                return;
            d.Selector[vcpu] |= bit;
            if (d.Upcall[vcpu])
                return;
            d.Upcall[vcpu] = true;
            d.Kicks.Add(vcpu);
        }

        private (int, uint) AllocUnbound(ModelDomain caller, ushort dom, ushort remote)
        {
            if (FindModel(caller, dom) is not { } d)
                return (-XenErrno.ESRCH, 0);
            int port = FreePort(d);
            if (port < 0)
                return (port, 0);
            if (!MayControl(caller, d))
                return (-XenErrno.EPERM, 0);
            d.Ports[port] = new(EventChannelState.Unbound, 0, remote == DomainIds.Self ? caller.Id : remote, 0, 0);
            return (0, (uint)port);
        }

        private (int, uint) BindInterdomain(ModelDomain caller, ushort dom, uint remotePort)
        {
            if (FindModel(caller, dom) is not { } remote)
                return (-XenErrno.ESRCH, 0);
            int port = FreePort(caller);
            if (port < 0)
                return (port, 0);
            if (remotePort > remote.MaxPort)
                return (-XenErrno.EINVAL, 0);
            EventChannelBinding waiting = remote.Ports[remotePort];
            if (waiting.State != EventChannelState.Unbound || waiting.RemoteDomain != caller.Id)
                return (-XenErrno.EINVAL, 0);
            caller.Ports[port] = new(EventChannelState.Interdomain, 0, remote.Id, (int)remotePort, 0);
            remote.Ports[remotePort] = new(EventChannelState.Interdomain, waiting.NotifyVcpu, caller.Id, port, 0);
            SetPending(caller, 0, port);
            return (0, (uint)port);
        }

        private static (int, uint) BindVirq(ModelDomain caller, uint virq, uint vcpu)
        {
            if (virq >= Virq.Count)
                return (-XenErrno.EINVAL, 0);
            bool global = virq is not (Virq.Timer or Virq.Debug or Virq.Xenoprof or Virq.Xenpmu);
            if (global && vcpu != 0)
                return (-XenErrno.EINVAL, 0);
            if (vcpu >= Vcpus)
                return (-XenErrno.ENOENT, 0);
            if (caller.VirqPorts.ContainsKey(((int)vcpu, (int)virq)))
                return (-XenErrno.EEXIST, 0);
            int port = FreePort(caller);
            if (port < 0)
                return (port, 0);
            caller.Ports[port] = new(EventChannelState.Virq, (int)vcpu, 0, 0, (int)virq);
            caller.VirqPorts[((int)vcpu, (int)virq)] = port;
            return (0, (uint)port);
        }

        private static (int, uint) BindIpi(ModelDomain caller, uint vcpu)
        {
            if (vcpu >= Vcpus)
                return (-XenErrno.ENOENT, 0);
            int port = FreePort(caller);
            if (port < 0)
                return (port, 0);
            caller.Ports[port] = new(EventChannelState.Ipi, (int)vcpu, 0, 0, 0);
            return (0, (uint)port);
        }

        private static int BindVcpu(ModelDomain caller, uint port, uint vcpu)
        {
            if (vcpu >= Vcpus)
                return -XenErrno.ENOENT;
            if (port > caller.MaxPort)
                return -XenErrno.EINVAL;
            EventChannelBinding b = caller.Ports[port];
            bool perVcpuVirq = b.State == EventChannelState.Virq && b.Virq is Virq.Timer or Virq.Debug or Virq.Xenoprof or Virq.Xenpmu;
            if (b.State is not (EventChannelState.Unbound or EventChannelState.Interdomain or EventChannelState.Virq) || perVcpuVirq)
                return -XenErrno.EINVAL;
            caller.Ports[port] = b with { NotifyVcpu = (int)vcpu };
            return 0;
        }

        private int Close(ModelDomain d, uint port)
        {
            if (port > d.MaxPort)
                return -XenErrno.EINVAL;
            EventChannelBinding b = d.Ports[port];
            switch (b.State)
            {
                case EventChannelState.Free or EventChannelState.Reserved:
                    return -XenErrno.EINVAL;
                case EventChannelState.Virq:
                    d.VirqPorts.Remove(d.VirqPorts.Single(binding => binding.Value == (int)port).Key);
                    break;
                case EventChannelState.Interdomain:
                    ModelDomain peer = _model[b.RemoteDomain - 1];
                    peer.Ports[b.RemotePort] = new(EventChannelState.Unbound, peer.Ports[b.RemotePort].NotifyVcpu, d.Id, 0, 0);
                    break;
            }
            ModelDomain.Set(d.Pending, (int)port, false);
            d.Ports[port] = default;
            return 0;
        }

        private int Send(ModelDomain caller, uint port)
        {
            if (port > caller.MaxPort)
                return -XenErrno.EINVAL;
            EventChannelBinding b = caller.Ports[port];
            switch (b.State)
            {
                case EventChannelState.Interdomain:
                    ModelDomain peer = _model[b.RemoteDomain - 1];
                    SetPending(peer, peer.Ports[b.RemotePort].NotifyVcpu, b.RemotePort);
                    return 0;
                case EventChannelState.Ipi:
                    SetPending(caller, b.NotifyVcpu, (int)port);
                    return 0;
                case EventChannelState.Unbound:
                    return 0;
                default:
                    return -XenErrno.EINVAL;
            }
        }

        private (int, EventChannelStatus) Status(ModelDomain caller, ushort dom, uint port)
        {
            var status = new EventChannelStatus { Dom = dom, Port = port };
            if (FindModel(caller, dom) is not { } d)
                return (-XenErrno.ESRCH, status);
            if (port > d.MaxPort)
                return (-XenErrno.EINVAL, status);
            if (!MayControl(caller, d))
                return (-XenErrno.EPERM, status);
            EventChannelBinding b = d.Ports[port];
            status.Vcpu = (uint)b.NotifyVcpu;
            switch (b.State)
            {
                case EventChannelState.Unbound:
                    status.Status = EvtchnStat.Unbound;
                    status.RemoteDom = b.RemoteDomain;
                    break;
                case EventChannelState.Interdomain:
                    status.Status = EvtchnStat.Interdomain;
                    status.RemoteDom = b.RemoteDomain;
                    status.RemotePort = (uint)b.RemotePort;
                    break;
                case EventChannelState.Virq:
                    status.Status = EvtchnStat.Virq;
                    status.Virq = (uint)b.Virq;
                    break;
                case EventChannelState.Ipi:
                    status.Status = EvtchnStat.Ipi;
                    break;
                default:
                    status.Status = EvtchnStat.Closed;
                    break;
            }
            return (0, status);
        }

        private static int Unmask(ModelDomain caller, uint port)
        {
            if (port > caller.MaxPort)
                return -XenErrno.EINVAL;
            EventChannelBinding b = caller.Ports[port];
            if (b.State is EventChannelState.Free or EventChannelState.Reserved || !ModelDomain.Get(caller.Masked, (int)port))
                return 0;
            ModelDomain.Set(caller.Masked, (int)port, false);
            if (ModelDomain.Get(caller.Pending, (int)port))
                RaiseSelector(caller, b.NotifyVcpu, (int)port);
            return 0;
        }

        private int Reset(ModelDomain caller, ushort dom)
        {
            if (FindModel(caller, dom) is not { } d)
                return -XenErrno.ESRCH;
            if (!MayControl(caller, d))
                return -XenErrno.EPERM;
            for (int port = 1; port <= d.MaxPort; port++)
                if (d.Ports[port].State != EventChannelState.Free)
                    Close(d, (uint)port);
            return 0;
        }

        private static bool RaiseVirq(ModelDomain d, int vcpu, int virq)
        {
            bool global = virq is not (Virq.Timer or Virq.Debug or Virq.Xenoprof or Virq.Xenpmu);
            if (d.Dying || !d.VirqPorts.TryGetValue((global ? 0 : vcpu, virq), out int port))
                return false;
            SetPending(d, d.Ports[port].NotifyVcpu, port);
            return true;
        }

        // Comparing the implementation with the model.

        private string Expect(string op, int rc, uint port, (int Rc, uint Port) expected, string name)
        {
            Compare(op, expected.Rc, rc);
            if (port != expected.Port)
                Assert.Fail($"{op}: port {port}, expected {expected.Port}");
            Count(name, rc);
            return $"{op} -> {rc} port {port}";
        }

        private static void Compare(string op, int expected, int rc)
        {
            if (rc != expected)
                Assert.Fail($"{op}: returned {rc}, expected {expected}");
        }

        private void Count(string name, int rc)
        {
            if (rc == 0)
                Stats.Successes[name] = Stats.Successes.GetValueOrDefault(name) + 1;
            else
                Stats.Refusals[rc] = Stats.Refusals.GetValueOrDefault(rc) + 1;
        }

        public void Check(Func<string> context)
        {
            for (int i = 0; i < 3; i++)
            {
                FakeEventChannelDomain real = _real[i];
                ModelDomain model = _model[i];
                EventChannelTable table = real.EventChannels;
                for (int port = 0; port <= model.MaxPort; port++)
                    if (table[port] != model.Ports[port])
                        Assert.Fail($"{context()}\nd{model.Id} port {port}: {table[port]}, model {model.Ports[port]}");
                for (int vcpu = 0; vcpu < Vcpus; vcpu++)
                    for (int virq = 0; virq < Virq.Count; virq++)
                        if (table.VirqPort(vcpu, virq) != model.VirqPorts.GetValueOrDefault((vcpu, virq)))
                            Assert.Fail($"{context()}\nd{model.Id} VIRQ {virq} on vCPU {vcpu}: port {table.VirqPort(vcpu, virq)}, model {model.VirqPorts.GetValueOrDefault((vcpu, virq))}");
                for (int word = 0; word < Words; word++)
                {
                    if (real.PendingWord(word) != model.Pending[word] || real.MaskWord(word) != model.Masked[word])
                        Assert.Fail($"{context()}\nd{model.Id} word {word}: pending {real.PendingWord(word):x} mask {real.MaskWord(word):x}, model {model.Pending[word]:x} {model.Masked[word]:x}");
                }
                for (int vcpu = 0; vcpu < Vcpus; vcpu++)
                {
                    if (real.Selector(vcpu) != model.Selector[vcpu] || real.UpcallPending(vcpu) != model.Upcall[vcpu])
                        Assert.Fail($"{context()}\nd{model.Id} vCPU {vcpu}: selector {real.Selector(vcpu):x} upcall {real.UpcallPending(vcpu)}, model {model.Selector[vcpu]:x} {model.Upcall[vcpu]}");
                    if ((model.Selector[vcpu] & ~1UL) != 0)
                        Stats.SelectorBitsAboveWord0++;
                }
                if (!real.Kicks.SequenceEqual(model.Kicks) || !real.PollerWakeups.SequenceEqual(model.Wakeups))
                    Assert.Fail($"{context()}\nd{model.Id}: kicks [{string.Join(",", real.Kicks)}] wake-ups [{string.Join(",", real.PollerWakeups)}], model [{string.Join(",", model.Kicks)}] [{string.Join(",", model.Wakeups)}]");
                Stats.Kicks += model.Kicks.Count;
                Stats.KicksOfVcpu1 += model.Kicks.Count(v => v == 1);
                real.ClearRecords();
                model.Kicks.Clear();
                model.Wakeups.Clear();
            }
        }

        private static string Describe(EventChannelStatus s) =>
            $"{{dom {s.Dom} port {s.Port} status {s.Status} vcpu {s.Vcpu} remote {s.RemoteDom}:{s.RemotePort} virq {s.Virq}}}";
    }
}
