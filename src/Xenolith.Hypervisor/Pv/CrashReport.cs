using System.Text;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor.Pv;

/// <summary>The register dump printed when the hypervisor crashes a domain, in the spirit of Xen's.</summary>
internal static class CrashReport
{
    public static string Format(Vcpu vcpu, string reason, in KvmRegs regs, in KvmSregs sregs, in TrapFrame? frame)
    {
        var s = new StringBuilder();
        s.Append($"(XEN) domain {vcpu.Domain.Id} ({vcpu.Domain.Name}) vcpu {vcpu.Id} crashed: {reason}\n");
        ulong rip = frame?.Rip ?? regs.Rip, rsp = frame?.Rsp ?? regs.Rsp;
        ulong cs = frame?.Cs ?? sregs.Cs.Selector, ss = frame?.Ss ?? sregs.Ss.Selector, rflags = frame?.Rflags ?? regs.Rflags;
        s.Append($"(XEN) rip: {rip:x16}   cs: {cs:x4}   rflags: {rflags:x16}   mode: {(vcpu.InKernelMode ? "kernel" : "user")}\n");
        s.Append($"(XEN) rsp: {rsp:x16}   ss: {ss:x4}   error: {(frame?.ErrorCode ?? 0):x16}\n");
        s.Append($"(XEN) rax: {regs.Rax:x16}   rbx: {regs.Rbx:x16}   rcx: {regs.Rcx:x16}\n");
        s.Append($"(XEN) rdx: {regs.Rdx:x16}   rsi: {regs.Rsi:x16}   rdi: {regs.Rdi:x16}\n");
        s.Append($"(XEN) rbp: {regs.Rbp:x16}   r8:  {regs.R8:x16}   r9:  {regs.R9:x16}\n");
        s.Append($"(XEN) r10: {regs.R10:x16}   r11: {regs.R11:x16}   r12: {regs.R12:x16}\n");
        s.Append($"(XEN) r13: {regs.R13:x16}   r14: {regs.R14:x16}   r15: {regs.R15:x16}\n");
        s.Append($"(XEN) cr2: {sregs.Cr2:x16}   cr3: {sregs.Cr3:x16}\n");
        return s.ToString();
    }
}
