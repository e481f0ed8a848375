namespace Xenolith.Domain0.Xenstore;

/// <summary>
/// How one client's bytes travel: a domain's ring, a host socket, or an in-process caller. The
/// service calls both members with its lock held, so neither may block or call back into it.
/// </summary>
internal interface IXenstoreTransport
{
    /// <summary>The client's connection in the daemon.</summary>
    XenstoreConnection Connection { get; }

    /// <summary>Queues a whole message (a reply, or a watch event when <paramref name="watchEvent"/>) in order.</summary>
    void Enqueue(byte[] message, bool watchEvent);

    /// <summary>Sends what is queued, and signals the client once if anything moved. Once per batch.</summary>
    void Flush();
}
