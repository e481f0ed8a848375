using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>set_timer_op(timeout): the caller's single-shot timer at an absolute system time; 0 stops it.</summary>
public static class TimerHypercalls
{
    /// <summary>Xen clamps deadlines further out than 2^50 ns (~13 days), which old Linux kernels passed by mistake.</summary>
    private const long MaximumOffset = 1L << 50;

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
        if (timeout - now > MaximumOffset)
            timeout = now + MaximumOffset;
        caller.SetSingleshotTimer(timeout);
        return 0;
    }
}
