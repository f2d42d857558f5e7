use super::*;
use crate::backends::fs::HostDir;
use crate::test_util::TempDir;
use std::fs;

const ROOT: u32 = 1;

/// A client speaking to the server the way Linux's v9fs does.
struct Client {
    server: Server,
    tag: u16,
    dir: TempDir,
}

/// A decoded reply: type and body.
struct Reply {
    kind: u8,
    body: Vec<u8>,
}

impl Reply {
    fn ok(self, want: u8) -> Vec<u8> {
        if self.kind == msg::RLERROR {
            panic!("expected type {want}, got Rlerror {}", u32::from_le_bytes(self.body[..4].try_into().unwrap()));
        }
        assert_eq!(self.kind, want);
        self.body
    }
    fn errno(self) -> u32 {
        assert_eq!(self.kind, msg::RLERROR, "expected an error");
        u32::from_le_bytes(self.body[..4].try_into().unwrap())
    }
}

impl Client {
    fn new() -> Client {
        let dir = TempDir::new("p9");
        let share = dir.0.join("share");
        fs::create_dir_all(share.join("sub")).unwrap();
        fs::write(share.join("hello.txt"), b"hello world").unwrap();
        fs::create_dir_all(dir.0.join("outside")).unwrap();
        fs::write(dir.0.join("outside/secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.0.join("outside"), share.join("escape")).unwrap();
        let server = Server::new(Box::new(HostDir::new(&share).unwrap()));
        let mut c = Client { server, tag: 0, dir };
        let body = c
            .call(msg::TVERSION, |w| {
                w.u32(65536).string("9P2000.L");
            })
            .ok(msg::TVERSION + 1);
        assert_eq!(u32::from_le_bytes(body[..4].try_into().unwrap()), 65536);
        c.call(msg::TATTACH, |w| {
            w.u32(ROOT).u32(u32::MAX).string("root").string("").u32(0);
        })
        .ok(msg::TATTACH + 1);
        c
    }

    fn share(&self) -> std::path::PathBuf {
        self.dir.0.join("share")
    }

    fn call(&mut self, kind: u8, body: impl FnOnce(&mut Writer)) -> Reply {
        self.tag = self.tag.wrapping_add(1);
        let mut w = Writer::new(kind, self.tag);
        body(&mut w);
        let reply = self.server.handle(&w.finish(), 1 << 20);
        let (size, kind, tag) = wire::decode_header(&reply).unwrap();
        assert_eq!(size, reply.len());
        assert_eq!(tag, self.tag);
        Reply { kind, body: reply[7..].to_vec() }
    }

    fn walk(&mut self, fid: u32, newfid: u32, names: &[&str]) -> Reply {
        self.call(msg::TWALK, |w| {
            w.u32(fid).u32(newfid).u16(names.len() as u16);
            for n in names {
                w.string(n);
            }
        })
    }

    fn lopen(&mut self, fid: u32, flags: u32) -> Reply {
        self.call(msg::TLOPEN, |w| {
            w.u32(fid).u32(flags);
        })
    }

    fn read(&mut self, fid: u32, offset: u64, count: u32) -> Vec<u8> {
        let body = self
            .call(msg::TREAD, |w| {
                w.u32(fid).u64(offset).u32(count);
            })
            .ok(msg::TREAD + 1);
        let n = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
        body[4..4 + n].to_vec()
    }

    fn readdir_names(&mut self, fid: u32) -> Vec<String> {
        let mut names = Vec::new();
        let mut offset = 0u64;
        loop {
            let body = self
                .call(msg::TREADDIR, |w| {
                    w.u32(fid).u64(offset).u32(100);
                })
                .ok(msg::TREADDIR + 1);
            let count = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
            if count == 0 {
                return names;
            }
            let mut r = wire::Reader::new(&body[4..4 + count]);
            while let Ok(_qid_kind) = r.u8() {
                r.u32().unwrap();
                r.u64().unwrap();
                offset = r.u64().unwrap();
                r.u8().unwrap();
                names.push(r.string().unwrap());
            }
        }
    }
}

#[test]
fn walk_open_read_write_create() {
    let mut c = Client::new();
    let body = c.walk(ROOT, 2, &["hello.txt"]).ok(msg::TWALK + 1);
    assert_eq!(body[..2], [1, 0], "one qid");
    c.lopen(2, 0).ok(msg::TLOPEN + 1);
    assert_eq!(c.read(2, 6, 100), b"world");
    assert_eq!(c.read(2, 100, 100), b"", "read past EOF");
    // Writing to a read-only fid fails.
    let e = c.call(msg::TWRITE, |w| {
        w.u32(2).u64(0).u32(1).bytes(b"x");
    });
    assert_eq!(e.errno(), errno::EBADF);
    // Create in sub/, write, read back on the host.
    c.walk(ROOT, 3, &["sub"]).ok(msg::TWALK + 1);
    c.call(msg::TLCREATE, |w| {
        w.u32(3).string("new.txt").u32(2).u32(0o644).u32(0);
    })
    .ok(msg::TLCREATE + 1);
    let body = c
        .call(msg::TWRITE, |w| {
            w.u32(3).u64(0).u32(5).bytes(b"12345");
        })
        .ok(msg::TWRITE + 1);
    assert_eq!(body, 5u32.to_le_bytes());
    c.call(msg::TFSYNC, |w| {
        w.u32(3).u32(0);
    })
    .ok(msg::TFSYNC + 1);
    assert_eq!(fs::read(c.share().join("sub/new.txt")).unwrap(), b"12345");
    c.call(msg::TCLUNK, |w| {
        w.u32(3);
    })
    .ok(msg::TCLUNK + 1);
    assert_eq!(
        c.call(msg::TCLUNK, |w| {
            w.u32(3);
        })
        .errno(),
        errno::EBADF,
        "double clunk"
    );
}

#[test]
fn dot_dot_and_symlinks_never_escape() {
    let mut c = Client::new();
    // `..` from the root stays at the root: both walks land on the same qid.
    let root_qid = c.walk(ROOT, 10, &[]).ok(msg::TWALK + 1);
    assert_eq!(root_qid, [0, 0]);
    let up = c.walk(ROOT, 11, &["..", "..", ".."]).ok(msg::TWALK + 1);
    let attr = |c: &mut Client, fid: u32| {
        c.call(msg::TGETATTR, |w| {
            w.u32(fid).u64(0x7ff);
        })
        .ok(msg::TGETATTR + 1)[8..21]
            .to_vec()
    };
    let root = attr(&mut c, ROOT);
    assert_eq!(attr(&mut c, 11), root);
    assert_eq!(up[2..15], root[..], "each .. returned the root's qid");
    // Names with slashes are refused outright.
    assert_eq!(c.walk(ROOT, 12, &["../outside/secret"]).errno(), errno::EINVAL);
    assert_eq!(c.walk(ROOT, 12, &["/etc"]).errno(), errno::EINVAL);
    // Walking through the symlink to outside/ stops at the link (9P partial
    // walk: one qid, newfid not created) because the host check refuses to
    // enter it; alone, the step beyond is ELOOP.
    let body = c.walk(ROOT, 12, &["escape", "secret"]).ok(msg::TWALK + 1);
    assert_eq!(body[..2], [1, 0]);
    assert_eq!(body[2], wire::QID_SYMLINK);
    assert_eq!(c.lopen(12, 0).errno(), errno::EBADF, "newfid was not created");
    // Walking to the symlink itself works (the guest may readlink it), but
    // opening it is refused.
    c.walk(ROOT, 13, &["escape"]).ok(msg::TWALK + 1);
    assert_eq!(c.lopen(13, 0).errno(), errno::ELOOP);
    assert_eq!(c.walk(13, 17, &["secret"]).errno(), errno::ELOOP);
    let target = c
        .call(msg::TREADLINK, |w| {
            w.u32(13);
        })
        .ok(msg::TREADLINK + 1);
    assert!(String::from_utf8_lossy(&target).ends_with("outside"));
    // Creating through the link is refused; the outside is unchanged.
    c.call(msg::TMKDIR, |w| {
        w.u32(13).string("planted").u32(0o755).u32(0);
    })
    .errno();
    assert_eq!(fs::read_dir(c.dir.0.join("outside")).unwrap().count(), 1);
    // A guest-made symlink to / then walked through: refused.
    c.call(msg::TSYMLINK, |w| {
        w.u32(ROOT).string("rootlink").string("/").u32(0);
    })
    .ok(msg::TSYMLINK + 1);
    assert_eq!(c.walk(ROOT, 14, &["rootlink", "etc"]).ok(msg::TWALK + 1)[..2], [1, 0]);
    c.walk(ROOT, 15, &["rootlink"]).ok(msg::TWALK + 1);
    assert_eq!(c.walk(15, 16, &["etc"]).errno(), errno::ELOOP);
    // Renaming onto a path through the link is refused too.
    let e = c.call(msg::TRENAMEAT, |w| {
        w.u32(ROOT).string("hello.txt").u32(13).string("stolen");
    });
    assert_eq!(e.kind, msg::RLERROR);
    assert!(c.share().join("hello.txt").exists());
}

#[test]
fn readdir_mkdir_rename_unlink_statfs() {
    let mut c = Client::new();
    c.walk(ROOT, 2, &[]).ok(msg::TWALK + 1);
    c.lopen(2, 0).ok(msg::TLOPEN + 1);
    // count 100 forces several Treaddir round trips.
    assert_eq!(c.readdir_names(2), [".", "..", "escape", "hello.txt", "sub"]);
    c.call(msg::TMKDIR, |w| {
        w.u32(ROOT).string("d").u32(0o750).u32(0);
    })
    .ok(msg::TMKDIR + 1);
    assert!(c.share().join("d").is_dir());
    c.walk(ROOT, 3, &["hello.txt"]).ok(msg::TWALK + 1);
    c.walk(ROOT, 4, &["d"]).ok(msg::TWALK + 1);
    c.call(msg::TRENAMEAT, |w| {
        w.u32(ROOT).string("hello.txt").u32(4).string("moved.txt");
    })
    .ok(msg::TRENAMEAT + 1);
    assert!(c.share().join("d/moved.txt").exists());
    // The fid opened before the rename follows the file.
    c.lopen(3, 0).ok(msg::TLOPEN + 1);
    assert_eq!(c.read(3, 0, 5), b"hello");
    // rmdir of a non-empty directory fails, unlink of a directory fails.
    assert_eq!(
        c.call(msg::TUNLINKAT, |w| {
            w.u32(ROOT).string("d").u32(0x200);
        })
        .errno(),
        errno::ENOTEMPTY
    );
    assert_eq!(
        c.call(msg::TUNLINKAT, |w| {
            w.u32(ROOT).string("d").u32(0);
        })
        .errno(),
        errno::EISDIR
    );
    c.call(msg::TUNLINKAT, |w| {
        w.u32(4).string("moved.txt").u32(0);
    })
    .ok(msg::TUNLINKAT + 1);
    c.call(msg::TUNLINKAT, |w| {
        w.u32(ROOT).string("d").u32(0x200);
    })
    .ok(msg::TUNLINKAT + 1);
    assert!(!c.share().join("d").exists());
    let st = c
        .call(msg::TSTATFS, |w| {
            w.u32(ROOT);
        })
        .ok(msg::TSTATFS + 1);
    assert_eq!(st[..4], 0x0102_1997u32.to_le_bytes());
    assert_eq!(
        c.call(msg::TUNLINKAT, |w| {
            w.u32(ROOT).string("..").u32(0);
        })
        .errno(),
        errno::EINVAL
    );
}

#[test]
fn getattr_setattr_and_unsupported() {
    let mut c = Client::new();
    c.walk(ROOT, 2, &["hello.txt"]).ok(msg::TWALK + 1);
    c.call(msg::TSETATTR, |w| {
        w.u32(2).u32(0x1 | 0x8 | 0x20 | 0x100).u32(0o600).u32(0).u32(0).u64(5).u64(0).u64(0).u64(1_000_000).u64(0);
    })
    .ok(msg::TSETATTR + 1);
    let a = c
        .call(msg::TGETATTR, |w| {
            w.u32(2).u64(0x7ff);
        })
        .ok(msg::TGETATTR + 1);
    let mut r = wire::Reader::new(&a);
    assert_eq!(r.u64().unwrap(), 0x7ff);
    r.u8().unwrap();
    r.u32().unwrap();
    r.u64().unwrap();
    assert_eq!(r.u32().unwrap() & 0o7777, 0o600);
    r.u32().unwrap();
    r.u32().unwrap();
    r.u64().unwrap();
    r.u64().unwrap();
    assert_eq!(r.u64().unwrap(), 5, "size");
    r.u64().unwrap();
    r.u64().unwrap();
    r.u64().unwrap();
    r.u64().unwrap();
    assert_eq!(r.u64().unwrap(), 1_000_000, "mtime");
    assert_eq!(fs::read(c.share().join("hello.txt")).unwrap(), b"hello");
    assert_eq!(
        c.call(msg::TXATTRWALK, |w| {
            w.u32(2).u32(5).string("user.x");
        })
        .errno(),
        errno::EOPNOTSUPP
    );
    assert_eq!(
        c.call(msg::TMKNOD, |w| {
            w.u32(ROOT).string("n").u32(0).u32(0).u32(0).u32(0);
        })
        .errno(),
        errno::EOPNOTSUPP
    );
    c.call(msg::TFLUSH, |w| {
        w.u16(1);
    })
    .ok(msg::TFLUSH + 1);
    // Unknown fids.
    assert_eq!(c.lopen(99, 0).errno(), errno::EBADF);
    assert_eq!(c.walk(99, 100, &[]).errno(), errno::EBADF);
}

#[test]
fn open_file_survives_unlink() {
    let mut c = Client::new();
    c.walk(ROOT, 2, &["hello.txt"]).ok(msg::TWALK + 1);
    c.lopen(2, 2).ok(msg::TLOPEN + 1);
    c.call(msg::TUNLINKAT, |w| {
        w.u32(ROOT).string("hello.txt").u32(0);
    })
    .ok(msg::TUNLINKAT + 1);
    assert_eq!(c.read(2, 0, 5), b"hello");
    let a = c.call(msg::TGETATTR, |w| { w.u32(2).u64(0x7ff); }).ok(msg::TGETATTR + 1);
    // valid[8] qid[13] mode[4] uid[4] gid[4] nlink[8] rdev[8] size[8]
    assert_eq!(u64::from_le_bytes(a[33..41].try_into().unwrap()), 0, "nlink 0 after unlink");
    assert_eq!(u64::from_le_bytes(a[49..57].try_into().unwrap()), 11, "size from the open handle");
}

#[test]
fn malformed_messages_get_rlerror() {
    let mut c = Client::new();
    // Truncated Twalk keeps its tag.
    let reply = c.server.handle(&[11, 0, 0, 0, msg::TWALK, 0x42, 0, 1, 0, 0, 0], 4096);
    assert_eq!(reply, wire::rlerror(0x42, errno::EPROTO));
    // Garbage shorter than a header.
    assert_eq!(c.server.handle(&[1, 2], 4096), wire::rlerror(u16::MAX, errno::EPROTO));
    // An msize too small to work with.
    let mut w = Writer::new(msg::TVERSION, 3);
    w.u32(100).string("9P2000.L");
    assert_eq!(c.server.handle(&w.finish(), 4096), wire::rlerror(3, errno::EMSGSIZE));
    // Unknown type.
    assert_eq!(c.server.handle(&[7, 0, 0, 0, 250, 1, 0], 4096), wire::rlerror(1, errno::EOPNOTSUPP));
    // A read reply never exceeds the room the transport has.
    c.walk(ROOT, 2, &["hello.txt"]).ok(msg::TWALK + 1);
    c.lopen(2, 0).ok(msg::TLOPEN + 1);
    let mut w = Writer::new(msg::TREAD, 7);
    w.u32(2).u64(0).u32(u32::MAX);
    let reply = c.server.handle(&w.finish(), 15);
    assert_eq!(reply.len(), 15);
    assert_eq!(&reply[11..], b"hell");
}

#[test]
fn fid_table_is_bounded() {
    let mut c = Client::new();
    let mut last = None;
    for fid in 2..(MAX_FIDS as u32 + 10) {
        let r = c.walk(ROOT, fid, &[]);
        if r.kind == msg::RLERROR {
            last = Some(r.errno());
            break;
        }
    }
    assert_eq!(last, Some(errno::ENOMEM));
}
