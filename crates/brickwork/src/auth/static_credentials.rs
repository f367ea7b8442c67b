//! Credentials that never change: personal access tokens and basic auth.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use reqwest::header::HeaderMap;

use super::{authorization_header, has_all, AuthContext, CredentialStrategy, CredentialsProvider};
use crate::config::Config;
use crate::error::Result;

/// Personal access token: `Authorization: Bearer <token>` (needs `host`, `token`).
#[derive(Debug, Clone, Copy)]
pub struct Pat;

/// Username and password: `Authorization: Basic ...` (needs `host`, `username`, `password`).
#[derive(Debug, Clone, Copy)]
pub struct Basic;

/// A fixed `Authorization` header.
struct StaticHeader(HeaderMap);

impl fmt::Debug for StaticHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticHeader(***)")
    }
}

#[async_trait]
impl CredentialsProvider for StaticHeader {
    async fn headers(&self) -> Result<HeaderMap> {
        Ok(self.0.clone())
    }
}

#[async_trait]
impl CredentialStrategy for Pat {
    fn auth_type(&self) -> &'static str {
        "pat"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["host", "token"]
    }

    async fn configure(&self, cfg: &Config, _: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let (true, Some(token)) = (has_all(cfg, &["host"]), cfg.expose("token")) else {
            return Ok(None);
        };
        Ok(Some(Arc::new(StaticHeader(authorization_header(&format!("Bearer {token}"))?))))
    }
}

#[async_trait]
impl CredentialStrategy for Basic {
    fn auth_type(&self) -> &'static str {
        "basic"
    }

    fn needs(&self) -> &'static [&'static str] {
        &["host", "username", "password"]
    }

    async fn configure(&self, cfg: &Config, _: &AuthContext) -> Result<Option<Arc<dyn CredentialsProvider>>> {
        let (true, Some(user), Some(password)) =
            (has_all(cfg, &["host"]), cfg.expose("username"), cfg.expose("password"))
        else {
            return Ok(None);
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Ok(Some(Arc::new(StaticHeader(authorization_header(&format!("Basic {encoded}"))?))))
    }
}
