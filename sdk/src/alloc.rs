//! The plugin's global allocator in WebAssembly: size classes for small
//! blocks in front of Talc, instead of the dlmalloc that Rust's standard
//! library uses on `wasm32-wasip2`.
//!
//! Every value the host passes into a plugin call (each string and list of
//! the request envelope) is one allocation through `cabi_realloc`, freed
//! again when the call returns, and the plugin's own work allocates more: a
//! provider's `prepare` makes some thirty allocations per request, a
//! dialect's decode hundreds, nearly all of them under 2 KiB. Talc alone
//! took ~160 instructions per allocation and ~85 per free in the compiled
//! plugins; a block of a size class is taken from and given back to a list
//! of free blocks of that class in about ten.
//!
//! * Blocks of up to 2 KiB with an alignment of at most 16 are rounded up
//!   to a power of two (16, 32, ... 2048 bytes). A freed block goes on its
//!   class's list and is reused by the next allocation of that class; it is
//!   not given back to Talc. An instance's memory is thus at most the
//!   largest amount it ever held in each class, and instances are recycled
//!   by the host.
//! * Larger or more aligned blocks go to Talc directly.
//!
//! Counted with callgrind, one request at a time (an Anthropic client's
//! request to an OpenAI upstream with two transforms): Talc alone, 44.6k
//! instructions per request in allocation and free (184 of each); dlmalloc
//! more than that.
//!
//! It is on by default (feature `allocator`). A plugin that wants an
//! allocator of its own depends on the SDK with `default-features = false`
//! and declares its `#[global_allocator]` itself.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;

/// Size classes: 16 << 0 ..= 16 << 7 bytes.
const CLASSES: usize = 8;
/// log2 of the smallest class.
const MIN_SHIFT: u32 = 4;
/// The largest block served from a class.
const MAX_SIZE: usize = 1 << (MIN_SHIFT as usize + CLASSES - 1);
/// The alignment of every class block (enough for any primitive type).
const BLOCK_ALIGN: usize = 16;

/// A list of free blocks per size class in front of another allocator.
///
/// Not thread-safe: WebAssembly without the `atomics` feature has one
/// thread (the global instance below is only declared there).
pub(crate) struct SizeClasses<A> {
    inner: A,
    /// The first free block of each class; each free block holds the
    /// address of the next in its first word.
    free: UnsafeCell<[*mut u8; CLASSES]>,
}

impl<A> SizeClasses<A> {
    pub(crate) const fn new(inner: A) -> Self {
        SizeClasses {
            inner,
            free: UnsafeCell::new([ptr::null_mut(); CLASSES]),
        }
    }
}

/// The class serving `layout`, if it is small enough for one.
#[inline]
fn class_of(size: usize, align: usize) -> Option<usize> {
    if size > MAX_SIZE || align > BLOCK_ALIGN {
        return None;
    }
    // Bits needed for size - 1: the power of two at or above `size`.
    let bits = usize::BITS - size.max(1).wrapping_sub(1).leading_zeros();
    Some(bits.saturating_sub(MIN_SHIFT) as usize)
}

#[inline]
fn class_layout(class: usize) -> Layout {
    // SAFETY: a power of two between 16 and 2048, aligned to 16.
    unsafe { Layout::from_size_align_unchecked(1 << (MIN_SHIFT as usize + class), BLOCK_ALIGN) }
}

// SAFETY: blocks handed out are at least `layout.size()` bytes and aligned
// to at least `layout.align()` (class blocks are 16-aligned powers of two at
// or above the size; the rest come from `inner` with the caller's layout);
// a block is on a free list only after it was freed, and leaves it when it
// is handed out again.
unsafe impl<A: GlobalAlloc> GlobalAlloc for SizeClasses<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class_of(layout.size(), layout.align()) {
            Some(c) => unsafe {
                let free = &mut *self.free.get();
                let head = free[c];
                if head.is_null() {
                    self.inner.alloc(class_layout(c))
                } else {
                    free[c] = *head.cast::<*mut u8>();
                    head
                }
            },
            None => unsafe { self.inner.alloc(layout) },
        }
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        match class_of(layout.size(), layout.align()) {
            Some(c) => unsafe {
                let free = &mut *self.free.get();
                *p.cast::<*mut u8>() = free[c];
                free[c] = p;
            },
            None => unsafe { self.inner.dealloc(p, layout) },
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class_of(layout.size(), layout.align()).is_none() {
            return unsafe { self.inner.alloc_zeroed(layout) };
        }
        // A reused block holds what its last owner wrote.
        unsafe {
            let p = self.alloc(layout);
            if !p.is_null() {
                ptr::write_bytes(p, 0, layout.size());
            }
            p
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = class_of(layout.size(), layout.align());
        let new = class_of(new_size, layout.align());
        match (old, new) {
            // The block is already big enough (or small enough to keep).
            (Some(a), Some(b)) if a == b => p,
            (None, None) => unsafe { self.inner.realloc(p, layout, new_size) },
            _ => unsafe {
                let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                let q = self.alloc(new_layout);
                if !q.is_null() {
                    ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                    self.dealloc(p, layout);
                }
                q
            },
        }
    }
}

