//! `wasi:io` for plugins without blocking the gateway's threads.
//!
//! Plugins are called synchronously from the gateway's async worker
//! threads. wasmtime-wasi's synchronous `wasi:io` implements the *blocking*
//! operations (`blocking-write-and-flush`, `pollable.block`, stream drops…)
//! by entering the async runtime with `block_on`, which is not allowed on a
//! runtime thread: a plugin that merely writes to stderr would take down its
//! request. Here every such operation is polled exactly once instead. The
//! streams a plugin can reach (stdout/stderr sinks, closed stdin) are always
//! ready, so this never changes their behaviour; a plugin that really tries
//! to wait (sleep, poll a clock) traps with a message saying plugins cannot
//! block, rather than stalling a thread the gateway needs.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::{StreamError, StreamResult};
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;
use wasmtime_wasi_io::bindings::wasi::io::streams::{
    Host as AsyncHost, HostInputStream as AsyncIn, HostOutputStream as AsyncOut,
};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

use super::state::StoreState;

const WOULD_BLOCK: &str = "the plugin tried to wait for I/O or time (sleep, poll, a blocking \
    read); plugins are called synchronously and must not block";

/// Poll a future once; `None` if it is not ready.
fn once<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn once_stream<T, F: Future<Output = StreamResult<T>>>(f: F) -> StreamResult<T> {
    once(f).unwrap_or_else(|| Err(StreamError::trap(WOULD_BLOCK)))
}

fn once_result<T, F: Future<Output = wasmtime::Result<T>>>(f: F) -> wasmtime::Result<T> {
    once(f).unwrap_or_else(|| Err(wasmtime::format_err!("{WOULD_BLOCK}")))
}

/// The resource table, seen through the non-blocking implementation.
pub struct NoBlock<'a>(pub &'a mut ResourceTable);

/// `HasData` marker for [`NoBlock`].
pub struct NoBlockIo;

impl HasData for NoBlockIo {
    type Data<'a> = NoBlock<'a>;
}

/// Replace the `wasi:io/poll` and `wasi:io/streams` implementations in a
/// linker that already has wasmtime-wasi's synchronous WASI.
pub fn shadow_io(linker: &mut wasmtime::component::Linker<StoreState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let r = poll::add_to_linker::<StoreState, NoBlockIo>(linker, |s| NoBlock(s.table())).and_then(
        |()| streams::add_to_linker::<StoreState, NoBlockIo>(linker, |s| NoBlock(s.table())),
    );
    linker.allow_shadowing(false);
    r
}

impl poll::Host for NoBlock<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        once_result(async_poll::Host::poll(self.0, pollables))
    }
}

impl poll::HostPollable for NoBlock<'_> {
    fn ready(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<bool> {
        once_result(async_poll::HostPollable::ready(self.0, p))
    }
    fn block(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        once_result(async_poll::HostPollable::block(self.0, p))
    }
    fn drop(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.0, p)
    }
}

impl streams::Host for NoBlock<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(self.0, err)
    }
}

impl streams::HostOutputStream for NoBlock<'_> {
    fn drop(&mut self, s: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        once_result(AsyncOut::drop(self.0, s))
    }
    fn check_write(&mut self, s: Resource<DynOutputStream>) -> StreamResult<u64> {
        streams::HostOutputStream::check_write(self.0, s)
    }
    fn write(&mut self, s: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        streams::HostOutputStream::write(self.0, s, bytes)
    }
    fn blocking_write_and_flush(
        &mut self,
        s: Resource<DynOutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        once_stream(AsyncOut::blocking_write_and_flush(self.0, s, bytes))
    }
    fn blocking_write_zeroes_and_flush(
        &mut self,
        s: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        once_stream(AsyncOut::blocking_write_zeroes_and_flush(self.0, s, len))
    }
    fn subscribe(
        &mut self,
        s: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostOutputStream::subscribe(self.0, s)
    }
    fn write_zeroes(&mut self, s: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        streams::HostOutputStream::write_zeroes(self.0, s, len)
    }
    fn flush(&mut self, s: Resource<DynOutputStream>) -> StreamResult<()> {
        streams::HostOutputStream::flush(self.0, s)
    }
    fn blocking_flush(&mut self, s: Resource<DynOutputStream>) -> StreamResult<()> {
        once_stream(AsyncOut::blocking_flush(self.0, s))
    }
    fn splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        streams::HostOutputStream::splice(self.0, dst, src, len)
    }
    fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        once_stream(AsyncOut::blocking_splice(self.0, dst, src, len))
    }
}

impl streams::HostInputStream for NoBlock<'_> {
    fn drop(&mut self, s: Resource<DynInputStream>) -> wasmtime::Result<()> {
        once_result(AsyncIn::drop(self.0, s))
    }
    fn read(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        streams::HostInputStream::read(self.0, s, len)
    }
    fn blocking_read(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        once_stream(AsyncIn::blocking_read(self.0, s, len))
    }
    fn skip(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        streams::HostInputStream::skip(self.0, s, len)
    }
    fn blocking_skip(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        once_stream(AsyncIn::blocking_skip(self.0, s, len))
    }
    fn subscribe(
        &mut self,
        s: Resource<DynInputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostInputStream::subscribe(self.0, s)
    }
}

// Keep the async trait in scope for `convert_stream_error` resolution.
#[allow(unused_imports)]
use AsyncHost as _;
