using System.Buffers.Binary;
using System.Text;
using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// xen_version: every sub-op Xen offers a guest. As under Xen's default policy, an unprivileged
/// domain is denied the command line and build id (they describe the host, not the guest).
/// </summary>
public static class XenVersionHypercall
{
    public static void Register(HypercallTable table) => table.Register(Hypercall.XenVersion, Handle);

    private static long Handle(Vcpu caller, in HypercallArguments args)
    {
        int cmd = HypercallArguments.AsInt(args.Arg1);
        ulong arg = args.Arg2;
        bool deny = !caller.Domain.IsPrivileged && cmd is XenVersion.Commandline or XenVersion.Commandline2 or XenVersion.BuildId;
        switch (cmd)
        {
            case XenVersion.Version:
                return (XenBuildInfo.Major << 16) | XenBuildInfo.Minor;
            case XenVersion.Extraversion:
                return CopyFixedString(caller, arg, XenBuildInfo.Extraversion, XenVersion.ExtraversionLength);
            case XenVersion.CompileInfo:
                {
                    Span<byte> info = stackalloc byte[XenVersion.CompileInfoLength];
                    info.Clear();
                    PutString(info[..64], XenBuildInfo.Compiler);
                    PutString(info.Slice(64, 16), "xenolith");
                    PutString(info.Slice(80, 32), "localdomain");
                    PutString(info.Slice(112, 32), "unknown");
                    return caller.CopyToGuest(arg, info);
                }
            case XenVersion.Capabilities:
                return CopyFixedString(caller, arg, XenBuildInfo.Capabilities, XenVersion.CapabilitiesLength);
            case XenVersion.Changeset:
                return CopyFixedString(caller, arg, XenBuildInfo.Changeset, XenVersion.ChangesetLength);
            case XenVersion.PlatformParameters:
                {
                    // Release Xen still reports HYPERVISOR_VIRT_START to 64-bit PV guests.
                    Span<byte> p = stackalloc byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(p, X86Layout.HypervisorVirtStart);
                    return caller.CopyToGuest(arg, p);
                }
            case XenVersion.GetFeatures:
                {
                    // struct xen_feature_info { unsigned int submap_idx; uint32_t submap; }
                    Span<byte> fi = stackalloc byte[8];
                    if (caller.CopyFromGuest(arg, fi) != 0)
                        return -XenErrno.EFAULT;
                    if (BinaryPrimitives.ReadUInt32LittleEndian(fi) != 0)
                        return -XenErrno.EINVAL;
                    BinaryPrimitives.WriteUInt32LittleEndian(fi[4..], caller.Domain.FeatureSubmap0);
                    return caller.CopyToGuest(arg, fi);
                }
            case XenVersion.Pagesize:
                return arg != 0 ? -XenErrno.EINVAL : 4096;
            case XenVersion.GuestHandle:
                return caller.CopyToGuest(arg, caller.Domain.Handle.ToByteArray(bigEndian: true));
            case XenVersion.Commandline:
                {
                    // Denied: Xen copies "<denied>" and its NUL, not the whole buffer.
                    byte[] text = Encoding.ASCII.GetBytes(XenBuildInfo.Denied + "\0");
                    return deny ? caller.CopyToGuest(arg, text) : CopyFixedString(caller, arg, "", XenVersion.CommandlineLength);
                }
            case XenVersion.BuildId:
            case XenVersion.Commandline2:
                return deny ? -XenErrno.EPERM : Varbuf(caller, arg, "");
            case XenVersion.Extraversion2:
                return Varbuf(caller, arg, XenBuildInfo.Extraversion);
            case XenVersion.Capabilities2:
                return Varbuf(caller, arg, XenBuildInfo.Capabilities);
            case XenVersion.Changeset2:
                return Varbuf(caller, arg, XenBuildInfo.Changeset);
            default:
                return -XenErrno.ENOSYS;
        }
    }

    private static long CopyFixedString(Vcpu caller, ulong arg, string value, int size)
    {
        Span<byte> buffer = stackalloc byte[size];
        buffer.Clear();
        PutString(buffer, value);
        return caller.CopyToGuest(arg, buffer);
    }

    /// <summary>struct xen_varbuf { uint32_t len; unsigned char buf[]; }: not NUL-terminated; a NULL arg asks the length.</summary>
    private static long Varbuf(Vcpu caller, ulong arg, string value)
    {
        byte[] text = Encoding.ASCII.GetBytes(value);
        if (text.Length > XenVersion.VarbufLimit)
            return -XenErrno.E2BIG;
        if (arg == 0)
            return text.Length;
        if (caller.ReadGuest(arg, out uint length) != 0)
            return -XenErrno.EFAULT;
        if (length == 0)
            return -XenErrno.EINVAL;
        if ((uint)text.Length > length)
            return -XenErrno.ENOBUFS;
        return caller.CopyToGuest(arg + 4, text) != 0 ? -XenErrno.EFAULT : text.Length;
    }

    /// <summary>Writes ASCII text, truncated so the field keeps a terminating NUL.</summary>
    private static void PutString(Span<byte> field, string value)
    {
        int length = Math.Min(value.Length, field.Length - 1);
        Encoding.ASCII.GetBytes(value.AsSpan(0, length), field);
    }
}
