//! Guest download throughput through netvm-net versus QEMU's own `-netdev
//! user` (slirp), same guest, same host HTTP server, same run. Run by
//! `scripts/bench-net`; the last line is `throughput-ratio <netvm/slirp>`.

use std::collections::HashMap;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::http::HttpServer;
use testkit::qemu::Qemu;

const T: Duration = Duration::from_secs(120);

/// Boots a guest on `netdev`, takes a lease, downloads `len` bytes from
/// `url_host:port` `rounds` times; returns the best MB/s.
fn measure(name: &str, netdev: &str, url_host: &str, port: u16, len: u64, rounds: usize) -> f64 {
    let image = testkit::guest::image();
    let tmp = std::env::temp_dir().join(format!("netvm-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let rootfs = image.rootfs_copy(&tmp);
    let mut g = Qemu::microvm(&image, &rootfs).net(netdev, Some("02:00:00:00:00:01")).spawn(name);
    g.wait_for("Enter 'help' for a list of built-in commands.", Duration::from_secs(120));
    let _ = g.try_wait_for(testkit::guest::READY_LINE, Duration::from_secs(3));
    g.run_ok("udhcpc -i eth0 -n -q -s /usr/share/udhcpc/default.script", T);
    let mut best: f64 = 0.0;
    for i in 0..rounds {
        let t0 = Instant::now();
        g.run_ok(&format!("wget -q -O /dev/null http://{url_host}:{port}/pattern/{len}"), Duration::from_secs(900));
        let mbps = len as f64 / 1e6 / t0.elapsed().as_secs_f64();
        println!("{name} round {}: {:.2} MB/s", i + 1, mbps);
        best = best.max(mbps);
    }
    drop(g);
    let _ = std::fs::remove_dir_all(&tmp);
    best
}

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let mib: u64 = std::env::var("NETVM_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(32);
    let rounds: usize = std::env::var("NETVM_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let len = mib << 20;
    let http = HttpServer::start("127.0.0.1:0", HashMap::new());
    let hp = http.addr.port();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let exe = std::env::var("NETVM_NET_BIN").unwrap_or_else(|_| {
        let me = std::env::current_exe().unwrap();
        me.parent().unwrap().parent().unwrap().join("netvm-net").to_string_lossy().into_owned()
    });
    let _daemon = Daemon(
        Command::new(&exe)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {exe}: {e}")),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "netvm-net did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    println!("guest download of {mib} MiB from a host HTTP server, best of {rounds}");
    let ours = measure(
        "netvm-net",
        &format!("stream,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={port}"),
        "192.168.127.254",
        hp,
        len,
        rounds,
    );
    // slirp's host alias 10.0.2.2 is the host's loopback, like our .254.
    let slirp = measure("slirp", "user", "10.0.2.2", hp, len, rounds);
    println!("netvm-net-MBps {ours:.2}");
    println!("slirp-MBps {slirp:.2}");
    println!("throughput-ratio {:.3}", ours / slirp);
}