#[cfg(all(
    feature = "allocator",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
mod global {
    use super::SizeClasses;

    /// One thread: nothing else can touch the free lists.
    struct Global(SizeClasses<talc::wasm::WasmDynamicTalc>);

    // SAFETY: WebAssembly without the `atomics` feature runs one thread.
    unsafe impl Sync for Global {}

    // SAFETY: delegates to `SizeClasses`, whose contract is above.
    unsafe impl core::alloc::GlobalAlloc for Global {
        #[inline]
        unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
            unsafe { self.0.alloc(layout) }
        }
        #[inline]
        unsafe fn dealloc(&self, p: *mut u8, layout: core::alloc::Layout) {
            unsafe { self.0.dealloc(p, layout) }
        }
        #[inline]
        unsafe fn alloc_zeroed(&self, layout: core::alloc::Layout) -> *mut u8 {
            unsafe { self.0.alloc_zeroed(layout) }
        }
        #[inline]
        unsafe fn realloc(
            &self,
            p: *mut u8,
            layout: core::alloc::Layout,
            new_size: usize,
        ) -> *mut u8 {
            unsafe { self.0.realloc(p, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Global = Global(SizeClasses::new(talc::wasm::new_wasm_dynamic_allocator()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::alloc::System;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn classes() {
        assert_eq!(class_of(1, 1), Some(0));
        assert_eq!(class_of(16, 8), Some(0));
        assert_eq!(class_of(17, 8), Some(1));
        assert_eq!(class_of(32, 16), Some(1));
        assert_eq!(class_of(1000, 4), Some(6));
        assert_eq!(class_of(2048, 1), Some(7));
        assert_eq!(class_of(2049, 1), None);
        assert_eq!(class_of(64, 32), None);
        assert_eq!(class_layout(7).size(), MAX_SIZE);
    }

    #[test]
    fn a_freed_block_is_reused_by_its_class_only() {
        let a = SizeClasses::new(System);
        unsafe {
            let p = a.alloc(layout(24, 8));
            assert_eq!(p as usize % BLOCK_ALIGN, 0);
            a.dealloc(p, layout(24, 8));
            // Another class does not take it; the same class does.
            let q = a.alloc(layout(100, 8));
            assert_ne!(p, q);
            let r = a.alloc(layout(30, 4));
            assert_eq!(p, r);
            // Growing within the class keeps the block; beyond it moves.
            assert_eq!(a.realloc(r, layout(30, 4), 32), r);
            r.write_bytes(7, 32);
            let s = a.realloc(r, layout(32, 4), 33);
            assert_ne!(s, r);
            assert!(std::slice::from_raw_parts(s, 32).iter().all(|&b| b == 7));
            // A zeroed block is zeroed even when reused.
            a.dealloc(s, layout(33, 4));
            let z = a.alloc_zeroed(layout(40, 8));
            assert_eq!(z, s);
            assert!(std::slice::from_raw_parts(z, 40).iter().all(|&b| b == 0));
            a.dealloc(z, layout(40, 8));
            a.dealloc(q, layout(100, 8));
            // Large and over-aligned blocks go to the inner allocator.
            let big = a.alloc(layout(5000, 8));
            let big = a.realloc(big, layout(5000, 8), 9000);
            a.dealloc(big, layout(9000, 8));
            let wide = a.alloc(layout(64, 64));
            assert_eq!(wide as usize % 64, 0);
            a.dealloc(wide, layout(64, 64));
        }
    }

    proptest! {
        /// Random allocations, growths, shrinks and frees, across the
        /// class boundary: every live block keeps its own bytes.
        #[test]
        fn blocks_keep_their_bytes(ops in proptest::collection::vec((0usize..4, 1usize..3000, any::<u8>()), 1..300)) {
            let a = SizeClasses::new(System);
            let mut live: Vec<(*mut u8, usize, u8)> = Vec::new();
            unsafe {
                for (op, size, fill) in ops {
                    match op {
                        0 | 1 => {
                            let p = a.alloc(layout(size, 8));
                            p.write_bytes(fill, size);
                            live.push((p, size, fill));
                        }
                        2 if !live.is_empty() => {
                            let (p, old, f) = live.swap_remove(size % live.len());
                            let q = a.realloc(p, layout(old, 8), size);
                            let kept = old.min(size);
                            prop_assert!(std::slice::from_raw_parts(q, kept).iter().all(|&b| b == f));
                            q.write_bytes(fill, size);
                            live.push((q, size, fill));
                        }
                        _ if !live.is_empty() => {
                            let (p, s, f) = live.swap_remove(size % live.len());
                            prop_assert!(std::slice::from_raw_parts(p, s).iter().all(|&b| b == f));
                            a.dealloc(p, layout(s, 8));
                        }
                        _ => {}
                    }
                }
                for (p, s, f) in live {
                    prop_assert!(std::slice::from_raw_parts(p, s).iter().all(|&b| b == f));
                    a.dealloc(p, layout(s, 8));
                }
            }
        }
    }
}
