using System.Buffers.Binary;
using Xenolith.Abi;
using Xenolith.Domain0.Xenstore;
using Xenolith.Tests.Rings;
using Xunit;

namespace Xenolith.Tests.Xenstore;

/// <summary>xenstored over a domain's ring, with the ring in plain memory and the test as the guest.</summary>
public sealed class XenstoreRingTransportTests : IDisposable
{
    private readonly FakeRingConnector _connector = new();
    private readonly XenstoredService _service;
    private readonly XenstoreLocalClient _dom0;

    public XenstoreRingTransportTests()
    {
        _service = new XenstoredService(_connector);
        _dom0 = _service.ConnectLocal();
    }

    public void Dispose()
    {
        _dom0.Dispose();
        _service.Dispose();
    }

    /// <summary>Introduces domain <paramref name="domid"/> with its own /local/domain node, as the toolstack would.</summary>
    private FakeXenstoreGuest Introduce(ushort domid = 1)
    {
        string home = $"/local/domain/{domid}";
        _dom0.Mkdir(home);
        _dom0.SetPermissions(home, [$"n{domid}", "r0"]);
        _dom0.Introduce(domid, 0x1000 + (ulong)domid, 1);
        return new FakeXenstoreGuest(_connector.Rings[domid]);
    }

    private static XsReply Single(List<XsReply> replies)
    {
        Assert.Single(replies);
        return replies[0];
    }

    [Fact]
    public void Introduce_AttachesTheRing_AdvertisesFeatures_AndFiresIntroduceDomain()
    {
        _dom0.Watch("@introduceDomain", "intro");
        Assert.True(_dom0.WatchEvents.TryRead(out _)); // a new watch fires once at once

        FakeXenstoreGuest guest = Introduce();

        Assert.True(_service.IsRingAttached(1));
        Assert.Equal(XenstoreInterface.FeatureReconnection | XenstoreInterface.FeatureError, guest.Field(XenstoreInterface.ServerFeatures));
        Assert.True(_dom0.WatchEvents.TryRead(out XenstoreWatchEvent fired));
        Assert.Equal(new XenstoreWatchEvent("@introduceDomain", "intro"), fired);
    }

    [Fact]
    public void Introduce_WithAFrameTheDomainDoesNotOwn_IsRefused_AndNothingIsIntroduced()
    {
        var error = Assert.Throws<XenstoreException>(() => _dom0.Introduce(1, FakeRingConnector.BadMfn, 1));
        Assert.Equal(XsError.EINVAL, error.Error);
        Assert.Equal(XsError.ENOENT, Assert.Throws<XenstoreException>(() => _dom0.Introduce(42, 0x1000, 1)).Error);

        Assert.False(_dom0.IsIntroduced(1));
        Assert.False(_service.IsRingAttached(1));
    }

    [Fact]
    public void ARequest_GetsItsReply_AndOneNotification()
    {
        FakeXenstoreGuest guest = Introduce();
        _dom0.Write("/local/domain/1/name", "guest");
        int before = guest.Ring.Notifications;

        XsReply reply = Single(guest.Call(XsMessageType.Read, "name"));

        Assert.Equal(XsMessageType.Read, reply.Type);
        Assert.Equal("guest", reply.Text);
        Assert.Equal(before + 1, guest.Ring.Notifications);
    }

    [Fact]
    public void APartialMessage_WaitsForTheRest()
    {
        FakeXenstoreGuest guest = Introduce();
        byte[] frame = guest.Frame(XsMessageType.Write, "data", "value");
        guest.WriteAll(frame.AsSpan(0, 10));
        guest.Ring.Signal();
        Assert.Empty(guest.Receive());
        guest.WriteAll(frame.AsSpan(10, 10));
        guest.Ring.Signal();
        Assert.Empty(guest.Receive());

        guest.WriteAll(frame.AsSpan(20));
        guest.Ring.Signal();

        Assert.Equal("OK", Single(guest.Receive()).Strings[0]);
        Assert.Equal("value", _dom0.Read("/local/domain/1/data"));
    }

