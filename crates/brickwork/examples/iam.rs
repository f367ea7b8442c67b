//! Identity: the current user, and users by name.
//!
//! `cargo run -p brickwork --example iam`

#[path = "common/mod.rs"]
mod common;

#[tokio::main]
async fn main() -> brickwork::Result<()> {
    let (w, _emulator) = common::connect().await?;
    let me = w.current_user().me().await?;
    println!("I am {} (id {})", me.user_name.clone().unwrap_or_default(), me.id.unwrap_or_default());
    let filter = format!("userName eq \"{}\"", me.user_name.unwrap_or_default());
    let found = w.users().list().filter(filter).try_collect().await?;
    println!("found {} matching user(s)", found.len());
    Ok(())
}
