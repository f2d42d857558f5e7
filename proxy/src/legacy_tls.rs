//! A minimal TLS 1.2 server for clients that rustls refuses: ClientHellos
//! without the signature_algorithms extension. busybox's own TLS code
//! (what `wget https://...` uses in the guest, busybox 1.35) sends none,
//! and rustls requires it, so transparent-mode HTTPS from busybox would
//! fail. RFC 5246 §7.4.1.4.1 allows the omission (the server then assumes
//! SHA-1); busybox does not check the ServerKeyExchange signature at all,
//! so we sign with ECDSA P-256/SHA-256 and say so.
//!
//! Only one suite: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (RFC 5289,
//! GCM records per RFC 5288), ECDHE on x25519 or secp256r1 (RFC 8422),
//! no resumption, no renegotiation, no extended master secret (the client
//! offers none of them). Every other ClientHello goes to rustls.
//! All crypto is ring's; this file only frames messages.

use crate::buffer::ByteQueue;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey};
use ring::digest;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

const CONTENT_CCS: u8 = 20;
const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
const CONTENT_APP_DATA: u8 = 23;
const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_KEY_EXCHANGE: u8 = 12;
const HS_SERVER_HELLO_DONE: u8 = 14;
const HS_CLIENT_KEY_EXCHANGE: u8 = 16;
const HS_FINISHED: u8 = 20;
const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_RENEGOTIATION_INFO: u16 = 0xff01;
const SUITE_ECDHE_ECDSA_AES128_GCM_SHA256: u16 = 0xc02b;
/// RFC 5746 §3.3 signalling suite: the server answers with renegotiation_info.
const SUITE_EMPTY_RENEGOTIATION_INFO_SCSV: u16 = 0x00ff;
const GROUP_SECP256R1: u16 = 0x0017;
const GROUP_X25519: u16 = 0x001d;
/// RFC 5246 §6.2.1.
const MAX_FRAGMENT: usize = 16 * 1024;
/// Ciphertext may be 2048 bytes longer than plaintext (RFC 5246 §6.2.3).
const MAX_RECORD: usize = MAX_FRAGMENT + 2048;
const GCM_EXPLICIT_NONCE: usize = 8;
const GCM_TAG: usize = 16;

/// What a ClientHello that only this module serves told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyHello {
    /// The ClientHello handshake message (header included), for the transcript.
    message: Vec<u8>,
    client_random: [u8; 32],
    group: u16,
    renegotiation_scsv: bool,
    pub sni: Option<String>,
    /// Bytes of the record(s) it came in.
    record_len: usize,
}

/// Who serves a TLS connection, decided from its first record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    /// The first record is not complete yet.
    NeedMore,
    /// rustls (also for malformed records: it gives the error).
    Rustls,
    /// A whole ClientHello without signature_algorithms, served here.
    Legacy(LegacyHello),
}

pub fn detect(raw: &[u8]) -> Detected {
    let Some(header) = raw.get(..5) else {
        return Detected::NeedMore;
    };
    if header[0] != CONTENT_HANDSHAKE {
        return Detected::Rustls;
    }
    let len = u16::from_be_bytes([header[3], header[4]]) as usize;
    let Some(body) = raw.get(5..5 + len) else {
        return if len > MAX_RECORD {
            Detected::Rustls
        } else {
            Detected::NeedMore
        };
    };
    match parse_client_hello(body) {
        Some(mut h) => {
            h.record_len = 5 + len;
            Detected::Legacy(h)
        }
        None => Detected::Rustls,
    }
}

