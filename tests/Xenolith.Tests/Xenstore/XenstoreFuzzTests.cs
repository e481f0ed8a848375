using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xenolith.Domain0.Xenstore;
using Xunit;

namespace Xenolith.Tests.Xenstore;

public sealed class XenstoreFuzzTests
{
    private const int Messages = 120_000;

    private static readonly string[] Paths =
    [
        "/", "/a", "/a/b", "/a/b/c", "/local", "/local/domain", "/local/domain/1", "/local/domain/1/x",
        "/local/domain/2/y/z", "x", "x/y", "device/vif/0", "/tool", "", "/a/", "//", "/a//b", "a b",
        "@introduceDomain", "@releaseDomain", "@", "/\u00ff", "/" + new string('p', 3100), new string('q', 2100),
    ];

    private static readonly string[] Words =
    [
        "", "0", "1", "2", "3", "65535", "65536", "-1", "T", "F", "X", "r0", "w1", "b2", "n3", "q1",
        "r", "check", "help", "tok", "4096", "999999999999", "32752",
    ];

    private static readonly string[] GoodPaths =
    [
        "/a", "/a/b", "/a/b/c", "/a/d", "x", "x/y", "x/y/z", "device/vif/0", "/local/domain/1/x",
        "/local/domain/2/y/z", "/local/domain/1", "/tool/t",
    ];

    private static string Pick(Random rng, string[] pool) => pool[rng.Next(pool.Length)];

    /// <summary>A well-formed request with the arguments its type wants, to exercise the operations.</summary>
    private static byte[] WellFormed(Random rng, List<uint> transactions)
    {
        uint tx = transactions.Count > 0 && rng.Next(3) == 0 ? transactions[rng.Next(transactions.Count)] : 0;
        string path = Pick(rng, GoodPaths);
        string dom = rng.Next(0, 4).ToString(CultureInfo.InvariantCulture);
        (XsMessageType type, byte[] payload) = rng.Next(16) switch
        {
            0 or 1 => (XsMessageType.Read, XsWire.Strings(path)),
            2 or 3 => (XsMessageType.Write, [.. XsWire.Strings(path), .. Encoding.ASCII.GetBytes(Pick(rng, Words))]),
            4 => (XsMessageType.Mkdir, XsWire.Strings(path)),
            5 => (XsMessageType.Rm, XsWire.Strings(path)),
            6 => (XsMessageType.Directory, XsWire.Strings(path)),
            7 => (XsMessageType.DirectoryPart, XsWire.Strings(path, rng.Next(0, 8).ToString(CultureInfo.InvariantCulture))),
            8 => (XsMessageType.GetPerms, XsWire.Strings(path)),
            9 => (XsMessageType.SetPerms, XsWire.Strings(path, Pick(rng, ["r", "w", "b", "n"]) + dom, "r" + dom)),
            10 => (XsMessageType.Watch, XsWire.Strings(rng.Next(4) == 0 ? "@releaseDomain" : path, Pick(rng, Words))),
            11 => (XsMessageType.Unwatch, XsWire.Strings(path, Pick(rng, Words))),
            12 => (XsMessageType.TransactionStart, XsWire.Strings("")),
            13 => (XsMessageType.TransactionEnd, XsWire.Strings(rng.Next(2) == 0 ? "T" : "F")),
            14 => (XsMessageType.Introduce, XsWire.Strings(dom, "1", "1")),
            _ => (XsMessageType.Release, XsWire.Strings(dom)),
        };
        return XsWire.Encode(type, (uint)rng.Next(), type == XsMessageType.TransactionStart ? 0 : tx, payload);
    }

