using Xenolith.Kvm.Host;

namespace Xenolith.Hypervisor.Time;

/// <summary>
/// The hypervisor's timers (Xen's timer.c, in one host thread): each <see cref="HostTimer"/> has a
/// deadline in system time, and the thread sleeps on a timerfd armed for the earliest one, so a
/// timer fires within microseconds of its deadline. Callbacks run on that thread and must be short
/// (raising a VIRQ, waking a vCPU). There are a few timers per vCPU, so a list is searched linearly.
/// </summary>
public sealed class TimerQueue : IDisposable
{
    private readonly SystemClock _clock;
    private readonly MonotonicTimer _timer = new();
    private readonly Lock _lock = new();
    private readonly List<HostTimer> _armed = [];
    private readonly Thread _thread;
    private long _earliest = long.MaxValue;
    private volatile bool _stop;

    public TimerQueue(SystemClock clock)
    {
        _clock = clock;
        _thread = new Thread(Run) { IsBackground = true, Name = "xen-timers" };
        _thread.Start();
    }

    public HostTimer Create(Action callback) => new(this, callback);

    internal void Set(HostTimer timer, long deadline)
    {
        lock (_lock)
        {
            timer.Deadline = deadline;
            if (!timer.IsArmed)
            {
                timer.IsArmed = true;
                _armed.Add(timer);
            }
            if (deadline < _earliest)
                Arm(deadline);
        }
    }

    internal void Cancel(HostTimer timer)
    {
        lock (_lock)
        {
            if (!timer.IsArmed)
                return;
            timer.IsArmed = false;
            _armed.Remove(timer);
            // The timerfd may still fire for it: the thread then finds nothing due and re-arms.
        }
    }

    private void Arm(long deadline)
    {
        _earliest = deadline;
        // A deadline at or before system time zero still maps to a positive monotonic time (0 would disarm).
        _timer.ArmAt(deadline == long.MaxValue ? 0 : Math.Max(1, _clock.ToMonotonic(deadline)));
    }

    private void Run()
    {
        var due = new List<HostTimer>();
        while (!_stop)
        {
            _timer.Wait();
            lock (_lock)
            {
                long now = _clock.Now;
                long earliest = long.MaxValue;
                for (int i = _armed.Count - 1; i >= 0; i--)
                {
                    HostTimer timer = _armed[i];
                    if (timer.Deadline <= now)
                    {
                        timer.IsArmed = false;
                        _armed.RemoveAt(i);
                        due.Add(timer);
                    }
                    else
                    {
                        earliest = Math.Min(earliest, timer.Deadline);
                    }
                }
                if (!_stop)
                    Arm(earliest);
            }
            foreach (HostTimer timer in due)
                timer.Fire();
            due.Clear();
        }
    }

    public void Dispose()
    {
        if (_stop)
            return;
        lock (_lock)
        {
            _stop = true;
            _timer.ArmAt(1);
        }
        _thread.Join();
        _timer.Dispose();
    }
}

/// <summary>One timer of a <see cref="TimerQueue"/>: set (or re-set) to a system-time deadline, or cancelled.</summary>
public sealed class HostTimer
{
    private readonly TimerQueue _queue;
    private readonly Action _callback;

    internal HostTimer(TimerQueue queue, Action callback)
    {
        _queue = queue;
        _callback = callback;
    }

    /// <summary>The system time it fires at, while armed (guarded by the queue's lock).</summary>
    internal long Deadline { get; set; }

    internal bool IsArmed { get; set; }

    public void Set(long systemTimeDeadline) => _queue.Set(this, systemTimeDeadline);

    public void Cancel() => _queue.Cancel(this);

    internal void Fire() => _callback();
}
