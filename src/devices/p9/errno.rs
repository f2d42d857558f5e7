//! Host I/O errors as the Linux errno values 9P2000.L carries in Rlerror.
//!
//! The guest is Linux, so replies use Linux numbers. The host's raw codes
//! come through `libc` constants, which match the host (emscripten numbers
//! its errnos differently from Linux), and are translated here.

use std::io;

pub const EPERM: u32 = 1;
pub const ENOENT: u32 = 2;
pub const EIO: u32 = 5;
pub const EBADF: u32 = 9;
pub const EAGAIN: u32 = 11;
pub const ENOMEM: u32 = 12;
pub const EACCES: u32 = 13;
pub const EBUSY: u32 = 16;
pub const EEXIST: u32 = 17;
pub const EXDEV: u32 = 18;
pub const ENOTDIR: u32 = 20;
pub const EISDIR: u32 = 21;
pub const EINVAL: u32 = 22;
pub const EFBIG: u32 = 27;
pub const ENOSPC: u32 = 28;
pub const EROFS: u32 = 30;
pub const EMLINK: u32 = 31;
pub const ERANGE: u32 = 34;
pub const ENAMETOOLONG: u32 = 36;
pub const ENOSYS: u32 = 38;
pub const ENOTEMPTY: u32 = 39;
pub const ELOOP: u32 = 40;
pub const EPROTO: u32 = 71;
pub const EMSGSIZE: u32 = 90;
pub const EOPNOTSUPP: u32 = 95;
pub const EDQUOT: u32 = 122;

/// (host errno, Linux errno) for the errors file operations produce.
const TABLE: &[(i32, u32)] = &[
    (libc::EPERM, EPERM),
    (libc::ENOENT, ENOENT),
    (libc::EIO, EIO),
    (libc::EBADF, EBADF),
    (libc::EAGAIN, EAGAIN),
    (libc::ENOMEM, ENOMEM),
    (libc::EACCES, EACCES),
    (libc::EBUSY, EBUSY),
    (libc::EEXIST, EEXIST),
    (libc::EXDEV, EXDEV),
    (libc::ENOTDIR, ENOTDIR),
    (libc::EISDIR, EISDIR),
    (libc::EINVAL, EINVAL),
    (libc::EFBIG, EFBIG),
    (libc::ENOSPC, ENOSPC),
    (libc::EROFS, EROFS),
    (libc::EMLINK, EMLINK),
    (libc::ERANGE, ERANGE),
    (libc::ENAMETOOLONG, ENAMETOOLONG),
    (libc::ENOSYS, ENOSYS),
    (libc::ENOTEMPTY, ENOTEMPTY),
    (libc::ELOOP, ELOOP),
    (libc::EOPNOTSUPP, EOPNOTSUPP),
    (libc::EDQUOT, EDQUOT),
];

/// The Linux errno for `e`.
pub fn linux_errno(e: &io::Error) -> u32 {
    if let Some(code) = e.raw_os_error() {
        return TABLE.iter().find(|(host, _)| *host == code).map_or(EIO, |&(_, linux)| linux);
    }
    match e.kind() {
        io::ErrorKind::NotFound => ENOENT,
        io::ErrorKind::PermissionDenied => EACCES,
        io::ErrorKind::AlreadyExists => EEXIST,
        io::ErrorKind::InvalidInput => EINVAL,
        io::ErrorKind::InvalidData => EINVAL,
        io::ErrorKind::Unsupported => EOPNOTSUPP,
        io::ErrorKind::OutOfMemory => ENOMEM,
        _ => EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_raw_and_kind_errors() {
        assert_eq!(linux_errno(&io::Error::from_raw_os_error(libc::ENOENT)), ENOENT);
        assert_eq!(linux_errno(&io::Error::from_raw_os_error(libc::ELOOP)), ELOOP);
        assert_eq!(linux_errno(&io::Error::new(io::ErrorKind::InvalidInput, "x")), EINVAL);
        assert_eq!(linux_errno(&io::Error::new(io::ErrorKind::Other, "x")), EIO);
    }
}
