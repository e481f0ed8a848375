using System.Security.Cryptography;
using Xenolith.Abi;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;
using Xunit;

namespace Xenolith.Tests.Integration;

/// <summary>
/// The paravirtualized MMU from the inside: the mmu guest builds and switches address spaces, pins
/// and unpins, maps 1024 pages three ways, and uses memory_op; the mmuattack guest tries to break
/// out and must get Xen's error for every attempt while another domain's memory stays unchanged.
/// </summary>
public sealed class MmuGuestTests
{
    [KvmFact]
    public async Task Mmu_ReportsNoFailure_AndPowersOff()
    {
        GuestRunner.Result result = await GuestRunner.BootAsync("mmu");

        Assert.DoesNotContain("FAIL", result.Console);
        Assert.Contains("mmu: 0 failures", result.Console);
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
    }

    [KvmTheory]
    [InlineData("batched")]
    [InlineData("single")]
    [InlineData("trapped")]
    public async Task Mmu_Maps1024Pages(string way)
    {
        GuestRunner.Result result = await GuestRunner.BootAsync("mmu");

        Assert.Contains(result.Console.Split('\n'), line => line.StartsWith("ok ", StringComparison.Ordinal) && line.Contains(way, StringComparison.Ordinal));
    }

    [KvmFact]
    public async Task Attacks_AreRefused_AndTheVictimIsUntouched()
    {
        using var xen = new XenHypervisor(128UL << 20);
        (Domain victim, _) = PvDomainBuilder.Build(xen, new PvBuildRequest("victim", BuiltinGuests.Load("hello"), "", 16));
        using (victim)
        {
            string before = Checksum(xen, victim);
            ulong victimMfn = victim.P2m[victim.P2m.Count / 2];

            GuestRunner.Result result = await GuestRunner.BootAsync(xen, "mmuattack", $"victim={victimMfn} victimdom={victim.Id}");

            Assert.DoesNotContain("FAIL", result.Console);
            Assert.Contains("mmuattack: 0 failures", result.Console);
            Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
            Assert.Equal(before, Checksum(xen, victim));
            Assert.All(victim.P2m, mfn => Assert.Equal(victim.Id, xen.Memory.OwnerOf(mfn)));
        }
    }

    private static string Checksum(XenHypervisor xen, Domain domain)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (ulong mfn in domain.P2m)
            hash.AppendData(xen.Memory.Frame(mfn));
        return Convert.ToHexString(hash.GetHashAndReset());
    }
}
