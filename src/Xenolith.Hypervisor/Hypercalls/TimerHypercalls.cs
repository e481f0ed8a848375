using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>set_timer_op(timeout): the caller's single-shot timer at an absolute system time; 0 stops it.</summary>
public static class TimerHypercalls
{
    /// <summary>
    /// Xen's do_set_timer_op: a negative deadline, or one 2^50 ns (~13 days) or more away, is a
    /// wrapped Linux jiffy computation or an old guest with no timer pending; Xen fires those 100 ms
    /// from now (a middle ground between at once and never).
    /// </summary>
    private const int FarOffsetShift = 50;
    private const long HugeTimeoutDelay = 100_000_000;

    public static void Register(HypercallTable table) => table.Register(Hypercall.SetTimerOp, SetTimerOp);

    private static long SetTimerOp(Vcpu caller, in HypercallArguments args)
    {
        long timeout = (long)args.Arg1;
        if (timeout == 0)
        {
            caller.StopSingleshotTimer();
            return 0;
        }
        long now = caller.Domain.Xen.Clock.Now;
        long offset = timeout - now;
        if (timeout < 0 || offset > 0 && (uint)(offset >> FarOffsetShift) != 0)
            timeout = now + HugeTimeoutDelay;
        caller.SetSingleshotTimer(timeout);
        return 0;
    }
}
