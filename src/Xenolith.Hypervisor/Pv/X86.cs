namespace Xenolith.Hypervisor.Pv;

/// <summary>Architectural x86-64 bits the PV vCPU setup uses.</summary>
public static class X86
{
    public const ulong Cr0Pe = 1UL << 0, Cr0Mp = 1UL << 1, Cr0Ts = 1UL << 3, Cr0Et = 1UL << 4, Cr0Ne = 1UL << 5, Cr0Wp = 1UL << 16, Cr0Pg = 1UL << 31;
    public const ulong Cr4Pae = 1UL << 5, Cr4Osfxsr = 1UL << 9, Cr4Osxmmexcpt = 1UL << 10;
    public const ulong EferSce = 1UL << 0, EferLme = 1UL << 8, EferLma = 1UL << 10, EferNxe = 1UL << 11;

    public const ulong RflagsCf = 1UL << 0, RflagsPf = 1UL << 2, RflagsAf = 1UL << 4, RflagsZf = 1UL << 6, RflagsSf = 1UL << 7, RflagsOf = 1UL << 11;
    public const ulong RflagsReserved = 1UL << 1, RflagsTf = 1UL << 8, RflagsIf = 1UL << 9, RflagsDf = 1UL << 10;
    public const ulong RflagsIopl = 3UL << 12, RflagsNt = 1UL << 14, RflagsRf = 1UL << 16, RflagsVm = 1UL << 17, RflagsAc = 1UL << 18;
    /// <summary>Flags a guest may hold: arithmetic, TF, DF, AC and ID. IOPL, NT, VM and RF stay clear; IF stays set.</summary>
    public const ulong RflagsGuestMask = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000 | 0x20_0000;

    public const uint MsrTsc = 0x10;
    public const uint MsrSysenterCs = 0x174;
    public const uint MsrStar = 0xc000_0081, MsrLstar = 0xc000_0082, MsrCstar = 0xc000_0083, MsrSfmask = 0xc000_0084;
    public const uint MsrFsBase = 0xc000_0100, MsrGsBase = 0xc000_0101, MsrKernelGsBase = 0xc000_0102;

    public static string VectorName(int vector) => vector switch
    {
        0 => "#DE", 1 => "#DB", 2 => "NMI", 3 => "#BP", 4 => "#OF", 5 => "#BR", 6 => "#UD", 7 => "#NM",
        8 => "#DF", 10 => "#TS", 11 => "#NP", 12 => "#SS", 13 => "#GP", 14 => "#PF", 16 => "#MF",
        17 => "#AC", 18 => "#MC", 19 => "#XM", 20 => "#VE", 21 => "#CP", _ => vector < 32 ? "reserved" : "interrupt",
    };
}
