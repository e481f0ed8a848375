using Xenolith.Abi;

namespace Xenolith.Hypervisor.Memory;

/// <summary>
/// copy_from_guest / copy_to_guest: reach a guest virtual address only by walking the guest's
/// own page tables in machine memory. Any failure (non-present entry, read-only page for a
/// write, a table outside the pool, a hypervisor address) is a fault, reported as -EFAULT to
/// the hypercall; a bad guest pointer never raises an exception inside the hypervisor.
/// </summary>
public sealed class GuestPageTables(MachineMemory memory)
{
    public MachineMemory Machine { get; } = memory;

    /// <summary>Translates one guest virtual address under <paramref name="cr3"/> to a machine address.</summary>
    public bool TryTranslate(ulong cr3, ulong va, bool write, out ulong machineAddress)
    {
        machineAddress = 0;
        if (!IsGuestAddress(va))
            return false;
        ulong table = cr3 & Pte.AddressMask;
        for (int level = 4; level >= 1; level--)
        {
            ulong entryAddress = table + (ulong)Pte.Index(va, level) * 8;
            if (!Machine.Block.Contains(entryAddress, 8))
                return false;
            ulong entry = Machine.Block.Read<ulong>(entryAddress);
            if ((entry & Pte.Present) == 0 || (write && (entry & Pte.Writable) == 0))
                return false;
            if (level is 3 or 2 && (entry & Pte.LargePage) != 0)
            {
                ulong pageMask = (1UL << (12 + 9 * (level - 1))) - 1;
                machineAddress = (entry & Pte.AddressMask & ~pageMask) | (va & pageMask);
                return Machine.Block.Contains(machineAddress, 1);
            }
            table = entry & Pte.AddressMask;
        }
        machineAddress = table | (va & 0xfff);
        return Machine.Block.Contains(machineAddress, 1);
    }

    /// <summary>Copies guest memory into <paramref name="destination"/>; returns 0 or -EFAULT.</summary>
    public int CopyFromGuest(ulong cr3, ulong va, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            if (!TryTranslate(cr3, va, write: false, out ulong ma))
                return -XenErrno.EFAULT;
            int chunk = (int)Math.Min((ulong)destination.Length, MachineMemory.PageSize - (va & 0xfff));
            Machine.Block.GetSpan(ma, chunk).CopyTo(destination);
            destination = destination[chunk..];
            va += (ulong)chunk;
        }
        return 0;
    }

    /// <summary>Copies <paramref name="source"/> into guest memory; returns 0 or -EFAULT.</summary>
    /// <remarks>Every page is translated before any byte is written, so a fault leaves the guest untouched.</remarks>
    public int CopyToGuest(ulong cr3, ulong va, ReadOnlySpan<byte> source)
    {
        if (!CanAccess(cr3, va, (ulong)source.Length, write: true))
            return -XenErrno.EFAULT;
        while (!source.IsEmpty)
        {
            TryTranslate(cr3, va, write: true, out ulong ma);
            int chunk = (int)Math.Min((ulong)source.Length, MachineMemory.PageSize - (va & 0xfff));
            source[..chunk].CopyTo(Machine.Block.GetSpan(ma, chunk));
            source = source[chunk..];
            va += (ulong)chunk;
        }
        return 0;
    }

    public int ReadGuest<T>(ulong cr3, ulong va, out T value) where T : unmanaged
    {
        value = default;
        return CopyFromGuest(cr3, va, System.Runtime.InteropServices.MemoryMarshal.AsBytes(new Span<T>(ref value)));
    }

    public int WriteGuest<T>(ulong cr3, ulong va, in T value) where T : unmanaged =>
        CopyToGuest(cr3, va, System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    private bool CanAccess(ulong cr3, ulong va, ulong length, bool write)
    {
        if (length == 0)
            return true;
        if (va + length - 1 < va)
            return false;
        for (ulong page = va & ~0xfffUL; page <= ((va + length - 1) & ~0xfffUL); page += MachineMemory.PageSize)
        {
            if (!TryTranslate(cr3, page < va ? va : page, write, out _))
                return false;
            if (page + MachineMemory.PageSize < page)
                break;
        }
        return true;
    }

    public static bool IsCanonical(ulong va) => (ulong)((long)(va << 16) >> 16) == va;

    /// <summary>Canonical and outside the hypervisor's range (PML4 slots 256-271): an address a guest may use.</summary>
    public static bool IsGuestAddress(ulong va) =>
        IsCanonical(va) && va - X86Layout.HypervisorVirtStart >= X86Layout.HypervisorVirtEnd - X86Layout.HypervisorVirtStart;
}
