//! busybox wget — the guest's HTTP client — against the proxy: the seed's
//! proxy-variable path (`GET https://...` in plain HTTP to the proxy) and
//! transparent HTTPS, where busybox's own TLS code (no
//! signature_algorithms extension, which rustls refuses) is served by
//! `legacy_tls`. Run with an empty PATH so busybox cannot hand TLS to an
//! `openssl` binary, as in the guest.

mod common;

use common::origin::Origin;
use common::{init_logging, pattern, scratch_dir, sha256_hex, ProxyUnderTest, TestPki};
use netvm_proxy::{ProxyConfig, Role};
use std::process::Command;

/// busybox's full path, found on this process's PATH (the child gets none).
fn busybox() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("busybox"))
        .find(|p| p.is_file())
        .expect("busybox is installed (scripts/deps/apt-proxy.txt)")
}

fn busybox_wget(env: &[(&str, String)], args: &[&str]) -> (bool, Vec<u8>, String) {
    let empty_path = scratch_dir();
    let mut cmd = Command::new(busybox());
    cmd.arg("wget")
        .args(args)
        .env_clear()
        .env("PATH", &empty_path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running busybox");
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn busybox_wget_with_proxy_variables() {
    init_logging();
    let pki = TestPki::generate();
    let https = Origin::start(Some(pki.server_config.clone()));
    let proxy = ProxyUnderTest::start(Role::ExplicitProxy, std::slice::from_ref(&pki.ca_pem_file));
    let proxy_url = format!("http://{}", proxy.addr);
    // busybox 1.35 takes http_proxy for https URLs too; the seed exports both.
    let env = [
        ("http_proxy", proxy_url.clone()),
        ("https_proxy", proxy_url),
    ];
    let url = format!("https://localhost:{}/pattern/2000000", https.addr.port());
    let (ok, body, err) = busybox_wget(&env, &["-q", "-O", "-", &url]);
    assert!(ok, "{err}");
    assert_eq!(sha256_hex(&body), sha256_hex(&pattern(2_000_000)));
    // (busybox 1.35 sends `--post-data` through a proxy as GET with a
    // body; the proxy forwards what it gets, so no POST check here.)
}

#[test]
fn busybox_wget_transparent_https_with_its_own_tls() {
    init_logging();
    let pki = TestPki::generate();
    let https = Origin::start(Some(pki.server_config.clone()));
    let role = Role::Transparent {
        name: Some("localhost".into()),
    };
    let proxy = ProxyUnderTest::start_with(
        role,
        std::slice::from_ref(&pki.ca_pem_file),
        ProxyConfig::default(),
        Some(https.addr.port()),
    );
    // No proxy variables: busybox connects "to the origin" (the proxy's port).
    let url = format!("https://localhost:{}/pattern/3000000", proxy.addr.port());
    let (ok, body, err) = busybox_wget(&[], &["-q", "-O", "-", &url]);
    assert!(ok, "{err}");
    assert_eq!(sha256_hex(&body), sha256_hex(&pattern(3_000_000)));
    let url = format!("https://localhost:{}/sha", proxy.addr.port());
    let (ok, body, err) = busybox_wget(
        &[],
        &["-q", "-O", "-", "--post-data", "hello busybox", &url],
    );
    assert!(ok, "{err} {:?}", https.heads.lock().unwrap());
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!("13 {}", sha256_hex(b"hello busybox"))
    );
    let url = format!("https://localhost:{}/missing", proxy.addr.port());
    let (ok, _, err) = busybox_wget(&[], &["-q", "-O", "-", &url]);
    assert!(!ok && err.contains("404"), "a 404 reaches busybox: {err}");
}
