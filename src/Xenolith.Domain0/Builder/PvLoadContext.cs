namespace Xenolith.Domain0.Builder;

/// <summary>What the loader needs besides the image: where the domain's shared pieces live.</summary>
public sealed record PvLoadContext(
    IReadOnlyList<ulong> P2m,
    ulong SharedInfoMfn,
    uint StoreEvtchn,
    uint ConsoleEvtchn);
