//! The client registry reading the real process environment (its own test
//! binary: it changes the environment).

#[cfg(unix)]
#[tokio::test]
async fn a_non_utf8_variable_does_not_panic_the_registry() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("home");
    std::env::set_var("HOME", dir.path());
    std::env::set_var("BRICKWORK_TEST_NOT_UTF8", std::ffi::OsStr::from_bytes(b"\xff\xfe"));
    std::env::set_var("DATABRICKS_ACME_HOST", "https://acme.cloud.databricks.com");
    std::env::set_var("DATABRICKS_ACME_TOKEN", "dapi-acme");
    let registry = brickwork::patterns::ClientRegistry::builder().build();
    let acme = registry.get("acme").await.expect("acme from its variables");
    assert_eq!(acme.client().config().host(), Some("https://acme.cloud.databricks.com"));
}
