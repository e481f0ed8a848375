using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Xenolith.Abi;

/// <summary>struct start_info for x86-64 PV guests (xen.h): 1168 bytes, at the address the guest receives in rsi.</summary>
[StructLayout(LayoutKind.Sequential, Size = StartInfo.Size)]
public struct StartInfo
{
    public const int Size = 1168;
    public const int MagicLength = 32;
    public const int MaxGuestCmdline = 1024;
    public const string MagicX86_64 = "xen-3.0-x86_64";

    public MagicBytes Magic;                 // 0
    public ulong NrPages;                    // 32
    public ulong SharedInfo;                 // 40: machine address
    public StartInfoFlags Flags;             // 48
    private uint _pad0;
    public ulong StoreMfn;                   // 56
    public uint StoreEvtchn;                 // 64
    private uint _pad1;
    public ulong ConsoleMfn;                 // 72: console.domU.mfn
    public uint ConsoleEvtchn;               // 80: console.domU.evtchn
    private uint _pad2;
    public ulong PtBase;                     // 88: virtual address of the bootstrap L4
    public ulong NrPtFrames;                 // 96
    public ulong MfnList;                    // 104: virtual address of the P2M list
    public ulong ModStart;                   // 112
    public ulong ModLen;                     // 120
    public CmdLineBytes CmdLine;             // 128
    public ulong FirstP2mPfn;                // 1152
    public ulong NrP2mFrames;                // 1160

    [InlineArray(MagicLength)]
    public struct MagicBytes { private byte _element; }

    [InlineArray(MaxGuestCmdline)]
    public struct CmdLineBytes { private byte _element; }
}

/// <summary>start_info.flags (SIF_*).</summary>
[Flags]
public enum StartInfoFlags : uint
{
    None = 0,
    Privileged = 1 << 0,
    InitDomain = 1 << 1,
    MultibootMod = 1 << 2,
    ModStartPfn = 1 << 3,
    VirtP2mForTools = 1 << 4,
}
