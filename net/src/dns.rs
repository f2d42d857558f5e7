//! The gateway's DNS server (RFC 1035) on UDP port 53: answers A and AAAA
//! from [`STATIC_NAMES`] or the host's resolver (through the [`Upstream`]),
//! and says honestly when it cannot: NXDOMAIN for names that do not exist,
//! SERVFAIL when the resolver fails or times out, NOTIMP for other query
//! types and opcodes, FORMERR for undecodable questions.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddrV4};
use std::rc::Rc;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use smoltcp::time::{Duration, Instant};

use crate::consts::{HOST_ALIAS_IP, HOST_LOOPBACK, STATIC_NAMES};
use crate::name_pool::NamePool;
use crate::upstream::{LookupError, PendingLookup, ReadyLookup, Upstream};

/// Time-to-live of our answers: short, since we only relay the host's view.
const ANSWER_TTL: u32 = 60;
/// A lookup that takes longer is answered with SERVFAIL (busybox nslookup
/// and glibc give up after 5 s per try anyway).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Lookups in flight per network; more get SERVFAIL at once, so a guest
/// cannot make the host run unbounded resolver work.
pub const MAX_PENDING_LOOKUPS: usize = 32;
/// Largest answer sent over UDP without EDNS (RFC 1035 §4.2.1); longer
/// answers are truncated with TC set.
const MAX_UDP_ANSWER: usize = 512;

struct Pending {
    request: Message,
    client: SocketAddrV4,
    lookup: Box<dyn PendingLookup>,
    deadline: Instant,
}

#[derive(Default)]
pub struct DnsServer {
    pending: Vec<Pending>,
    /// Transparent mode: names are answered from this pool, not the host.
    pool: Option<Rc<RefCell<NamePool>>>,
}

impl DnsServer {
    pub fn new() -> DnsServer {
        DnsServer::default()
    }

    /// Answers every name (but the built-in ones) with an address from
    /// `pool` instead of asking the upstream; AAAA questions get no answer
    /// (NODATA), so clients use the pool's IPv4 address.
    pub fn set_pool(&mut self, pool: Rc<RefCell<NamePool>>) {
        self.pool = Some(pool);
    }

