//! `netvm`: boots an x86_64 Linux kernel in the netvm machine, with a
//! QEMU-compatible command line (the subset qemu-wasm's networking example
//! passes). The console is stdio in raw mode; Ctrl-A x quits, as QEMU's
//! `-nographic`. Exit status: 0 after poweroff, reset or Ctrl-A x; 1 for a
//! usage or setup error; 2 when the CPU triple-faults.

use std::collections::HashMap;
use std::process::ExitCode;

use netvm::backends::block::BlockBackend;
use netvm::backends::entropy::OsEntropy;
use netvm::backends::fs::HostDir;
use netvm::backends::host::{self, RunEvent};
use netvm::backends::net::{FrameBackend, NoNet};
use netvm::backends::sparse::SparseBlock;
use netvm::backends::terminal::EscapeFilter;
use netvm::devices::block::Block;
use netvm::devices::net::Net;
use netvm::devices::p9::P9;
use netvm::devices::rng::Rng;
use netvm::devices::rtc::calendar::DateTime;
use netvm::devices::virtio::VirtioDevice;
use netvm::machine::{Machine, MachineConfig, Outcome, TimeMode};

/// QEMU's default MAC prefix (52:54:00), last bytes as its first NIC.
const DEFAULT_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
/// The TSC rate in host-time mode: 1 GHz, a round figure the kernel is
/// told with `tsc_early_khz=` (any rate works: it is not the host's).
const HOST_TIME_TSC_KHZ: u64 = 1_000_000;
/// What the guest's RTC shows at power-on on instruction time (`-icount`)
/// without `-rtc base=`: a fixed instant, so runs stay deterministic
/// (2024-01-01T00:00:00Z).
const ICOUNT_RTC_START_UNIX: i64 = 1_704_067_200;

/// The parsed command line.
#[derive(Debug, Default, PartialEq)]
struct Options {
    ram_size: u64,
    kernel: Option<String>,
    initrd: Option<String>,
    append: String,
    drives: Vec<Drive>,
    shares: Vec<Share>,
    netdevs: HashMap<String, NetBackend>,
    nics: Vec<Nic>,
    rng: bool,
    icount: Option<(u32, bool)>,
    rtc_base: Option<RtcBase>,
}

/// QEMU's `-rtc base=`: where the guest's clock starts.
#[derive(Debug, PartialEq, Clone, Copy)]
enum RtcBase {
    /// The host's current time (UTC).
    Utc,
    /// A given instant, in seconds since 1970 (UTC).
    At(i64),
}

#[derive(Debug, PartialEq)]
struct Drive {
    file: String,
    read_only: bool,
    /// `format=android-sparse`: an Android sparse image (backends::sparse),
    /// expanded in memory; else a raw image.
    sparse: bool,
}

#[derive(Debug, PartialEq)]
struct Share {
    path: String,
    tag: String,
}

#[derive(Debug, PartialEq, Clone)]
enum NetBackend {
    Socket { connect: String },
    None,
}

#[derive(Debug, PartialEq)]
struct Nic {
    netdev: Option<String>,
    mac: [u8; 6],
}

/// `key=value,...` with an optional leading bare word (QEMU's option
/// syntax; `,,` escapes a comma, which we do not need to support).
/// An option's leading bare word and its `key=value` properties.
type Props = (Option<String>, Vec<(String, String)>);

fn parse_props(option: &str, value: &str) -> Result<Props, String> {
    let mut head = None;
    let mut props = Vec::new();
    for (i, part) in value.split(',').enumerate() {
        match part.split_once('=') {
            Some((k, v)) => props.push((k.to_string(), v.to_string())),
            None if i == 0 => head = Some(part.to_string()),
            None => return Err(format!("{option} {value}: `{part}` is not key=value")),
        }
    }
    Ok((head, props))
}

