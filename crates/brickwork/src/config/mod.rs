//! Unified configuration, resolved the way the official SDKs resolve it.
//!
//! Each attribute is taken from, in order: the builder, `DATABRICKS_*`
//! environment variables, then a profile of the config file
//! (`DATABRICKS_CONFIG_FILE`, default `~/.databrickscfg`; profile from
//! `DATABRICKS_CONFIG_PROFILE`, else `[__settings__] default_profile`, else
//! `DEFAULT`). A later source only fills what is still unset. As in the
//! official SDKs, the file is skipped when no profile was named and the host
//! or some credential is already configured.
//!
//! ```
//! use brickwork::Config;
//!
//! let cfg = Config::builder()
//!     .host("adb-123.azuredatabricks.net/")
//!     .token("dapi-example")
//!     .without_environment()
//!     .build()?;
//! assert_eq!(cfg.host(), Some("https://adb-123.azuredatabricks.net"));
//! assert!(cfg.to_string().contains("token=***"));
//! assert!(!format!("{cfg:?}").contains("dapi-example"));
//! # Ok::<(), brickwork::Error>(())
//! ```

mod attributes;
mod environment;
mod file;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use attributes::{AttributeSpec, Source, ATTRIBUTES};
pub(crate) use environment::azure_by_name;
pub use environment::{
    AzureEnvironment, Cloud, DatabricksEnvironment, ARM_DATABRICKS_RESOURCE_ID, AZURE_ENVIRONMENTS,
    DEFAULT_ENVIRONMENT, ENVIRONMENTS,
};

use attributes::{spec, Attributes};
use file::ConfigFile;

use crate::error::{Error, Result};

/// Default total time budget for retries of one call, as in the official SDKs.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(300);
/// Default timeout of one HTTP attempt.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time to open a connection (as the Go SDK's dialer), at most the
/// HTTP timeout. A connect that takes longer fails as a connect failure:
/// nothing was sent, so even a `POST` is retried.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of body bytes shown in debug logs.
pub const DEFAULT_DEBUG_TRUNCATE_BYTES: usize = 96;
/// Default limit on one response body read into memory (512 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 512 * 1024 * 1024;

/// Parse `text` as a config file and look up `profile` (or the default one):
/// the fuzzing entry point. Returns the number of profiles.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn fuzz_config_file(text: &str, profile: Option<&str>) -> Result<usize> {
    let file = ConfigFile::parse(std::path::Path::new("fuzz"), text)?;
    if let Some(choice) = file.choose(profile)? {
        let _ = file.profile(&choice.name);
    }
    Ok(file.profile_count())
}

/// Where environment variables are read from.
#[derive(Clone, Debug, Default)]
enum Environment {
    /// The process environment.
    #[default]
    Process,
    /// A fixed set of variables (tests, tenant registries).
    Fixed(HashMap<String, String>),
}

impl Environment {
    fn var(&self, name: &str) -> Option<String> {
        match self {
            Environment::Process => std::env::var(name).ok(),
            Environment::Fixed(vars) => vars.get(name).cloned(),
        }
        .filter(|v| !v.is_empty())
    }
}

/// Whether a host serves workspace or account APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostType {
    /// A workspace host (`https://adb-123.azuredatabricks.net`, ...).
    Workspace,
    /// An accounts console host (`https://accounts.cloud.databricks.com`, ...).
    Accounts,
}

/// Builder for [`Config`]: explicit values, then environment, then profile.
#[derive(Clone, Default)]
pub struct ConfigBuilder {
    explicit: Vec<(&'static AttributeSpec, String)>,
    unknown: Vec<String>,
    env: Environment,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.explicit.iter().map(|(s, _)| s.name).collect();
        f.debug_struct("ConfigBuilder").field("explicit", &names).finish_non_exhaustive()
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $fn:ident => $name:literal;)*) => {
        $(
            $(#[$doc])*
            pub fn $fn(self, value: impl Into<String>) -> Self {
                self.set($name, value)
            }
        )*
    };
}

