//! Trust in ID tokens from outside the workspace. A federation policy names
//! the keys its issuer signs with (`jwks_json`, as Databricks' OIDC
//! federation policies take them); a token is trusted only when one of them
//! verifies its signature. [`IdTokenIssuer`] plays such an issuer in tests.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::FederationPolicySpec;

/// A JWS in compact form, taken apart but not yet trusted.
pub(crate) struct SignedToken<'a> {
    signing_input: &'a str,
    header: Header,
    claims: Map<String, Value>,
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<Jwk>,
}

/// The members of a JSON Web Key that verification reads; others are ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// How a JWS `alg` verifies, and the key type and curve it needs.
enum Algorithm {
    Rsa(&'static signature::RsaParameters),
    Ec(&'static signature::EcdsaVerificationAlgorithm, &'static str),
}

impl Algorithm {
    /// Only asymmetric algorithms: `none` and the HMAC family (a shared
    /// secret no policy holds) never verify.
    fn named(alg: &str) -> Option<Self> {
        Some(match alg {
            "RS256" => Self::Rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
            "RS384" => Self::Rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
            "RS512" => Self::Rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
            "PS256" => Self::Rsa(&signature::RSA_PSS_2048_8192_SHA256),
            "PS384" => Self::Rsa(&signature::RSA_PSS_2048_8192_SHA384),
            "PS512" => Self::Rsa(&signature::RSA_PSS_2048_8192_SHA512),
            "ES256" => Self::Ec(&signature::ECDSA_P256_SHA256_FIXED, "P-256"),
            "ES384" => Self::Ec(&signature::ECDSA_P384_SHA384_FIXED, "P-384"),
            _ => return None,
        })
    }

    fn verifies(&self, key: &Jwk, message: &[u8], sig: &[u8]) -> bool {
        let decoded = |part: &Option<String>| part.as_deref().and_then(|p| URL_SAFE_NO_PAD.decode(p).ok());
        match self {
            Self::Rsa(params) if key.kty == "RSA" => {
                let (Some(n), Some(e)) = (decoded(&key.n), decoded(&key.e)) else { return false };
                // JWK integers are unsigned big-endian; ring takes them without leading zeros.
                let n = trim_leading_zeros(&n);
                let components = RsaPublicKeyComponents { n, e: trim_leading_zeros(&e) };
                components.verify(params, message, sig).is_ok()
            }
            Self::Ec(algorithm, curve) if key.kty == "EC" && key.crv.as_deref() == Some(curve) => {
                let (Some(x), Some(y)) = (decoded(&key.x), decoded(&key.y)) else { return false };
                let point: Vec<u8> = [&[0x04][..], &x, &y].concat();
                UnparsedPublicKey::new(*algorithm, point).verify(message, sig).is_ok()
            }
            _ => false,
        }
    }
}

fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Option<T> {
    let raw = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&raw).ok()
}

impl<'a> SignedToken<'a> {
    /// Split `header.payload.signature`; `None` when it is not a JWS.
    pub(crate) fn parse(jwt: &'a str) -> Option<Self> {
        let (signing_input, signature) = jwt.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        if payload.contains('.') {
            return None;
        }
        Some(Self {
            signing_input,
            header: decode_json(header)?,
            claims: decode_json(payload)?,
            signature: URL_SAFE_NO_PAD.decode(signature.trim_end_matches('=')).ok()?,
        })
    }

    pub(crate) fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Whether a key of `jwks_json` (a JSON Web Key Set) signed this token.
    /// A token naming its key (`kid`) is checked against that key only.
    pub(crate) fn signed_by(&self, jwks_json: &str) -> bool {
        let Some(algorithm) = Algorithm::named(&self.header.alg) else { return false };
        let Ok(set) = serde_json::from_str::<KeySet>(jwks_json) else { return false };
        let named = |key: &&Jwk| match (&self.header.kid, &key.kid) {
            (Some(wanted), Some(kid)) => wanted == kid,
            _ => true,
        };
        set.keys.iter().filter(named).any(|key| algorithm.verifies(key, self.signing_input.as_bytes(), &self.signature))
    }
}

/// Whether `jwks_json` is a key set a token could be checked against: an
/// error names what is wrong, so a policy cannot silently trust nothing.
pub(crate) fn check_key_set(jwks_json: &str) -> Result<(), String> {
    let set: KeySet = serde_json::from_str(jwks_json)
        .map_err(|e| format!("jwks_json is not a JSON Web Key Set ({{\"keys\": [...]}}): {e}"))?;
    if set.keys.is_empty() {
        return Err("jwks_json holds no keys".into());
    }
    match set.keys.iter().find(|k| k.kty != "RSA" && k.kty != "EC") {
        Some(other) => Err(format!("jwks_json key type {:?} is not RSA or EC", other.kty)),
        None => Ok(()),
    }
}

