//! The 9P2000.L decoder and server on fuzzer bytes: the input is split into
//! messages by their own size fields and each is decoded and served against
//! a scratch share, after a real Tversion/Tattach so fid-based requests
//! reach the file operations. Any panic is a bug; so is a reply larger than
//! the negotiated msize.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netvm::backends::fs::HostDir;
use netvm::devices::p9::server::Server;
use netvm::devices::p9::wire::{self, msg, Writer};

fn share() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("netvm-fuzz-p9-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("file"), b"contents").unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = wire::decode(data);
    let mut server = Server::new(Box::new(HostDir::new(share()).unwrap()));
    let mut w = Writer::new(msg::TVERSION, 0);
    w.u32(8192).string("9P2000.L");
    server.handle(&w.finish(), 8192);
    let mut w = Writer::new(msg::TATTACH, 1);
    w.u32(0).u32(u32::MAX).string("root").string("").u32(0);
    server.handle(&w.finish(), 8192);

    let mut rest = data;
    let mut rounds = 0;
    while rest.len() >= 7 && rounds < 64 {
        rounds += 1;
        let declared = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let take = declared.clamp(7, rest.len());
        let (msg_bytes, tail) = rest.split_at(take);
        let room = 64 + (rounds * 97) % 8192;
        let reply = server.handle(msg_bytes, room);
        assert!(reply.len() <= server.msize() as usize, "reply of {} bytes exceeds msize", reply.len());
        assert!(wire::decode_header(&reply).is_ok(), "reply has a valid header");
        rest = tail;
    }
});