    [Fact]
    public void ManyRequestsPerSignal_AreAllAnswered_WithOneNotification()
    {
        FakeXenstoreGuest guest = Introduce();
        for (int i = 0; i < 10; i++)
            guest.WriteAll(guest.Frame(XsMessageType.Write, $"n{i}", $"{i}"));
        int before = guest.Ring.Notifications;

        guest.Ring.Signal();

        List<XsReply> replies = guest.Receive();
        Assert.Equal(10, replies.Count);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (uint)i), replies.Select(r => r.ReqId));
        Assert.Equal(before + 1, guest.Ring.Notifications);
        Assert.Equal("9", _dom0.Read("/local/domain/1/n9"));
    }

    [Fact]
    public void IndicesThatWrapAround2To32_AndBytesThatWrapTheRing_Work()
    {
        FakeXenstoreGuest guest = Introduce();
        const uint NearWrap = 0xFFFF_FF00u + 7;
        foreach (int field in new[] { XenstoreInterface.RequestConsumer, XenstoreInterface.RequestProducer,
                     XenstoreInterface.ResponseConsumer, XenstoreInterface.ResponseProducer })
            guest.SetField(field, NearWrap);

        for (int i = 0; i < 200; i++)
        {
            string value = new('x', i % 97);
            Assert.Equal("OK", Single(guest.Call(XsMessageType.Write, $"k{i % 5}", value)).Strings[0]);
            Assert.Equal(value, Single(guest.Call(XsMessageType.Read, $"k{i % 5}")).Text);
        }
        Assert.True(guest.Field(XenstoreInterface.RequestProducer) < NearWrap, "the indices wrapped");
    }

    [Fact]
    public void AReplyLargerThanTheRing_ArrivesAsTheGuestConsumes_AndLaterRequestsWait()
    {
        FakeXenstoreGuest guest = Introduce();
        string big = new('v', 3000);
        _dom0.Write("/local/domain/1/big", big);
        guest.WriteAll(guest.Frame(XsMessageType.Read, "big"));
        guest.WriteAll(guest.Frame(XsMessageType.GetDomainPath, "1"));

        guest.Ring.Signal();
        // Only the first 1024 bytes fit; the second request is not read while the reply waits.
        Assert.Equal(1024u, guest.Field(XenstoreInterface.ResponseProducer) - guest.Field(XenstoreInterface.ResponseConsumer));
        List<XsReply> replies = guest.Receive();
        Assert.Empty(replies);
        for (int i = 0; i < 5 && replies.Count < 2; i++)
        {
            guest.Ring.Signal(); // "I consumed some"
            replies.AddRange(guest.Receive());
        }

        Assert.Equal(2, replies.Count);
        Assert.Equal(big, replies[0].Text);
        Assert.Equal("/local/domain/1", replies[1].Strings[0]);
    }

    [Fact]
    public void ARequestLongerThanTheRing_IsReadAsTheGuestWritesIt()
    {
        FakeXenstoreGuest guest = Introduce();
        string value = new('w', 2000);
        byte[] frame = guest.Frame(XsMessageType.Write, "long", value);
        int written = 0;
        for (int i = 0; i < 10 && written < frame.Length; i++)
        {
            int before = guest.Ring.Notifications;
            written += guest.Write(frame.AsSpan(written));
            guest.Ring.Signal();
            Assert.True(guest.Ring.Notifications > before, "the guest is told there is room again");
        }

        Assert.Equal("OK", Single(guest.Receive()).Strings[0]);
        Assert.Equal(value, _dom0.Read("/local/domain/1/long"));
    }

    [Fact]
    public void CorruptIndices_ErrorOnlyThatRing_UntilItReconnects()
    {
        FakeXenstoreGuest bad = Introduce(1);
        FakeXenstoreGuest good = Introduce(2);
        bad.SetField(XenstoreInterface.RequestProducer, bad.Field(XenstoreInterface.RequestConsumer) + 5000);

        bad.Ring.Signal();

        Assert.Equal(XenstoreInterface.ErrorRingIndex, bad.Field(XenstoreInterface.Error));
        Assert.Equal("/local/domain/2", Single(good.Call(XsMessageType.GetDomainPath, "2")).Strings[0]);
        bad.Ring.Signal();
        Assert.Empty(bad.Receive());

        // xenstore-ring.txt's reconnection clears the error and the indices.
        bad.SetField(XenstoreInterface.Connection, XenstoreInterface.Reconnect);
        bad.Ring.Signal();
        Assert.Equal(XenstoreInterface.Connected, bad.Field(XenstoreInterface.Connection));
        Assert.Equal(XenstoreInterface.ErrorNone, bad.Field(XenstoreInterface.Error));
        Assert.Equal(0u, bad.Field(XenstoreInterface.RequestProducer));
        Assert.Equal("/local/domain/1", Single(bad.Call(XsMessageType.GetDomainPath, "1")).Strings[0]);
    }

    [Fact]
    public void CorruptResponseIndices_ErrorTheRing()
    {
        FakeXenstoreGuest guest = Introduce();
        guest.SetField(XenstoreInterface.ResponseConsumer, guest.Field(XenstoreInterface.ResponseProducer) + 4096);

        guest.Call(XsMessageType.GetDomainPath, "1");

        Assert.Equal(XenstoreInterface.ErrorRingIndex, guest.Field(XenstoreInterface.Error));
    }

    [Fact]
    public void AnOversizePayload_GetsE2BIG_AndErrorsTheRing()
    {
        FakeXenstoreGuest guest = Introduce();
        var header = new byte[XsWire.HeaderSize];
        new XsHeader((uint)XsMessageType.Write, 77, 0, XsWire.PayloadMax + 1).Write(header);
        guest.WriteAll(header);

        guest.Ring.Signal();

        XsReply reply = Single(guest.Receive());
        Assert.Equal((XsMessageType.Error, 77u, XsError.E2BIG), (reply.Type, reply.ReqId, reply.Error));
        Assert.Equal(XenstoreInterface.ErrorProtocol, guest.Field(XenstoreInterface.Error));
    }

    [Fact]
    public void MalformedFrames_GetErrorReplies_AndTheRingGoesOn()
    {
        FakeXenstoreGuest guest = Introduce();
        guest.WriteAll(XsWire.Encode((XsMessageType)999, 5, 0, [1, 2, 3]));
        guest.WriteAll(XsWire.Encode(XsMessageType.Read, 6, 0, "no-nul"u8));
        guest.WriteAll(XsWire.Encode(XsMessageType.Introduce, 7, 0, XsWire.Strings("3", "1", "1")));

        guest.Ring.Signal();

        List<XsReply> replies = guest.Receive();
        Assert.Equal([XsError.EINVAL, XsError.EINVAL, XsError.EACCES], replies.Select(r => r.Error));
        Assert.Equal(XenstoreInterface.ErrorNone, guest.Field(XenstoreInterface.Error));
        Assert.Equal("/local/domain/1", Single(guest.Call(XsMessageType.GetDomainPath, "1")).Strings[0]);
    }

    [Fact]
    public void RandomGarbage_NeverThrows_AndOtherRingsKeepWorking()
    {
        var random = new Random(1234);
        FakeXenstoreGuest good = Introduce(2);
        for (int round = 0; round < 200; round++)
        {
            FakeXenstoreGuest noisy = _connector.Rings.ContainsKey(1) ? new FakeXenstoreGuest(_connector.Rings[1]) : Introduce(1);
            var bytes = new byte[random.Next(1, 200)];
            random.NextBytes(bytes);
            if (round % 3 == 0 && bytes.Length >= XsWire.HeaderSize)
                bytes[12] = bytes[13] = bytes[14] = bytes[15] = 0; // frames with small lengths too
            noisy.Write(bytes);
            if (round % 50 == 0)
                noisy.SetField(random.Next(2) == 0 ? XenstoreInterface.RequestProducer : XenstoreInterface.ResponseConsumer, (uint)random.Next());
            noisy.Ring.Signal();
            noisy.Receive();
            if (noisy.Field(XenstoreInterface.Error) != 0 || random.Next(10) == 0)
            {
                noisy.SetField(XenstoreInterface.Connection, XenstoreInterface.Reconnect);
                noisy.Ring.Signal();
            }
        }
        Assert.Equal("/local/domain/2", Single(good.Call(XsMessageType.GetDomainPath, "2")).Strings[0]);
    }

    [Fact]
    public void WatchEvents_ReachTheGuestsRing()
    {
        FakeXenstoreGuest guest = Introduce();
        List<XsReply> watched = guest.Call(XsMessageType.Watch, "control", "tok");
        Assert.Equal([XsMessageType.Watch, XsMessageType.WatchEvent], watched.Select(r => r.Type));
        int before = guest.Ring.Notifications;

        _dom0.Write("/local/domain/1/control/shutdown", "poweroff");

        XsReply fired = Single(guest.Receive());
        Assert.Equal(XsMessageType.WatchEvent, fired.Type);
        Assert.Equal(["control/shutdown", "tok"], fired.Strings);
        Assert.Equal(before + 1, guest.Ring.Notifications);
    }

    [Fact]
    public void WatchEvents_ForAGuestThatNeverReads_AreCapped()
    {
        FakeXenstoreGuest guest = Introduce();
        guest.Call(XsMessageType.Watch, "data", "tok");
        string value = new('x', 100);
        for (int i = 0; i < 5000; i++)
            _dom0.Write($"/local/domain/1/data/{new string('p', 400)}{i}", value);

        // Still serving, and the backlog is bounded: the guest gets at most the cap's worth.
        int received = 0;
        for (int i = 0; i < 2000; i++)
        {
            List<XsReply> got = guest.Receive();
            received += got.Count;
            guest.Ring.Signal();
            if (got.Count == 0 && guest.Field(XenstoreInterface.ResponseProducer) == guest.Field(XenstoreInterface.ResponseConsumer))
                break;
        }
        Assert.InRange(received, 1, XenstoreRingTransport.MaxQueuedBytes / 400 + 10);
        Assert.Equal("/local/domain/1", guest.Call(XsMessageType.GetDomainPath, "1").Last().Strings[0]);
    }

    [Fact]
    public void Release_FiresReleaseDomain_AndLetsGoOfTheRing()
    {
        FakeXenstoreGuest guest = Introduce();
        _dom0.Watch("@releaseDomain", "rel");
        _dom0.WatchEvents.TryRead(out _);

        _dom0.Release(1);

        Assert.True(_dom0.WatchEvents.TryRead(out XenstoreWatchEvent fired));
        Assert.Equal("@releaseDomain", fired.Path);
        Assert.True(guest.Ring.IsDisposed);
        Assert.False(_service.IsRingAttached(1));
        guest.Ring.Signal(); // a late signal is ignored
    }

    [Fact]
    public async Task DomainDeath_ReleasesIt()
    {
        FakeXenstoreGuest guest = Introduce();
        _dom0.Watch("@releaseDomain", "rel");
        await _dom0.WatchEvents.ReadAsync();

        _connector.End(1);

        XenstoreWatchEvent fired = await _dom0.WatchEvents.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("@releaseDomain", fired.Path);
        Assert.True(guest.Ring.IsDisposed);
        Assert.False(_dom0.IsIntroduced(1));
    }

    [Fact]
    public void ReplyHeaders_EchoRequestAndTransactionIds()
    {
        FakeXenstoreGuest guest = Introduce();
        List<XsReply> started = guest.Call(XsMessageType.TransactionStart, "");
        uint tx = uint.Parse(Single(started).Strings[0], System.Globalization.CultureInfo.InvariantCulture);
        byte[] frame = XsWire.Encode(XsMessageType.Write, 4242, tx, [.. XsWire.Strings("t"), .. "1"u8]);
        guest.WriteAll(frame);
        guest.Ring.Signal();

        XsReply reply = Single(guest.Receive());
        Assert.Equal((4242u, tx), (reply.ReqId, reply.TxId));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(guest.Page[XenstoreInterface.Error..]));
    }
}
