//! The response body as a stream through the core's [`Rewriter`]: each chunk
//! from the origin is rewritten and passed on as soon as lol_html releases it,
//! so memory is bounded by the chunk, not the page.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::stream::{self, Stream, StreamExt};
use worker::{console_error, ByteStream};

use crate::rewrite::{RewritePlan, RewriteReport, Rewriter};

type Sink = Rc<RefCell<Vec<u8>>>;

/// Least output handed to the runtime at once (the rest of the page waits at
/// most this much longer before it streams on).
const OUTPUT_CHUNK: usize = 32 * 1024;
type Output = Box<dyn FnMut(&[u8])>;

enum Mode {
    Rewriting(Box<Rewriter<Output>>),
    /// After a rewrite error: the rest of the body passes through unchanged.
    PassThrough,
}

/// `on_end` receives what was rewritten (for impression counts) once the page is done.
pub fn rewrite(
    body: ByteStream,
    plan: RewritePlan,
    on_end: Box<dyn FnOnce(RewriteReport)>,
) -> impl Stream<Item = worker::Result<Vec<u8>>> {
    let sink: Sink = Rc::new(RefCell::new(Vec::new()));
    let out = sink.clone();
    let output: Output = Box::new(move |c: &[u8]| out.borrow_mut().extend_from_slice(c));
    let rewriter = Rewriter::new(Rc::new(plan), output);
    let state = Some((body, Mode::Rewriting(Box::new(rewriter)), sink, on_end));
    stream::unfold(state, |state| async move {
        let (mut body, mut mode, sink, on_end) = state?;
        loop {
            match body.next().await {
                Some(Ok(chunk)) => match &mut mode {
                    Mode::Rewriting(rw) => {
                        if let Err(e) = rw.write(&chunk) {
                            console_error!(
                                "edgeseg: rewrite failed mid-page, passing the rest through: {e}"
                            );
                            let mut out = std::mem::take(&mut *sink.borrow_mut());
                            out.extend_from_slice(&chunk);
                            return Some((Ok(out), Some((body, Mode::PassThrough, sink, on_end))));
                        }
                        // Origins arrive in small chunks (4 KiB in workerd); each
                        // chunk handed back costs a promise round trip, so
                        // output goes out in pieces of at least OUTPUT_CHUNK.
                        if sink.borrow().len() >= OUTPUT_CHUNK {
                            let out = std::mem::take(&mut *sink.borrow_mut());
                            return Some((Ok(out), Some((body, mode, sink, on_end))));
                        }
                    }
                    Mode::PassThrough => {
                        return Some((Ok(chunk), Some((body, mode, sink, on_end))))
                    }
                },
                Some(Err(e)) => return Some((Err(e), None)),
                None => {
                    if let Mode::Rewriting(rw) = mode {
                        match rw.end() {
                            Ok(report) => on_end(report),
                            Err(e) => console_error!(
                                "edgeseg: rewrite failed at the end of the page: {e}"
                            ),
                        }
                    }
                    let out = std::mem::take(&mut *sink.borrow_mut());
                    return if out.is_empty() {
                        None
                    } else {
                        Some((Ok(out), None))
                    };
                }
            }
        }
    })
}
