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

/// A JSON Web Key Set as sent: only the members verification reads.
#[derive(Deserialize)]
struct KeySetJson {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(rename = "use", default)]
    usage: Option<String>,
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
    /// Private members: a policy holds public keys only.
    #[serde(default)]
    d: Option<Value>,
    #[serde(default)]
    k: Option<Value>,
}

/// A federation policy's public keys, checked and decoded once, when the
/// emulator starts.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<PublicKey>,
}

#[derive(Debug)]
struct PublicKey {
    kid: Option<String>,
    /// The one algorithm the key is for, when its JWK names one.
    alg: Option<String>,
    material: Material,
}

#[derive(Debug)]
enum Material {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed point (0x04, x, y) on the named curve.
    Ec {
        curve: &'static str,
        point: Vec<u8>,
    },
}

/// The fewest modulus bytes ring verifies (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

fn member(jwk: &Jwk, name: &str, value: &Option<String>) -> Result<Vec<u8>, String> {
    let text = value.as_deref().ok_or_else(|| format!("a {} key has no {name:?}", jwk.kty))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| format!("the {name:?} of a {} key is not base64url", jwk.kty))
}

impl PublicKey {
    fn parse(jwk: Jwk) -> Result<Self, String> {
        if jwk.d.is_some() || jwk.k.is_some() {
            return Err("a key holds private or secret material (d or k): give the public keys only".into());
        }
        if jwk.usage.as_deref().is_some_and(|u| u != "sig") {
            return Err(format!("a key's use is {:?}, not \"sig\"", jwk.usage.as_deref().unwrap_or_default()));
        }
        let material = match jwk.kty.as_str() {
            "RSA" => {
                let n = trim_leading_zeros(&member(&jwk, "n", &jwk.n)?).to_vec();
                let e = trim_leading_zeros(&member(&jwk, "e", &jwk.e)?).to_vec();
                if n.len() < MIN_RSA_MODULUS_BYTES {
                    return Err(format!("an RSA key has {} bits; at least 2048 are needed", n.len() * 8));
                }
                Material::Rsa { n, e }
            }
            "EC" => {
                let (curve, size) = match jwk.crv.as_deref() {
                    Some("P-256") => ("P-256", 32),
                    Some("P-384") => ("P-384", 48),
                    other => return Err(format!("EC curve {other:?} is not P-256 or P-384")),
                };
                let (x, y) = (member(&jwk, "x", &jwk.x)?, member(&jwk, "y", &jwk.y)?);
                if x.len() != size || y.len() != size {
                    return Err(format!("a {curve} key's x and y must be {size} bytes each"));
                }
                Material::Ec { curve, point: [&[0x04][..], &x, &y].concat() }
            }
            other => return Err(format!("key type {other:?} is not RSA or EC")),
        };
        Ok(Self { kid: jwk.kid, alg: jwk.alg, material })
    }

    fn verifies(&self, alg: &str, algorithm: &Algorithm, message: &[u8], sig: &[u8]) -> bool {
        if self.alg.as_deref().is_some_and(|own| own != alg) {
            return false;
        }
        match (algorithm, &self.material) {
            (Algorithm::Rsa(params), Material::Rsa { n, e }) => {
                RsaPublicKeyComponents { n, e }.verify(params, message, sig).is_ok()
            }
            (Algorithm::Ec(verification, wanted), Material::Ec { curve, point }) if wanted == curve => {
                UnparsedPublicKey::new(*verification, point).verify(message, sig).is_ok()
            }
            _ => false,
        }
    }
}

