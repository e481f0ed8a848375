using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xunit;

namespace Xenolith.Tests.Events;

/// <summary>The event-channel structs have event_channel.h's x86-64 layouts, and the VIRQs xen.h's classes.</summary>
public sealed class EventChannelAbiTests
{
    [Fact]
    public void StructSizes()
    {
        Assert.Equal(8, Unsafe.SizeOf<EventChannelAllocUnbound>());
        Assert.Equal(12, Unsafe.SizeOf<EventChannelBindInterdomain>());
        Assert.Equal(12, Unsafe.SizeOf<EventChannelBindVirq>());
        Assert.Equal(12, Unsafe.SizeOf<EventChannelBindPirq>());
        Assert.Equal(8, Unsafe.SizeOf<EventChannelBindIpi>());
        Assert.Equal(4, Unsafe.SizeOf<EventChannelPortArgument>());
        Assert.Equal(24, Unsafe.SizeOf<EventChannelStatus>());
        Assert.Equal(8, Unsafe.SizeOf<EventChannelBindVcpu>());
        Assert.Equal(2, Unsafe.SizeOf<EventChannelReset>());
        Assert.Equal(EventChannelOpCompat.Size, Unsafe.SizeOf<EventChannelOpCompat>());
    }

    [Fact]
    public void FieldOffsets()
    {
        Assert.Equal(2, Offset<EventChannelAllocUnbound>(nameof(EventChannelAllocUnbound.RemoteDom)));
        Assert.Equal(4, Offset<EventChannelAllocUnbound>(nameof(EventChannelAllocUnbound.Port)));
        Assert.Equal(4, Offset<EventChannelBindInterdomain>(nameof(EventChannelBindInterdomain.RemotePort)));
        Assert.Equal(8, Offset<EventChannelBindInterdomain>(nameof(EventChannelBindInterdomain.LocalPort)));
        Assert.Equal(8, Offset<EventChannelBindVirq>(nameof(EventChannelBindVirq.Port)));
        Assert.Equal(4, Offset<EventChannelStatus>(nameof(EventChannelStatus.Port)));
        Assert.Equal(8, Offset<EventChannelStatus>(nameof(EventChannelStatus.Status)));
        Assert.Equal(12, Offset<EventChannelStatus>(nameof(EventChannelStatus.Vcpu)));
        Assert.Equal(16, Offset<EventChannelStatus>(nameof(EventChannelStatus.RemoteDom)));
        Assert.Equal(20, Offset<EventChannelStatus>(nameof(EventChannelStatus.RemotePort)));
        Assert.Equal(16, Offset<EventChannelStatus>(nameof(EventChannelStatus.Virq)));
    }

    [Fact]
    public void OnlyTimerDebugXenoprofAndXenpmuArePerVcpu()
    {
        int[] perVcpu = [.. Enumerable.Range(0, Virq.Count).Where(virq => !Virq.IsGlobal(virq))];
        Assert.Equal([Virq.Timer, Virq.Debug, Virq.Xenoprof, Virq.Xenpmu], perVcpu);
    }

    private static int Offset<T>(string field) => (int)Marshal.OffsetOf<T>(field);
}
