use super::*;
use crate::test_util::TempDir;

struct Fixture {
    _tmp: TempDir,
    outside: PathBuf,
    share: HostDir,
}

/// share/ with a file, a subdirectory, and symlinks pointing outside;
/// outside/secret next to it.
fn fixture() -> Fixture {
    let tmp = TempDir::new("fs");
    let outside = tmp.0.join("outside");
    let root = tmp.0.join("share");
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(outside.join("secret"), b"secret").unwrap();
    fs::write(root.join("hello.txt"), b"hello").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("abs_dir_link")).unwrap();
    std::os::unix::fs::symlink("../outside/secret", root.join("rel_file_link")).unwrap();
    std::os::unix::fs::symlink("../../outside", root.join("sub/up_link")).unwrap();
    let share = HostDir::new(&root).unwrap();
    Fixture { _tmp: tmp, outside, share }
}

fn p(names: &[&str]) -> SharePath {
    let mut path = SharePath::root();
    for n in names {
        path = path.join(n).unwrap();
    }
    path
}

#[test]
fn names_cannot_climb() {
    for bad in ["..", ".", "", "a/b", "/etc", "a\0b"] {
        assert!(SharePath::root().join(bad).is_err(), "{bad:?} accepted");
    }
    assert!(validate_name(&"x".repeat(256)).is_err());
    assert_eq!(p(&["a", "b"]).parent(), p(&["a"]));
    assert_eq!(SharePath::root().parent(), SharePath::root(), "the root is its own parent");
}

#[test]
fn reads_and_writes_inside() {
    let f = fixture();
    let mut file = f.share.open(&p(&["hello.txt"]), OpenFlags { read: true, ..Default::default() }).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(file.read_at(1, &mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"ello");
    let mut new = f.share.create(&p(&["sub"]), "new", OpenFlags::default(), 0o640).unwrap();
    new.write_at(0, b"data").unwrap();
    assert_eq!(f.share.getattr(&p(&["sub", "new"])).unwrap().size, 4);
    assert_eq!(f.share.getattr(&p(&["sub", "new"])).unwrap().mode & 0o777, 0o640);
    let excl = OpenFlags { exclusive: true, ..Default::default() };
    assert!(f.share.create(&p(&["sub"]), "new", excl, 0o640).is_err(), "O_EXCL on an existing file");
    assert!(f.share.create(&p(&["sub"]), "new", OpenFlags::default(), 0o640).is_ok(), "plain O_CREAT opens it");
    assert!(
        f.share.create(&SharePath::root(), "rel_file_link", OpenFlags::default(), 0o640).is_err(),
        "never through a symlink"
    );
    let names: Vec<_> = f.share.read_dir(&SharePath::root()).unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["abs_dir_link", "hello.txt", "rel_file_link", "sub"]);
}

