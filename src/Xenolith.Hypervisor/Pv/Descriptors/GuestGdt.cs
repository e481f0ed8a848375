using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Pv.Descriptors;

/// <summary>
/// One vCPU's guest part of the GDT (entries 0..7167, pages 0..13 of the vCPU's GDT area). The CPU
/// never reads the guest's frames: set_gdt validates them and copies every descriptor into
/// hypervisor-owned shadow frames, and update_descriptor keeps the copy current, so a guest that
/// still holds a writable mapping of its GDT frame can change nothing the CPU uses.
/// </summary>
public sealed class GuestGdt
{
    /// <param name="shadowFrames">The 14 Xen-owned frames mapped at GDT pages 0..13.</param>
    /// <param name="reservedFrame">The frame of the reserved page (entries 0xe000..: Xen's flat selectors).</param>
    public GuestGdt(MachineMemory memory, ushort domainId, IReadOnlyList<ulong> shadowFrames, ulong reservedFrame)
    {
        // Skeleton: the implementation stores these and keeps the shadow frames in step with the guest's GDT.
        _ = (memory, domainId, shadowFrames, reservedFrame);
    }

    /// <summary>set_gdt: 0, or -EINVAL (too many entries, a frame the domain does not own or may not use, an invalid descriptor).</summary>
    public long Set(ReadOnlySpan<ulong> frames, uint entries) => throw new NotImplementedException();

    /// <summary>After update_descriptor wrote <paramref name="descriptor"/> (already checked) into guest frame <paramref name="mfn"/>: refresh the shadow if that frame is in this GDT.</summary>
    public void OnDescriptorWritten(ulong mfn, int index, ulong descriptor) => throw new NotImplementedException();

    /// <summary>The descriptor the CPU would use for <paramref name="selector"/> (GDT only; LDT selectors fail).</summary>
    public bool TryGetDescriptor(ushort selector, out ulong descriptor) => throw new NotImplementedException();
}
