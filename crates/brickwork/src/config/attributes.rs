//! The table of configuration attributes and a store that remembers where
//! each value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

/// One configuration attribute: its name (as in `~/.databrickscfg` and the
/// builder), environment variable, auth method it belongs to, and whether it is
/// a secret.
#[derive(Debug, Clone, Copy)]
pub struct AttributeSpec {
    /// Name in profiles and in [`crate::ConfigBuilder::set`].
    pub name: &'static str,
    /// Environment variable, if the attribute can come from one.
    pub env: Option<&'static str>,
    /// Older environment variable names still honoured.
    pub env_aliases: &'static [&'static str],
    /// The auth method this attribute configures (used to detect conflicts).
    pub auth: Option<&'static str>,
    /// Never printed: held in a secret type and shown as `***`.
    pub sensitive: bool,
}

const fn attr(name: &'static str, env: Option<&'static str>) -> AttributeSpec {
    AttributeSpec { name, env, env_aliases: &[], auth: None, sensitive: false }
}

const fn auth(name: &'static str, env: &'static str, method: &'static str, sensitive: bool) -> AttributeSpec {
    AttributeSpec { name, env: Some(env), env_aliases: &[], auth: Some(method), sensitive }
}

/// Every attribute brickwork understands, in the official SDKs' order.
pub const ATTRIBUTES: &[AttributeSpec] = &[
    attr("host", Some("DATABRICKS_HOST")),
    attr("account_id", Some("DATABRICKS_ACCOUNT_ID")),
    attr("workspace_id", Some("DATABRICKS_WORKSPACE_ID")),
    attr("cloud", Some("DATABRICKS_CLOUD")),
    attr("discovery_url", Some("DATABRICKS_DISCOVERY_URL")),
    auth("token", "DATABRICKS_TOKEN", "pat", true),
    attr("token_audience", Some("DATABRICKS_TOKEN_AUDIENCE")),
    auth("oidc_token_env", "DATABRICKS_OIDC_TOKEN_ENV", "env-oidc", false),
    AttributeSpec {
        name: "oidc_token_filepath",
        env: Some("DATABRICKS_OIDC_TOKEN_FILEPATH"),
        env_aliases: &["DATABRICKS_OIDC_TOKEN_FILE"],
        auth: Some("file-oidc"),
        sensitive: false,
    },
    auth("username", "DATABRICKS_USERNAME", "basic", false),
    auth("password", "DATABRICKS_PASSWORD", "basic", true),
    auth("client_id", "DATABRICKS_CLIENT_ID", "oauth", false),
    auth("client_secret", "DATABRICKS_CLIENT_SECRET", "oauth", true),
    attr("profile", Some("DATABRICKS_CONFIG_PROFILE")),
    attr("config_file", Some("DATABRICKS_CONFIG_FILE")),
    auth("google_service_account", "DATABRICKS_GOOGLE_SERVICE_ACCOUNT", "google", false),
    auth("google_credentials", "GOOGLE_CREDENTIALS", "google", true),
    auth("azure_workspace_resource_id", "DATABRICKS_AZURE_RESOURCE_ID", "azure", false),
    auth("azure_use_msi", "ARM_USE_MSI", "azure", false),
    auth("azure_client_secret", "ARM_CLIENT_SECRET", "azure", true),
    auth("azure_client_id", "ARM_CLIENT_ID", "azure", false),
    auth("azure_tenant_id", "ARM_TENANT_ID", "azure", false),
    attr("azure_environment", Some("ARM_ENVIRONMENT")),
    attr("databricks_cli_path", Some("DATABRICKS_CLI_PATH")),
    attr("auth_type", Some("DATABRICKS_AUTH_TYPE")),
    attr("cluster_id", Some("DATABRICKS_CLUSTER_ID")),
    attr("warehouse_id", Some("DATABRICKS_WAREHOUSE_ID")),
    attr("serverless_compute_id", Some("DATABRICKS_SERVERLESS_COMPUTE_ID")),
    attr("skip_verify", None),
    attr("http_timeout_seconds", Some("DATABRICKS_HTTP_TIMEOUT_SECONDS")),
    attr("connect_timeout_seconds", Some("DATABRICKS_CONNECT_TIMEOUT_SECONDS")),
    attr("debug_truncate_bytes", Some("DATABRICKS_DEBUG_TRUNCATE_BYTES")),
    attr("debug_headers", Some("DATABRICKS_DEBUG_HEADERS")),
    attr("rate_limit", Some("DATABRICKS_RATE_LIMIT")),
    attr("adaptive_rate_limit", Some("DATABRICKS_ADAPTIVE_RATE_LIMIT")),
    attr("retry_timeout_seconds", Some("DATABRICKS_RETRY_TIMEOUT_SECONDS")),
    attr("max_retries", Some("DATABRICKS_MAX_RETRIES")),
    attr("max_response_bytes", Some("DATABRICKS_MAX_RESPONSE_BYTES")),
    AttributeSpec {
        name: "metadata_service_url",
        env: Some("DATABRICKS_METADATA_SERVICE_URL"),
        env_aliases: &[],
        auth: Some("metadata-service"),
        sensitive: true,
    },
    attr("scopes", None),
    attr("authorization_details", None),
    attr("disable_oauth_refresh_token", Some("DATABRICKS_DISABLE_OAUTH_REFRESH_TOKEN")),
];

