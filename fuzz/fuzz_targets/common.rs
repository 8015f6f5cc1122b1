//! Shared by every target: an allocation guard. Without AddressSanitizer
//! (stable toolchain, `-s none`) libFuzzer's `-malloc_limit_mb` has no malloc
//! hooks to work with, and a huge `Vec::with_capacity` taken from a size the
//! input claims never touches its pages, so `-rss_limit_mb` misses it too.
//! This allocator aborts (a crash libFuzzer records) on any single allocation
//! over `LIMIT`. The targets cap decompressed layers at 64 MiB and JSON is
//! capped at 64 MiB by the readers, so nothing legitimate comes near it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

const LIMIT: usize = 256 << 20;

pub struct Guard;

#[cold]
fn too_big(size: usize) -> ! {
    // No allocation here: format into a stack buffer.
    let mut buf = [0u8; 96];
    let mut w = &mut buf[..];
    let _ = writeln!(w, "fuzz allocation guard: one allocation of {size} bytes");
    let left = w.len();
    let _ = std::io::stderr().write_all(&buf[..buf.len() - left]);
    std::process::abort();
}

unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            too_big(layout.size());
        }
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            too_big(layout.size());
        }
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LIMIT {
            too_big(new_size);
        }
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GUARD: Guard = Guard;
