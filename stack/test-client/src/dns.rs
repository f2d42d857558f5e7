//! A minimal DNS A lookup over UDP for the test guest (RFC 1035 §4.1):
//! one query, the first A record of the answer.

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::{IpEndpoint, Ipv4Address};

pub struct Lookup {
    handle: SocketHandle,
    id: u16,
    query: Vec<u8>,
    sent: bool,
    pub answer: Option<Result<Ipv4Address, String>>,
}

const LOCAL_PORT: u16 = 53000;

impl Lookup {
    pub fn start(sockets: &mut SocketSet<'static>, name: &str, id: u16) -> Result<Lookup, String> {
        let mut socket = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
        );
        socket.bind(LOCAL_PORT).map_err(|e| format!("bind: {e}"))?;
        let mut query = Vec::new();
        query.extend_from_slice(&id.to_be_bytes());
        query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
        for label in name.trim_end_matches('.').split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(format!("bad name {name:?}"));
            }
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 1, 0, 1]); // root, type A, class IN
        Ok(Lookup {
            handle: sockets.add(socket),
            id,
            query,
            sent: false,
            answer: None,
        })
    }

    pub fn step(&mut self, sockets: &mut SocketSet<'static>, server: Ipv4Address) {
        if self.answer.is_some() {
            return;
        }
        let socket = sockets.get_mut::<udp::Socket>(self.handle);
        if !self.sent && socket.can_send() {
            self.sent = socket
                .send_slice(&self.query, IpEndpoint::new(server.into(), 53))
                .is_ok();
        }
        if let Ok((reply, _)) = socket.recv() {
            let reply = reply.to_vec();
            self.answer = Some(parse_a(&reply, self.id));
            sockets.remove(self.handle);
        }
    }
}

fn parse_a(msg: &[u8], id: u16) -> Result<Ipv4Address, String> {
    let short = || "short DNS reply".to_string();
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id {
        return Err("not our DNS reply".into());
    }
    let rcode = msg[3] & 0x0f;
    if rcode != 0 {
        return Err(format!("DNS rcode {rcode}"));
    }
    let answers = u16::from_be_bytes([msg[6], msg[7]]);
    let mut pos = skip_name(msg, 12).ok_or_else(short)? + 4;
    for _ in 0..answers {
        pos = skip_name(msg, pos).ok_or_else(short)?;
        let rr = msg.get(pos..pos + 10).ok_or_else(short)?;
        let (kind, len) = (
            u16::from_be_bytes([rr[0], rr[1]]),
            u16::from_be_bytes([rr[8], rr[9]]) as usize,
        );
        let data = msg.get(pos + 10..pos + 10 + len).ok_or_else(short)?;
        if kind == 1 && len == 4 {
            return Ok(Ipv4Address::new(data[0], data[1], data[2], data[3]));
        }
        pos += 10 + len;
    }
    Err("no A record in the DNS reply".into())
}

/// The offset after the name at `pos` (labels, maybe ending in a pointer).
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        if len == 0 {
            return Some(pos + 1);
        }
        if len & 0xc0 == 0xc0 {
            return Some(pos + 2);
        }
        pos += 1 + len as usize;
    }
}
