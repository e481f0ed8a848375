using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Console;
using Xenolith.Hypervisor;

namespace Xenolith.Domain0.Toolstack;

/// <summary>
/// A domain the toolstack built and serves. Start it with <see cref="Start"/>; wait for
/// <see cref="Exited"/> rather than <see cref="Domain.Exited"/>, since it completes only once
/// Domain0 has let go (the console's last output delivered, @releaseDomain fired, nodes removed).
/// Disposing destroys the domain.
/// </summary>
public sealed class LaunchedDomain : IDisposable
{
    private readonly Domain0Toolstack _toolstack;
    private int _tornDown;

    internal LaunchedDomain(Domain0Toolstack toolstack, Domain domain, PvBootImage boot, ConsoleBackend console, DomainStoreInfo storeInfo)
    {
        _toolstack = toolstack;
        Domain = domain;
        Boot = boot;
        Console = console;
        StoreInfo = storeInfo;
        Exited = domain.Exited.ContinueWith(ended =>
        {
            TearDown();
            return ended.Result;
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    public Domain Domain { get; }

    public PvBootImage Boot { get; }

    /// <summary>The console ring's backend: <see cref="ConsoleBackend.QueueInput"/> types into the guest.</summary>
    public ConsoleBackend Console { get; }

    /// <summary>Where its nodes are: /local/domain/&lt;id&gt;, /vm/&lt;uuid&gt; and the rest.</summary>
    public DomainStoreInfo StoreInfo { get; }

    /// <summary>The domain's end, once Domain0 has let go of it.</summary>
    public Task<DomainExit> Exited { get; }

    public void Start() => Domain.Start();

    private void TearDown()
    {
        if (Interlocked.Exchange(ref _tornDown, 1) == 0)
            _toolstack.TearDown(this);
    }

    public void Dispose()
    {
        TearDown();
        Domain.Dispose();
    }
}
