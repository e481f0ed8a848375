using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv.Descriptors;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// set_gdt and update_descriptor (xen/arch/x86/pv/descriptor-tables.c). The guest names machine
/// frames (PV: no translation). The CPU runs on each vCPU's shadow copy (<see cref="GuestGdt"/>), so
/// update_descriptor writes the guest's frame and then refreshes every vCPU's shadow that maps it.
/// </summary>
public static class DescriptorTableHypercalls
{
    /// <summary>
    /// Xen's domain_lock around pv_set_gdt: set_gdt decides whether a dropped frame is still in another
    /// vCPU's GDT (and so keeps <see cref="FrameType.SegmentDescriptors"/>), which is only sound if no
    /// other set_gdt of the domain runs meanwhile. Keyed weakly by domain so a dead domain's lock goes with it.
    /// </summary>
    private static readonly ConditionalWeakTable<Domain, Lock> SetGdtLocks = new();

    public static void Register(HypercallTable table)
    {
        table.Register(Hypercall.SetGdt, SetGdt);
        table.Register(Hypercall.UpdateDescriptor, UpdateDescriptor);
    }

    /// <summary>set_gdt(frame_list, entries): 0, -EINVAL, or -EFAULT if the frame list cannot be read.</summary>
    private static long SetGdt(Vcpu caller, in HypercallArguments args)
    {
        uint entries = HypercallArguments.AsUInt(args.Arg2);
        // Checked again by GuestGdt.Set; here it bounds the copy, as in Xen's do_set_gdt.
        if (entries > GuestGdt.MaxEntries)
            return -XenErrno.EINVAL;
        int count = (int)((entries + GuestGdt.EntriesPerFrame - 1) / GuestGdt.EntriesPerFrame);
        Span<ulong> frames = stackalloc ulong[GuestGdt.MaxFrames];
        frames = frames[..count];
        if (count > 0 && caller.CopyFromGuest(args.Arg1, MemoryMarshal.AsBytes(frames)) != 0)
            return -XenErrno.EFAULT;

        return SetGdt(caller, frames, entries);
    }

    /// <summary>pv_set_gdt for <paramref name="target"/> (the caller itself, or a vCPU VCPUOP_initialise sets up).</summary>
    internal static long SetGdt(Vcpu target, ReadOnlySpan<ulong> frames, uint entries)
    {
        Domain domain = target.Domain;
        lock (SetGdtLocks.GetOrCreateValue(domain))
            return target.Gdt.Set(frames, entries, mfn => InAnotherGdt(domain, target, mfn));
    }

    private static bool InAnotherGdt(Domain domain, Vcpu caller, ulong mfn)
    {
        IReadOnlyList<Vcpu> vcpus = domain.Vcpus;
        for (int i = 0; i < vcpus.Count; i++)
        {
            if (!ReferenceEquals(vcpus[i], caller) && vcpus[i].Gdt.Uses(mfn))
                return true;
        }
        return false;
    }

    /// <summary>
    /// update_descriptor(pa, desc): writes one checked descriptor at machine address <c>pa</c> of a frame
    /// the caller owns: 0 or -EINVAL (misaligned, not the caller's frame, a descriptor check_descriptor
    /// refuses, or a page-table frame, which Xen's get_page_type(PGT_writable_page) refuses).
    /// </summary>
    private static long UpdateDescriptor(Vcpu caller, in HypercallArguments args)
    {
        ulong pa = args.Arg1;
        ulong descriptor = args.Arg2;
        Domain domain = caller.Domain;
        MachineMemory memory = domain.Xen.Memory;
        ulong mfn = pa >> MachineMemory.PageShift;
        if (pa % sizeof(ulong) != 0 || mfn >= memory.FrameCount || memory.OwnerOf(mfn) != domain.Id)
            return -XenErrno.EINVAL;
        if (!SegmentDescriptor.Check(ref descriptor))
            return -XenErrno.EINVAL;
        if (memory.TypeOf(mfn) is FrameType.L1PageTable or FrameType.L2PageTable or FrameType.L3PageTable or FrameType.L4PageTable)
            return -XenErrno.EINVAL;

        int index = (int)((pa & (MachineMemory.PageSize - 1)) / sizeof(ulong));
        Volatile.Write(ref MemoryMarshal.Cast<byte, ulong>(memory.Frame(mfn))[index], descriptor);

        // Index loop: a vCPU being added meanwhile must not break the walk, and cannot hold this frame yet.
        IReadOnlyList<Vcpu> vcpus = domain.Vcpus;
        for (int i = 0; i < vcpus.Count; i++)
            vcpus[i].Gdt.OnDescriptorWritten(mfn, index, descriptor);
        return 0;
    }
}
