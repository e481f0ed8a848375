using Xenolith.Abi;

namespace Xenolith.Hypervisor.Grants;

/// <summary>
/// One mapping a domain made of another's grant (Xen's struct grant_mapping): the handle indexes
/// these. <see cref="Table"/> is the granter's table object itself, not its id, so a mapping that
/// outlives its granter still finds the (torn-down) table it came from.
/// </summary>
internal struct MaptrackEntry
{
    /// <summary>GNTMAP_* still in force (device_map, host_map, readonly…); 0 = the handle is free.</summary>
    public uint Flags;
    public uint Ref;
    public GrantTable? Table;
    public ulong Mfn;
}

/// <summary>
/// A mapping domain's handles (Xen's maptrack). Xen keeps per-vCPU free lists and grows a frame
/// (256 handles) at a time up to gnttab_max_maptrack_frames; here one list under the grant lock,
/// grown as needed, with the same default limit counted in handles.
/// </summary>
internal sealed class Maptrack
{
    private MaptrackEntry[] _entries = [];
    private int _allocated;
    private readonly Stack<uint> _free = new();

    /// <summary>Handles in use.</summary>
    public int InUse => _allocated - _free.Count;

    /// <summary>Handles ever handed out (the highest valid handle + 1, Xen's maptrack_limit).</summary>
    public int Allocated => _allocated;

    /// <summary>get_maptrack_handle: the lowest recently freed handle, or a new one while fewer than <paramref name="limit"/> are in use.</summary>
    public bool TryAllocate(int limit, out uint handle)
    {
        handle = 0;
        if (InUse >= limit)
            return false;
        if (_free.TryPop(out handle))
            return true;
        if (_allocated == _entries.Length)
            Array.Resize(ref _entries, Math.Max(16, _entries.Length * 2));
        handle = (uint)_allocated++;
        return true;
    }

    /// <summary>A handle in use (Xen: below maptrack_limit and with flags set); anything else is GNTST_bad_handle.</summary>
    public bool IsLive(uint handle) => handle < (uint)_allocated && _entries[handle].Flags != 0;

    public ref MaptrackEntry Entry(uint handle) => ref _entries[handle];

    /// <summary>put_maptrack_handle: the entry's flags must already be clear of host and device maps.</summary>
    public void Free(uint handle)
    {
        _entries[handle] = default;
        _free.Push(handle);
    }

    /// <summary>Every handle in use, lowest first.</summary>
    public IEnumerable<uint> LiveHandles()
    {
        for (uint handle = 0; handle < (uint)_allocated; handle++)
        {
            if ((_entries[handle].Flags & (GrantMapFlags.HostMap | GrantMapFlags.DeviceMap)) != 0)
                yield return handle;
        }
    }
}