    /// Handles a query from `client`. Returns the reply at once if it is known,
    /// or `None` if a lookup was started (its reply comes from [`poll`](Self::poll))
    /// or the datagram was not worth answering.
    pub fn on_query(
        &mut self,
        payload: &[u8],
        client: SocketAddrV4,
        upstream: &mut dyn Upstream,
        now: Instant,
    ) -> Option<Vec<u8>> {
        let request = match Message::from_vec(payload) {
            Ok(m) => m,
            Err(e) => {
                log::debug!("dns: undecodable query from {client}: {e}");
                // Answer FORMERR when at least the header's id is readable.
                let id = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]);
                return encode(&Message::error_msg(id, OpCode::Query, ResponseCode::FormErr));
            }
        };
        if request.message_type() != MessageType::Query {
            return None;
        }
        if request.op_code() != OpCode::Query {
            return reply_with(&request, ResponseCode::NotImp, &[]);
        }
        let Some(query) = single_question(&request) else {
            return reply_with(&request, ResponseCode::FormErr, &[]);
        };
        if query.query_class() != DNSClass::IN
            || !matches!(query.query_type(), RecordType::A | RecordType::AAAA)
        {
            return reply_with(&request, ResponseCode::NotImp, &[]);
        }
        let name = query.name().to_ascii();
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        // Replies keep query order per client (see `poll`): behind a pending
        // query even a known answer waits its turn.
        let queued = self.pending.iter().any(|p| p.client == client);
        let mut lookup: Box<dyn PendingLookup> = match STATIC_NAMES.iter().find(|(n, _)| *n == name) {
            Some((_, ip)) => Box::new(ReadyLookup(Some(Ok(vec![IpAddr::V4(*ip)])))),
            // RFC 6761 §6.4: ".invalid" never exists; say so without asking
            // the host (whose resolver would query the network).
            None if name == "invalid" || name.ends_with(".invalid") => {
                Box::new(ReadyLookup(Some(Err(LookupError::NoSuchName))))
            }
            None if self.pool.is_some() => {
                let pool = self.pool.as_ref().expect("checked above");
                let addrs = match (query.query_type(), pool.borrow_mut().assign(&name)) {
                    (RecordType::A, Some(ip)) => Ok(vec![IpAddr::V4(ip)]),
                    (_, Some(_)) => Ok(Vec::new()),
                    (_, None) => Err(LookupError::NoSuchName),
                };
                Box::new(ReadyLookup(Some(addrs)))
            }
            None if self.pending.len() >= MAX_PENDING_LOOKUPS => {
                log::warn!("dns: {} lookups in flight; failing {name}", self.pending.len());
                Box::new(ReadyLookup(Some(Err(LookupError::Failed))))
            }
            None => {
                log::debug!("dns: {} from {client}: {name} {:?}", request.id(), query.query_type());
                upstream.lookup(&name)
            }
        };
        if !queued {
            if let Some(result) = lookup.poll() {
                return answer(&request, result);
            }
        }
        self.pending.push(Pending { request, client, lookup, deadline: now + LOOKUP_TIMEOUT });
        None
    }

    /// Replies for lookups that finished or timed out: `(client, payload)`.
    ///
    /// Each client's replies leave in the order its queries came: busybox
    /// `nslookup` sends A and AAAA with one ID and takes the first reply for
    /// the first query, so an early AAAA answer would be read as the A answer.
    pub fn poll(&mut self, now: Instant) -> Vec<(SocketAddrV4, Vec<u8>)> {
        let mut out = Vec::new();
        let mut waiting: Vec<SocketAddrV4> = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            if waiting.contains(&p.client) {
                i += 1;
                continue;
            }
            let result = match p.lookup.poll() {
                Some(r) => r,
                None if now >= p.deadline => Err(LookupError::Failed),
                None => {
                    waiting.push(p.client);
                    i += 1;
                    continue;
                }
            };
            let p = self.pending.remove(i);
            log::debug!("dns: {} answered for {}: {result:?}", p.request.id(), p.client);
            if let Some(reply) = answer(&p.request, result) {
                out.push((p.client, reply));
            }
        }
        out
    }

    /// The earliest lookup deadline, for the driver's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.deadline).min()
    }
}

fn single_question(request: &Message) -> Option<&Query> {
    match request.queries() {
        [q] => Some(q),
        _ => None,
    }
}

/// Builds the answer for a lookup result, keeping the address family asked for.
fn answer(request: &Message, result: Result<Vec<IpAddr>, LookupError>) -> Option<Vec<u8>> {
    let query = single_question(request)?;
    let addrs = match result {
        Ok(addrs) => addrs,
        Err(LookupError::NoSuchName) => return reply_with(request, ResponseCode::NXDomain, &[]),
        Err(LookupError::Failed) => return reply_with(request, ResponseCode::ServFail, &[]),
    };
    let mut records = Vec::new();
    for addr in addrs {
        let rdata = match (query.query_type(), addr) {
            // The host's loopback is the guest's HOST_ALIAS_IP: a name the
            // host maps to 127.0.0.1 then reaches the host through the NAT.
            (RecordType::A, IpAddr::V4(v4)) if v4 == HOST_LOOPBACK => RData::A(A(HOST_ALIAS_IP)),
            (RecordType::A, IpAddr::V4(v4)) if v4.is_loopback() => continue,
            (RecordType::A, IpAddr::V4(v4)) => RData::A(A(v4)),
            (RecordType::AAAA, IpAddr::V6(v6)) if v6.is_loopback() => continue,
            (RecordType::AAAA, IpAddr::V6(v6)) => RData::AAAA(AAAA(v6)),
            _ => continue,
        };
        if !records.iter().any(|r: &Record| r.data() == &rdata) {
            records.push(Record::from_rdata(query.name().clone(), ANSWER_TTL, rdata));
        }
    }
    // An existing name without addresses of this family is NOERROR with no
    // answers ("NODATA", RFC 2308 §2.2).
    reply_with(request, ResponseCode::NoError, &records)
}

