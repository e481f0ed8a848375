using Xenolith.Abi;

namespace Xenolith.Hypervisor.Grants;

// A domain's death (Xen's gnttab_release_mappings and grant_table_destroy), called once its VM
// is gone and before PageTypes.ReleaseDomain frees its memory.
public sealed partial class GrantTables
{
    /// <summary>
    /// As a mapper: every mapping it holds returns its pins (the granters' GTF_reading/GTF_writing
    /// clear once nobody else pins the entry) and a device mapping its reference; a host mapping's
    /// reference is held by its PTE, which PageTypes.ReleaseDomain drops with the domain's tables.
    /// As a granter: its table is torn down and the table's references on the shared frames
    /// dropped. Other domains' and Domain0's mappings of its grants keep their frames alive through
    /// their foreign references; they no longer touch the table when they unmap.
    /// </summary>
    public void ReleaseDomain(IGrantDomain domain)
    {
        lock (_lock)
        {
            Maptrack maptrack = domain.Grants.Maptrack;
            foreach (uint handle in maptrack.LiveHandles().ToArray())
            {
                MaptrackEntry map = maptrack.Entry(handle);
                bool readOnly = (map.Flags & GrantMapFlags.ReadOnly) != 0;
                if ((map.Flags & GrantMapFlags.DeviceMap) != 0)
                {
                    lock (Memory.SyncRoot)
                        PageTypes.PutForeignReference(map.Mfn, writable: !readOnly);
                }
                maptrack.Free(handle);
                Unpin(map.Table!, map.Ref, GrantPin.ForMapFlags(map.Flags), readOnly);
            }
            domain.Grants.Table?.TearDown(PageTypes);
        }
    }
}
