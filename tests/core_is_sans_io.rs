//! Invariant 6 of the crate docs: the core never reads the operating system's clock, never
//! depends on an async runtime and never spawns. Checked on the source: everything under `src/`
//! except the hosts (`src/host/`, behind features) and the one clock meant to read the OS
//! (`SystemClock`, which goes through `web-time`).
#![cfg(not(target_family = "wasm"))]

use std::path::{Path, PathBuf};

const FORBIDDEN: [&str; 9] = [
    "Instant::now",
    "SystemTime::now",
    "tokio::",
    "async_std::",
    "smol::",
    "thread::spawn",
    "spawn_local",
    "std::thread::sleep",
    "std::time::Instant",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source tree") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            if path.ends_with("host") {
                continue;
            }
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_core_reads_no_os_clock_uses_no_runtime_and_spawns_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 20, "the scan sees the crate: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("UTF-8 source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for pattern in FORBIDDEN {
                // The doc examples show hosts what to call; they are comments, skipped above.
                let allowed = file.ends_with("clock.rs") && pattern == "SystemTime::now" && code.contains("web_time::");
                if code.contains(pattern) && !allowed {
                    found.push(format!("{}:{}: {}", file.display(), number + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "runtime or OS-clock use in the core:\n{}", found.join("\n"));
}