impl KeySet {
    /// A policy's `jwks_json`, every key of it usable, or what is wrong: a
    /// policy must not silently trust nothing.
    pub(crate) fn parse(jwks_json: &str) -> Result<Self, String> {
        let set: KeySetJson = serde_json::from_str(jwks_json)
            .map_err(|e| format!("jwks_json is not a JSON Web Key Set ({{\"keys\": [...]}}): {e}"))?;
        if set.keys.is_empty() {
            return Err("jwks_json holds no keys".into());
        }
        let keys = set.keys.into_iter().map(PublicKey::parse).collect::<Result<Vec<_>, _>>();
        Ok(Self { keys: keys.map_err(|why| format!("jwks_json: {why}"))? })
    }
}

/// How a JWS `alg` verifies: RSA parameters, or an ECDSA algorithm and its curve.
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

    /// Whether a key of `keys` signed this token. A token naming its key
    /// (`kid`) is checked against that key only; a key naming its algorithm
    /// verifies that algorithm only.
    pub(crate) fn signed_by(&self, keys: &KeySet) -> bool {
        let alg = self.header.alg.as_str();
        let Some(algorithm) = Algorithm::named(alg) else { return false };
        let named = |key: &&PublicKey| match (&self.header.kid, &key.kid) {
            (Some(wanted), Some(kid)) => wanted == kid,
            _ => true,
        };
        keys.keys
            .iter()
            .filter(named)
            .any(|key| key.verifies(alg, &algorithm, self.signing_input.as_bytes(), &self.signature))
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
    /// token endpoint URL for token exchange, the workspace URL for an ID
    /// token sent as a bearer token.
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
    use ring::signature::RsaKeyPair;

    fn keys(jwks_json: &str) -> KeySet {
        KeySet::parse(jwks_json).expect("a usable key set")
    }

    fn b64(raw: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// An RSA key (the repository's test service-account key) signing RS256
    /// and PS256, as identity providers do, and its public JWK.
    fn rsa() -> (RsaKeyPair, Value) {
        let pem = include_str!("../../brickwork/tests/fixtures/gcp-test-key.pem");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body");
        let pair = RsaKeyPair::from_pkcs8(&der).expect("PKCS#8 RSA key");
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
        let jwk = json!({"kty": "RSA", "kid": "rsa-1", "n": b64(&public.n), "e": b64(&public.e)});
        (pair, jwk)
    }

    fn rsa_signed(pair: &RsaKeyPair, alg: &str, kid: &str, claims: &Value) -> String {
        let padding: &'static dyn signature::RsaEncoding = match alg {
            "PS256" => &signature::RSA_PSS_SHA256,
            _ => &signature::RSA_PKCS1_SHA256,
        };
        let header = json!({"alg": alg, "kid": kid});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(padding, &SystemRandom::new(), input.as_bytes(), &mut sig).expect("signed");
        format!("{input}.{}", b64(&sig))
    }

    #[test]
    fn only_a_token_its_policys_keys_signed_is_trusted() {
        let issuer = IdTokenIssuer::new("https://idp.example.com").expect("issuer");
        let other = IdTokenIssuer::new("https://idp.example.com").expect("issuer");
        let token = issuer.sign(&json!({"sub": "a"})).expect("signed");
        let parsed = SignedToken::parse(&token).expect("a JWS");
        assert!(parsed.signed_by(&keys(&issuer.jwks_json())));
        assert!(!parsed.signed_by(&keys(&other.jwks_json())), "another key");

        // The claims changed after signing: the signature no longer holds.
        let (head, rest) = token.split_once('.').expect("header");
        let sig = rest.split_once('.').expect("payload").1;
        let forged = format!("{head}.{}.{sig}", b64(json!({"sub": "admin"}).to_string().as_bytes()));
        assert!(!SignedToken::parse(&forged).expect("a JWS").signed_by(&keys(&issuer.jwks_json())));

        // `alg: none` and HMAC never verify, whatever the key set.
        for alg in ["none", "HS256"] {
            let header = b64(json!({"alg": alg}).to_string().as_bytes());
            let unsigned = format!("{header}.{}.", b64(json!({"sub": "a"}).to_string().as_bytes()));
            assert!(!SignedToken::parse(&unsigned).expect("a JWS").signed_by(&keys(&issuer.jwks_json())), "{alg}");
        }
        assert!(SignedToken::parse("opaque").is_none());
        assert!(SignedToken::parse("a.b.c.d").is_none());
    }

    #[test]
    fn rsa_tokens_verify_by_their_algorithm_and_named_key() {
        let (pair, jwk) = rsa();
        let claims = json!({"sub": "a"});
        let set = keys(&json!({"keys": [jwk]}).to_string());
        for alg in ["RS256", "PS256"] {
            let token = rsa_signed(&pair, alg, "rsa-1", &claims);
            assert!(SignedToken::parse(&token).expect("a JWS").signed_by(&set), "{alg}");
        }
        // Named for another key of the set: only that key is tried.
        let elsewhere = rsa_signed(&pair, "RS256", "rsa-2", &claims);
        let ec = IdTokenIssuer::new("https://idp.example.com").expect("issuer");
        let ec_jwk: Value = serde_json::from_str(&ec.jwks_json()).expect("jwks");
        let mixed = keys(&json!({"keys": [jwk, ec_jwk["keys"][0].clone()]}).to_string());
        assert!(!SignedToken::parse(&elsewhere).expect("a JWS").signed_by(&mixed), "kid rsa-2 is not in the set");
        // A key published for RS256 does not verify PS256.
        let mut pinned = jwk.clone();
        pinned["alg"] = json!("RS256");
        let pinned = keys(&json!({"keys": [pinned]}).to_string());
        let pss = rsa_signed(&pair, "PS256", "rsa-1", &claims);
        assert!(!SignedToken::parse(&pss).expect("a JWS").signed_by(&pinned));
        // An RSA signature presented as ES256 meets no EC key of the set.
        let confused = rsa_signed(&pair, "RS256", "rsa-1", &claims).replacen(
            &b64(json!({"alg": "RS256", "kid": "rsa-1"}).to_string().as_bytes()),
            &b64(json!({"alg": "ES256"}).to_string().as_bytes()),
            1,
        );
        assert!(!SignedToken::parse(&confused).expect("a JWS").signed_by(&mixed));
    }

    #[test]
    fn a_key_set_a_token_could_never_meet_is_refused_with_its_reason() {
        let (_, rsa_jwk) = rsa();
        let ec = IdTokenIssuer::new("https://idp.example.com").expect("issuer");
        let ec_jwk: Value = serde_json::from_str::<Value>(&ec.jwks_json()).expect("jwks")["keys"][0].clone();
        let with = |base: &Value, field: &str, value: Value| {
            let mut key = base.clone();
            if value.is_null() {
                key.as_object_mut().expect("jwk").remove(field);
            } else {
                key[field] = value;
            }
            json!({"keys": [key]}).to_string()
        };
        let cases = [
            ("not JSON", "{".to_string()),
            ("no keys", r#"{"keys": []}"#.to_string()),
            ("a secret key", r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#.to_string()),
            ("RSA without n", with(&rsa_jwk, "n", Value::Null)),
            ("RSA of 1024 bits", with(&rsa_jwk, "n", json!(b64(&[0xC5; 128])))),
            ("RSA with its private exponent", with(&rsa_jwk, "d", json!("AQAB"))),
            ("an encryption key", with(&rsa_jwk, "use", json!("enc"))),
            ("EC on P-521", with(&ec_jwk, "crv", json!("P-521"))),
            ("EC without y", with(&ec_jwk, "y", Value::Null)),
            ("EC x of 31 bytes", with(&ec_jwk, "x", json!(b64(&[7; 31])))),
        ];
        for (what, jwks_json) in cases {
            assert!(KeySet::parse(&jwks_json).is_err(), "{what}: {jwks_json}");
        }
        assert!(KeySet::parse(&json!({"keys": [rsa_jwk, ec_jwk]}).to_string()).is_ok());
    }
}
