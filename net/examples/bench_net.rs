//! Guest download throughput through netvm-net versus QEMU's own `-netdev
//! user` (slirp), same guest, same host HTTP server, same run. Run by
//! `scripts/bench-net`; the last line is `throughput-ratio <netvm/slirp>`.

use std::collections::HashMap;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::http::HttpServer;
use testkit::console::Console;
use testkit::qemu::Qemu;

const T: Duration = Duration::from_secs(120);

/// A booted guest with a lease, ready to download.
struct Guest {
    console: Console,
    tmp: std::path::PathBuf,
}

fn boot(name: &str, netdev: &str) -> Guest {
    let image = testkit::guest::image();
    let tmp = std::env::temp_dir().join(format!("netvm-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let rootfs = image.rootfs_copy(&tmp);
    let mut console = Qemu::microvm(&image, &rootfs).net(netdev, Some("02:00:00:00:00:01")).spawn(name);
    console.wait_for(testkit::guest::READY_LINE, Duration::from_secs(120));
    console.run_ok("udhcpc -i eth0 -n -q", T);
    Guest { console, tmp }
}

impl Guest {
    /// Downloads `len` bytes to /dev/null; returns MB/s.
    fn download(&mut self, url_host: &str, port: u16, len: u64) -> f64 {
        let t0 = Instant::now();
        self.console.run_ok(&format!("wget -q -O /dev/null http://{url_host}:{port}/pattern/{len}"), Duration::from_secs(900));
        len as f64 / 1e6 / t0.elapsed().as_secs_f64()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// User plus system CPU time of a process (proc(5), fields 14 and 15).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let mib: u64 = std::env::var("NETVM_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let rounds: usize = std::env::var("NETVM_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    let len = mib << 20;
    let http = HttpServer::start("127.0.0.1:0", HashMap::new());
    let hp = http.addr.port();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let exe = std::env::var("NETVM_NET_BIN").unwrap_or_else(|_| {
        let me = std::env::current_exe().unwrap();
        me.parent().unwrap().parent().unwrap().join("netvm-net").to_string_lossy().into_owned()
    });
    let daemon = Daemon(
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

    // Both guests boot first; rounds then alternate between them, so load
    // from elsewhere on the machine hits both alike. Medians are compared.
    let mut ours = boot("netvm-net", &format!("stream,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={port}"));
    // slirp's host alias 10.0.2.2 is the host's loopback, like our .254.
    let mut slirp = boot("slirp", "user");
    println!("guest download of {mib} MiB from a host HTTP server, {rounds} alternating rounds");
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        a.push(ours.download("192.168.127.254", hp, len));
        b.push(slirp.download("10.0.2.2", hp, len));
        println!("round {}: netvm-net {:.2} MB/s, slirp {:.2} MB/s", i + 1, a[i], b[i]);
    }
    let (ours, slirp) = (median(a), median(b));
    println!("netvm-net-cpu-seconds {:.2}", cpu_seconds(daemon.0.id()));
    println!("netvm-net-MBps {ours:.2}");
    println!("slirp-MBps {slirp:.2}");
    println!("throughput-ratio {:.3}", ours / slirp);
}
