using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Pv;

/// <summary>The trampoline frames every domain shares: IDT, trap stubs, syscall stub, and a zero page.</summary>
public sealed class Trampoline
{
    public Trampoline(MachineMemory memory)
    {
        IdtMfn = memory.Allocate(DomainIds.Xen);
        StubsMfn = memory.Allocate(DomainIds.Xen);
        SyscallMfn = memory.Allocate(DomainIds.Xen);
        ZeroMfn = memory.Allocate(DomainIds.Xen);
        TrampolineCode.WriteIdt(memory.Frame(IdtMfn));
        TrampolineCode.WriteStubPage(memory.Frame(StubsMfn));
        TrampolineCode.WriteSyscallPage(memory.Frame(SyscallMfn));
    }

    public ulong IdtMfn { get; }
    public ulong StubsMfn { get; }
    public ulong SyscallMfn { get; }
    public ulong ZeroMfn { get; }
}