#[test]
fn symlinks_are_never_followed_on_the_host() {
    let f = fixture();
    let ro = OpenFlags { read: true, ..Default::default() };
    let eloop = Some(libc::ELOOP);
    // Opening a symlink (absolute or relative target) fails.
    assert_eq!(f.share.open(&p(&["rel_file_link"]), ro).err().and_then(|e| e.raw_os_error()), eloop);
    assert_eq!(f.share.open(&p(&["abs_dir_link"]), ro).err().and_then(|e| e.raw_os_error()), eloop);
    // Walking through a symlinked directory fails for every operation.
    let via = p(&["abs_dir_link", "secret"]);
    assert!(f.share.getattr(&via).is_err());
    assert!(f.share.open(&via, ro).is_err());
    assert!(f.share.read_dir(&p(&["abs_dir_link"])).is_err());
    assert!(f.share.create(&p(&["abs_dir_link"]), "planted", OpenFlags::default(), 0o644).is_err());
    assert!(f.share.mkdir(&p(&["sub", "up_link"]), "d", 0o755).is_err());
    assert!(f.share.remove(&p(&["abs_dir_link"]), "secret", false).is_err());
    assert!(f.share.rename(&p(&["hello.txt"]), &p(&["abs_dir_link", "stolen"])).is_err());
    assert!(f.share.link(&p(&["hello.txt"]), &p(&["abs_dir_link"]), "l").is_err());
    // setattr must not chmod/truncate through a link.
    let trunc = SetAttr { size: Some(0), ..Default::default() };
    assert!(f.share.setattr(&p(&["rel_file_link"]), &trunc).is_err());
    let chmod = SetAttr { mode: Some(0o777), ..Default::default() };
    assert!(f.share.setattr(&p(&["abs_dir_link"]), &chmod).is_err());
    // A dangling link pointing outside: creating "through" it must not
    // create the target.
    std::os::unix::fs::symlink("../outside/planted", f.share.root().join("dangling")).unwrap();
    assert!(f.share.create(&SharePath::root(), "dangling", OpenFlags::default(), 0o644).is_err());
    assert!(f.share.open(&p(&["dangling"]), OpenFlags { write: true, ..Default::default() }).is_err());
    // The outside is untouched.
    assert_eq!(fs::read(f.outside.join("secret")).unwrap(), b"secret");
    assert_eq!(fs::read_dir(&f.outside).unwrap().count(), 1);
    assert_ne!(fs::metadata(&f.outside).unwrap().permissions().mode() & 0o777, 0o777);
    // The link itself is visible and readable as text, for the guest to resolve.
    assert_eq!(f.share.getattr(&p(&["rel_file_link"])).unwrap().kind, FileKind::Symlink);
    assert_eq!(f.share.readlink(&p(&["rel_file_link"])).unwrap(), "../outside/secret");
    // Removing a link removes the link, not its target.
    f.share.remove(&SharePath::root(), "rel_file_link", false).unwrap();
    assert!(f.outside.join("secret").exists());
}

#[test]
fn special_files_are_not_opened() {
    let f = fixture();
    let fifo = f.share.root().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    // Would block forever without a writer if it were opened.
    let err = f.share.open(&p(&["fifo"]), OpenFlags { read: true, ..Default::default() }).err().unwrap();
    assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP));
    assert_eq!(f.share.getattr(&p(&["fifo"])).unwrap().kind, FileKind::Other);
}

#[test]
fn guest_made_symlinks_stay_text() {
    let f = fixture();
    f.share.symlink(&SharePath::root(), "etc_link", "/etc").unwrap();
    assert_eq!(f.share.readlink(&p(&["etc_link"])).unwrap(), "/etc");
    assert!(f.share.read_dir(&p(&["etc_link"])).is_err());
    assert!(f.share.getattr(&p(&["etc_link", "passwd"])).is_err());
}

#[test]
fn rename_mkdir_remove_setattr_statfs() {
    let f = fixture();
    f.share.mkdir(&SharePath::root(), "d", 0o750).unwrap();
    assert_eq!(f.share.getattr(&p(&["d"])).unwrap().kind, FileKind::Dir);
    f.share.rename(&p(&["hello.txt"]), &p(&["d", "moved.txt"])).unwrap();
    assert!(f.share.getattr(&p(&["hello.txt"])).is_err());
    assert!(f.share.rename(&p(&["d"]), &p(&["d", "inner"])).is_err(), "into itself");
    assert!(f.share.remove(&SharePath::root(), "d", true).is_err(), "not empty");
    let changes = SetAttr {
        size: Some(2),
        mode: Some(0o600),
        mtime: Some(TimeSet::At(Timespec { sec: 1_000_000, nsec: 5 })),
        ..Default::default()
    };
    f.share.setattr(&p(&["d", "moved.txt"]), &changes).unwrap();
    let a = f.share.getattr(&p(&["d", "moved.txt"])).unwrap();
    assert_eq!((a.size, a.mode & 0o777, a.mtime.sec), (2, 0o600, 1_000_000));
    f.share.remove(&p(&["d"]), "moved.txt", false).unwrap();
    f.share.remove(&SharePath::root(), "d", true).unwrap();
    let st = f.share.statfs(&SharePath::root()).unwrap();
    assert!(st.bsize > 0 && st.blocks > 0 && st.namelen >= 255);
}
