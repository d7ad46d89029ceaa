//! Heap use. Every instruction runs in the runtime's default 32 KB frame with its default bump
//! allocator, which never frees: what it has handed out by the end of an instruction is the
//! instruction's peak. Builds with the `heap-report` feature log that figure as the last line
//! of each instruction (`heap used: N`); scripts/cu-table.sh reads it into
//! docs/compute-units.md. Without the feature `reported` is the identity.
use anchor_lang::prelude::*;

/// The log line prefix of the report.
pub const REPORT_PREFIX: &str = "heap used: ";

/// `result`, after logging the heap used so far when built with `heap-report`.
#[inline(always)]
pub fn reported<T>(result: Result<T>) -> Result<T> {
    #[cfg(all(feature = "heap-report", target_os = "solana"))]
    msg!("{}{}", REPORT_PREFIX, used());
    result
}

/// Bytes the bump allocator has handed out: it keeps its next position (counting down from
/// the end of the frame; 0 before the first allocation) in the frame's first word.
#[cfg(all(feature = "heap-report", target_os = "solana"))]
fn used() -> usize {
    use anchor_lang::solana_program::entrypoint::{HEAP_LENGTH, HEAP_START_ADDRESS};
    let start = HEAP_START_ADDRESS as usize;
    // SAFETY: the runtime maps the heap frame at HEAP_START_ADDRESS for every instruction, and
    // the default allocator keeps its position there.
    let position = unsafe { core::ptr::read_volatile(start as *const usize) };
    if position == 0 {
        0
    } else {
        (start + HEAP_LENGTH).saturating_sub(position)
    }
}
