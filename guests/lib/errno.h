/* The error numbers Xen's hypercalls return, negated (Xen's public errno.h,
 * the Linux values on x86); also those xenstored names in its XS_ERROR
 * replies (xs_wire.h's xsd_errors). */
#ifndef XG_ERRNO_H
#define XG_ERRNO_H

#define EPERM           1
#define ENOENT          2
#define ESRCH           3
#define EIO             5
#define E2BIG           7
#define EAGAIN          11
#define ENOMEM          12
#define EACCES          13
#define EFAULT          14
#define EBUSY           16
#define EEXIST          17
#define ENODEV          19
#define EISDIR          21
#define EINVAL          22
#define ENOSPC          28
#define EROFS           30
#define ENOSYS          38
#define ENOTEMPTY       39
#define ETIME           62
#define EOPNOTSUPP      95
#define ENOBUFS         105
#define EISCONN         106

#endif /* XG_ERRNO_H */
