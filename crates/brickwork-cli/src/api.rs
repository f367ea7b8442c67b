//! `brickwork api <method> PATH [--json ...]`: any endpoint, through the
//! same client (auth, retries, rate limit) as every other command.

use brickwork::transport::Method;
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::{CliError, Session};

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The HTTP method.
    method: HttpMethod,
    /// The path, e.g. /api/2.0/clusters/list (a query string may follow).
    path: String,
    /// The body: inline JSON, or @path/to/file.json (@- for standard input).
    #[arg(long)]
    json: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

pub async fn run(session: &Session, args: &ApiArgs) -> Result<(), CliError> {
    if !args.path.starts_with('/') {
        return Err(CliError::usage(format!("the path must start with /: {}", args.path)));
    }
    let body = args.json.as_deref().map(crate::operations::json_argument).transpose()?;
    let client = session.workspace().await?;
    let method = match args.method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
    };
    let mut request = client.client().api().request(method, &args.path);
    if let Some(body) = &body {
        request = request.json(body);
    }
    let response = request.send().await?;
    if response.bytes().iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match response.json::<Value>() {
        Ok(value) => session.printer().json(&value),
        // Not JSON (an export, a file): as it came.
        Err(_) => crate::output::raw(response.bytes()),
    }
}
