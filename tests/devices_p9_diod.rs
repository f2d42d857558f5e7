//! The 9P2000.L server against an independent client: diod's `diodls` and
//! `diodcat` (Debian package diod, libnpclient) connect over TCP, where 9P
//! messages travel back to back, self-delimited by their size fields.
//! The server is the same `Server` virtio-9p wraps.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use netvm::backends::fs::HostDir;
use netvm::devices::p9::server::{Server, MAX_MSIZE};

/// Serves one 9P connection until the client hangs up.
fn serve(mut stream: TcpStream, root: PathBuf) {
    let mut server = Server::new(Box::new(HostDir::new(&root).unwrap()));
    loop {
        let mut size = [0u8; 4];
        if stream.read_exact(&mut size).is_err() {
            return;
        }
        let len = u32::from_le_bytes(size) as usize;
        assert!((7..=MAX_MSIZE as usize).contains(&len), "client sent a {len}-byte message");
        let mut msg = size.to_vec();
        msg.resize(len, 0);
        stream.read_exact(&mut msg[4..]).unwrap();
        let reply = server.handle(&msg, MAX_MSIZE as usize);
        stream.write_all(&reply).unwrap();
    }
}

/// Starts a server on loopback; returns its `host:port`.
fn start(root: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let root = root.clone();
            std::thread::spawn(move || serve(stream.unwrap(), root));
        }
    });
    addr
}

fn share() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netvm-diod-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("share/sub")).unwrap();
    std::fs::create_dir_all(dir.join("outside")).unwrap();
    std::fs::write(dir.join("outside/secret"), b"TOP SECRET").unwrap();
    // Large enough to need several Tread round trips at msize 8192.
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("share/big.bin"), &big).unwrap();
    std::fs::write(dir.join("share/sub/hello.txt"), b"hello from the share\n").unwrap();
    std::os::unix::fs::symlink(dir.join("outside"), dir.join("share/escape")).unwrap();
    dir
}

fn diod_tool(tool: &str, addr: &str, args: &[&str]) -> std::process::Output {
    // diod installs its clients in /usr/sbin, which is not on every PATH.
    let path = Path::new("/usr/sbin").join(tool);
    let bin = if path.exists() { path } else { PathBuf::from(tool) };
    Command::new(bin)
        .args(["-s", addr, "-a", "/", "-t", "10"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (Debian package diod) must be installed: {e}"))
}

#[test]
fn diod_client_lists_and_reads_the_share() {
    let dir = share();
    let addr = start(&dir.join("share"));

    let out = diod_tool("diodls", &addr, &["-l"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "diodls failed: {}{listing}", String::from_utf8_lossy(&out.stderr));
    for name in ["big.bin", "sub", "escape"] {
        assert!(
            listing.contains(name),
            "{name} missing from listing:\n{listing}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(listing.contains("100000"), "size of big.bin in the long listing:\n{listing}");

    let out = diod_tool("diodcat", &addr, &["-m", "8192", "/sub/hello.txt"]);
    assert!(out.status.success(), "diodcat failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"hello from the share\n");

    let out = diod_tool("diodcat", &addr, &["-m", "8192", "/big.bin"]);
    assert!(out.status.success(), "diodcat failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, std::fs::read(dir.join("share/big.bin")).unwrap());

    // Through the symlink and above the root: refused, nothing leaks.
    for path in ["/escape/secret", "/../outside/secret", "/sub/../../outside/secret"] {
        let out = diod_tool("diodcat", &addr, &[path]);
        assert!(!out.status.success(), "{path} was readable");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("SECRET"), "{path} leaked");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