/// Look up an attribute by name.
pub fn spec(name: &str) -> Option<&'static AttributeSpec> {
    ATTRIBUTES.iter().find(|a| a.name == name)
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Set in code, on the builder.
    Explicit,
    /// Read from this environment variable.
    Env(String),
    /// Read from a profile of a config file.
    File {
        /// The config file.
        path: PathBuf,
        /// The profile (section) name.
        profile: String,
    },
    /// Found while authenticating, from the attribute named here (a
    /// workspace host looked up from `azure_workspace_resource_id`).
    Discovered(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Explicit => f.write_str("explicit"),
            Source::Env(var) => write!(f, "env {var}"),
            Source::File { path, profile } => write!(f, "{} [{profile}]", path.display()),
            Source::Discovered(from) => write!(f, "discovered from {from}"),
        }
    }
}

/// A value that knows whether it may be printed.
#[derive(Clone)]
pub(crate) enum Value {
    Plain(String),
    Secret(SecretString),
}

impl Value {
    pub(crate) fn new(spec: &AttributeSpec, raw: String) -> Self {
        if spec.sensitive {
            Value::Secret(SecretString::from(raw))
        } else {
            Value::Plain(raw)
        }
    }

    /// The value, secrets included: for building requests only.
    pub(crate) fn expose(&self) -> &str {
        match self {
            Value::Plain(s) => s,
            Value::Secret(s) => s.expose_secret(),
        }
    }

    /// The value as it may be shown in logs and messages.
    pub(crate) fn display(&self) -> &str {
        match self {
            Value::Plain(s) => s,
            Value::Secret(_) => "***",
        }
    }
}

/// The resolved attribute values with their sources.
#[derive(Clone, Default)]
pub(crate) struct Attributes {
    values: BTreeMap<&'static str, (Value, Source)>,
}

impl Attributes {
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name).map(|(v, _)| v)
    }

    pub(crate) fn source(&self, name: &str) -> Option<&Source> {
        self.values.get(name).map(|(_, s)| s)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Set `name` unless it already has a value; empty strings count as unset.
    pub(crate) fn fill(&mut self, spec: &'static AttributeSpec, raw: String, source: Source) {
        if raw.is_empty() || self.values.contains_key(spec.name) {
            return;
        }
        self.values.insert(spec.name, (Value::new(spec, raw), source));
    }

    /// Replace the value of `name`, keeping its source.
    pub(crate) fn replace(&mut self, spec: &'static AttributeSpec, raw: String) {
        if let Some((value, _)) = self.values.get_mut(spec.name) {
            *value = Value::new(spec, raw);
        }
    }

    /// Auth methods that have at least one attribute set, sorted and deduplicated.
    pub(crate) fn auth_methods(&self) -> Vec<&'static str> {
        let mut methods: Vec<_> =
            ATTRIBUTES.iter().filter(|a| self.values.contains_key(a.name)).filter_map(|a| a.auth).collect();
        methods.sort_unstable();
        methods.dedup();
        methods
    }

    /// `Config: host=..., token=***` in table order.
    pub(crate) fn describe(&self) -> String {
        let shown: Vec<String> = ATTRIBUTES
            .iter()
            .filter_map(|a| self.values.get(a.name).map(|(v, _)| format!("{}={}", a.name, v.display())))
            .collect();
        shown.join(", ")
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for a in ATTRIBUTES {
            if let Some((v, source)) = self.values.get(a.name) {
                map.entry(&a.name, &format_args!("{} ({source})", v.display()));
            }
        }
        map.finish()
    }
}
