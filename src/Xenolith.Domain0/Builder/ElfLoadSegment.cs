namespace Xenolith.Domain0.Builder;

/// <summary>
/// One loadable (PT_LOAD) segment of a kernel image, already checked against the file bounds.
/// </summary>
/// <param name="PhysicalAddress">p_paddr: where the segment goes in the guest's pseudo-physical space (before the VIRT_BASE/PADDR_OFFSET shift).</param>
/// <param name="VirtualAddress">p_vaddr as written in the program header.</param>
/// <param name="FileOffset">p_offset: where the segment's bytes start in the file.</param>
/// <param name="FileSize">p_filesz: bytes copied from the file.</param>
/// <param name="MemorySize">p_memsz: bytes occupied in memory; the tail past <paramref name="FileSize"/> is zeroed.</param>
/// <param name="Writable">PF_W is set.</param>
/// <param name="Executable">PF_X is set.</param>
public readonly record struct ElfLoadSegment(
    ulong PhysicalAddress,
    ulong VirtualAddress,
    ulong FileOffset,
    ulong FileSize,
    ulong MemorySize,
    bool Writable,
    bool Executable);
