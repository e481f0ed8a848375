namespace Xenolith.Abi;

/// <summary>
/// struct xencons_interface (xen/include/public/io/console.h): the console ring page. Input to
/// the guest is 1024 bytes, output from it 2048; the 32-bit indices run free and are masked with
/// the ring's size only to address a byte.
/// </summary>
public static class ConsoleInterface
{
    /// <summary>char in[1024]: bytes for the guest to read.</summary>
    public const int Input = 0;
    public const int InputSize = 1024;
    /// <summary>char out[2048]: bytes the guest wrote.</summary>
    public const int Output = 1024;
    public const int OutputSize = 2048;
    public const int InputConsumer = 3072;
    public const int InputProducer = 3076;
    public const int OutputConsumer = 3080;
    public const int OutputProducer = 3084;
}
