using System.Net.Sockets;
using Xenolith.Domain0.Xenstore;
using Xenolith.Tests.Rings;
using Xunit;

namespace Xenolith.Tests.Xenstore;

/// <summary>xenstored's Unix socket with real clients: every request type, garbage, disconnects, concurrency.</summary>
public sealed class XenstoreSocketTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("xenolith-xs").FullName;
    private readonly FakeRingConnector _connector = new();
    private readonly XenstoredService _service;

    public XenstoreSocketTests()
    {
        _service = new XenstoredService(_connector);
        _service.Listen(SocketPath);
    }

    private string SocketPath => Path.Combine(_directory, "xenstored.sock");

    public void Dispose()
    {
        _service.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private XsSocketClient Connect() => XsSocketClient.Connect(SocketPath);

    private static void Ok(XsReply reply) => Assert.False(reply.IsError, reply.Error);

    /// <summary>Waits until the daemon has exactly <paramref name="count"/> connections (clean-up is asynchronous).</summary>
    private void WaitForConnections(int count) =>
        Assert.True(SpinWait.SpinUntil(() => _service.Daemon.Connections.Count == count, TimeSpan.FromSeconds(10)),
            $"{_service.Daemon.Connections.Count} connections, expected {count}");

    [Fact]
    public void EveryRequestType_WorksEndToEnd()
    {
        using XsSocketClient c = Connect();
        using XsSocketClient watcher = Connect();

        Ok(watcher.Call(XsMessageType.Watch, "/tool", "t"));
        Assert.Equal(["/tool", "t"], watcher.NextEvent().Strings);
        Ok(c.Write("/tool/a", "1"));
        Assert.Equal(["/tool/a", "t"], watcher.NextEvent().Strings);
        Assert.Equal("1", c.Call(XsMessageType.Read, "/tool/a").Text);
        Ok(c.Call(XsMessageType.Mkdir, "/tool/dir"));
        Assert.Equal(["a", "dir"], c.Call(XsMessageType.Directory, "/tool").Strings.Order());
        XsReply part = c.Call(XsMessageType.DirectoryPart, "/tool", "0");
        Assert.Contains("dir", part.Strings);
        Ok(c.Call(XsMessageType.SetPerms, "/tool/a", "n0", "r5"));
        Assert.Equal(["n0", "r5"], c.Call(XsMessageType.GetPerms, "/tool/a").Strings);
        XsReply started = c.Call(XsMessageType.TransactionStart, "");
        uint tx = uint.Parse(started.Strings[0], System.Globalization.CultureInfo.InvariantCulture);
        Ok(c.Write("/tool/b", "2", tx));
        Assert.Equal(XsError.ENOENT, c.Call(XsMessageType.Read, "/tool/b").Error);
        Ok(c.Call(XsMessageType.TransactionEnd, XsWire.Strings("T"), tx));
        Assert.Equal("2", c.Call(XsMessageType.Read, "/tool/b").Text);
        Ok(c.Call(XsMessageType.Rm, "/tool/b"));
        Assert.Equal("/local/domain/3", c.Call(XsMessageType.GetDomainPath, "3").Strings[0]);
        Assert.Equal("F", c.Call(XsMessageType.IsDomainIntroduced, "3").Strings[0]);
        Ok(c.Call(XsMessageType.Introduce, "3", "4096", "1"));
        Assert.True(_service.IsRingAttached(3));
        Assert.Equal("T", c.Call(XsMessageType.IsDomainIntroduced, "3").Strings[0]);
        Ok(c.Call(XsMessageType.Resume, "3"));
        Ok(c.Call(XsMessageType.SetTarget, "3", "4"));
        Ok(c.Call(XsMessageType.Release, "3"));
        Assert.False(_service.IsRingAttached(3));
        Assert.True(_connector.Rings[3].IsDisposed);
        Ok(c.Call(XsMessageType.Control, "check"));
        Ok(watcher.Call(XsMessageType.Unwatch, "/tool", "t"));
        Ok(watcher.Call(XsMessageType.ResetWatches, ""));
        Assert.Equal(XsError.EINVAL, c.Call(XsMessageType.Introduce, "3", FakeRingConnector.BadMfn.ToString(System.Globalization.CultureInfo.InvariantCulture), "1").Error);
        // The daemon alone would take a negative frame number; nothing could serve such a ring.
        Assert.Equal(XsError.EINVAL, c.Call(XsMessageType.Introduce, "3", "-1", "1").Error);
        Assert.Equal("F", c.Call(XsMessageType.IsDomainIntroduced, "3").Strings[0]);
    }

    [Fact]
    public void IntroduceAndRelease_FireTheirWatches_OnOtherClients()
    {
        using XsSocketClient toolstack = Connect();
        using XsSocketClient watcher = Connect();
        Ok(watcher.Call(XsMessageType.Watch, "@introduceDomain", "in"));
        Ok(watcher.Call(XsMessageType.Watch, "@releaseDomain", "out"));
        watcher.NextEvent();
        watcher.NextEvent();

        Ok(toolstack.Call(XsMessageType.Introduce, "2", "8192", "1"));
        Assert.Equal(["@introduceDomain", "in"], watcher.NextEvent().Strings);
        _service.ReleaseDomain(2);
        Assert.Equal(["@releaseDomain", "out"], watcher.NextEvent().Strings);
    }

    [Fact]
    public void Garbage_GetsErrorReplies_AndTheConnectionGoesOn()
    {
        using XsSocketClient c = Connect();
        c.SendRaw(XsWire.Encode((XsMessageType)12345, 9, 0, [1, 2, 3]));
        Assert.Equal(XsError.EINVAL, c.Receive()!.Error);
        c.SendRaw(XsWire.Encode(XsMessageType.Read, 10, 0, "unterminated"u8));
        Assert.Equal(XsError.EINVAL, c.Receive()!.Error);
        c.SendRaw(XsWire.Encode(XsMessageType.WatchEvent, 11, 0, XsWire.Strings("a", "b")));
        Assert.Equal(XsError.EINVAL, c.Receive()!.Error);

        Assert.Equal("/local/domain/0", c.Call(XsMessageType.GetDomainPath, "0").Strings[0]);
    }

    [Fact]
    public void AnOversizePayload_GetsE2BIG_AndTheConnectionIsClosed()
    {
        using XsSocketClient c = Connect();
        var header = new byte[XsWire.HeaderSize];
        new XsHeader((uint)XsMessageType.Write, 31, 0, 100_000).Write(header);
        c.SendRaw(header);

        XsReply reply = c.Receive()!;
        Assert.Equal((XsError.E2BIG, 31u), (reply.Error, reply.ReqId));
        Assert.Null(c.Receive());
        WaitForConnections(0);
    }

    [Fact]
    public void AClientThatLeavesMidMessage_IsCleanedUp_WithItsWatchesAndTransactions()
    {
        using (XsSocketClient c = Connect())
        {
            Ok(c.Call(XsMessageType.Watch, "/tool", "t"));
            Ok(c.Call(XsMessageType.TransactionStart, ""));
            c.SendRaw(XsWire.Encode(XsMessageType.Write, 1, 0, XsWire.Strings("/tool/x", "y")).AsSpan(0, 20));
        }
        WaitForConnections(0);

        using XsSocketClient other = Connect();
        Assert.Equal(XsError.ENOENT, other.Call(XsMessageType.Read, "/tool/x").Error);
    }

    [Fact]
    public void RandomBytes_NeverTakeTheServerDown()
    {
        var random = new Random(99);
        for (int i = 0; i < 30; i++)
        {
            using XsSocketClient noisy = Connect();
            var bytes = new byte[random.Next(1, 5000)];
            random.NextBytes(bytes);
            noisy.SendRaw(bytes);
        }
        using XsSocketClient c = Connect();
        Assert.Equal("/local/domain/7", c.Call(XsMessageType.GetDomainPath, "7").Strings[0]);
    }

    [Fact]
    public void ConcurrentClients_EachGetTheirOwnReplies_AndSeeEachOthersChanges()
    {
        const int Clients = 8;
        const int Rounds = 150;
        using XsSocketClient watcher = Connect();
        Ok(watcher.Call(XsMessageType.Watch, "/tool/c0", "w"));
        watcher.NextEvent();

        // Threads, not pool tasks: blocking clients on the pool would starve the server's own completions.
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        Thread[] threads = [.. Enumerable.Range(0, Clients).Select(n => new Thread(() =>
        {
            try
            {
                using XsSocketClient c = Connect();
                for (int i = 0; i < Rounds; i++)
                {
                    Ok(c.Write($"/tool/c{n}/k", $"{n}:{i}"));
                    Assert.Equal($"{n}:{i}", c.Call(XsMessageType.Read, $"/tool/c{n}/k").Text);
                }
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        }))];
        foreach (Thread thread in threads)
            thread.Start();
        foreach (Thread thread in threads)
            thread.Join();
        Assert.Empty(errors);

        // The first write creates /tool/c0 and k; each write after fires once more.
        var paths = new List<string>();
        for (int i = 0; i < Rounds; i++)
            paths.Add(watcher.NextEvent().Strings[0]);
        Assert.All(paths, p => Assert.StartsWith("/tool/c0", p));
        WaitForConnections(1);
    }

    [Fact]
    public void AStaleSocketFile_IsReplaced_ButALiveOneIsNot()
    {
        using var second = new XenstoredService(_connector);
        Assert.Throws<IOException>(() => second.Listen(SocketPath));

        string stale = Path.Combine(_directory, "stale.sock");
        // What a killed xenstored leaves: a file nobody answers on.
        File.WriteAllText(stale, "");
        second.Listen(stale);
        using XsSocketClient c = XsSocketClient.Connect(stale);
        Assert.Equal("/local/domain/1", c.Call(XsMessageType.GetDomainPath, "1").Strings[0]);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void TheSocket_IsTheOwnersOnly()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
    }
}
