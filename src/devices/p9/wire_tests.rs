use super::*;

fn tmsg(kind: u8, tag: u16, body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new(kind, tag);
    body(&mut w);
    w.finish()
}

#[test]
fn decodes_version_and_walk() {
    let m = tmsg(msg::TVERSION, 0xffff, |w| {
        w.u32(8192).string("9P2000.L");
    });
    assert_eq!(
        decode(&m).unwrap(),
        Message {
            kind: msg::TVERSION,
            tag: 0xffff,
            body: Request::Version { msize: 8192, version: "9P2000.L".into() }
        }
    );
    let m = tmsg(msg::TWALK, 3, |w| {
        w.u32(1).u32(2).u16(2).string("a").string("..");
    });
    assert_eq!(decode(&m).unwrap().body, Request::Walk { fid: 1, newfid: 2, names: vec!["a".into(), "..".into()] });
}

#[test]
fn every_truncation_is_an_error() {
    let full = tmsg(msg::TLCREATE, 9, |w| {
        w.u32(1).string("file.txt").u32(0o100).u32(0o644).u32(0);
    });
    assert!(decode(&full).is_ok());
    for cut in 0..full.len() {
        let mut m = full[..cut].to_vec();
        if m.len() >= 4 {
            // Also with the size field claiming the shorter length.
            m[0..4].copy_from_slice(&(cut as u32).to_le_bytes());
        }
        assert!(decode(&m).is_err(), "accepted a message cut at {cut}");
        assert!(decode(&full[..cut]).is_err());
    }
}

#[test]
fn hostile_fields() {
    // String length past the end.
    let m = tmsg(msg::TVERSION, 1, |w| {
        w.u32(8192).u16(60000).bytes(b"9P");
    });
    assert!(matches!(decode(&m), Err(DecodeError::Truncated { .. })));
    // Write count past the end (a 4 GB claim must not allocate).
    let m = tmsg(msg::TWRITE, 1, |w| {
        w.u32(1).u64(0).u32(u32::MAX).bytes(b"abc");
    });
    assert!(matches!(decode(&m), Err(DecodeError::Truncated { .. })));
    // Too many walk names.
    let m = tmsg(msg::TWALK, 1, |w| {
        w.u32(1).u32(2).u16(17);
        for _ in 0..17 {
            w.string("a");
        }
    });
    assert_eq!(decode(&m), Err(DecodeError::TooManyNames(17)));
    // Invalid UTF-8.
    let m = tmsg(msg::TWALK, 1, |w| {
        w.u32(1).u32(2).u16(1).u16(2).bytes(&[0xff, 0xfe]);
    });
    assert_eq!(decode(&m), Err(DecodeError::NotUtf8));
    // Size field smaller than the header, or larger than the buffer.
    let mut m = tmsg(msg::TCLUNK, 1, |w| {
        w.u32(1);
    });
    m[0..4].copy_from_slice(&3u32.to_le_bytes());
    assert!(matches!(decode(&m), Err(DecodeError::BadSize { .. })));
    m[0..4].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(decode(&m), Err(DecodeError::BadSize { .. })));
    // Trailing bytes inside the declared size.
    let m = tmsg(msg::TCLUNK, 1, |w| {
        w.u32(1).u8(0);
    });
    assert_eq!(decode(&m), Err(DecodeError::Trailing(1)));
    // Unknown and reply types.
    let m = tmsg(200, 1, |_| {});
    assert_eq!(decode(&m), Err(DecodeError::UnknownType(200)));
    let m = tmsg(msg::RLERROR, 1, |w| {
        w.u32(2);
    });
    assert_eq!(decode(&m), Err(DecodeError::UnknownType(msg::RLERROR)));
}

#[test]
fn padding_after_the_message_is_ignored() {
    let mut m = tmsg(msg::TCLUNK, 5, |w| {
        w.u32(7);
    });
    m.extend_from_slice(&[0u8; 100]);
    assert_eq!(decode(&m).unwrap().body, Request::Clunk { fid: 7 });
}

#[test]
fn rlerror_layout() {
    assert_eq!(rlerror(0x1234, 2), [11, 0, 0, 0, 7, 0x34, 0x12, 2, 0, 0, 0]);
}