/// RFC 5246 §7.4.1.2, in a single record (busybox's is ~100 bytes).
fn parse_client_hello(record: &[u8]) -> Option<LegacyHello> {
    let mut r = Reader(record);
    if r.u8()? != HS_CLIENT_HELLO {
        return None;
    }
    let len = r.u24()? as usize;
    if len + 4 != record.len() {
        return None;
    }
    let version = r.u16()?;
    if version != 0x0303 {
        return None;
    }
    let client_random: [u8; 32] = r.take(32)?.try_into().ok()?;
    let sid_len = r.u8()? as usize;
    r.take(sid_len)?;
    let suites_len = r.u16()? as usize;
    let suites = r.take(suites_len)?;
    let suites: Vec<u16> = suites
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let comp_len = r.u8()? as usize;
    if !r.take(comp_len)?.contains(&0) {
        return None;
    }
    let mut sni = None;
    let mut groups = Vec::new();
    if !r.0.is_empty() {
        let ext_len = r.u16()? as usize;
        let mut ext = Reader(r.take(ext_len)?);
        while !ext.0.is_empty() {
            let ty = ext.u16()?;
            let data_len = ext.u16()? as usize;
            let mut data = Reader(ext.take(data_len)?);
            match ty {
                EXT_SIGNATURE_ALGORITHMS => return None,
                EXT_SERVER_NAME => {
                    // RFC 6066 §3: list of (type, name); type 0 is host_name.
                    let n = data.u16()? as usize;
                    let mut list = Reader(data.take(n)?);
                    while !list.0.is_empty() {
                        let kind = list.u8()?;
                        let n = list.u16()? as usize;
                        let name = list.take(n)?;
                        if kind == 0 {
                            sni = std::str::from_utf8(name).ok().map(str::to_string);
                        }
                    }
                }
                EXT_SUPPORTED_GROUPS => {
                    let n = data.u16()? as usize;
                    let list = data.take(n)?;
                    groups = list
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                }
                _ => {}
            }
        }
    }
    if !suites.contains(&SUITE_ECDHE_ECDSA_AES128_GCM_SHA256) {
        return None;
    }
    // RFC 8422 §4: no supported_groups means any curve; take x25519 first.
    let group = [GROUP_X25519, GROUP_SECP256R1]
        .into_iter()
        .find(|g| groups.is_empty() || groups.contains(g))?;
    Some(LegacyHello {
        message: record.to_vec(),
        client_random,
        group,
        renegotiation_scsv: suites.contains(&SUITE_EMPTY_RENEGOTIATION_INFO_SCSV),
        sni,
        record_len: 0,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<u32> {
        let b = self.take(3)?;
        Some(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
}

/// TLS 1.2 PRF with SHA-256 (RFC 5246 §5).
fn prf(secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut label_seed = label.to_vec();
    label_seed.extend_from_slice(seed);
    let mut a = hmac::sign(&key, &label_seed);
    for chunk in out.chunks_mut(32) {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(a.as_ref());
        ctx.update(&label_seed);
        let p = ctx.sign();
        chunk.copy_from_slice(&p.as_ref()[..chunk.len()]);
        a = hmac::sign(&key, a.as_ref());
    }
}

fn handshake_message(ty: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut m = vec![ty, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    m.extend_from_slice(body);
    m
}

fn plain_record(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 3, 3, (payload.len() >> 8) as u8, payload.len() as u8];
    r.extend_from_slice(payload);
    r
}

/// One direction's AES-128-GCM state (RFC 5288 §3).
struct Direction {
    key: LessSafeKey,
    salt: [u8; 4],
    seq: u64,
}

impl Direction {
    fn new(key: &[u8], salt: &[u8]) -> Direction {
        let key =
            LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, key).expect("16-byte AES key"));
        Direction {
            key,
            salt: salt.try_into().expect("4-byte salt"),
            seq: 0,
        }
    }

    fn aad(&self, ty: u8, len: usize) -> [u8; 13] {
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&self.seq.to_be_bytes());
        aad[8] = ty;
        aad[9] = 3;
        aad[10] = 3;
        aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
        aad
    }

    fn seal(&mut self, ty: u8, plaintext: &[u8]) -> Vec<u8> {
        let explicit = self.seq.to_be_bytes();
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.salt);
        nonce[4..].copy_from_slice(&explicit);
        let aad = self.aad(ty, plaintext.len());
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .expect("GCM seal of a bounded record");
        self.seq += 1;
        let mut payload = explicit.to_vec();
        payload.extend_from_slice(&body);
        plain_record(ty, &payload)
    }

    fn open(&mut self, ty: u8, payload: &mut [u8]) -> Result<Vec<u8>, String> {
        if payload.len() < GCM_EXPLICIT_NONCE + GCM_TAG {
            return Err("encrypted record too short".into());
        }
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.salt);
        nonce[4..].copy_from_slice(&payload[..GCM_EXPLICIT_NONCE]);
        let aad = self.aad(ty, payload.len() - GCM_EXPLICIT_NONCE - GCM_TAG);
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut payload[GCM_EXPLICIT_NONCE..],
            )
            .map_err(|_| "record failed authentication".to_string())?;
        self.seq += 1;
        Ok(plain.to_vec())
    }
}

