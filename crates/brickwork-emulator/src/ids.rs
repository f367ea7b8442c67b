//! Identifiers in the formats Databricks uses.

use time::OffsetDateTime;

const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

fn random_from(alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| alphabet[fastrand::usize(..alphabet.len())] as char).collect()
}

/// Bytes from the operating system's secure source: what credentials and
/// signing keys are made of, so none can be predicted from another.
pub fn secure_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; N];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // Not a case a machine running tests meets; said loudly, not fatal.
        tracing::error!("the operating system's random source failed: credentials drawn from a weaker one");
        bytes.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    bytes
}

/// A credential: `len` characters of `alphabet`, drawn without bias.
fn secret_from(alphabet: &[u8], len: usize) -> String {
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in secure_bytes::<64>() {
            if usize::from(byte) < limit && out.len() < len {
                out.push(alphabet[usize::from(byte) % alphabet.len()] as char);
            }
        }
    }
    out
}

/// `MMDD-HHMMSS-xxxxxxxx`, e.g. `0929-205554-jm9y8aqe`.
pub fn cluster_id() -> String {
    let now = OffsetDateTime::now_utc();
    format!(
        "{:02}{:02}-{:02}{:02}{:02}-{}",
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        random_from(ALPHANUMERIC, 8)
    )
}

/// 16 hex characters, like warehouse ids.
pub fn hex16() -> String {
    random_from(HEX, 16)
}

/// A UUID-shaped id (statements, request ids).
pub fn uuid() -> String {
    let h = random_from(HEX, 32);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

pub fn request_id() -> String {
    uuid()
}

/// A personal access token, `dapi` + 32 hex characters.
pub fn pat() -> String {
    format!("dapi{}", secret_from(HEX, 32))
}

/// An opaque secret (authorization codes, refresh tokens).
pub fn secret(len: usize) -> String {
    secret_from(ALPHANUMERIC, len)
}

/// An opaque OAuth access token.
pub fn oauth_token() -> String {
    format!("eyJemu.{}", secret_from(ALPHANUMERIC, 40))
}
