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
    // `RUST_LOG=mcp_session=debug` shows every request's span and the sessions' lifecycle.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let spans = tracing_subscriber::fmt::format::FmtSpan::CLOSE;
    tracing_subscriber::fmt().with_env_filter(filter).with_span_events(spans).with_writer(std::io::stderr).init();
    let cli = cli::parse();
    let listener = cli.listen()?;
    let options = cli.options.clone();
    let running =
        mcp_session::host::async_std::spawn_with(listener, cli.state, move || fixture::server(&options), cli.host)?;
    println!("mcp-session example (async-std) listening on http://{}/mcp", running.local_addr());
    std::io::stdout().flush()?;
    running.join();
    Ok(())
}
