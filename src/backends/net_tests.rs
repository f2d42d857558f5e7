use super::*;
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn pair() -> (SocketNet, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let net = SocketNet::connect(addr).unwrap();
    let (peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (net, peer)
}

fn recv_wait(net: &mut SocketNet, buf: &mut [u8]) -> io::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(n) = net.recv(buf)? {
            return Ok(n);
        }
        assert!(Instant::now() < deadline, "no frame within 5 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn frames_round_trip_with_length_prefix() {
    let (mut net, mut peer) = pair();
    assert!(net.send(b"hello frame").unwrap());
    let mut hdr = [0u8; 4];
    peer.read_exact(&mut hdr).unwrap();
    assert_eq!(u32::from_be_bytes(hdr), 11);
    let mut body = [0u8; 11];
    peer.read_exact(&mut body).unwrap();
    assert_eq!(&body, b"hello frame");

    // Two frames, the second split across writes at an awkward boundary.
    let mut wire = Vec::new();
    for f in [&b"first"[..], &[7u8; 1514][..]] {
        wire.extend_from_slice(&(f.len() as u32).to_be_bytes());
        wire.extend_from_slice(f);
    }
    peer.write_all(&wire[..7]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut buf = [0u8; 2048];
    assert_eq!(net.recv(&mut buf).unwrap(), None, "only a partial frame has arrived");
    peer.write_all(&wire[7..]).unwrap();
    let n = recv_wait(&mut net, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"first");
    let n = recv_wait(&mut net, &mut buf).unwrap();
    assert_eq!(&buf[..n], &[7u8; 1514][..]);
}

#[test]
fn oversize_length_is_an_error_and_closes() {
    let (mut net, mut peer) = pair();
    peer.write_all(&0x7fff_ffffu32.to_be_bytes()).unwrap();
    let mut buf = [0u8; 2048];
    let err = loop {
        match net.recv(&mut buf) {
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Ok(Some(_)) => panic!("accepted a 2 GB frame"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(net.is_closed());
    assert_eq!(net.recv(&mut buf).unwrap(), None, "quiet after closing");
}

#[test]
fn peer_close_is_reported() {
    let (mut net, peer) = pair();
    drop(peer);
    let mut buf = [0u8; 64];
    let err = loop {
        match net.recv(&mut buf) {
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Ok(Some(_)) => panic!("frame from nowhere"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(net.send(b"x").unwrap(), "frames to a closed link are dropped");
}

#[test]
fn backpressure_when_peer_does_not_read() {
    let (mut net, _peer) = pair();
    let frame = [0u8; 1500];
    let mut accepted = 0usize;
    // The kernel socket buffers plus our 256 KiB eventually fill up.
    while net.send(&frame).unwrap() {
        accepted += 1;
        assert!(accepted < 100_000, "never pushed back");
    }
    assert!(accepted * 1504 >= TX_BUFFER_LIMIT / 2);
}
