namespace Xenolith.Abi;

/// <summary>console_io commands (xen.h CONSOLEIO_*).</summary>
public static class ConsoleIo
{
    public const int Write = 0;
    public const int Read = 1;
}
