//! The main job: a real MCP server on 127.0.0.1, on the tokio host, with the in-memory store.
//!
//! ```sh
//! cargo run --release --features tokio --example server -- --port 8080
//! npx @modelcontextprotocol/inspector-cli --cli http://127.0.0.1:8080/mcp --transport http --method tools/list
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
        mcp_session::host::tokio::spawn_with(listener, cli.state, move || fixture::server(&options), cli.host)?;
    println!("mcp-session example (tokio) listening on http://{}/mcp", running.local_addr());
    std::io::stdout().flush()?;
    running.join();
    Ok(())
}
