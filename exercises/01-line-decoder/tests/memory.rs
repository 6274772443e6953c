//! The grader for homework 01, part two: what the decoder costs in memory. A server holds one
//! decoder per connection, ten thousand of them at C10K, so an idle one must cost nothing and
//! a busy one no more than a line and a read.
//!
//! The counting allocator below sees every allocation of this test program, and counts the
//! ones made on the thread that asks: libtest runs tests side by side on several threads, and
//! each test counts only its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use line_decoder::LineDecoder;

/// The system allocator, counting what this thread allocates.
struct Counting;

thread_local! {
    /// Allocations made on this thread, bytes held now, and the most held at once.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(change: isize, new_allocation: bool) {
    // `try_with`: a thread being torn down has lost its counters; it is not measured.
    let _ = HELD.try_with(|held| {
        let now = held.get() + change;
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
    if new_allocation {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; the bookkeeping touches
// only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize, true);
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize), false);
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize, true);
        // SAFETY: as for `dealloc`; `realloc` keeps the system allocator's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Run `work` and return the most bytes it held at once, beyond what was held before.
fn peak_of(work: impl FnOnce()) -> usize {
    let before = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    work();
    usize::try_from(PEAK.with(Cell::get) - before).unwrap_or(0)
}

#[test]
fn a_new_decoder_allocates_nothing() {
    let before = allocations();
    let decoder = LineDecoder::new();
    let made = allocations() - before;
    assert_eq!(
        made, 0,
        "LineDecoder::new() allocated {made} time(s); ten thousand idle callers would pay for \
         it before saying a word\nhint: Vec::new() and String::new() allocate nothing; \
         Vec::with_capacity(n) does. Grow the buffer when bytes arrive"
    );
    assert_eq!(decoder.buffered(), 0);
    drop(decoder);
}

#[test]
fn a_flood_of_short_lines_needs_little_memory() {
    // A client streams 1 MiB of 57-byte lines in 16 KiB reads; the server takes every line
    // after each read. One read plus one unfinished line must be enough room.
    let flood: Vec<u8> = b"0123456789abcdef0123456789abcdef0123456789abcdef012345678\n"
        .iter()
        .copied()
        .cycle()
        .take(1024 * 1024)
        .collect();
    let mut lines = 0;
    let peak = peak_of(|| {
        let mut decoder = LineDecoder::new();
        for read in flood.chunks(16 * 1024) {
            decoder.feed(read);
            while let Some(line) = decoder.next_line() {
                assert!(line.is_ok());
                lines += 1;
            }
        }
    });
    assert_eq!(lines, 1024 * 1024 / 58);
    // 16 KiB + one line, doubled by Vec's growth, is 32 KiB; 128 KiB leaves room to spare.
    assert!(
        peak <= 128 * 1024,
        "the decoder held up to {} KiB while 1 MiB of short lines went through it, 16 KiB at a \
         time: are bytes that were handed out as lines still kept?\nhint: drain the consumed \
         bytes (Vec::drain(..end)), or move a read cursor and compact the buffer when it runs \
         ahead; `buffered()` counting right is not enough, the memory must be given back",
        peak / 1024
    );
}
