//! Memory per idle session, counted by a global allocator over 100,000 sessions.
//!
//! `cargo bench --bench idle_memory` prints the bytes still allocated per session after
//! creating them (no events, no streams), the figure the engine promises to keep at 512 bytes or
//! less. Allocation counts are exact (not timings), so the bench fails above the target.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use futures::FutureExt;
use mcp_session::{ManualClock, Owner, Principal, SessionIdGenerator, Sessions, TenantId, Timestamp};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SESSIONS: usize = 100_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` asks harness-less benches to list themselves
    }
    let clock = ManualClock::new(Timestamp::from_millis(1_795_262_400_000));
    let sessions = Sessions::<()>::builder().clock(clock).ids(SessionIdGenerator::seeded(1)).build::<()>();
    let tenants: Vec<TenantId> = (0..10).map(|t| TenantId::new(format!("tenant-{t}"))).collect();
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    for i in 0..SESSIONS {
        // a realistic owner: one of ten tenants, a per-user principal
        let owner = Owner::new(tenants[i % 10].clone(), Principal::new(format!("user-{i}")));
        sessions.create(owner, ()).now_or_never().expect("ready").expect("created");
    }
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    let per_session = (after - before) as f64 / SESSIONS as f64;
    println!("idle_memory: {SESSIONS} sessions, {:.0} bytes allocated per idle session (target <= 512)", per_session);
    assert_eq!(sessions.len(), SESSIONS);
    assert!(per_session <= 512.0, "{per_session:.0} bytes per idle session, over the 512-byte target");
}