impl ConfigBuilder {
    /// Set any attribute of [`ATTRIBUTES`] by name; an unknown name is a
    /// configuration error at [`build`](Self::build).
    pub fn set(mut self, name: &str, value: impl Into<String>) -> Self {
        match spec(name) {
            Some(spec) => {
                self.explicit.retain(|(s, _)| s.name != spec.name);
                self.explicit.push((spec, value.into()));
            }
            None => self.unknown.push(name.to_string()),
        }
        self
    }

    setters! {
        /// Workspace or account host; `https://` is added when missing.
        host => "host";
        /// Personal access token (`pat` auth).
        token => "token";
        /// Username for `basic` auth.
        username => "username";
        /// Password for `basic` auth.
        password => "password";
        /// OAuth client (service principal application) id.
        client_id => "client_id";
        /// OAuth client secret (`oauth-m2m` auth).
        client_secret => "client_secret";
        /// Account id, for account hosts.
        account_id => "account_id";
        /// Profile of the config file to load.
        profile => "profile";
        /// Path of the config file (default `~/.databrickscfg`).
        config_file => "config_file";
        /// Force one auth type (`pat`, `basic`, `oauth-m2m`, ...).
        auth_type => "auth_type";
        /// URL of a Databricks metadata service (`metadata-service` auth).
        metadata_service_url => "metadata_service_url";
        /// Path or name of the `databricks` CLI (`databricks-cli` auth).
        databricks_cli_path => "databricks_cli_path";
    }

    /// Client-side rate limit in requests per second: a cap, always applied.
    pub fn rate_limit(self, per_second: u32) -> Self {
        self.set("rate_limit", per_second.to_string())
    }

    /// Pace requests at the rate the server admits once it answers 429
    /// (default on; see [`RateLimiter`](crate::transport::RateLimiter)).
    pub fn adaptive_rate_limit(self, enabled: bool) -> Self {
        self.set("adaptive_rate_limit", enabled.to_string())
    }

    /// Total time budget for retries of one call (default 300 s).
    pub fn retry_timeout(self, budget: Duration) -> Self {
        self.set("retry_timeout_seconds", budget.as_secs_f64().to_string())
    }

    /// Timeout of one HTTP attempt (default 60 s).
    pub fn http_timeout(self, timeout: Duration) -> Self {
        self.set("http_timeout_seconds", timeout.as_secs_f64().to_string())
    }

    /// Time to open a connection (default 30 s, at most the HTTP timeout).
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.set("connect_timeout_seconds", timeout.as_secs_f64().to_string())
    }

    /// Largest response body read into memory (default 512 MiB).
    pub fn max_response_bytes(self, bytes: u64) -> Self {
        self.set("max_response_bytes", bytes.to_string())
    }

    /// Stop after this many attempts of one call, whatever the time budget.
    pub fn max_retries(self, retries: u32) -> Self {
        self.set("max_retries", retries.to_string())
    }

    /// Ignore the process environment (values come only from the builder and files).
    pub fn without_environment(mut self) -> Self {
        self.env = Environment::Fixed(HashMap::new());
        self
    }

    /// Read environment variables from `vars` instead of the process
    /// environment (`HOME` included, for `~` in paths).
    pub fn environment<K: Into<String>, V: Into<String>>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self {
        self.env = Environment::Fixed(vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }

    /// Resolve the configuration. Fails on an unreadable config file, a missing
    /// named profile, conflicting credentials or malformed values; the message
    /// names what was set and where it came from, with secrets masked.
    pub fn build(self) -> Result<Config> {
        let mut cfg = Config {
            attrs: Attributes::default(),
            env_used: Vec::new(),
            env: self.env.clone(),
            settings: Settings::default(),
        };
        cfg.resolve(self).map_err(|e| cfg.wrap(e))?;
        Ok(cfg)
    }
}

