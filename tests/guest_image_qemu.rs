//! The guest image boots on real QEMU (microvm, TCG) and does what the seed's
//! guest steps do: DHCP, the 9p share `wasm0`, an HTTP fetch, and poweroff.

use std::collections::HashMap;
use std::time::Duration;

use testkit::guest::{self, READY_LINE};
use testkit::http::HttpServer;
use testkit::qemu::Qemu;

const BOOT: Duration = Duration::from_secs(120);
const CMD: Duration = Duration::from_secs(60);

#[test]
fn seed_guest_steps_work_on_qemu_microvm() {
    let image = guest::image();
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::write(share.join("from-host.txt"), "written by the host\n").unwrap();

    let mut routes = HashMap::new();
    routes.insert("/hello.txt".to_string(), b"hello from the host http server\n".to_vec());
    let http = HttpServer::start("127.0.0.1:0", routes);

    let rootfs = image.rootfs_copy(tmp.path());
    let mut vm = Qemu::microvm(&image, &rootfs).net("user", None)
        .share(&share, "wasm0")
        .args(["-device", "virtio-rng-device"])
        .spawn("qemu-guest");
    vm.wait_for(READY_LINE, BOOT);

    // The seed's steps, verbatim.
    vm.run_ok("mount -t tmpfs tmpfs /etc", CMD);
    vm.run_ok("touch /etc/hosts /etc/resolv.conf", CMD);
    let lease = vm.run_ok("udhcpc -i eth0", CMD);
    assert!(lease.contains("10.0.2.15"), "udhcpc did not apply slirp's lease:\n{lease}");
    let resolv = vm.run_ok("cat /etc/resolv.conf", CMD);
    assert!(resolv.contains("nameserver 10.0.2.3"), "resolv.conf lacks slirp's DNS:\n{resolv}");
    let route = vm.run_ok("ip route", CMD);
    assert!(route.contains("default via 10.0.2.2"), "no default route:\n{route}");
    vm.run_ok("mount -t 9p -o trans=virtio wasm0 /mnt -oversion=9p2000.L", CMD);

    let from_share = vm.run_ok("cat /mnt/from-host.txt", CMD);
    assert_eq!(from_share.trim(), "written by the host");
    vm.run_ok("echo written by the guest > /mnt/from-guest.txt", CMD);

    let page = vm.run_ok(&format!("wget -q -O - http://10.0.2.2:{}/hello.txt", http.addr.port()), CMD);
    assert!(page.contains("hello from the host http server"), "wget got:\n{page}");

    // The guest's devices are what the image promises.
    let uname = vm.run_ok("uname -rm", CMD);
    assert!(uname.starts_with("6.1.") && uname.contains("x86_64"), "uname: {uname}");
    let rng = vm.run_ok("cat /sys/class/misc/hw_random/rng_current", CMD);
    assert!(rng.contains("virtio_rng"), "hw_random: {rng}");

    vm.send_line("poweroff");
    let status = vm.wait_exit(BOOT).expect("QEMU should exit after poweroff");
    assert!(status.success(), "QEMU exited with {status}");
    assert_eq!(std::fs::read_to_string(share.join("from-guest.txt")).unwrap(), "written by the guest\n");
}

#[test]
fn initramfs_variant_boots_to_a_shell_and_reboot_reaches_the_machine() {
    let image = guest::image();
    let mut vm = Qemu::microvm_initramfs(&image).spawn("qemu-initramfs");
    vm.wait_for(READY_LINE, BOOT);
    let mounts = vm.run_ok("cat /proc/mounts", CMD);
    assert!(mounts.contains("devtmpfs /dev"), "rcS did not mount devtmpfs on an initramfs root:\n{mounts}");
    assert!(mounts.contains("tmpfs /tmp"), "{mounts}");
    assert_eq!(vm.run_ok("echo $((6 * 7))", CMD), "42");
    // QEMU runs with -no-reboot, so a guest reset ends it.
    vm.send_line("reboot");
    let status = vm.wait_exit(BOOT).expect("QEMU should exit when the guest reboots");
    assert!(status.success(), "QEMU exited with {status}");
}
