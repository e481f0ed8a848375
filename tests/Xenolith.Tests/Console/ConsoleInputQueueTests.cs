using Xenolith.Hypervisor;
using Xunit;

namespace Xenolith.Tests.Console;

public sealed class ConsoleInputQueueTests
{
    [Fact]
    public void KeepsTheOldestInput_DropsWhatArrivesBeyondTheLimit_AndGivesItBackInOrder()
    {
        var queue = new ConsoleInputQueue { Limit = 5 };
        Assert.Equal(3, queue.Enqueue("abc"u8));
        Assert.Equal(2, queue.Enqueue("defg"u8));
        Assert.Equal(0, queue.Enqueue("h"u8));

        var first = new byte[2];
        Assert.Equal(2, queue.Dequeue(first));
        Assert.Equal("ab"u8.ToArray(), first);
        Assert.Equal(2, queue.Enqueue("xyz"u8));
        var rest = new byte[10];
        Assert.Equal(5, queue.Dequeue(rest));
        Assert.Equal("cdexy"u8.ToArray(), rest[..5]);
        Assert.Equal(0, queue.Count);
    }
}