/// Numeric and flag settings parsed out of the attributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Requests per second, if limited.
    pub rate_limit: Option<u32>,
    /// Learn the server's rate from its 429s and pace requests to it.
    pub adaptive_rate_limit: bool,
    /// Total retry budget of one call.
    pub retry_timeout: Duration,
    /// Timeout of one HTTP attempt.
    pub http_timeout: Duration,
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Maximum attempts of one call (`None`: only the time budget applies).
    pub max_attempts: Option<u32>,
    /// Body bytes shown in debug logs.
    pub debug_truncate_bytes: usize,
    /// Log request headers (with `Authorization` redacted) at debug level.
    pub debug_headers: bool,
    /// Accept invalid TLS certificates (never in production).
    pub skip_verify: bool,
    /// Largest response body read into memory; a larger one is a
    /// `ResponseTooLarge` error, found without reading past the limit.
    pub max_response_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rate_limit: None,
            adaptive_rate_limit: true,
            retry_timeout: DEFAULT_RETRY_TIMEOUT,
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_attempts: None,
            debug_truncate_bytes: DEFAULT_DEBUG_TRUNCATE_BYTES,
            debug_headers: false,
            skip_verify: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// A resolved configuration. Cheap to clone; `Debug` masks every secret.
#[derive(Clone)]
pub struct Config {
    attrs: Attributes,
    env_used: Vec<&'static str>,
    env: Environment,
    settings: Settings,
}

impl Config {
    /// Start building a configuration.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Resolve from the environment and config file only.
    pub fn from_env() -> Result<Config> {
        Self::builder().build()
    }

    /// Resolve from the named profile (environment variables still win).
    pub fn from_profile(profile: &str) -> Result<Config> {
        Self::builder().profile(profile).build()
    }

    fn resolve(&mut self, builder: ConfigBuilder) -> Result<()> {
        if let Some(name) = builder.unknown.first() {
            return Err(Error::config(format!("unknown configuration attribute: {name}")));
        }
        for (spec, value) in builder.explicit {
            self.attrs.fill(spec, value, Source::Explicit);
        }
        self.load_env();
        self.load_profile()?;
        self.normalize_host();
        self.validate_auth_methods()?;
        self.settings = self.parse_settings()?;
        Ok(())
    }

    fn load_env(&mut self) {
        for spec in ATTRIBUTES {
            let vars = spec.env.into_iter().chain(spec.env_aliases.iter().copied());
            for var in vars {
                if let Some(value) = self.env.var(var) {
                    self.env_used.push(var);
                    self.attrs.fill(spec, value, Source::Env(var.to_string()));
                    break;
                }
            }
        }
    }

    fn load_profile(&mut self) -> Result<()> {
        let requested = self.get("profile").map(str::to_string);
        if requested.is_none() && (self.is_any_auth_configured() || self.attrs.contains("host")) {
            return Ok(());
        }
        let path = self.config_file_path();
        // No file: skipped even for a named profile, as the official SDKs do
        // (CI sets a profile globally and passes host and token by env).
        let Some(file) = ConfigFile::load(&path)? else {
            if let Some(profile) = requested {
                tracing::debug!("profile {profile} not loaded: {} does not exist", path.display());
            }
            return Ok(());
        };
        let Some(choice) = file.choose(requested.as_deref())? else {
            return Ok(());
        };
        let Some(values) = file.profile(&choice.name) else {
            if !choice.explicit {
                return Ok(());
            }
            return Err(Error::config(format!(
                "resolve: {} has no {} profile configured",
                path.display(),
                choice.name
            )));
        };
        let source = Source::File { path: file.path.clone(), profile: choice.name.clone() };
        tracing::debug!(profile = %choice.name, file = %path.display(), "loading profile");
        for (key, value) in values {
            if let Some(spec) = spec(key) {
                self.attrs.fill(spec, value.clone(), source.clone());
            }
        }
        if choice.explicit {
            if let Some(profile_spec) = spec("profile") {
                self.attrs.fill(profile_spec, choice.name, source);
            }
        }
        Ok(())
    }

