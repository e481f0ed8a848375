namespace Xenolith.Domain0.Builder;

/// <summary>
/// Thrown when a guest kernel image is malformed or cannot be loaded as a Xen PV guest.
/// The message is a single line that names the problem in terms a user can act on.
/// </summary>
public sealed class KernelImageException : Exception
{
    /// <summary>Creates the exception with a one-line description of the problem.</summary>
    public KernelImageException(string message)
        : base(message)
    {
    }
}
