namespace Xenolith.Domain0.Xenstore;

/// <summary>Where `xenolith run` serves xenstored's socket unless told otherwise.</summary>
public static class XenstoreSocketPath
{
    /// <summary>libxenstore's own override: tools built against it find the socket through it too.</summary>
    public const string EnvironmentVariable = "XENSTORED_PATH";

    /// <summary>
    /// $XENSTORED_PATH if set; else $XDG_RUNTIME_DIR/xenolith/xenstored.sock (a per-user directory
    /// only its user can enter); else /tmp/xenolith-$USER/xenstored.sock, whose directory is created
    /// owner-only.
    /// </summary>
    public static string Default()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } explicitPath)
            return explicitPath;
        if (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime)
            return Path.Combine(runtime, "xenolith", "xenstored.sock");
        return Path.Combine(Path.GetTempPath(), $"xenolith-{Environment.UserName}", "xenstored.sock");
    }
}