    /// The config file this configuration reads, and the names of its
    /// profiles (none when the file does not exist).
    pub fn profile_names(&self) -> Result<(PathBuf, Vec<String>)> {
        let path = self.config_file_path();
        let names = match ConfigFile::load(&path)? {
            Some(file) => file.profile_names().map(str::to_string).collect(),
            None => Vec::new(),
        };
        Ok((path, names))
    }

    fn config_file_path(&self) -> PathBuf {
        let raw = self.get("config_file").unwrap_or("~/.databrickscfg");
        match raw.strip_prefix("~/") {
            Some(rest) => match self.env.var("HOME").or_else(|| self.env.var("USERPROFILE")) {
                Some(home) => PathBuf::from(home).join(rest),
                None => PathBuf::from(raw),
            },
            None => PathBuf::from(raw),
        }
    }

    /// Add `https://` when no scheme is given, keep scheme and host (a URL
    /// pasted from the browser loses its path and `?o=`), and take `?o=` as
    /// the workspace id when none is set.
    fn normalize_host(&mut self) {
        let (Some(host), Some(host_spec)) = (self.get("host").map(str::to_string), spec("host")) else {
            return;
        };
        self.attrs.replace(host_spec, normalize_host(&host));
        if let (Some(id), Some(ws)) = (workspace_id_in(&host), spec("workspace_id")) {
            let source = self.attrs.source("host").cloned().unwrap_or(Source::Explicit);
            self.attrs.fill(ws, id, source);
        }
    }

    fn validate_auth_methods(&self) -> Result<()> {
        let methods = self.attrs.auth_methods();
        if methods.len() <= 1 || self.attrs.contains("auth_type") {
            return Ok(());
        }
        Err(Error::config(format!(
            "validate: more than one authorization method configured: {}",
            methods.join(" and ")
        )))
    }

    fn parse_settings(&self) -> Result<Settings> {
        let defaults = Settings::default();
        let http_timeout =
            self.parse_seconds("http_timeout_seconds")?.filter(|d| !d.is_zero()).unwrap_or(defaults.http_timeout);
        Ok(Settings {
            rate_limit: self.parse_attr::<u32>("rate_limit")?.filter(|r| *r > 0),
            adaptive_rate_limit: self.parse_bool("adaptive_rate_limit")?.unwrap_or(defaults.adaptive_rate_limit),
            // 0 means "the default" in both official SDKs, not "no time at all".
            retry_timeout: self
                .parse_seconds("retry_timeout_seconds")?
                .filter(|d| !d.is_zero())
                .unwrap_or(defaults.retry_timeout),
            http_timeout,
            // Past the HTTP timeout it could never fire.
            connect_timeout: self
                .parse_seconds("connect_timeout_seconds")?
                .filter(|d| !d.is_zero())
                .unwrap_or(defaults.connect_timeout)
                .min(http_timeout),
            max_attempts: self.parse_attr::<u32>("max_retries")?.map(|r| r.saturating_add(1)),
            debug_truncate_bytes: self
                .parse_attr("debug_truncate_bytes")?
                .filter(|b| *b > 0)
                .unwrap_or(defaults.debug_truncate_bytes),
            debug_headers: self.parse_bool("debug_headers")?.unwrap_or(false),
            skip_verify: self.parse_bool("skip_verify")?.unwrap_or(false),
            max_response_bytes: self
                .parse_attr("max_response_bytes")?
                .filter(|b| *b > 0)
                .unwrap_or(defaults.max_response_bytes),
        })
    }

