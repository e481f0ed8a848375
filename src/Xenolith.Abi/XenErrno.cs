namespace Xenolith.Abi;

/// <summary>Xen's error numbers (errno.h in the public headers: the Linux values). Hypercalls return -value.</summary>
public static class XenErrno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int E2BIG = 7;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int EXDEV = 18;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int ENFILE = 23;
    public const int ENOSPC = 28;
    public const int ERANGE = 34;
    public const int ENOSYS = 38;
    public const int ENODATA = 61;
    public const int ETIME = 62;
    public const int EOVERFLOW = 75;
    public const int EILSEQ = 84;
    public const int EOPNOTSUPP = 95;
    public const int ENOBUFS = 105;
    public const int EISCONN = 106;
    public const int ENOTCONN = 107;
    public const int ETIMEDOUT = 110;
}
