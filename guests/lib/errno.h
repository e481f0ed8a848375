/* The error numbers Xen's hypercalls return, negated (Xen's public errno.h,
 * the Linux values on x86). */
#ifndef XG_ERRNO_H
#define XG_ERRNO_H

#define EPERM           1
#define ENOENT          2
#define ESRCH           3
#define ENOMEM          12
#define EACCES          13
#define EFAULT          14
#define EBUSY           16
#define EEXIST          17
#define ENODEV          19
#define EINVAL          22
#define ENOSPC          28
#define ENOSYS          38
#define ETIME           62
#define EOPNOTSUPP      95
#define ENOBUFS         105

#endif /* XG_ERRNO_H */