fn unsupported(option: &str, what: &str) -> String {
    format!("{option}: {what} is not supported by netvm")
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&s[..s.len() - 1], 1 << 20),
        Some('g' | 'G') => (&s[..s.len() - 1], 1 << 30),
        // QEMU: a bare number is MiB.
        _ => (s, 1 << 20),
    };
    num.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)).ok_or_else(|| format!("-m {s}: not a size"))
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bytes: Vec<u8> = s.split(':').filter_map(|b| u8::from_str_radix(b, 16).ok()).collect();
    bytes.try_into().map_err(|_| format!("mac={s}: expected six hex bytes separated by ':'"))
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options { ram_size: 128 << 20, ..Default::default() };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // QEMU accepts --opt as -opt.
        let opt = arg.strip_prefix('-').map(|a| a.strip_prefix('-').unwrap_or(a));
        let Some(opt) = opt else {
            return Err(format!("unexpected argument `{arg}` (a disk image needs -drive file=...)"));
        };
        let takes_value = !matches!(opt, "nographic" | "no-reboot" | "enable-kvm" | "no-user-config" | "nodefaults");
        let value = if takes_value { it.next().ok_or_else(|| format!("-{opt} needs a value"))?.as_str() } else { "" };
        match opt {
            // The console is always on stdio; netvm has no display.
            "nographic" | "no-reboot" | "no-user-config" | "nodefaults" => {}
            "L" => {} // firmware directory: no firmware runs
            "accel" => {
                let (head, _) = parse_props("-accel", value)?;
                if head.as_deref() != Some("tcg") {
                    return Err(unsupported("-accel", value));
                }
            }
            "m" => {
                let (head, props) = parse_props("-m", value)?;
                let size = head.or_else(|| props.iter().find(|(k, _)| k == "size").map(|(_, v)| v.clone()));
                o.ram_size = parse_size(&size.unwrap_or_default())?;
            }
            "kernel" => o.kernel = Some(value.to_string()),
            "initrd" => o.initrd = Some(value.to_string()),
            "append" => o.append = value.to_string(),
            "smp" if value == "1" || value == "cpus=1" => {}
            "M" | "machine" if value.starts_with("microvm") || value.starts_with("netvm") => {}
            "serial" | "monitor" if value == "stdio" || value == "mon:stdio" || value == "none" => {}
            "drive" => {
                let (_, props) = parse_props("-drive", value)?;
                let mut file = None;
                let mut read_only = false;
                let mut sparse = false;
                for (k, v) in props {
                    match (k.as_str(), v.as_str()) {
                        ("if", "virtio") | ("id", _) | ("cache", _) => {}
                        ("format", "raw") => sparse = false,
                        ("format", "android-sparse") => sparse = true,
                        ("file", f) => file = Some(f.to_string()),
                        ("readonly", "on" | "true") => read_only = true,
                        ("readonly", "off" | "false") => read_only = false,
                        _ => return Err(unsupported("-drive", &format!("{k}={v}"))),
                    }
                }
                let file = file.ok_or("-drive needs file=")?;
                o.drives.push(Drive { file, read_only, sparse });
            }
            "virtfs" => {
                let (head, props) = parse_props("-virtfs", value)?;
                if head.as_deref() != Some("local") {
                    return Err(unsupported("-virtfs", &format!("fsdriver {}", head.unwrap_or_default())));
                }
                let (mut path, mut tag) = (None, None);
                for (k, v) in props {
                    match k.as_str() {
                        "path" => path = Some(v),
                        "mount_tag" => tag = Some(v),
                        // The share is served with the host user's rights,
                        // as passthrough/none do for an unprivileged QEMU.
                        "security_model" if matches!(v.as_str(), "passthrough" | "none" | "mapped-xattr") => {}
                        "id" | "readonly" if v != "on" => {}
                        _ => return Err(unsupported("-virtfs", &format!("{k}={v}"))),
                    }
                }
                o.shares.push(Share {
                    path: path.ok_or("-virtfs needs path=")?,
                    tag: tag.ok_or("-virtfs needs mount_tag=")?,
                });
            }
            "netdev" => {
                let (head, props) = parse_props("-netdev", value)?;
                let mut id = None;
                let mut connect = None;
                for (k, v) in props {
                    match k.as_str() {
                        "id" => id = Some(v),
                        "connect" => connect = Some(v),
                        _ => return Err(unsupported("-netdev", &format!("{k}={v}"))),
                    }
                }
                let id = id.ok_or("-netdev needs id=")?;
                let backend = match head.as_deref() {
                    Some("socket") => NetBackend::Socket {
                        connect: connect.ok_or("-netdev socket needs connect=HOST:PORT (listen is not supported)")?,
                    },
                    Some("none") => NetBackend::None,
                    other => return Err(unsupported("-netdev", &format!("backend {}", other.unwrap_or("")))),
                };
                o.netdevs.insert(id, backend);
            }
            "device" => {
                let (head, props) = parse_props("-device", value)?;
                match head.as_deref() {
                    Some("virtio-net-pci" | "virtio-net-device") => {
                        let mut nic = Nic { netdev: None, mac: DEFAULT_MAC };
                        for (k, v) in props {
                            match k.as_str() {
                                "netdev" => nic.netdev = Some(v),
                                "mac" => nic.mac = parse_mac(&v)?,
                                "id" => {}
                                _ => return Err(unsupported("-device virtio-net", &format!("{k}={v}"))),
                            }
                        }
                        o.nics.push(nic);
                    }
                    Some("virtio-rng-pci" | "virtio-rng-device") => o.rng = true,
                    other => return Err(unsupported("-device", other.unwrap_or(value))),
                }
            }
            "rtc" => {
                let (head, props) = parse_props("-rtc", value)?;
                if let Some(h) = head {
                    return Err(format!("-rtc {value}: `{h}` is not key=value"));
                }
                for (k, v) in props {
                    match (k.as_str(), v.as_str()) {
                        ("base", "utc") => o.rtc_base = Some(RtcBase::Utc),
                        ("base", date) => {
                            let t = DateTime::parse(date)
                                .and_then(|t| t.to_unix())
                                .filter(|&s| s >= 0)
                                .ok_or_else(|| {
                                    format!("-rtc base={date}: expected utc or YYYY-MM-DD[THH:MM:SS] from 1970 on (localtime is not supported)")
                                })?;
                            o.rtc_base = Some(RtcBase::At(t));
                        }
                        // The RTC always runs on guest time, as QEMU's clock=vm.
                        ("clock", "vm") | ("driftfix", "none") => {}
                        _ => return Err(unsupported("-rtc", &format!("{k}={v}"))),
                    }
                }
            }
            "icount" => {
                let (head, props) = parse_props("-icount", value)?;
                let mut shift = head.as_deref().map(str::parse::<u32>).transpose().map_err(|_| "-icount: bad shift")?;
                let mut sleep = true;
                for (k, v) in props {
                    match (k.as_str(), v.as_str()) {
                        ("shift", n) => {
                            shift = Some(n.parse().map_err(|_| format!("-icount shift={n}: not a number"))?)
                        }
                        ("sleep", "on") => sleep = true,
                        ("sleep", "off") => sleep = false,
                        _ => return Err(unsupported("-icount", &format!("{k}={v}"))),
                    }
                }
                let shift = shift.unwrap_or(0);
                if shift > 10 {
                    return Err(format!("-icount shift={shift}: at most 10"));
                }
                o.icount = Some((shift, sleep));
            }
            _ => {
                return Err(format!(
                    "unsupported option -{opt}{}",
                    if takes_value { format!(" {value}") } else { String::new() }
                ))
            }
        }
    }
    if o.kernel.is_none() {
        return Err("-kernel is required (netvm boots a Linux kernel directly)".into());
    }
    for nic in &o.nics {
        if let Some(id) = &nic.netdev {
            if !o.netdevs.contains_key(id) {
                return Err(format!("-device virtio-net: netdev={id} was not defined with -netdev"));
            }
        }
    }
    Ok(o)
}

