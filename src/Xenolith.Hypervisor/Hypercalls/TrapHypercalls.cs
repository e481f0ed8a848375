using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// How a PV guest takes exceptions and system calls: set_trap_table (its virtual IDT), stack_switch
/// (the kernel stack for frames from user mode), set_callbacks and callback_op (event, failsafe,
/// syscall, syscall32, sysenter, NMI entries), and iret (the way back).
/// </summary>
public static class TrapHypercalls
{
    /// <summary>The vCPU checks for a stop request this often while reading a long trap table.</summary>
    private const int StopCheckInterval = 4096;

    public static void Register(HypercallTable table)
    {
        table.Register(Hypercall.SetTrapTable, SetTrapTable);
        table.Register(Hypercall.StackSwitch, StackSwitch);
        table.Register(Hypercall.SetCallbacks, SetCallbacks);
        table.Register(Hypercall.CallbackOp, CallbackOp);
        table.Register(Hypercall.Iret, (Vcpu caller, in HypercallArguments _) => caller.Iret());
    }

    /// <summary>
    /// Reads trap_info entries until one with address 0; NULL clears the whole table. Entries before
    /// a bad one stay registered, as on Xen. Each entry is a single vector, so however long the list
    /// the table holds 256 entries; the loop only costs the guest its own time.
    /// </summary>
    private static long SetTrapTable(Vcpu caller, in HypercallArguments args)
    {
        TrapInfo[] table = caller.Pv.TrapTable;
        ulong va = args.Arg1;
        if (va == 0)
        {
            Array.Clear(table);
            return 0;
        }
        for (long n = 0; ; n++, va += TrapInfo.Size)
        {
            if (caller.ReadGuest(va, out TrapInfo entry) != 0)
                return -XenErrno.EFAULT;
            if (entry.Address == 0)
                return 0;
            if (!GuestPageTables.IsCanonical(entry.Address))
                return -XenErrno.EINVAL;
            entry.Cs = FixupSelector(entry.Cs);
            table[entry.Vector] = entry;
            if (n % StopCheckInterval == StopCheckInterval - 1 && caller.Domain.IsDying)
                return -XenErrno.EINTR;
        }
    }

    /// <summary>Selectors a 64-bit PV guest names are forced to RPL 3 (its kernel runs in ring 3).</summary>
    internal static ushort FixupSelector(ushort selector) => (selector & 3) == 3 ? selector : (ushort)(selector | 3);

    private static long StackSwitch(Vcpu caller, in HypercallArguments args)
    {
        // Xen records the stack unchecked; a bad one crashes the domain when a frame is pushed there.
        caller.Pv.KernelSs = FixupSelector((ushort)args.Arg1);
        caller.Pv.KernelSp = args.Arg2;
        return 0;
    }

    /// <summary>set_callbacks(event, failsafe, syscall): registers all three and, like Xen, reports nothing.</summary>
    private static long SetCallbacks(Vcpu caller, in HypercallArguments args)
    {
        RegisterCallback(caller, Callback.TypeEvent, 0, args.Arg1);
        RegisterCallback(caller, Callback.TypeFailsafe, 0, args.Arg2);
        RegisterCallback(caller, Callback.TypeSyscall, 0, args.Arg3);
        return 0;
    }

    private static long CallbackOp(Vcpu caller, in HypercallArguments args)
    {
        switch (HypercallArguments.AsInt(args.Arg1))
        {
            case Callback.OpRegister:
                if (caller.ReadGuest(args.Arg2, out CallbackRegister register) != 0)
                    return -XenErrno.EFAULT;
                return RegisterCallback(caller, register.Type, register.Flags, register.Address);
            case Callback.OpUnregister:
                if (caller.ReadGuest(args.Arg2, out ushort type) != 0)
                    return -XenErrno.EFAULT;
                return UnregisterCallback(caller, type);
            default:
                return -XenErrno.ENOSYS;
        }
    }

    private static long RegisterCallback(Vcpu caller, int type, ushort flags, ulong address)
    {
        if (!GuestPageTables.IsCanonical(address))
            return -XenErrno.EINVAL;
        bool mask = (flags & Callback.FlagMaskEvents) != 0;
        var pv = caller.Pv;
        switch (type)
        {
            case Callback.TypeEvent:
                pv.EventCallback = address;
                return 0;
            case Callback.TypeFailsafe:
                pv.FailsafeCallback = address;
                pv.FailsafeDisablesEvents = mask;
                return 0;
            case Callback.TypeSyscall:
                pv.SyscallCallback = address;
                pv.SyscallDisablesEvents = mask;
                return 0;
            case Callback.TypeSyscall32:
                pv.Syscall32Callback = address;
                pv.Syscall32DisablesEvents = mask;
                return 0;
            case Callback.TypeSysenter:
                pv.SysenterCallback = address;
                pv.SysenterDisablesEvents = mask;
                return 0;
            case Callback.TypeNmi:
                pv.NmiCallback = address;
                return 0;
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>Only the NMI callback can be unregistered; the others are part of the guest's contract.</summary>
    private static long UnregisterCallback(Vcpu caller, int type) => type switch
    {
        Callback.TypeNmi => UnregisterNmi(caller.Pv),
        Callback.TypeEvent or Callback.TypeFailsafe or Callback.TypeSyscall or Callback.TypeSyscall32 or Callback.TypeSysenter
            => -XenErrno.EINVAL,
        _ => -XenErrno.ENOSYS,
    };

    private static long UnregisterNmi(Pv.PvVcpuState pv)
    {
        pv.NmiCallback = 0;
        return 0;
    }
}
