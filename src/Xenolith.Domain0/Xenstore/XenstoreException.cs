namespace Xenolith.Domain0.Xenstore;

/// <summary>An XS_ERROR reply to an in-process request: <see cref="Error"/> is its string (EACCES, ENOENT, …).</summary>
public sealed class XenstoreException(string operation, string error)
    : Exception($"xenstore {operation}: {error}")
{
    public string Error { get; } = error;
}

/// <summary>A watch firing: the path that changed (or the watch's own path) and the watch's token.</summary>
public readonly record struct XenstoreWatchEvent(string Path, string Token);
