using Iced.Intel;

namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>
/// in, out, ins and outs from a PV guest (Xen's guest_io_okay, guest_io_read/write and the string forms of
/// x86_emulate). The virtual IOPL decides whether the instruction may run at all; the domain's I/O port
/// permissions decide whether it would reach hardware. There is no hardware behind any port here, so a
/// permitted access ends the same way as an unpermitted one: reads float high, writes vanish.
/// </summary>
internal static class IoPorts
{
    /// <summary>How many ins/outs iterations one #GP emulates; the rest run when the guest re-executes the instruction.</summary>
    public const int MaxIterationsPerExit = 1024;

    /// <summary>
    /// Xen's iopl_ok: guest kernel mode counts as ring 1 (ring 0 with VMASST_TYPE_architectural_iopl),
    /// user mode as ring 3, against the virtual IOPL the guest set with PHYSDEVOP_set_iopl.
    /// </summary>
    public static bool IoplOk(IEmulatedCpu cpu)
    {
        int cpl = cpu.InKernelMode ? (cpu.ArchitecturalIopl ? 0 : 1) : 3;
        return cpl <= cpu.State.Iopl;
    }

    /// <summary>in al/ax/eax from <paramref name="port"/>.</summary>
    public static EmulationOutcome In(IEmulatedCpu cpu, ushort port, int size, int length)
    {
        if (!IoplOk(cpu))
            return EmulationOutcome.GeneralProtection();
        GprAccess.Write(cpu, GprAccess.Rax, ReadPort(cpu, port, size), size);
        GuestCode.Advance(cpu, length);
        return EmulationOutcome.Emulated;
    }

    /// <summary>out to <paramref name="port"/> from al/ax/eax.</summary>
    public static EmulationOutcome Out(IEmulatedCpu cpu, ushort port, int size, int length)
    {
        if (!IoplOk(cpu))
            return EmulationOutcome.GeneralProtection();
        WritePort(cpu, port, size, GprAccess.Read(cpu, GprAccess.Rax, size));
        GuestCode.Advance(cpu, length);
        return EmulationOutcome.Emulated;
    }

    /// <summary>
    /// ins (<paramref name="input"/>) or outs, with or without rep: element size <paramref name="size"/>, index and
    /// count registers of <paramref name="addressSize"/> bytes, DF choosing the direction. ins always stores through
    /// ES; outs loads through DS or the override <paramref name="segment"/>. Segments are flat except FS and GS.
    /// At most <see cref="MaxIterationsPerExit"/> iterations run; if the count is not exhausted, Rip stays on the
    /// instruction so the guest faults again and continues, exactly as an interrupted rep does on hardware.
    /// </summary>
    public static EmulationOutcome StringIo(IEmulatedCpu cpu, bool input, int size, int addressSize, Register segment, bool rep, ushort port, int length)
    {
        if (!IoplOk(cpu))
            return EmulationOutcome.GeneralProtection();

        int indexRegister = input ? GprAccess.Rdi : GprAccess.Rsi;
        ulong addressMask = GprAccess.Mask(addressSize);
        ulong index = GprAccess.Read(cpu, indexRegister, addressSize);
        ulong count = rep ? GprAccess.Read(cpu, GprAccess.Rcx, addressSize) : 1;
        ulong baseAddress = input ? 0 : SegmentBase(cpu, segment);
        bool down = (cpu.Frame.Rflags & RflagsDf) != 0;

        Span<byte> element = stackalloc byte[4];
        element = element[..size];
        ulong done = 0;
        bool faulted = false;
        while (count > 0 && done < MaxIterationsPerExit)
        {
            ulong address = baseAddress + index;
            if (!cpu.Is64BitCode)
                address = (uint)address;

            if (input)
            {
                ulong data = ReadPort(cpu, port, size);
                for (int i = 0; i < size; i++)
                    element[i] = (byte)(data >> (8 * i));
                faulted = cpu.CopyToGuest(address, element) != 0;
            }
            else
            {
                faulted = cpu.CopyFromGuest(address, element) != 0;
                if (!faulted)
                {
                    ulong data = 0;
                    for (int i = 0; i < size; i++)
                        data |= (ulong)element[i] << (8 * i);
                    WritePort(cpu, port, size, data);
                }
            }
            if (faulted)
                break;

            index = (down ? index - (ulong)size : index + (ulong)size) & addressMask;
            count--;
            done++;
        }

        // Completed iterations are architecturally visible even when a later one faults.
        if (done > 0)
        {
            GprAccess.Write(cpu, indexRegister, index, addressSize);
            if (rep)
                GprAccess.Write(cpu, GprAccess.Rcx, count, addressSize);
        }

        // A faulting access would be #PF on hardware; this emulator reports #GP(0) for it.
        if (faulted)
            return EmulationOutcome.GeneralProtection();
        if (count == 0)
            GuestCode.Advance(cpu, length);
        return EmulationOutcome.Emulated;
    }

    private const ulong RflagsDf = 1UL << 10;

    /// <summary>Flat segments, except FS and GS whose bases the guest sets; the active GS base follows the guest's mode.</summary>
    private static ulong SegmentBase(IEmulatedCpu cpu, Register segment) => segment switch
    {
        Register.FS => cpu.FsBase,
        Register.GS => cpu.InKernelMode ? cpu.GsBaseKernel : cpu.GsBaseUser,
        _ => 0,
    };

    /// <summary>An IOPL-allowed read: all ones, as a port with nothing behind it reads (guest_io_read's default).</summary>
    private static ulong ReadPort(IEmulatedCpu cpu, ushort port, int size)
    {
        // A permitted port would be read from the hardware here (Xen's admin_io_okay path). Xenolith gives no
        // domain physical devices, so a permitted read floats high too.
        _ = cpu.IoPortPermitted(port, size);
        return GprAccess.Mask(size);
    }

    /// <summary>An IOPL-allowed write: dropped (guest_io_write's default for ports the domain does not own).</summary>
    private static void WritePort(IEmulatedCpu cpu, ushort port, int size, ulong value)
    {
        // A permitted port would be written to the hardware here; with no physical devices, the value is dropped.
        _ = cpu.IoPortPermitted(port, size);
        _ = value;
    }
}
