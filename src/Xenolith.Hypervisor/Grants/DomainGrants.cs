namespace Xenolith.Hypervisor.Grants;

/// <summary>
/// One domain's grant state: the limits the toolstack sets (xl's max_grant_frames and
/// max_maptrack_frames, here counted in handles), the table it grants from, and the maptrack of
/// the mappings it made of others' grants. Everything but the limits changes only under
/// <see cref="GrantTables"/>' lock.
/// </summary>
public sealed class DomainGrants
{
    /// <summary>xl's default max_grant_frames (Xen's gnttab_max_frames): 64 frames, 32768 v1 entries.</summary>
    public const int DefaultMaxGrantFrames = 64;

    /// <summary>Xen's default gnttab_max_maptrack_frames (1024) × 256 handles per maptrack frame.</summary>
    public const int DefaultMaxMaptrackHandles = 1024 * 256;

    /// <summary>Xen's INITIAL_NR_GRANT_FRAMES on x86: every table starts with one frame.</summary>
    public const int InitialGrantFrames = 1;

    private int _maxGrantFrames = DefaultMaxGrantFrames;
    private int _maxMaptrackHandles = DefaultMaxMaptrackHandles;

    /// <summary>The most shared frames GNTTABOP_setup_table may grow the table to (at least one; a table never shrinks).</summary>
    public int MaxGrantFrames
    {
        get => Volatile.Read(ref _maxGrantFrames);
        set => Volatile.Write(ref _maxGrantFrames, value >= InitialGrantFrames ? value
            : throw new ArgumentOutOfRangeException(nameof(value), "a grant table has at least one frame"));
    }

    /// <summary>The most mappings of other domains' grants this domain may hold at once; beyond it a map gets GNTST_no_device_space.</summary>
    public int MaxMaptrackHandles
    {
        get => Volatile.Read(ref _maxMaptrackHandles);
        set => Volatile.Write(ref _maxMaptrackHandles, value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value)));
    }

    /// <summary>The table this domain grants from: created (one frame) the first time anything needs it.</summary>
    internal GrantTable? Table { get; set; }

    internal Maptrack Maptrack { get; } = new();

    /// <summary>Mappings this domain holds of grants (its own included).</summary>
    public int MappingsInUse => Maptrack.InUse;

    /// <summary>
    /// A frame of this domain's shared grant table: the domain owns and may map it, but may never
    /// give it back (decrease_reservation, exchange) while the table exists. Read under
    /// MachineMemory.SyncRoot, which every change of the frame list also holds.
    /// </summary>
    public bool IsTableFrame(ulong mfn) => Table is { } table && table.IsFrame(mfn);
}