enum State {
    AwaitClientKeyExchange(EphemeralPrivateKey),
    AwaitChangeCipherSpec,
    AwaitFinished,
    Open,
}

pub struct LegacyTls {
    state: State,
    transcript: digest::Context,
    client_random: [u8; 32],
    server_random: [u8; 32],
    group: u16,
    master: [u8; 48],
    read: Option<Direction>,
    write: Option<Direction>,
    /// Decrypted or plaintext handshake bytes not yet a whole message.
    handshake: Vec<u8>,
    peer_closed: bool,
    sni: Option<String>,
}

impl LegacyTls {
    /// Answers `hello` (consumed from `raw_in`) with the server's first
    /// flight, presenting `cert_der` signed by `key_pkcs8`.
    pub fn accept(
        hello: LegacyHello,
        raw_in: &mut ByteQueue,
        raw_out: &mut ByteQueue,
        cert_der: &[u8],
        key_pkcs8: &[u8],
    ) -> Result<LegacyTls, String> {
        let rng = SystemRandom::new();
        raw_in.consume(hello.record_len);
        let mut transcript = digest::Context::new(&digest::SHA256);
        transcript.update(&hello.message);
        let mut server_random = [0u8; 32];
        rng.fill(&mut server_random).map_err(|_| "no randomness")?;

        // ServerHello (RFC 5246 §7.4.1.3).
        let mut body = vec![3, 3];
        body.extend_from_slice(&server_random);
        body.push(0); // no session id: no resumption
        body.extend_from_slice(&SUITE_ECDHE_ECDSA_AES128_GCM_SHA256.to_be_bytes());
        body.push(0); // null compression
        if hello.renegotiation_scsv {
            body.extend_from_slice(&[0, 5]);
            body.extend_from_slice(&EXT_RENEGOTIATION_INFO.to_be_bytes());
            body.extend_from_slice(&[0, 1, 0]);
        }
        let mut flight = handshake_message(HS_SERVER_HELLO, &body);

        // Certificate (§7.4.2): a chain of one.
        let n = cert_der.len();
        let mut body = Vec::with_capacity(n + 6);
        body.extend_from_slice(&[((n + 3) >> 16) as u8, ((n + 3) >> 8) as u8, (n + 3) as u8]);
        body.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        body.extend_from_slice(cert_der);
        flight.extend(handshake_message(HS_CERTIFICATE, &body));

        // ServerKeyExchange (RFC 8422 §5.4): named curve, ephemeral key, signature.
        let alg = if hello.group == GROUP_X25519 {
            &agreement::X25519
        } else {
            &agreement::ECDH_P256
        };
        let private =
            EphemeralPrivateKey::generate(alg, &rng).map_err(|_| "ECDHE key generation failed")?;
        let public = private
            .compute_public_key()
            .map_err(|_| "ECDHE public key failed")?;
        let mut params = vec![3];
        params.extend_from_slice(&hello.group.to_be_bytes());
        params.push(public.as_ref().len() as u8);
        params.extend_from_slice(public.as_ref());
        let mut signed = hello.client_random.to_vec();
        signed.extend_from_slice(&server_random);
        signed.extend_from_slice(&params);
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, key_pkcs8, &rng)
            .map_err(|e| format!("leaf key: {e}"))?;
        let sig = key
            .sign(&rng, &signed)
            .map_err(|_| "ECDSA signing failed")?;
        let mut body = params;
        body.extend_from_slice(&[4, 3]); // sha256, ecdsa (RFC 5246 §7.4.1.4.1)
        body.extend_from_slice(&(sig.as_ref().len() as u16).to_be_bytes());
        body.extend_from_slice(sig.as_ref());
        flight.extend(handshake_message(HS_SERVER_KEY_EXCHANGE, &body));
        flight.extend(handshake_message(HS_SERVER_HELLO_DONE, &[]));
        transcript.update(&flight);
        // One message per record: busybox reads a record per message.
        let mut rest = flight.as_slice();
        while rest.len() >= 4 {
            let len = 4 + u32::from_be_bytes([0, rest[1], rest[2], rest[3]]) as usize;
            for piece in rest[..len].chunks(MAX_FRAGMENT) {
                raw_out.push_all(&plain_record(CONTENT_HANDSHAKE, piece));
            }
            rest = &rest[len..];
        }
        Ok(LegacyTls {
            state: State::AwaitClientKeyExchange(private),
            transcript,
            client_random: hello.client_random,
            server_random,
            group: hello.group,
            master: [0; 48],
            read: None,
            write: None,
            handshake: Vec::new(),
            peer_closed: false,
            sni: hello.sni,
        })
    }

    pub fn sni(&self) -> Option<&str> {
        self.sni.as_deref()
    }

    pub fn handshake_done(&self) -> bool {
        matches!(self.state, State::Open)
    }

    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Processes whole records from `raw_in` while `plain_in` has room for
    /// what they may carry. Returns whether anything moved.
    pub fn read(
        &mut self,
        raw_in: &mut ByteQueue,
        plain_in: &mut ByteQueue,
        raw_out: &mut ByteQueue,
    ) -> Result<bool, String> {
        let mut progressed = false;
        while !self.peer_closed {
            let buf = raw_in.as_slice();
            if buf.len() < 5 {
                break;
            }
            let (ty, len) = (buf[0], u16::from_be_bytes([buf[3], buf[4]]) as usize);
            if buf[1] != 3 || len > MAX_RECORD {
                return Err(format!("bad record header {:02x?}", &buf[..5]));
            }
            if buf.len() < 5 + len || plain_in.room() < len {
                break;
            }
            let mut payload = buf[5..5 + len].to_vec();
            raw_in.consume(5 + len);
            progressed = true;
            let data = match &mut self.read {
                Some(dir) => dir.open(ty, &mut payload)?,
                None => payload,
            };
            match ty {
                CONTENT_HANDSHAKE => {
                    self.handshake.extend_from_slice(&data);
                    self.handshake_messages(raw_out)?;
                }
                CONTENT_CCS
                    if matches!(self.state, State::AwaitChangeCipherSpec) && data == [1] =>
                {
                    self.read = Some(self.key_direction(true));
                    self.state = State::AwaitFinished;
                }
                CONTENT_APP_DATA if matches!(self.state, State::Open) => {
                    plain_in.push_all(&data);
                }
                CONTENT_ALERT => {
                    // close_notify (RFC 5246 §7.2.1) or a fatal alert: either way, the end.
                    if data.get(1) == Some(&0) {
                        self.peer_closed = true;
                    } else {
                        return Err(format!("TLS alert from the guest: {data:?}"));
                    }
                }
                _ => {
                    return Err(format!(
                        "unexpected record type {ty} during the TLS handshake"
                    ))
                }
            }
        }
        Ok(progressed)
    }

    fn handshake_messages(&mut self, raw_out: &mut ByteQueue) -> Result<(), String> {
        while self.handshake.len() >= 4 {
            let len =
                u32::from_be_bytes([0, self.handshake[1], self.handshake[2], self.handshake[3]])
                    as usize;
            if len > MAX_RECORD {
                return Err("handshake message too long".into());
            }
            if self.handshake.len() < 4 + len {
                break;
            }
            let message: Vec<u8> = self.handshake.drain(..4 + len).collect();
            let state = std::mem::replace(&mut self.state, State::AwaitChangeCipherSpec);
            match (message[0], state) {
                (HS_CLIENT_KEY_EXCHANGE, State::AwaitClientKeyExchange(private)) => {
                    // ECPoint (RFC 8422 §5.7): one length byte, then the point.
                    let point = message
                        .get(5..)
                        .filter(|p| p.len() == message[4] as usize)
                        .ok_or("bad ClientKeyExchange")?;
                    let alg = if self.group == GROUP_X25519 {
                        &agreement::X25519
                    } else {
                        &agreement::ECDH_P256
                    };
                    let mut seed = self.client_random.to_vec();
                    seed.extend_from_slice(&self.server_random);
                    let mut master = [0u8; 48];
                    agreement::agree_ephemeral(
                        private,
                        &UnparsedPublicKey::new(alg, point),
                        |pms| prf(pms, b"master secret", &seed, &mut master),
                    )
                    .map_err(|_| "ECDHE with the guest's key failed")?;
                    self.master = master;
                    self.transcript.update(&message);
                }
                (HS_FINISHED, State::AwaitFinished) => {
                    let expected = self.verify_data(b"client finished");
                    if message[4..] != expected {
                        return Err("the guest's Finished does not verify".into());
                    }
                    self.transcript.update(&message);
                    let ours =
                        handshake_message(HS_FINISHED, &self.verify_data(b"server finished"));
                    raw_out.push_all(&plain_record(CONTENT_CCS, &[1]));
                    let mut write = self.key_direction(false);
                    raw_out.push_all(&write.seal(CONTENT_HANDSHAKE, &ours));
                    self.write = Some(write);
                    self.state = State::Open;
                }
                (ty, _) => return Err(format!("unexpected handshake message {ty}")),
            }
        }
        Ok(())
    }

    fn verify_data(&self, label: &[u8]) -> [u8; 12] {
        let hash = self.transcript.clone().finish();
        let mut out = [0u8; 12];
        prf(&self.master, label, hash.as_ref(), &mut out);
        out
    }

    /// RFC 5246 §6.3 key block: client key, server key, client salt, server salt.
    fn key_direction(&self, client: bool) -> Direction {
        let mut seed = self.server_random.to_vec();
        seed.extend_from_slice(&self.client_random);
        let mut block = [0u8; 40];
        prf(&self.master, b"key expansion", &seed, &mut block);
        if client {
            Direction::new(&block[0..16], &block[32..36])
        } else {
            Direction::new(&block[16..32], &block[36..40])
        }
    }

    /// Encrypts response bytes into records while `raw_out` has room.
    pub fn write(&mut self, plain_out: &mut ByteQueue, raw_out: &mut ByteQueue) -> bool {
        let Some(dir) = &mut self.write else {
            return false;
        };
        let mut progressed = false;
        while !plain_out.is_empty() && raw_out.room() > 0 {
            let n = plain_out.len().min(MAX_FRAGMENT);
            raw_out.push_all(&dir.seal(CONTENT_APP_DATA, &plain_out.as_slice()[..n]));
            plain_out.consume(n);
            progressed = true;
        }
        progressed
    }

    /// close_notify (RFC 5246 §7.2.1).
    pub fn close(&mut self, raw_out: &mut ByteQueue) {
        if let Some(dir) = &mut self.write {
            raw_out.push_all(&dir.seal(CONTENT_ALERT, &[1, 0]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// busybox 1.35's ClientHello to "localhost", as captured on the wire.
    fn busybox_hello() -> Vec<u8> {
        hex(concat!(
            "16030300590100005503034e048d18cea615f765e1fc1e4349427841fd9f0b44ab2e8e248680562aa2f177",
            "00001000ffc023c027c02bc02f003c003d009c0100001c0000000e000c0000096c6f63616c686f7374",
            "000a000600040017001d"
        ))
    }

    #[test]
    fn detects_hellos_without_signature_algorithms() {
        let wire = busybox_hello();
        let Detected::Legacy(h) = detect(&wire) else {
            panic!("busybox hello is legacy")
        };
        assert_eq!(h.sni.as_deref(), Some("localhost"));
        assert_eq!(h.group, GROUP_X25519);
        assert!(h.renegotiation_scsv);
        assert_eq!(h.record_len, wire.len());
        assert_eq!(detect(&wire[..50]), Detected::NeedMore);
        assert_eq!(detect(b"GET / HTTP/1.1\r\n"), Detected::Rustls);
    }

    #[test]
    fn modern_hellos_go_to_rustls() {
        let mut cfg_roots = rustls::RootCertStore::empty();
        let ca = crate::CertificateAuthority::generate(1_700_000_000).unwrap();
        cfg_roots.add(ca.ca_cert_der().clone()).unwrap();
        let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(cfg_roots)
        .with_no_client_auth();
        let mut client = rustls::ClientConnection::new(
            std::sync::Arc::new(cfg),
            "a.example".try_into().unwrap(),
        )
        .unwrap();
        let mut wire = Vec::new();
        client.write_tls(&mut wire).unwrap();
        assert_eq!(detect(&wire), Detected::Rustls);
    }

    #[test]
    fn prf_matches_the_published_tls12_sha256_vector() {
        // The widely used P_SHA256 test vector (secret, seed, "test label").
        let mut out = [0u8; 100];
        prf(
            &hex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            &hex("a0ba9f936cda311827a6f796ffd5198c"),
            &mut out,
        );
        assert_eq!(&out[..16], &hex("e3f229ba727be17b8d122620557cd453")[..]);
    }
}