    fn parse_attr<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        raw.trim().parse::<T>().map(Some).map_err(|_| self.invalid_value(name, raw, "a whole number"))
    }

    fn parse_seconds(&self, name: &str) -> Result<Option<Duration>> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        raw.trim()
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .map(Some)
            .ok_or_else(|| self.invalid_value(name, raw, "a number of seconds"))
    }

    /// A flag attribute: unset is `false`, a malformed value an error.
    pub(crate) fn flag(&self, name: &str) -> Result<bool> {
        Ok(self.parse_bool(name)?.unwrap_or(false))
    }

    fn parse_bool(&self, name: &str) -> Result<Option<bool>> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(self.invalid_value(name, raw, "true or false")),
        }
    }

    fn invalid_value(&self, name: &str, raw: &str, expected: &str) -> Error {
        let from = self.attrs.source(name).map(|s| format!(" (from {s})")).unwrap_or_default();
        Error::config(format!("invalid {name}{from}: {raw:?} is not {expected}"))
    }

    /// Append what was configured and which environment variables were read,
    /// as the official SDKs do, with secrets masked.
    pub(crate) fn wrap(&self, err: Error) -> Error {
        let described = self.describe();
        if described.is_empty() {
            return err;
        }
        let message = format!("{}. {described}", err.message().trim_end_matches('.'));
        Error::new(err.kind(), message)
    }

    /// `Config: host=..., token=***. Env: DATABRICKS_HOST, DATABRICKS_TOKEN`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let attrs = self.attrs.describe();
        if !attrs.is_empty() {
            parts.push(format!("Config: {attrs}"));
        }
        if !self.env_used.is_empty() {
            parts.push(format!("Env: {}", self.env_used.join(", ")));
        }
        parts.join(". ")
    }

    /// A non-secret attribute's value (`None` for unset or secret attributes).
    pub fn get(&self, name: &str) -> Option<&str> {
        match self.attrs.get(name)? {
            attributes::Value::Plain(s) => Some(s),
            attributes::Value::Secret(_) => None,
        }
    }

    /// An attribute's value as it may be shown: secrets as `***`.
    pub fn shown(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(attributes::Value::display)
    }

    /// Any attribute's value, secrets included. Only auth code should call this.
    pub(crate) fn expose(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(attributes::Value::expose)
    }

    /// Any attribute's value, secrets included: for a tool that hands the
    /// configuration to another program on purpose (`brickwork auth env`).
    /// Never log or display what it returns.
    pub fn expose_secret(&self, name: &str) -> Option<&str> {
        self.expose(name)
    }

    /// Where an attribute's value came from.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.attrs.source(name)
    }

    /// True when `name` has a value (secret or not).
    pub fn is_set(&self, name: &str) -> bool {
        self.attrs.contains(name)
    }

    /// True when any attribute of any auth method is set.
    pub fn is_any_auth_configured(&self) -> bool {
        !self.attrs.auth_methods().is_empty()
    }

    /// The normalised host, e.g. `https://adb-123.azuredatabricks.net`.
    pub fn host(&self) -> Option<&str> {
        self.get("host")
    }

    /// The forced auth type, if any.
    pub fn auth_type(&self) -> Option<&str> {
        self.get("auth_type")
    }

    /// The account id, if configured.
    pub fn account_id(&self) -> Option<&str> {
        self.get("account_id")
    }

    /// The profile that was loaded (or requested).
    pub fn profile(&self) -> Option<&str> {
        self.get("profile")
    }

    /// Whether the host is an accounts console or a workspace.
    pub fn host_type(&self) -> HostType {
        match self.host() {
            Some(h) if h.starts_with("https://accounts.") || h.starts_with("https://accounts-dod.") => {
                HostType::Accounts
            }
            _ => HostType::Workspace,
        }
    }

    /// True for an accounts console host.
    pub fn is_account_client(&self) -> bool {
        self.host_type() == HostType::Accounts
    }

    /// The deployment the host belongs to, told from its DNS zone. Without a
    /// host but with `azure_workspace_resource_id`, the Azure cloud named by
    /// `azure_environment` (default `PUBLIC`), as in the official SDKs. A host
    /// in no known zone (a custom domain, a local emulator) whose cloud is
    /// Azure, by `cloud` or by a resource id, also gets that Azure cloud,
    /// where the official SDKs would have no Azure endpoints at all.
    pub fn environment(&self) -> &'static DatabricksEnvironment {
        let named_azure = || environment::azure_by_name(self.get("azure_environment").unwrap_or("PUBLIC"));
        let hostname = self.host().and_then(|h| reqwest::Url::parse(h).ok()?.host_str().map(str::to_string));
        let Some(hostname) = hostname else {
            let by_resource_id = self.is_set("azure_workspace_resource_id").then(named_azure).flatten();
            return by_resource_id.unwrap_or(&DEFAULT_ENVIRONMENT);
        };
        let found = environment::for_hostname(&hostname);
        if hostname.ends_with(found.dns_zone) {
            return found;
        }
        match self.declared_cloud() {
            Some(Cloud::Azure) => named_azure().unwrap_or(found),
            Some(Cloud::Gcp) => ENVIRONMENTS.iter().rfind(|e| e.cloud == Cloud::Gcp).unwrap_or(found),
            _ => found,
        }
    }

    /// The cloud: Azure when an Azure workspace resource id is set, else the
    /// `cloud` attribute when it names one, else the host's.
    pub fn cloud(&self) -> Cloud {
        self.declared_cloud().unwrap_or_else(|| self.environment().cloud)
    }

    /// As in the official SDKs, an Azure resource id makes the cloud Azure
    /// whatever `cloud` says.
    fn declared_cloud(&self) -> Option<Cloud> {
        let by_resource_id = self.is_set("azure_workspace_resource_id").then_some(Cloud::Azure);
        by_resource_id.or_else(|| self.get("cloud").and_then(Cloud::parse))
    }

    /// True on Azure Databricks.
    pub fn is_azure(&self) -> bool {
        self.cloud() == Cloud::Azure
    }

    /// True on Databricks on Google Cloud.
    pub fn is_gcp(&self) -> bool {
        self.cloud() == Cloud::Gcp
    }

    /// This configuration with the host an auth method discovered, when none
    /// was configured: the `host` attribute then says where it came from.
    pub(crate) fn with_discovered_host(&self, host: &str, from: &'static str) -> Config {
        let mut cfg = self.clone();
        if let Some(host_spec) = spec("host") {
            cfg.attrs.fill(host_spec, normalize_host(host), Source::Discovered(from));
        }
        cfg
    }

    /// Parsed transport settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// An environment variable as this config sees it (the fixed set in tests).
    pub(crate) fn env_var(&self, name: &str) -> Option<String> {
        self.env.var(name)
    }
}

