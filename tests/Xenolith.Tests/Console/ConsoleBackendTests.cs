using System.Text;
using Xenolith.Abi;
using Xenolith.Domain0.Console;
using Xenolith.Domain0.Rings;
using Xenolith.Hypervisor;
using Xenolith.Tests.Rings;
using Xunit;

namespace Xenolith.Tests.Console;

/// <summary>The console backend against a console ring in plain memory, the test playing the guest.</summary>
public sealed class ConsoleBackendTests : IDisposable
{
    private static readonly SharedByteRing GuestOutput = new(
        ConsoleInterface.Output, ConsoleInterface.OutputSize, ConsoleInterface.OutputConsumer, ConsoleInterface.OutputProducer);
    private static readonly SharedByteRing GuestInput = new(
        ConsoleInterface.Input, ConsoleInterface.InputSize, ConsoleInterface.InputConsumer, ConsoleInterface.InputProducer);

    private readonly FakeRingConnector _connector = new();
    private readonly DomainConsole _console = new();
    private readonly StringBuilder _seen = new();
    private readonly ConsoleBackend _backend;
    private readonly FakeGuestRing _ring;

    public ConsoleBackendTests()
    {
        _console.Output += data => _seen.Append(Encoding.Latin1.GetString(data));
        _backend = ConsoleBackend.Attach(_connector, 1, 0x2000, 2, _console);
        _ring = _connector.Rings[1];
    }

    public void Dispose() => _backend.Dispose();

    private Span<byte> Page => _ring.GuestView;

    private void SetIndex(int offset, uint value) => BitConverter.TryWriteBytes(Page[offset..], value);

    private uint GetIndex(int offset) => BitConverter.ToUInt32(Page[offset..(offset + 4)]);

    /// <summary>The guest's hvc write: what fits into out[], then a signal.</summary>
    private int GuestWrite(string text, bool signal = true)
    {
        int written = GuestOutput.Write(Page, Encoding.Latin1.GetBytes(text));
        if (signal)
            _ring.Signal();
        return written;
    }

    private string GuestRead()
    {
        var buffer = new byte[ConsoleInterface.InputSize];
        int read = GuestInput.Read(Page, buffer);
        return Encoding.Latin1.GetString(buffer, 0, read);
    }

    [Fact]
    public void Output_ReachesTheDomainConsole_InOrder_AcrossWrapAround()
    {
        SetIndex(ConsoleInterface.OutputConsumer, 0xFFFF_FF00);
        SetIndex(ConsoleInterface.OutputProducer, 0xFFFF_FF00);
        var expected = new StringBuilder();
        for (int i = 0; i < 500; i++)
        {
            string line = $"line {i} {new string('.', i % 50)}\n";
            Assert.Equal(line.Length, GuestWrite(line));
            expected.Append(line);
        }

        Assert.Equal(expected.ToString(), _seen.ToString());
        Assert.Equal(expected.Length, _console.BytesWritten);
    }

    [Fact]
    public void AFullOutputRing_IsDrained_AndTheGuestToldThereIsRoom()
    {
        string first = new('a', ConsoleInterface.OutputSize);
        Assert.Equal(ConsoleInterface.OutputSize, GuestWrite(first, signal: false));
        Assert.Equal(0, GuestWrite("b", signal: false));
        int before = _ring.Notifications;

        _ring.Signal();

        Assert.Equal(before + 1, _ring.Notifications);
        Assert.Equal(1, GuestWrite("b"));
        Assert.Equal(first + "b", _seen.ToString());
    }

    [Fact]
    public void Input_GoesIntoTheInRing_AndWhatDoesNotFit_WaitsForTheGuest()
    {
        int before = _ring.Notifications;
        string typed = new string('k', 1500);

        _backend.QueueInput(Encoding.Latin1.GetBytes(typed));

        Assert.Equal(before + 1, _ring.Notifications);
        Assert.Equal(1500 - ConsoleInterface.InputSize, _backend.PendingInput);
        string received = GuestRead();
        _ring.Signal(); // "I consumed input"
        received += GuestRead();
        Assert.Equal(typed, received);
        Assert.Equal(0, _backend.PendingInput);
    }

    [Fact]
    public void OutputWrittenWithoutASignal_IsTakenByTheFinalDrain()
    {
        GuestWrite("last words before SCHEDOP_shutdown\n", signal: false);

        _backend.Dispose();

        Assert.Equal("last words before SCHEDOP_shutdown\n", _seen.ToString());
        Assert.True(_ring.IsDisposed);
        _ring.Signal(); // a late signal does nothing
    }

    [Fact]
    public void CorruptOutputIndices_AreResynchronised_AndTheConsoleGoesOn()
    {
        SetIndex(ConsoleInterface.OutputProducer, GetIndex(ConsoleInterface.OutputConsumer) + 100_000);

        _ring.Signal();

        Assert.Equal(ConsoleInterface.OutputSize, _seen.Length);
        _seen.Clear();
        GuestWrite("fine again\n");
        Assert.Equal("fine again\n", _seen.ToString());
    }

    [Fact]
    public void AGuestThatKeepsWriting_CannotHoldTheEventThread()
    {
        // The fake page lets a "guest" re-corrupt the producer on every read; one signal still ends.
        SetIndex(ConsoleInterface.OutputProducer, GetIndex(ConsoleInterface.OutputConsumer) + 100_000);
        for (int i = 0; i < 10; i++)
            _ring.Signal();
        Assert.InRange(_seen.Length, 1, 10 * 32 * ConsoleInterface.OutputSize);
    }

    [Fact]
    public void CorruptInputIndices_HoldInputBack_UntilTheyAreSane()
    {
        SetIndex(ConsoleInterface.InputConsumer, 5000);

        _backend.QueueInput("abc"u8);

        Assert.Equal(3, _backend.PendingInput);
        SetIndex(ConsoleInterface.InputConsumer, 0);
        _ring.Signal();
        Assert.Equal("abc", GuestRead());
    }

    [Fact]
    public void Attach_ToARingThatCannotBeMapped_Throws()
    {
        Assert.Throws<InvalidOperationException>(() => ConsoleBackend.Attach(_connector, 1, FakeRingConnector.BadMfn, 2, _console));
    }
}
