namespace Xenolith.Domain0.Toolstack.Config;

/// <summary>
/// Thrown when a domain configuration file cannot be read, parsed or validated.
/// The message starts with "file:line: " so the user can find the offending setting.
/// </summary>
public sealed class ConfigException : Exception
{
    /// <summary>Creates the exception with a "file:line: problem" message.</summary>
    public ConfigException(string message)
        : base(message)
    {
    }
}
