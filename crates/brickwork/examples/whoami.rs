//! Who am I? Resolves config and credentials like the official SDKs, then
//! calls SCIM `Me` and lists clusters through the raw API.
//!
//! With `DATABRICKS_HOST` (or a profile) configured it talks to that
//! workspace; with nothing configured it starts a small local stand-in so the
//! example runs anywhere.
//!
//! ```sh
//! cargo run -p brickwork --example whoami
//! ```

use brickwork::{Client, Config, Result};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())).init();
    let configured = Config::from_env()?;
    let client = if configured.host().is_some() {
        Client::new(configured).await?
    } else {
        let url = local_stand_in::start().await?;
        println!("no workspace configured: using a local stand-in at {url}");
        Client::new(Config::builder().host(url).token("local-demo-token").build()?).await?
    };
    let me: Value = client.api().get("/api/2.0/preview/scim/v2/Me", &()).await?;
    println!("authenticated as {} (auth type {})", me["userName"], client.auth_type());
    let clusters: Value = client.api().get("/api/2.1/clusters/list", &serde_json::json!({"page_size": 10})).await?;
    let count = clusters["clusters"].as_array().map_or(0, Vec::len);
    println!("{count} cluster(s) visible");
    Ok(())
}

/// A minimal local server answering the two calls above.
mod local_stand_in {
    use axum::routing::get;
    use axum::Json;
    use serde_json::json;

    pub async fn start() -> brickwork::Result<String> {
        let app = axum::Router::new()
            .route("/api/2.0/preview/scim/v2/Me", get(|| async { Json(json!({"userName": "demo@example.com"})) }))
            .route("/api/2.1/clusters/list", get(|| async { Json(json!({})) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| brickwork::Error::config(format!("cannot bind a local port: {e}")))?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| brickwork::Error::config(e.to_string()))?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(url)
    }
}