fn build_devices(o: &Options) -> Result<Vec<Box<dyn VirtioDevice>>, String> {
    let mut devices: Vec<Box<dyn VirtioDevice>> = Vec::new();
    for d in &o.drives {
        let path = std::path::Path::new(&d.file);
        let backend = if d.sparse {
            SparseBlock::open(path, d.read_only).map(|b| Box::new(b) as Box<dyn BlockBackend>)
        } else {
            host::open_disk(path, d.read_only)
        }
        .map_err(|e| format!("-drive file={}: {e}", d.file))?;
        devices.push(Box::new(Block::new(backend)));
    }
    for s in &o.shares {
        let dir = HostDir::new(std::path::Path::new(&s.path)).map_err(|e| format!("-virtfs path={}: {e}", s.path))?;
        devices
            .push(Box::new(P9::new(&s.tag, Box::new(dir)).map_err(|e| format!("-virtfs mount_tag={}: {e}", s.tag))?));
    }
    for nic in &o.nics {
        let backend: Box<dyn FrameBackend> = match nic.netdev.as_ref().map(|id| &o.netdevs[id]) {
            Some(NetBackend::Socket { connect }) => {
                host::connect_net(connect).map_err(|e| format!("-netdev socket,connect={connect}: {e}"))?
            }
            Some(NetBackend::None) | None => Box::new(NoNet),
        };
        devices.push(Box::new(Net::new(nic.mac, backend)));
    }
    if o.rng {
        devices.push(Box::new(Rng::new(Box::new(OsEntropy))));
    }
    Ok(devices)
}

