namespace Xenolith.Domain0.Guests;

/// <summary>The test guests compiled into this assembly (guests/ in the source tree).</summary>
public static class BuiltinGuests
{
    public const string Default = "hello";

    public static IReadOnlyList<string> Names { get; } =
        [.. typeof(BuiltinGuests).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("guests/", StringComparison.Ordinal) && n.EndsWith(".elf", StringComparison.Ordinal))
            .Select(n => n["guests/".Length..^".elf".Length])
            .Order(StringComparer.Ordinal)];

    public static bool Exists(string name) => Names.Contains(name);

    public static byte[] Load(string name)
    {
        using Stream stream = typeof(BuiltinGuests).Assembly.GetManifestResourceStream($"guests/{name}.elf")
            ?? throw new ArgumentException($"no built-in guest named '{name}' (have: {string.Join(", ", Names)})", nameof(name));
        var image = new byte[stream.Length];
        stream.ReadExactly(image);
        return image;
    }
}
