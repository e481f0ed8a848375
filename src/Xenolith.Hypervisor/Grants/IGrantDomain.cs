using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Grants;

/// <summary>
/// What the grant core needs from a domain: its id and page-table callbacks (a grant PTE is written
/// into its tables), whether it is dying, and its grant state. <see cref="Domain"/> implements it;
/// unit tests fake it.
/// </summary>
public interface IGrantDomain : IPageTableOwner
{
    bool IsDying { get; }

    DomainGrants Grants { get; }
}