fn run(args: &[String]) -> Result<Outcome, String> {
    let o = parse_args(args)?;
    let kernel_path = o.kernel.as_deref().unwrap_or_default();
    let kernel = std::fs::read(kernel_path).map_err(|e| format!("-kernel {kernel_path}: {e}"))?;
    let initrd = match &o.initrd {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("-initrd {p}: {e}"))?),
        None => None,
    };
    let time = match o.icount {
        Some((shift, sleep)) => TimeMode::Instructions { shift, sleep },
        None => TimeMode::Host { clock: host::clock(), khz: HOST_TIME_TSC_KHZ },
    };
    let rtc_start_unix_ns = match (o.rtc_base, o.icount) {
        (Some(RtcBase::At(secs)), _) => secs as i128 * 1_000_000_000,
        (None, Some(_)) => ICOUNT_RTC_START_UNIX as i128 * 1_000_000_000,
        (Some(RtcBase::Utc), _) | (None, None) => host::clock().wall_ns() as i128,
    };
    let virtio = build_devices(&o)?;
    let console = EscapeFilter::new(host::console());
    let quit = console.quit_flag();
    let mut machine = Machine::new(MachineConfig {
        ram_size: o.ram_size,
        kernel: &kernel,
        initrd: initrd.as_deref(),
        cmdline: &o.append,
        time,
        virtio,
        console: Box::new(console),
        rtc_start_unix_ns,
    })
    .map_err(|e| e.to_string())?;
    host::report(RunEvent::Booting);
    let outcome = machine.run(|| quit.is_set());
    log::info!("stopped: {outcome:?} after {} instructions", machine.cpu.icount);
    Ok(outcome)
}

