using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Time;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor;

// Time as the guest sees it: the pvclock in vcpu_time_info, the vCPU's timers, and its runstate (virtual time).
public sealed partial class Vcpu
{
    /// <summary>Periods under 1 ms are refused, as on Xen (VCPUOP_set_periodic_timer).</summary>
    private const long MinimumPeriod = 1_000_000;

    /// <summary>Xen's STIME_DELTA_MAX: longer periods are refused.</summary>
    private const long MaximumPeriod = 1L << 62;

    private const uint MsrTsc = 0x10;

    private readonly HostTimer _singleshotTimer;
    private readonly HostTimer _periodicTimer;
    private readonly HostTimer _pollTimer;
    private readonly HostTimer _redeliveryTimer;
    private long _period;
    private long _nextPeriodic;

    /// <summary>Guards the runstate accounting and the periodic timer's schedule.</summary>
    private readonly Lock _timeLock = new();
    private Runstate _runstate = Runstate.Offline;
    private long _runstateEntry;
    private readonly long[] _runstateTimes = new long[4];
    private ulong _runstateArea;

    /// <summary>The guest's TSC rate and the (TSC, system time) pair its pvclock extrapolates from.</summary>
    private TscScale _tscScale;
    private ulong _tscAtReference;
    private long _systemTimeAtReference;

    /// <summary>The vCPU's TSC frequency in kHz, as KVM runs it.</summary>
    public uint TscKhz { get; private set; }

    private SystemClock Clock => Domain.Xen.Clock;

    /// <summary>Readings of the guest's TSC taken to find one bracketed tightly by system time.</summary>
    private const int CalibrationAttempts = 8;

    /// <summary>
    /// Pairs a reading of the guest's TSC with system time (the midpoint of the clock readings around
    /// the ioctl) and notes the rate. The host thread can be preempted inside the ioctl, which would
    /// skew the pair by as long as it waited, so the tightest of several brackets is kept (~2 us).
    /// The TSC is constant and synchronised on every host KVM runs guests well on, so one pair
    /// serves the vCPU's whole life.
    /// </summary>
    private void CalibrateTsc()
    {
        TscKhz = _kvm.GetTscKhz();
        _tscScale = TscScale.FromKhz(TscKhz);
        long window = long.MaxValue;
        for (int i = 0; i < CalibrationAttempts; i++)
        {
            long before = Clock.Now;
            ulong tsc = _kvm.GetMsr(MsrTsc);
            long after = Clock.Now;
            if (after - before >= window)
                continue;
            window = after - before;
            _tscAtReference = tsc;
            _systemTimeAtReference = before + window / 2;
        }
        _runstateEntry = _systemTimeAtReference;
    }

    /// <summary>Writes vcpu_time_info with Xen's version protocol (odd while it changes).</summary>
    private void WriteTimeInfo()
    {
        Span<byte> time = VcpuInfo.Slice(SharedInfoLayout.Time, 32);
        ref uint version = ref MemoryMarshal.AsRef<uint>(time);
        uint next = (Volatile.Read(ref version) | 1) + 1;
        Volatile.Write(ref version, next - 1);
        BinaryPrimitives.WriteUInt64LittleEndian(time[VcpuTimeInfoLayout.TscTimestamp..], _tscAtReference);
        BinaryPrimitives.WriteUInt64LittleEndian(time[VcpuTimeInfoLayout.SystemTime..], (ulong)_systemTimeAtReference);
        BinaryPrimitives.WriteUInt32LittleEndian(time[VcpuTimeInfoLayout.TscToSystemMul..], _tscScale.Multiplier);
        time[VcpuTimeInfoLayout.TscShift] = (byte)_tscScale.Shift;
        time[VcpuTimeInfoLayout.Flags] = VcpuTimeInfoLayout.FlagTscStable;
        Volatile.Write(ref version, next);
    }

    /// <summary>set_timer_op and VCPUOP_set_singleshot_timer: VIRQ_TIMER at system time <paramref name="deadline"/> (at once if past).</summary>
    internal void SetSingleshotTimer(long deadline) => _singleshotTimer.Set(deadline);

    internal void StopSingleshotTimer() => _singleshotTimer.Cancel();

