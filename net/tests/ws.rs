//! `--listen-ws`: the handshake policy (Origin, `binary` subprotocol) and the
//! framing across WebSocket messages, with a real WebSocket client.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{dhcp_discover, dhcp_offer_address, free_port, Daemon};
use netvm_net::consts::GUEST_IP;
use netvm_net::framing::{encoded, FrameDecoder};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

fn daemon() -> (Daemon, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut d = Daemon::start(&["--listen-ws", &addr, "--allow-origin", "https://allowed.example"]);
    d.wait_listening(addr.parse().unwrap());
    (d, addr)
}

#[allow(clippy::result_large_err)]
fn connect(addr: &str, origin: Option<&str>, protocol: Option<&str>) -> Result<(WebSocket<TcpStream>, Option<String>), tungstenite::Error> {
    let mut req = format!("ws://{addr}/").into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    if let Some(p) = protocol {
        req.headers_mut().insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (ws, resp) = tungstenite::client(req, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => unreachable!("blocking stream"),
    })?;
    let proto = resp.headers().get("Sec-WebSocket-Protocol").map(|v| v.to_str().unwrap().to_string());
    Ok((ws, proto))
}

#[test]
fn foreign_origins_are_refused_and_local_ones_pass() {
    let (_d, addr) = daemon();
    match connect(&addr, Some("http://evil.example"), None) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("foreign origin accepted"),
    }
    for ok in [None, Some("http://localhost:8080"), Some("http://127.0.0.1"), Some("https://allowed.example")] {
        connect(&addr, ok, None).unwrap_or_else(|e| panic!("{ok:?} refused: {e}"));
    }
}

#[test]
fn binary_subprotocol_is_echoed() {
    let (_d, addr) = daemon();
    let (_, proto) = connect(&addr, Some("http://localhost:8000"), Some("binary")).unwrap();
    assert_eq!(proto.as_deref(), Some("binary"));
    let (_, proto) = connect(&addr, None, None).unwrap();
    assert_eq!(proto, None);
}

/// Reads messages until a DHCP offer for `xid` arrives; checks each message
/// holds exactly one length-prefixed frame.
fn wait_offer(ws: &mut WebSocket<TcpStream>, xid: u32) -> std::net::Ipv4Addr {
    for _ in 0..20 {
        let Message::Binary(data) = ws.read().unwrap() else { continue };
        let mut dec = FrameDecoder::default();
        dec.push(&data);
        let frame = dec.next_frame().unwrap().expect("a whole frame per message");
        assert_eq!(dec.buffered(), 0, "one frame per message");
        if let Some(ip) = dhcp_offer_address(&frame, xid) {
            return ip;
        }
    }
    panic!("no DHCP offer");
}

#[test]
fn frames_split_across_messages_and_merged_in_one_are_decoded() {
    let (_d, addr) = daemon();
    let (mut ws, _) = connect(&addr, None, Some("binary")).unwrap();
    let mac = [2, 0, 0, 0, 0, 1];
    // One frame in three messages, the first cutting the length prefix.
    let stream = encoded(&dhcp_discover(mac, 1));
    for part in [&stream[..2], &stream[2..100], &stream[100..]] {
        ws.send(Message::Binary(part.to_vec().into())).unwrap();
    }
    assert_eq!(wait_offer(&mut ws, 1), GUEST_IP);
    // Two frames in one message, the second one's tail in the next message.
    let mut both = encoded(&dhcp_discover(mac, 2));
    both.extend(encoded(&dhcp_discover(mac, 3)));
    let cut = both.len() - 5;
    ws.send(Message::Binary(both[..cut].to_vec().into())).unwrap();
    ws.send(Message::Binary(both[cut..].to_vec().into())).unwrap();
    assert_eq!(wait_offer(&mut ws, 2), GUEST_IP);
    assert_eq!(wait_offer(&mut ws, 3), GUEST_IP);
}

#[test]
fn an_impossible_length_closes_only_that_link() {
    let (_d, addr) = daemon();
    let (mut bad, _) = connect(&addr, None, None).unwrap();
    bad.send(Message::Binary(vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3].into())).unwrap();
    let closed = (0..10).any(|_| matches!(bad.read(), Err(_) | Ok(Message::Close(_))));
    assert!(closed, "link with a bad length prefix stayed open");
    // The daemon still serves others.
    let (mut good, _) = connect(&addr, None, None).unwrap();
    good.send(Message::Binary(encoded(&dhcp_discover([2, 0, 0, 0, 0, 1], 7)).into())).unwrap();
    assert_eq!(wait_offer(&mut good, 7), GUEST_IP);
}

#[test]
fn a_client_that_never_finishes_the_handshake_is_dropped() {
    use std::io::Read;
    let (_d, addr) = daemon();
    let mut silent = TcpStream::connect(&addr).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = silent.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "server sent data to a silent client");
    assert!(t0.elapsed() >= Duration::from_secs(8), "closed too early: {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(18), "not closed in time");
}
