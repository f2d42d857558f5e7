//! curl (Debian's, an independent HTTP/TLS implementation) as the guest:
//! proxy requests, CONNECT with the proxy's CA as its only trust anchor,
//! chunked uploads.

mod common;

use common::origin::Origin;
use common::{init_logging, pattern, scratch_dir, sha256_hex, ProxyUnderTest, TestPki};
use netvm_proxy::Role;
use std::process::Command;

fn curl(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "60"])
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("curl is installed (scripts/deps/apt-proxy.txt)");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_through_the_proxy() {
    init_logging();
    let pki = TestPki::generate();
    let https = Origin::start(Some(pki.server_config.clone()));
    let http = Origin::start(None);
    let proxy = ProxyUnderTest::start(Role::ExplicitProxy, std::slice::from_ref(&pki.ca_pem_file));
    let dir = scratch_dir();
    let proxy_ca = dir.join("proxy.crt");
    std::fs::write(&proxy_ca, proxy.ca.ca_cert_pem()).unwrap();
    let proxy_url = format!("http://{}", proxy.addr);
    let ca = proxy_ca.to_str().unwrap();

    // CONNECT + TLS terminated by the proxy, verified by curl against proxy.crt only.
    let url = format!("https://localhost:{}/pattern/5000000", https.addr.port());
    let (code, body, err) = curl(&["--cacert", ca, "-x", &proxy_url, &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sha256_hex(&body), sha256_hex(&pattern(5_000_000)));

    // Chunked upload through the tunnel.
    let upload = dir.join("upload.bin");
    let data = pattern(1_500_000);
    std::fs::write(&upload, &data).unwrap();
    let url = format!("https://localhost:{}/sha", https.addr.port());
    let at = format!("@{}", upload.display());
    let (code, body, err) = curl(&[
        "--cacert",
        ca,
        "-x",
        &proxy_url,
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &at,
        &url,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!("{} {}", data.len(), sha256_hex(&data))
    );

    // Plain proxy request, chunked response, and a 404 passed through.
    let url = format!("http://127.0.0.1:{}/chunked/123457", http.addr.port());
    let (code, body, err) = curl(&["-x", &proxy_url, &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body, pattern(123457));
    let url = format!("http://127.0.0.1:{}/nope", http.addr.port());
    let (code, body, _) = curl(&["-x", &proxy_url, "-w", "%{http_code}", &url]);
    assert_eq!(code, 0);
    assert_eq!(String::from_utf8_lossy(&body), "nothing at /nope\n404");

    // A certificate check that must fail: curl trusting nothing but the origin's CA.
    let url = format!("https://localhost:{}/pattern/10", https.addr.port());
    let (code, _, _) = curl(&[
        "--cacert",
        pki.ca_pem_file.to_str().unwrap(),
        "-x",
        &proxy_url,
        &url,
    ]);
    assert_eq!(
        code, 60,
        "curl must reject the proxy's leaf when it does not trust proxy.crt"
    );
}
