namespace Xenolith.Domain0.Builder;

/// <summary>One ELF note named "Xen", as found in the image, before interpretation.</summary>
/// <param name="Type">The note type; may be a value <see cref="XenElfNoteType"/> does not name.</param>
/// <param name="Descriptor">The note's descriptor bytes (a view into the image).</param>
/// <param name="FileOffset">File offset of the note header, for messages.</param>
public readonly record struct XenElfNote(XenElfNoteType Type, ReadOnlyMemory<byte> Descriptor, ulong FileOffset);