/// An identity provider for tests of token exchange: it signs ID tokens
/// with a P-256 key made when it is created (ES256). Give a federation
/// policy its [`jwks_json`](Self::jwks_json) (or use [`policy`](Self::policy))
/// and the emulator trusts what it signs and nothing else.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use std::time::Duration;
/// use brickwork_emulator::{Emulator, IdTokenIssuer};
///
/// let github = IdTokenIssuer::new("https://token.actions.githubusercontent.com")?;
/// let emulator = Emulator::builder()
///     .federation_policy(github.policy("ci-sp", "repo:acme/etl:ref:refs/heads/main", &[]))
///     .start()
///     .await?;
/// let audience = format!("{}/oidc/v1/token", emulator.url());
/// let id_token = github.id_token("repo:acme/etl:ref:refs/heads/main", &audience, Duration::from_secs(600))?;
/// // Exchange `id_token` at the emulator's token endpoint (`env-oidc`, `file-oidc`, ...).
/// # Ok(()) }
/// ```
pub struct IdTokenIssuer {
    issuer: String,
    key_id: String,
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for IdTokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenIssuer").field("issuer", &self.issuer).field("key_id", &self.key_id).finish()
    }
}

fn crypto_error(what: &str) -> std::io::Error {
    std::io::Error::other(format!("IdTokenIssuer: {what}"))
}

impl IdTokenIssuer {
    /// An issuer (`iss`) with a fresh signing key.
    pub fn new(issuer: impl Into<String>) -> std::io::Result<Self> {
        let rng = SystemRandom::new();
        let algorithm = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(algorithm, &rng).map_err(|_| crypto_error("no key generated"))?;
        let key = EcdsaKeyPair::from_pkcs8(algorithm, pkcs8.as_ref(), &rng)
            .map_err(|_| crypto_error("generated key rejected"))?;
        let key_id = format!("{:016x}", fastrand::u64(..));
        Ok(Self { issuer: issuer.into(), key_id, key, rng })
    }

    /// The `iss` of the tokens it signs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Its public key as a JSON Web Key Set, for a policy's `jwks_json`.
    pub fn jwks_json(&self) -> String {
        // An uncompressed P-256 point: 0x04, then x and y of 32 bytes each.
        let point = self.key.public_key().as_ref();
        let (x, y) = point.get(1..).unwrap_or_default().split_at(point.len().saturating_sub(1) / 2);
        json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.key_id,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]})
        .to_string()
    }

    /// A policy trusting this issuer's tokens for `subject`, mapped to
    /// `service_principal` (a client id). Empty `audiences`: the workspace's
    /// token endpoint URL.
    pub fn policy(&self, service_principal: &str, subject: &str, audiences: &[&str]) -> FederationPolicySpec {
        FederationPolicySpec {
            service_principal: service_principal.into(),
            issuer: self.issuer.clone(),
            subject: subject.into(),
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
            jwks_json: self.jwks_json(),
        }
    }

    /// An ID token for `subject` and `audience`, valid for `lifetime`.
    pub fn id_token(&self, subject: &str, audience: &str, lifetime: Duration) -> std::io::Result<String> {
        let now = crate::state::now_ms() / 1000;
        let exp = now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
        self.sign(&json!({"iss": self.issuer, "sub": subject, "aud": audience, "iat": now, "exp": exp}))
    }

    /// Any claims, signed as they are (an expired or misaddressed token is a
    /// test case too).
    pub fn sign(&self, claims: &Value) -> std::io::Result<String> {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.key_id});
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature =
            self.key.sign(&self.rng, signing_input.as_bytes()).map_err(|_| crypto_error("signing failed"))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_token_its_policys_keys_signed_is_trusted() {
        let issuer = IdTokenIssuer::new("https://idp.example.com").expect("issuer");
        let other = IdTokenIssuer::new("https://idp.example.com").expect("issuer");
        let token = issuer.sign(&json!({"sub": "a"})).expect("signed");
        let parsed = SignedToken::parse(&token).expect("a JWS");
        assert!(parsed.signed_by(&issuer.jwks_json()));
        assert!(!parsed.signed_by(&other.jwks_json()), "another key");

        // The claims changed after signing: the signature no longer holds.
        let (head, rest) = token.split_once('.').expect("header");
        let sig = rest.split_once('.').expect("payload").1;
        let forged = format!("{head}.{}.{sig}", URL_SAFE_NO_PAD.encode(json!({"sub": "admin"}).to_string()));
        assert!(!SignedToken::parse(&forged).expect("a JWS").signed_by(&issuer.jwks_json()));

        // `alg: none` and HMAC never verify, whatever the key set.
        for alg in ["none", "HS256"] {
            let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string());
            let unsigned = format!("{header}.{}.", URL_SAFE_NO_PAD.encode(json!({"sub": "a"}).to_string()));
            assert!(!SignedToken::parse(&unsigned).expect("a JWS").signed_by(&issuer.jwks_json()), "{alg}");
        }
        assert!(SignedToken::parse("opaque").is_none());
        assert!(SignedToken::parse("a.b.c.d").is_none());
    }

    #[test]
    fn a_key_set_without_usable_keys_is_named_as_such() {
        assert!(check_key_set("{").is_err());
        assert!(check_key_set(r#"{"keys": []}"#).is_err());
        assert!(check_key_set(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).is_err());
        let issuer = IdTokenIssuer::new("https://idp.example.com").expect("issuer");
        assert!(check_key_set(&issuer.jwks_json()).is_ok());
    }
}