fn reply_with(request: &Message, code: ResponseCode, answers: &[Record]) -> Option<Vec<u8>> {
    let mut reply = Message::new();
    reply
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(code);
    if let Some(q) = single_question(request) {
        reply.add_query(q.clone());
    }
    reply.add_answers(answers.iter().cloned());
    let bytes = encode(&reply)?;
    if bytes.len() <= MAX_UDP_ANSWER {
        return Some(bytes);
    }
    // Too long for plain UDP: drop answers and set TC (RFC 1035 §4.1.1).
    reply.answers_mut().clear();
    reply.set_truncated(true);
    encode(&reply)
}

fn encode(m: &Message) -> Option<Vec<u8>> {
    match m.to_vec() {
        Ok(v) => Some(v),
        Err(e) => {
            log::warn!("dns: cannot encode reply: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::{TcpPeer, UdpPeer};
    use hickory_proto::rr::Name;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;
    use std::str::FromStr;

    /// A resolver backed by a fixed table, answering after `delay` polls: the
    /// same contract the host's threaded resolver has.
    struct TableResolver {
        names: HashMap<String, Result<Vec<IpAddr>, LookupError>>,
        delay: usize,
    }

    struct Delayed(usize, Option<Result<Vec<IpAddr>, LookupError>>);
    impl PendingLookup for Delayed {
        fn poll(&mut self) -> Option<Result<Vec<IpAddr>, LookupError>> {
            if self.0 > 0 {
                self.0 -= 1;
                return None;
            }
            self.1.take()
        }
    }

    impl Upstream for TableResolver {
        fn connect_tcp(&mut self, _: SocketAddrV4) -> std::io::Result<Box<dyn TcpPeer>> {
            Err(std::io::ErrorKind::ConnectionRefused.into())
        }
        fn bind_udp(&mut self) -> std::io::Result<Box<dyn UdpPeer>> {
            Err(std::io::ErrorKind::Unsupported.into())
        }
        fn lookup(&mut self, name: &str) -> Box<dyn PendingLookup> {
            let r = self.names.get(name).cloned().unwrap_or(Err(LookupError::NoSuchName));
            if self.delay == 0 {
                Box::new(ReadyLookup(Some(r)))
            } else {
                Box::new(Delayed(self.delay, Some(r)))
            }
        }
    }

    fn query(name: &str, rtype: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(77).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_str(name).unwrap(), rtype));
        m.to_vec().unwrap()
    }

    fn resolver(delay: usize) -> TableResolver {
        let mut names = HashMap::new();
        names.insert(
            "example.test".to_string(),
            Ok(vec![IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), "fd00::1".parse().unwrap()]),
        );
        names.insert("broken.test".to_string(), Err(LookupError::Failed));
        names.insert("localhost".to_string(), Ok(vec![IpAddr::V4(HOST_LOOPBACK)]));
        TableResolver { names, delay }
    }

    const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 168, 127, 3), 5353);

    fn ask(server: &mut DnsServer, up: &mut TableResolver, name: &str, t: RecordType) -> Message {
        let bytes = server.on_query(&query(name, t), CLIENT, up, Instant::ZERO).expect("immediate reply");
        Message::from_vec(&bytes).unwrap()
    }

    #[test]
    fn answers_a_and_aaaa_by_family() {
        let (mut s, mut up) = (DnsServer::new(), resolver(0));
        let a = ask(&mut s, &mut up, "example.test.", RecordType::A);
        assert_eq!(a.id(), 77);
        assert_eq!(a.response_code(), ResponseCode::NoError);
        assert_eq!(a.answers().len(), 1);
        assert_eq!(a.answers()[0].data(), &RData::A(A(Ipv4Addr::new(10, 1, 2, 3))));
        let aaaa = ask(&mut s, &mut up, "example.test.", RecordType::AAAA);
        assert_eq!(aaaa.answers()[0].data(), &RData::AAAA(AAAA("fd00::1".parse().unwrap())));
    }

    #[test]
    fn honest_errors() {
        let (mut s, mut up) = (DnsServer::new(), resolver(0));
        assert_eq!(ask(&mut s, &mut up, "nope.test.", RecordType::A).response_code(), ResponseCode::NXDomain);
        // Answered without a lookup: the table would say it exists.
        up.names.insert("x.invalid".into(), Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]));
        assert_eq!(ask(&mut s, &mut up, "x.invalid.", RecordType::A).response_code(), ResponseCode::NXDomain);
        assert_eq!(ask(&mut s, &mut up, "broken.test.", RecordType::A).response_code(), ResponseCode::ServFail);
        assert_eq!(ask(&mut s, &mut up, "example.test.", RecordType::MX).response_code(), ResponseCode::NotImp);
        // Garbage with a readable id gets FORMERR; shorter garbage gets nothing.
        let reply = s.on_query(&[0, 9, 0xff], CLIENT, &mut up, Instant::ZERO).unwrap();
        assert_eq!(Message::from_vec(&reply).unwrap().response_code(), ResponseCode::FormErr);
        assert!(s.on_query(&[1], CLIENT, &mut up, Instant::ZERO).is_none());
    }

    #[test]
    fn static_names_and_host_loopback_map_to_the_host_alias() {
        let (mut s, mut up) = (DnsServer::new(), resolver(0));
        for name in ["host.containers.internal.", "localhost."] {
            let m = ask(&mut s, &mut up, name, RecordType::A);
            assert_eq!(m.answers()[0].data(), &RData::A(A(HOST_ALIAS_IP)), "{name}");
        }
    }

    #[test]
    fn slow_lookups_answer_later_or_time_out() {
        let (mut s, mut up) = (DnsServer::new(), resolver(2));
        assert!(s.on_query(&query("example.test.", RecordType::A), CLIENT, &mut up, Instant::ZERO).is_none());
        assert!(s.poll(Instant::ZERO).is_empty());
        let done = s.poll(Instant::ZERO);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, CLIENT);

        let mut up = resolver(usize::MAX);
        assert!(s.on_query(&query("example.test.", RecordType::A), CLIENT, &mut up, Instant::ZERO).is_none());
        assert_eq!(s.next_deadline(), Some(Instant::ZERO + LOOKUP_TIMEOUT));
        let done = s.poll(Instant::ZERO + LOOKUP_TIMEOUT);
        assert_eq!(Message::from_vec(&done[0].1).unwrap().response_code(), ResponseCode::ServFail);
    }

    #[test]
    fn a_pool_answers_every_name_without_the_upstream() {
        let mut s = DnsServer::new();
        let pool = Rc::new(RefCell::new(NamePool::default()));
        s.set_pool(pool.clone());
        // The table does not know this name: the pool answers anyway.
        let mut up = resolver(0);
        let a = ask(&mut s, &mut up, "anything.example.", RecordType::A);
        assert_eq!(a.response_code(), ResponseCode::NoError);
        let RData::A(A(ip)) = a.answers()[0].data() else { panic!("{a:?}") };
        assert!(NamePool::contains(*ip));
        assert_eq!(pool.borrow().name_of(*ip), Some("anything.example"));
        let aaaa = ask(&mut s, &mut up, "anything.example.", RecordType::AAAA);
        assert_eq!(aaaa.response_code(), ResponseCode::NoError);
        assert!(aaaa.answers().is_empty());
        // Built-in names keep their addresses.
        let m = ask(&mut s, &mut up, "host.containers.internal.", RecordType::A);
        assert_eq!(m.answers()[0].data(), &RData::A(A(HOST_ALIAS_IP)));
    }

    #[test]
    fn replies_to_one_client_keep_query_order() {
        let mut s = DnsServer::new();
        let mut slow = resolver(3);
        // A slow A query, then an AAAA whose answer is known at once.
        assert!(s.on_query(&query("example.test.", RecordType::A), CLIENT, &mut slow, Instant::ZERO).is_none());
        let mut fast = resolver(0);
        assert!(s.on_query(&query("example.test.", RecordType::AAAA), CLIENT, &mut fast, Instant::ZERO).is_none());
        let mut order = Vec::new();
        for _ in 0..5 {
            for (_, reply) in s.poll(Instant::ZERO) {
                order.push(Message::from_vec(&reply).unwrap().queries()[0].query_type());
            }
        }
        assert_eq!(order, vec![RecordType::A, RecordType::AAAA]);
    }
}