fn with_scheme(host: &str) -> String {
    if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    }
}

/// Host normalisation shared by config and OAuth endpoints: scheme, host
/// and port only, as the official SDKs keep them.
pub(crate) fn normalize_host(host: &str) -> String {
    let full = with_scheme(host.trim());
    match reqwest::Url::parse(&full) {
        // Url drops default ports such as :443 for https by itself.
        Ok(url) if url.has_host() => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}", url.scheme(), url.host_str().unwrap_or_default())
        }
        _ => full.trim_end_matches('/').to_string(),
    }
}

/// The workspace id in a browser URL's `?o=` query.
fn workspace_id_in(host: &str) -> Option<String> {
    let url = reqwest::Url::parse(&with_scheme(host.trim())).ok()?;
    let id = url.query_pairs().find(|(k, _)| k == "o").map(|(_, v)| v.into_owned())?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config").field("attributes", &self.attrs).field("settings", &self.settings).finish()
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_normalisation() {
        assert_eq!(normalize_host("adb-1.azuredatabricks.net"), "https://adb-1.azuredatabricks.net");
        assert_eq!(normalize_host("https://x.cloud.databricks.com/"), "https://x.cloud.databricks.com");
        assert_eq!(normalize_host("https://x.cloud.databricks.com:443/"), "https://x.cloud.databricks.com");
        assert_eq!(normalize_host("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(normalize_host("https://x.com/some/path//"), "https://x.com");
        assert_eq!(normalize_host("https://x.cloud.databricks.com/?o=123#job/5"), "https://x.cloud.databricks.com");
        assert_eq!(workspace_id_in("https://x.cloud.databricks.com/?o=123"), Some("123".into()));
        assert_eq!(workspace_id_in("https://x.cloud.databricks.com/?o=abc"), None);
    }
}
