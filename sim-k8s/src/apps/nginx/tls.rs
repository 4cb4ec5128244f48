//! A simulated TLS 1.3 exchange with real record framing and no cryptography, so the
//! bytes on the wire have TLS's shape and sizes while the trace can say what happened:
//! - the client's first flight is a real ClientHello record (type 22) carrying the SNI
//!   `server_name` extension;
//! - the server answers one handshake record holding ServerHello and a Certificate
//!   message whose body is the certificate's subject (`CN=...`) as text, not DER;
//! - the client sends a Finished record, then application data records (type 23)
//!   whose payload is the plaintext HTTP (real TLS would encrypt it);
//! - the server ends with a close_notify alert (type 21).

const HANDSHAKE: u8 = 22;
const APP_DATA: u8 = 23;
const ALERT: u8 = 21;

fn record(kind: u8, version: [u8; 2], body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len()).expect("records stay below 64 KiB");
    let mut out = vec![kind, version[0], version[1]];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn handshake_msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).expect("small").to_be_bytes();
    let mut out = vec![kind, len[1], len[2], len[3]];
    out.extend_from_slice(body);
    out
}

fn u16_prefixed(body: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(body.len()).expect("small").to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A ClientHello record for `sni` (TLS_AES_128_GCM_SHA256, supported_versions TLS 1.3).
pub fn client_hello(sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&random);
    body.push(0); // session id
    body.extend_from_slice(&u16_prefixed(&[0x13, 0x01]));
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let mut entry = vec![0u8]; // host_name
        entry.extend_from_slice(&u16_prefixed(name.as_bytes()));
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&u16_prefixed(&u16_prefixed(&entry)));
    }
    ext.extend_from_slice(&[0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04]); // supported_versions
    body.extend_from_slice(&u16_prefixed(&ext));
    record(HANDSHAKE, [3, 1], &handshake_msg(1, &body))
}

/// One complete record at the start of `buf`: (type, payload, bytes used).
pub fn next_record(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    if buf.len() < 5 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    (buf.len() >= 5 + len).then(|| (buf[0], &buf[5..5 + len], 5 + len))
}

/// The SNI of a ClientHello record's payload (`Some(None)`: no server_name extension);
/// `None` when the payload is not a ClientHello.
pub fn parse_sni(payload: &[u8]) -> Option<Option<String>> {
    let take = |b: &[u8], at: usize, n: usize| b.get(at..at + n).map(<[u8]>::to_vec);
    if payload.first() != Some(&1) {
        return None;
    }
    let mut i = 4 + 2 + 32;
    let sid = usize::from(*payload.get(i)?);
    i += 1 + sid;
    let cs = take(payload, i, 2)?;
    i += 2 + usize::from(u16::from_be_bytes([cs[0], cs[1]]));
    let comp = usize::from(*payload.get(i)?);
    i += 1 + comp;
    let el = take(payload, i, 2)?;
    let end = i + 2 + usize::from(u16::from_be_bytes([el[0], el[1]]));
    i += 2;
    while i + 4 <= end {
        let h = take(payload, i, 4)?;
        let (kind, len) = (u16::from_be_bytes([h[0], h[1]]), usize::from(u16::from_be_bytes([h[2], h[3]])));
        let data = take(payload, i + 4, len)?;
        if kind == 0 && data.len() >= 5 {
            let n = usize::from(u16::from_be_bytes([data[3], data[4]]));
            let name = data.get(5..5 + n)?;
            return Some(Some(String::from_utf8_lossy(name).into_owned()));
        }
        i += 4 + len;
    }
    Some(None)
}

/// The server's flight: ServerHello + Certificate (its subject as text).
pub fn server_flight(subject: &str, random: [u8; 32]) -> Vec<u8> {
    let mut hello = vec![0x03, 0x03];
    hello.extend_from_slice(&random);
    hello.extend_from_slice(&[0, 0x13, 0x01, 0]);
    hello.extend_from_slice(&u16_prefixed(&[0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]));
    let mut body = handshake_msg(2, &hello);
    body.extend_from_slice(&handshake_msg(11, subject.as_bytes()));
    record(HANDSHAKE, [3, 3], &body)
}

/// The certificate subject in a server flight's payload.
pub fn certificate_subject(payload: &[u8]) -> Option<String> {
    let mut i = 0;
    while i + 4 <= payload.len() {
        let len = usize::from(payload[i + 1]) << 16
            | usize::from(payload[i + 2]) << 8
            | usize::from(payload[i + 3]);
        let body = payload.get(i + 4..i + 4 + len)?;
        if payload[i] == 11 {
            return Some(String::from_utf8_lossy(body).into_owned());
        }
        i += 4 + len;
    }
    None
}

/// The client's Finished record.
pub fn finished() -> Vec<u8> {
    record(HANDSHAKE, [3, 3], &handshake_msg(20, &[0; 32]))
}

/// Application data (plaintext here).
pub fn app_data(data: &[u8]) -> Vec<u8> {
    data.chunks(16384).flat_map(|c| record(APP_DATA, [3, 3], c)).collect()
}

pub fn close_notify() -> Vec<u8> {
    record(ALERT, [3, 3], &[1, 0])
}

/// Is this record application data?
pub fn is_app_data(kind: u8) -> bool {
    kind == APP_DATA
}

/// Is this record a handshake?
pub fn is_handshake(kind: u8) -> bool {
    kind == HANDSHAKE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sni_survives_a_client_hello_round_trip() {
        let hello = client_hello(Some("secure.example.com"), [7; 32]);
        assert_eq!(&hello[..3], &[22, 3, 1]);
        let (kind, payload, used) = next_record(&hello).unwrap();
        assert_eq!((kind, used), (22, hello.len()));
        assert_eq!(parse_sni(payload), Some(Some("secure.example.com".into())));
        let bare = client_hello(None, [0; 32]);
        let (_, p, _) = next_record(&bare).unwrap();
        assert_eq!(parse_sni(p), Some(None));
        assert_eq!(parse_sni(b"GET / HTTP/1.1"), None);
        let flight = server_flight("CN=x", [1; 32]);
        let (_, p, _) = next_record(&flight).unwrap();
        assert_eq!(certificate_subject(p).as_deref(), Some("CN=x"));
    }
}
