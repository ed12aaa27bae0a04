//! A counting global allocator for the memory section: live heap bytes and
//! blocks by size class (powers of two), so the RSS per link can be split
//! into what the links allocate and what the allocator and kernel add.
//! Counting is off until [`enable`] (the throughput sections never pay
//! for it beyond one relaxed load per call).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

/// Size classes: class `c` holds blocks of `2^(c-1) + 1 ..= 2^c` bytes.
const CLASSES: usize = 40;

pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static BYTES: [AtomicI64; CLASSES] = [const { AtomicI64::new(0) }; CLASSES];
static BLOCKS: [AtomicI64; CLASSES] = [const { AtomicI64::new(0) }; CLASSES];

fn class(size: usize) -> usize {
    let bits = (usize::BITS - size.saturating_sub(1).leading_zeros()) as usize;
    bits.min(CLASSES - 1)
}

/// Blocks of at least this size are also counted by exact size.
const BIG: usize = 2048;
/// Slots of the exact-size table (open addressing; sizes beyond it are
/// counted by class only).
const SLOTS: usize = 64;
static BIG_SIZES: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static BIG_BLOCKS: [AtomicI64; SLOTS] = [const { AtomicI64::new(0) }; SLOTS];

fn count(size: usize, sign: i64) {
    if ON.load(Ordering::Relaxed) {
        let c = class(size);
        BYTES[c].fetch_add(sign * size as i64, Ordering::Relaxed);
        BLOCKS[c].fetch_add(sign, Ordering::Relaxed);
        if size >= BIG {
            count_big(size, sign);
        }
    }
}

/// Counts a big block in the slot of its exact size (claimed on first use).
fn count_big(size: usize, sign: i64) {
    for probe in 0..SLOTS {
        let slot = (size / 8 + probe) % SLOTS;
        let owner =
            match BIG_SIZES[slot].compare_exchange(0, size, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => size,
                Err(current) => current,
            };
        if owner == size {
            BIG_BLOCKS[slot].fetch_add(sign, Ordering::Relaxed);
            return;
        }
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters
// are updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size(), 1);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size(), 1);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(layout.size(), -1);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(layout.size(), -1);
            count(new_size, 1);
        }
        new
    }
}

/// Starts counting (net changes from now on).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// The live bytes and blocks counted so far, by size class.
#[derive(Clone)]
pub struct Snapshot {
    bytes: [i64; CLASSES],
    blocks: [i64; CLASSES],
    big_sizes: [usize; SLOTS],
    big_blocks: [i64; SLOTS],
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        bytes: BYTES.each_ref().map(|b| b.load(Ordering::Relaxed)),
        blocks: BLOCKS.each_ref().map(|b| b.load(Ordering::Relaxed)),
        big_sizes: BIG_SIZES.each_ref().map(|s| s.load(Ordering::Relaxed)),
        big_blocks: BIG_BLOCKS.each_ref().map(|b| b.load(Ordering::Relaxed)),
    }
}

impl Snapshot {
    /// Net live bytes added since `before`.
    pub fn bytes_since(&self, before: &Snapshot) -> i64 {
        self.bytes.iter().sum::<i64>() - before.bytes.iter().sum::<i64>()
    }

    /// `class=bytes/blocks` pairs per `per` (a link), for the classes that
    /// grew by at least 64 bytes per link: `le<upper bound>:<bytes>b/<blocks>`.
    pub fn classes_since(&self, before: &Snapshot, per: usize) -> String {
        let per = per.max(1) as f64;
        (0..CLASSES)
            .filter_map(|c| {
                let bytes = (self.bytes[c] - before.bytes[c]) as f64 / per;
                let blocks = (self.blocks[c] - before.blocks[c]) as f64 / per;
                (bytes >= 64.0).then(|| format!("le{}:{bytes:.0}b/{blocks:.2}", 1u64 << c))
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Blocks of at least 2 KiB by exact size, for the sizes that gained
    /// at least half a block per link: `<size>b x<blocks per link>`.
    pub fn big_since(&self, before: &Snapshot, per: usize) -> String {
        let per = per.max(1) as f64;
        let mut big: Vec<(usize, f64)> = (0..SLOTS)
            .filter(|&s| self.big_sizes[s] != 0)
            .map(|s| {
                let grew = self.big_blocks[s]
                    - if before.big_sizes[s] == self.big_sizes[s] {
                        before.big_blocks[s]
                    } else {
                        0
                    };
                (self.big_sizes[s], grew as f64 / per)
            })
            .filter(|&(_, blocks)| blocks >= 0.5)
            .collect();
        big.sort_by_key(|&(size, _)| std::cmp::Reverse(size));
        big.iter()
            .map(|(size, blocks)| format!("{size}b_x{blocks:.2}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}