    /// <summary>VCPUOP_set_periodic_timer: VIRQ_TIMER every <paramref name="period"/> ns from now; -EINVAL outside [1 ms, 2^62 ns].</summary>
    internal long SetPeriodicTimer(long period)
    {
        if (period < MinimumPeriod || period > MaximumPeriod)
            return -XenErrno.EINVAL;
        lock (_timeLock)
        {
            _period = period;
            _nextPeriodic = Clock.Now + period;
            _periodicTimer.Set(_nextPeriodic);
        }
        return 0;
    }

    internal void StopPeriodicTimer()
    {
        lock (_timeLock)
        {
            _period = 0;
            _periodicTimer.Cancel();
        }
    }

    private void OnSingleshotTimer() => Domain.Xen.EventChannels.RaiseVirq(Domain, Id, Virq.Timer);

    private void OnPeriodicTimer()
    {
        lock (_timeLock)
        {
            if (_period == 0)
                return;
            // Ticks missed while the host was busy are dropped, not replayed in a burst.
            long now = Clock.Now;
            do
                _nextPeriodic += _period;
            while (_nextPeriodic <= now);
            _periodicTimer.Set(_nextPeriodic);
        }
        Domain.Xen.EventChannels.RaiseVirq(Domain, Id, Virq.Timer);
    }

    private void OnPollTimeout() => _wake.Set();

    /// <summary>Moves the vCPU to <paramref name="state"/>, accounting the time spent in the old one.</summary>
    private void SetRunstate(Runstate state)
    {
        VcpuRunstateInfo info;
        lock (_timeLock)
        {
            if (state == _runstate)
                return;
            long now = Clock.Now;
            _runstateTimes[(int)_runstate] += now - _runstateEntry;
            _runstate = state;
            _runstateEntry = now;
            info = RunstateLocked();
        }
        // Xen refreshes the registered area whenever the vCPU is scheduled: here, whenever it runs again.
        if (state == Runstate.Running && _runstateArea != 0 && Thread.CurrentThread == _thread)
            CopyToGuest(_runstateArea, MemoryMarshal.AsBytes(new ReadOnlySpan<VcpuRunstateInfo>(in info)));
    }

    /// <summary>VCPUOP_get_runstate_info: the current state counts up to now.</summary>
    public VcpuRunstateInfo RunstateInfo
    {
        get
        {
            lock (_timeLock)
                return RunstateLocked();
        }
    }

    private VcpuRunstateInfo RunstateLocked()
    {
        long now = Clock.Now;
        var info = new VcpuRunstateInfo
        {
            State = (int)_runstate,
            StateEntryTime = (ulong)_runstateEntry,
            TimeRunning = (ulong)_runstateTimes[0],
            TimeRunnable = (ulong)_runstateTimes[1],
            TimeBlocked = (ulong)_runstateTimes[2],
            TimeOffline = (ulong)_runstateTimes[3],
        };
        switch (_runstate)
        {
            case Runstate.Running: info.TimeRunning += (ulong)(now - _runstateEntry); break;
            case Runstate.Runnable: info.TimeRunnable += (ulong)(now - _runstateEntry); break;
            case Runstate.Blocked: info.TimeBlocked += (ulong)(now - _runstateEntry); break;
            case Runstate.Offline: info.TimeOffline += (ulong)(now - _runstateEntry); break;
        }
        return info;
    }

    /// <summary>VCPUOP_register_runstate_memory_area: a guest virtual address, written at once and whenever the vCPU runs again.</summary>
    internal long RegisterRunstateArea(ulong va)
    {
        _runstateArea = va;
        if (va == 0)
            return 0;
        VcpuRunstateInfo info = RunstateInfo;
        return Thread.CurrentThread == _thread && CopyToGuest(va, MemoryMarshal.AsBytes(new ReadOnlySpan<VcpuRunstateInfo>(in info))) != 0
            ? -XenErrno.EFAULT : 0;
    }

    private void DisposeTimers()
    {
        _singleshotTimer.Cancel();
        _periodicTimer.Cancel();
        _pollTimer.Cancel();
        _redeliveryTimer.Cancel();
    }
}
