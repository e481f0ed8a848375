using Xenolith.Kvm;
using Xunit;

namespace Xenolith.Tests;

/// <summary>A test that boots guests under KVM: skipped, with the reason shown, only where /dev/kvm cannot be opened.</summary>
public sealed class KvmFactAttribute : FactAttribute
{
    public KvmFactAttribute()
    {
        if (!KvmSystem.IsAvailable(out string reason))
            Skip = $"KVM unavailable: {reason}";
    }
}

/// <summary>The theory form of <see cref="KvmFactAttribute"/>.</summary>
public sealed class KvmTheoryAttribute : TheoryAttribute
{
    public KvmTheoryAttribute()
    {
        if (!KvmSystem.IsAvailable(out string reason))
            Skip = $"KVM unavailable: {reason}";
    }
}