fn main() -> ExitCode {
    host::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(outcome @ (Outcome::PowerOff | Outcome::Reset | Outcome::Quit)) => {
            let how = match outcome {
                Outcome::PowerOff => "powered off",
                Outcome::Reset => "reset",
                _ => "quit",
            };
            host::report(RunEvent::Stopped(how.into()));
            ExitCode::SUCCESS
        }
        Ok(Outcome::TripleFault { rip, last_exception }) => {
            let why = format!("the CPU triple-faulted at rip {rip:#x} (last exception {last_exception:?})");
            eprintln!("netvm: {why}");
            host::report(RunEvent::Stopped(why));
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("netvm: {e}");
            host::report(RunEvent::Failed(e));
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn the_seed_command_line_parses() {
        let o = parse_args(&args(&[
            "-nographic",
            "-m",
            "512M",
            "-L",
            "/pack",
            "-kernel",
            "k",
            "-initrd",
            "i",
            "-append",
            "console=ttyS0 root=/dev/vda rw",
            "-drive",
            "if=virtio,format=raw,file=rootfs.bin",
            "-virtfs",
            "local,path=/mnt,mount_tag=wasm0,security_model=passthrough,id=wasm0",
            "-netdev",
            "socket,id=vmnic,connect=localhost:8888",
            "-device",
            "virtio-net-pci,netdev=vmnic",
            "-accel",
            "tcg,tb-size=500",
        ]))
        .unwrap();
        assert_eq!(o.ram_size, 512 << 20);
        assert_eq!(o.append, "console=ttyS0 root=/dev/vda rw");
        assert_eq!(o.drives, vec![Drive { file: "rootfs.bin".into(), read_only: false, sparse: false }]);
        assert_eq!(o.shares, vec![Share { path: "/mnt".into(), tag: "wasm0".into() }]);
        assert_eq!(o.netdevs["vmnic"], NetBackend::Socket { connect: "localhost:8888".into() });
        assert_eq!(o.nics, vec![Nic { netdev: Some("vmnic".into()), mac: DEFAULT_MAC }]);
        assert_eq!(o.icount, None);
    }

    #[test]
    fn unsupported_options_are_named() {
        let e = parse_args(&args(&["-kernel", "k", "-vga", "std"])).unwrap_err();
        assert!(e.contains("-vga"), "{e}");
        let e = parse_args(&args(&["-kernel", "k", "-accel", "kvm"])).unwrap_err();
        assert!(e.contains("kvm"), "{e}");
        let e = parse_args(&args(&["-kernel", "k", "-netdev", "user,id=n"])).unwrap_err();
        assert!(e.contains("user"), "{e}");
        let e = parse_args(&args(&["-kernel", "k", "-drive", "file=x,if=ide"])).unwrap_err();
        assert!(e.contains("if=ide"), "{e}");
        let e = parse_args(&args(&["-kernel", "k", "-drive", "file=x,format=qcow2"])).unwrap_err();
        assert!(e.contains("format=qcow2"), "{e}");
        let o = parse_args(&args(&["-kernel", "k", "-drive", "format=android-sparse,file=x.simg"])).unwrap();
        assert_eq!(o.drives, vec![Drive { file: "x.simg".into(), read_only: false, sparse: true }]);
        let e = parse_args(&args(&["-kernel", "k", "-device", "e1000"])).unwrap_err();
        assert!(e.contains("e1000"), "{e}");
        let e = parse_args(&args(&["-kernel", "k", "-device", "virtio-net-pci,netdev=x"])).unwrap_err();
        assert!(e.contains("netdev=x"), "{e}");
        assert!(parse_args(&args(&["-m", "64M"])).unwrap_err().contains("-kernel"));
        assert!(parse_args(&args(&["-kernel"])).unwrap_err().contains("needs a value"));
    }

    #[test]
    fn sizes_macs_and_icount() {
        assert_eq!(parse_size("256").unwrap(), 256 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999999G").is_err());
        assert_eq!(parse_mac("52:54:00:aa:bb:cc").unwrap(), [0x52, 0x54, 0, 0xaa, 0xbb, 0xcc]);
        assert!(parse_mac("52:54").is_err());
        let o = parse_args(&args(&["-kernel", "k", "-icount", "shift=3,sleep=off"])).unwrap();
        assert_eq!(o.icount, Some((3, false)));
        assert!(parse_args(&args(&["-kernel", "k", "-icount", "shift=40"])).is_err());
        let o = parse_args(&args(&["-kernel", "k", "-rtc", "base=2006-06-17T16:01:21,clock=vm"])).unwrap();
        assert_eq!(o.rtc_base, Some(RtcBase::At(1_150_560_081)));
        let o = parse_args(&args(&["-kernel", "k", "-rtc", "base=utc"])).unwrap();
        assert_eq!(o.rtc_base, Some(RtcBase::Utc));
        for bad in ["base=localtime", "base=2006-13-01", "clock=host", "base=1960-01-01", "utc"] {
            let e = parse_args(&args(&["-kernel", "k", "-rtc", bad])).unwrap_err();
            assert!(e.contains("-rtc"), "{bad}: {e}");
        }
    }
}