    private static byte[] RandomMessage(Random rng, List<uint> transactions)
    {
        switch (rng.Next(10))
        {
            case < 4:
                return WellFormed(rng, transactions);
            case 4:
            {
                // Pure noise of any length, sometimes with a plausible header.
                var bytes = new byte[rng.Next(0, 64)];
                rng.NextBytes(bytes);
                return bytes;
            }
            case 5:
            {
                // A header whose len disagrees with the bytes that follow, or is oversize.
                var bytes = new byte[XsWire.HeaderSize + rng.Next(0, 32)];
                rng.NextBytes(bytes);
                BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)rng.Next(0, 25));
                uint len = rng.Next(3) switch
                {
                    0 => (uint)rng.Next(0, 64),
                    1 => (uint)rng.Next(XsWire.PayloadMax + 1, int.MaxValue),
                    _ => uint.MaxValue,
                };
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), len);
                return bytes;
            }
            default:
            {
                uint type = rng.Next(20) == 0 ? (uint)rng.Next() : (uint)rng.Next(0, 24);
                uint tx = rng.Next(4) switch
                {
                    0 when transactions.Count > 0 => transactions[rng.Next(transactions.Count)],
                    1 => (uint)rng.Next(),
                    _ => 0,
                };
                var args = new List<string>();
                int count = rng.Next(0, 5);
                for (int i = 0; i < count; i++)
                    args.Add(rng.Next(2) == 0 ? Pick(rng, Paths) : Pick(rng, Words));
                byte[] payload = XsWire.Strings([.. args]);
                if (type == (uint)XsMessageType.Write && rng.Next(2) == 0)
                {
                    var value = new byte[rng.Next(0, 3000)];
                    rng.NextBytes(value);
                    payload = [.. XsWire.Strings(Pick(rng, Paths)), .. value];
                }
                if (payload.Length > 0 && rng.Next(5) == 0)
                    payload[rng.Next(payload.Length)] = (byte)rng.Next(256); // corrupt a byte
                if (payload.Length > 0 && rng.Next(8) == 0)
                    payload = payload[..rng.Next(payload.Length)]; // drop terminators
                if (payload.Length > XsWire.PayloadMax)
                    payload = payload[..XsWire.PayloadMax];
                return XsWire.Encode((XsMessageType)type, (uint)rng.Next(), tx, payload);
            }
        }
    }

    [Fact]
    public void SurvivesRandomAndMalformedMessages()
    {
        var rng = new Random(20260521);
        var f = new XsFixture(new XenstoreQuota(MaxEntriesPerDomain: 200, MaxWatchesPerConnection: 20));
        var clients = new List<XenstoreConnection> { f.Dom0.Connection, f.Guest1.Connection, f.Guest2.Connection };
        var transactions = new List<uint>();
        int replies = 0, errors = 0, disconnects = 0, events = 0;
        var clock = Stopwatch.StartNew();

        for (int i = 0; i < Messages; i++)
        {
            clients.RemoveAll(c => !c.IsOpen);
            if (clients.Count < 3)
                clients.Add(f.Daemon.Connect((ushort)rng.Next(0, 4)));
            XenstoreConnection c = clients[rng.Next(clients.Count)];
            byte[] message = RandomMessage(rng, transactions);

            XenstoreOutcome outcome = f.Daemon.Process(c, message);

            if (outcome.Reply is null)
            {
                Assert.True(outcome.Disconnect);
                disconnects++;
                continue;
            }
            XsHeader h = XsHeader.Read(outcome.Reply);
            Assert.Equal(outcome.Reply.Length - XsWire.HeaderSize, (int)h.Length);
            Assert.True(h.Length <= XsWire.PayloadMax);
            replies++;
            if (h.MessageType == XsMessageType.Error)
            {
                errors++;
                Assert.Contains(XsWire.SplitStrings(outcome.Reply.AsSpan(XsWire.HeaderSize))[0], XsError.All);
            }
            else if (h.MessageType == XsMessageType.TransactionStart)
            {
                transactions.Add(uint.Parse(XsWire.SplitStrings(outcome.Reply.AsSpan(XsWire.HeaderSize))[0], CultureInfo.InvariantCulture));
            }
            foreach (XenstoreEvent e in outcome.Events)
            {
                Assert.True(e.Encode().Length - XsWire.HeaderSize <= XsWire.PayloadMax);
                events++;
            }
        }
        clock.Stop();

        Assert.True(replies > Messages / 2, $"{replies} replies");
        // Enough requests get through parsing and checks to exercise the operations themselves.
        Assert.True(replies - errors > Messages / 8, $"{replies - errors} successes");
        Assert.True(errors > 0 && disconnects > 0 && events > 0, $"{errors} errors, {disconnects} disconnects, {events} events");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");

        // Afterwards the daemon still answers normally.
        var dom0 = new XsClient(f.Daemon, f.Daemon.Connect(0));
        dom0.Ok(dom0.Send(XsMessageType.ResetWatches, XsWire.Strings("")));
        dom0.Ok(dom0.Write("/after/fuzz", "still-here"));
        Assert.Equal("still-here", dom0.ReadText("/after/fuzz"));
        Assert.Contains("fuzz", dom0.Directory("/after").Strings);

        dom0.Ok(dom0.Send(XsMessageType.Introduce, "77", "1", "1"));
        dom0.Ok(dom0.Mkdir("/local/domain/77"));
        dom0.Ok(dom0.SetPerms("/local/domain/77", "n77"));
        var guest = new XsClient(f.Daemon, f.Daemon.Domain(77)!.Connection);
        guest.Ok(guest.Watch("data", "t"));
        guest.Ok(guest.Write("data/key", Encoding.ASCII.GetBytes("value")));
        Assert.Equal([("data/key", "t")], XsFixture.For(guest, guest.LastEvents));
        Assert.Equal("value", guest.ReadText("data/key"));
    }
}
