//! The same server as `server`, on the async-std host.
//!
//! ```sh
//! cargo run --release --features async-std --example server_async_std -- --port 8080
//! ```

#[path = "shared/cli.rs"]
mod cli;
#[path = "shared/fixture.rs"]
mod fixture;
#[path = "shared/input_fixture.rs"]
mod input_fixture;

use std::io::Write;

fn main() -> std::io::Result<()> {
    cli::log_to_stderr();
    let cli = cli::parse();
    let listener = cli.listen()?;
    let host = cli.host.clone();
    let running = match cli.redis.clone() {
        None => {
            let (state, options) = cli.in_memory();
            mcp_session::host::async_std::spawn_with(listener, state, move || fixture::server(&options), host)?
        }
        Some(url) => {
            let store = connect_redis(&url, cli.policy().clone())?;
            let (state, options) = cli.over(store);
            mcp_session::host::async_std::spawn_with(listener, state, move || fixture::server(&options), host)?
        }
    };
    println!("mcp-session example (async-std) listening on http://{}/mcp", running.local_addr());
    std::io::stdout().flush()?;
    running.join();
    Ok(())
}

/// The Redis store for `--redis`, on smol's executor (which async-std runs on).
#[cfg(feature = "redis")]
fn connect_redis(
    url: &str,
    policy: mcp_session::session::StorePolicy,
) -> std::io::Result<mcp_session::redis::RedisStore<mcp_session::McpSession>> {
    use mcp_session::redis::{RedisStore, RedisStoreConfig};
    let mut config = RedisStoreConfig::default();
    config.policy = policy;
    let store = async_std::task::block_on(RedisStore::connect(url, config));
    store.map_err(|error| std::io::Error::other(format!("--redis {url}: {error}")))
}

#[cfg(not(feature = "redis"))]
fn connect_redis(
    _: &str,
    _: mcp_session::session::StorePolicy,
) -> std::io::Result<mcp_session::session::MemoryStore<mcp_session::McpSession>> {
    Err(std::io::Error::other("--redis needs the `redis` feature: cargo run --features async-std,redis"))
}
