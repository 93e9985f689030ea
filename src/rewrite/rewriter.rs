//! The streaming rewriter: a [`lol_html::HtmlRewriter`] whose handlers carry out
//! a [`RewritePlan`].

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lol_html::errors::RewritingError;
use lol_html::html_content::{ContentType, Element, EndTag};
use lol_html::{ElementContentHandlers, HtmlRewriter, MemorySettings, OutputSink, Settings};

use super::plan::{BlockAction, RewritePlan};

/// Bytes the parser may hold back between chunks (an unfinished tag, say) before
/// the rewriter gives up on rewriting and passes the rest of the page through.
///
/// The rewriter never holds the document: it keeps only the unparsed tail of a
/// chunk (at most one start tag, comment or doctype that a chunk boundary cut in
/// two). 1 MiB is far above any real tag and far below a Worker's 128 MB.
pub const MAX_BUFFERED_BYTES: usize = 1024 * 1024;

/// Parsing buffer allocated up front, so that ordinary tags split across chunk
/// boundaries never reallocate it.
const PREALLOCATED_BUFFER: usize = 4 * 1024;

/// Why rewriting a page stopped. After one of these, [`Rewriter::write`] passes
/// bytes through unchanged (see there), so the page is never cut short.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum RewriteError {
    /// A single tag or comment was larger than [`MAX_BUFFERED_BYTES`].
    #[error("A tag in the page was larger than the rewriter's {MAX_BUFFERED_BYTES}-byte buffer.")]
    MemoryLimitExceeded(#[source] lol_html::errors::MemoryLimitExceededError),
    /// The markup was too ambiguous to parse without a DOM tree (not raised:
    /// the rewriter runs lol_html in non-strict mode; kept for completeness).
    #[error("The page's markup is ambiguous without a DOM tree: {0}")]
    ParsingAmbiguity(#[source] lol_html::errors::ParsingAmbiguityError),
    /// A block's `set_attributes` named an attribute HTML cannot hold.
    #[error("Block `{block_id}` sets attribute `{name}`, which is not a valid attribute name.")]
    InvalidAttributeName { block_id: String, name: String },
    /// Any other error lol_html reports.
    #[error("The HTML rewriter failed: {0}")]
    Other(String),
}

impl From<RewritingError> for RewriteError {
    fn from(err: RewritingError) -> Self {
        match err {
            RewritingError::MemoryLimitExceeded(e) => Self::MemoryLimitExceeded(e),
            RewritingError::ParsingAmbiguity(e) => Self::ParsingAmbiguity(e),
            RewritingError::ContentHandlerError(e) => match e.downcast::<RewriteError>() {
                Ok(ours) => *ours,
                Err(other) => Self::Other(other.to_string()),
            },
            other => Self::Other(other.to_string()),
        }
    }
}

/// What a finished rewrite did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewriteReport {
    /// Block ids that matched at least one element, in plan order, each once
    /// (used for impression counts).
    pub applied: Vec<String>,
    /// Whether the plan's `head_append` was written into the page.
    pub head_appended: bool,
}

/// Which blocks fired, shared by the handlers and the [`Rewriter`].
#[derive(Debug)]
struct Progress {
    matched: Box<[Cell<bool>]>,
    head_appended: Cell<bool>,
    /// A `<meta>` policy forbids the insertion's scripts ([`crate::csp::MetaEdit::Drop`]).
    head_dropped: Cell<bool>,
}

impl Progress {
    fn report(&self, plan: &RewritePlan) -> RewriteReport {
        let matched: Vec<bool> = self.matched.iter().map(Cell::get).collect();
        let appended = self.head_appended.get() && !self.head_dropped.get();
        RewriteReport::from_matches(plan, &matched, appended)
    }
}

impl RewriteReport {
    /// The report of a rewrite in which `matched[i]` says whether block `i` of
    /// `plan` applied to some element. Shared with the Worker's native
    /// rewriter, so both report impressions by the same rule.
    pub fn from_matches(plan: &RewritePlan, matched: &[bool], head_appended: bool) -> Self {
        let mut applied: Vec<String> = Vec::new();
        for (block, matched) in plan.blocks.iter().zip(matched) {
            if *matched && !applied.contains(&block.block_id) {
                applied.push(block.block_id.clone());
            }
        }
        RewriteReport {
            applied,
            head_appended,
        }
    }
}

/// The caller's sink, shared so that it outlives the lol_html rewriter when
/// rewriting bails out and the rest of the page passes through.
struct SharedSink<O>(Rc<RefCell<O>>);

impl<O: FnMut(&[u8])> OutputSink for SharedSink<O> {
    #[inline]
    fn handle_chunk(&mut self, chunk: &[u8]) {
        // lol_html ends with an empty chunk; the caller has no use for it.
        if !chunk.is_empty() {
            (self.0.borrow_mut())(chunk);
        }
    }
}

/// A streaming rewriter for one response, driven chunk by chunk.
///
/// It owns everything it needs (`Rc<RewritePlan>` and the sink), so the edge
/// adapter can keep it across `await`s. It is not `Send`: a Worker isolate is
/// single-threaded.
///
/// Memory is bounded by the chunk, not the page: output is handed to the sink as
/// each chunk is parsed, and only the unparsed tail of a chunk (a tag cut by the
/// chunk boundary) is kept, up to [`MAX_BUFFERED_BYTES`].
///
/// # What each action does
/// For every element a block's selector matches, in this order:
/// `set_attributes` (in order, overwriting), `before`, `inner_html` (replaces
/// the children), `after`, then `outer_html` (replaces the element) or `remove`.
/// `before` and `after` survive `outer_html` and `remove`: the result is
/// `before + outer_html + after`. If a plan sets both, `outer_html` wins over
/// `remove`, and both win over `inner_html`. `inner_html` on a void element
/// (`<img>`) does nothing. lol_html writes `set_attributes` values with only `"`
/// escaped (as `&quot;`): `&` goes out as-is, so a value is attribute text and a
/// literal `&` that could start a character reference must come as `&amp;`.
/// Selectors compare the raw attribute text: `[a="x&y"]` does not match
/// `a="x&amp;y"` (fixture `attribute_entities`).
///
/// lol_html has no DOM: an element runs until its own end tag or an end tag of
/// an ancestor. An element that HTML closes implicitly (`<li>` by the next
/// `<li>`, `<p>` by `<div>`) therefore extends, for lol_html, over what a
/// browser would see as its next siblings, and `inner_html`, `outer_html` or
/// `remove` drop those too; `after` lands after the ancestor's end tag (fixture
/// `malformed_implicit_close`). Marked blocks should have explicit end tags,
/// which is what sites write; attribute-only changes are always safe.
///
/// # Nested blocks
/// When an outer block replaces its content (`inner_html`, `outer_html`,
/// `remove`), the inner block's original element is dropped with it, so the
/// inner block does not apply and is not in [`RewriteReport::applied`].
/// (lol_html itself still calls handlers for elements inside removed content;
/// ours see the element already marked removed and skip it.) The same rule
/// covers two blocks matching one element: once a block (in plan order)
/// replaces or removes it, later blocks skip it. When the outer block only sets attributes or
/// inserts before/after, inner blocks apply as usual. Content inserted by a
/// block is never matched by other blocks (lol_html does not re-parse it).
///
/// # What is not touched
/// Comments, `<script>`, `<style>`, `<textarea>`, `<title>` content are raw text
/// to the parser and never match. `<template>` content is parsed as markup, so
/// blocks inside a `<template>` do match and are rewritten.
///
/// # `head_append`
/// Appended as HTML just before the first `</head>`. If the first `<head>` has no
/// end tag, or there is no `<head>` at all, it goes just before the first
/// `<body>` start tag instead (where the browser's implicit `</head>` is). A page
/// with neither gets nothing, and the report says so.
///
/// # Errors
/// If lol_html gives up (a tag larger than [`MAX_BUFFERED_BYTES`], an invalid
/// attribute name in the plan), `write` or `end` returns the error once, after
/// every byte received so far has been written to the sink as-is. Later `write`s
/// pass bytes through unchanged, so a caller that logs the error and carries on
/// still sends a whole page: rewritten up to some point, original after it.
pub struct Rewriter<O: FnMut(&[u8])> {
    /// `None` once rewriting bailed out: lol_html flushed what it held, and
    /// later bytes go straight to the sink.
    rewriter: Option<HtmlRewriter<'static, SharedSink<O>>>,
    sink: Rc<RefCell<O>>,
    plan: Rc<RewritePlan>,
    progress: Rc<Progress>,
}

impl<O: FnMut(&[u8])> Rewriter<O> {
    /// A rewriter that carries out `plan` and sends output to `output`.
    pub fn new(plan: Rc<RewritePlan>, output: O) -> Self {
        let progress = Rc::new(Progress {
            matched: plan.blocks.iter().map(|_| Cell::new(false)).collect(),
            head_appended: Cell::new(false),
            head_dropped: Cell::new(false),
        });

        let memory = MemorySettings::new()
            .with_preallocated_parsing_buffer_size(PREALLOCATED_BUFFER)
            .with_max_allowed_memory_usage(MAX_BUFFERED_BYTES)
            .with_graceful_bail_out_on_memory_limit_exceeded(true);
        let mut settings = Settings::new()
            .with_memory_settings(memory)
            // Strict mode aborts mid-page on markup like `<select><xmp>`, which
            // would cut the response short. Our handlers only insert content,
            // so lol_html's best guess is the better trade.
            .with_strict(false)
            .with_graceful_bail_out_on_content_handler_error(true);

        for (index, block) in plan.blocks.iter().enumerate() {
            let plan_for_handler = Rc::clone(&plan);
            let progress_for_handler = Rc::clone(&progress);
            let handler = move |el: &mut Element<'_, '_>| {
                // lol_html still runs handlers inside content that an outer
                // block removed (it marks such start tags removed first). What
                // is not in the output is not an impression: skip it.
                if el.removed() {
                    return Ok(());
                }
                progress_for_handler.matched[index].set(true);
                let block = &plan_for_handler.blocks[index];
                apply(&block.action, &block.block_id, el)
            };
            // The selector is compiled into lol_html's matching VM here, so a
            // borrow for the duration of `new` is enough: no re-parsing, no clone.
            settings = settings.append_element_content_handler((
                Cow::Borrowed(&*block.selector),
                ElementContentHandlers::default().element(handler),
            ));
        }

        if plan.head_append.is_some() {
            settings = add_head_append(settings, &plan, &progress);
        }

        let sink = Rc::new(RefCell::new(output));
        let rewriter = HtmlRewriter::new(settings, SharedSink(Rc::clone(&sink)));
        Self {
            rewriter: Some(rewriter),
            sink,
            plan,
            progress,
        }
    }

    /// Feeds the next chunk of the page. Rewritten output for it (as far as it
    /// could be parsed) reaches the sink before this returns.
    ///
    /// # Errors
    /// See the type's documentation: the error is returned once, and later
    /// chunks pass through unchanged.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), RewriteError> {
        match &mut self.rewriter {
            Some(rewriter) => rewriter.write(chunk).map_err(|e| {
                self.rewriter = None;
                RewriteError::from(e)
            }),
            None => {
                if !chunk.is_empty() {
                    (self.sink.borrow_mut())(chunk);
                }
                Ok(())
            }
        }
    }

    /// Finishes the page: flushes what lol_html still holds and reports which
    /// blocks applied. After a bail-out this returns the report of the blocks
    /// that applied before it.
    ///
    /// # Errors
    /// If lol_html gives up on the last bytes (they are then flushed as-is).
    pub fn end(self) -> Result<RewriteReport, RewriteError> {
        if let Some(rewriter) = self.rewriter {
            rewriter.end()?;
        }
        Ok(self.progress.report(&self.plan))
    }
}

impl<O: FnMut(&[u8])> std::fmt::Debug for Rewriter<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewriter")
            .field("blocks", &self.plan.blocks.len())
            .field("bailed_out", &self.rewriter.is_none())
            .finish_non_exhaustive()
    }
}

/// Carries out one block's action on one matched element.
fn apply(
    action: &BlockAction,
    block_id: &str,
    el: &mut Element<'_, '_>,
) -> lol_html::HandlerResult {
    for (name, value) in &action.set_attributes {
        if el.set_attribute(name, value).is_err() {
            return Err(Box::new(RewriteError::InvalidAttributeName {
                block_id: block_id.to_owned(),
                name: name.clone(),
            }));
        }
    }
    if let Some(html) = &action.before {
        el.before(html, ContentType::Html);
    }
    if let Some(html) = &action.inner_html {
        el.set_inner_content(html, ContentType::Html);
    }
    if let Some(html) = &action.after {
        el.after(html, ContentType::Html);
    }
    if let Some(html) = &action.outer_html {
        el.replace(html, ContentType::Html);
    } else if action.remove {
        el.remove();
    }
    Ok(())
}

/// Handlers that put `head_append` before the first `</head>`, or before the
/// first `<body>` when that comes first.
fn add_head_append<'s>(
    settings: Settings<'static, 's>,
    plan: &Rc<RewritePlan>,
    progress: &Rc<Progress>,
) -> Settings<'static, 's> {
    let head_plan = Rc::clone(plan);
    let head_progress = Rc::clone(progress);
    let head_seen = Rc::new(Cell::new(false));
    let on_head = move |el: &mut Element<'_, '_>| {
        if head_seen.replace(true) || head_progress.head_appended.get() {
            return Ok(());
        }
        let plan = Rc::clone(&head_plan);
        let progress = Rc::clone(&head_progress);
        if let Some(handlers) = el.end_tag_handlers() {
            handlers.push(Box::new(move |end: &mut EndTag<'_>| {
                if !progress.head_appended.replace(true) && !progress.head_dropped.get() {
                    if let Some(html) = &plan.head_append {
                        end.before(html, ContentType::Html);
                    }
                }
                Ok(())
            }));
        }
        Ok(())
    };

    let body_plan = Rc::clone(plan);
    let body_progress = Rc::clone(progress);
    let on_body = move |el: &mut Element<'_, '_>| {
        if !body_progress.head_appended.replace(true) && !body_progress.head_dropped.get() {
            if let Some(html) = &body_plan.head_append {
                el.before(html, ContentType::Html);
            }
        }
        Ok(())
    };

    let meta_plan = Rc::clone(plan);
    let meta_progress = Rc::clone(progress);
    let on_meta = move |el: &mut Element<'_, '_>| {
        if meta_progress.head_appended.get() || meta_progress.head_dropped.get() {
            return Ok(());
        }
        let (Some(head), Some(content)) = (&meta_plan.head_append, csp_meta_content(el)) else {
            return Ok(());
        };
        match crate::csp::edit_meta(&content, head) {
            crate::csp::MetaEdit::Keep => {}
            crate::csp::MetaEdit::Content(c) => el.set_attribute("content", &c)?,
            crate::csp::MetaEdit::Drop => meta_progress.head_dropped.set(true),
        }
        Ok(())
    };

    settings
        .append_element_content_handler((
            Cow::Owned(META.with(Clone::clone)),
            ElementContentHandlers::default().element(on_meta),
        ))
        .append_element_content_handler((
            Cow::Owned(HEAD.with(Clone::clone)),
            ElementContentHandlers::default().element(on_head),
        ))
        .append_element_content_handler((
            Cow::Owned(BODY.with(Clone::clone)),
            ElementContentHandlers::default().element(on_body),
        ))
}

/// The elements that can hold a page's policy (the keyword is matched ASCII
/// case-insensitively, as browsers do), so that no other `<meta>` costs a
/// handler call. Shared with the Worker's rewriter.
pub const META_CSP: &str = r#"meta[http-equiv="content-security-policy" i]"#;

/// The policy of a `<meta http-equiv="Content-Security-Policy" content>`
/// (the keyword is ASCII case-insensitive; a meta without `content` is ignored
/// by browsers).
fn csp_meta_content(el: &Element<'_, '_>) -> Option<String> {
    el.get_attribute("http-equiv")
        .filter(|v| v.eq_ignore_ascii_case(crate::csp::HEADER))?;
    el.get_attribute("content")
}

thread_local! {
    static META: lol_html::Selector = META_CSP.parse().expect("a valid selector");
    static HEAD: lol_html::Selector = "head".parse().expect("`head` is a valid selector");
    static BODY: lol_html::Selector = "body".parse().expect("`body` is a valid selector");
}

/// Rewrites a whole document in memory: for the CLI and tests. The Worker uses
/// [`Rewriter`] so that the page streams.
///
/// # Errors
/// Any [`RewriteError`] from the rewriter (the page is then not returned).
pub fn rewrite_document(
    plan: &RewritePlan,
    html: &[u8],
) -> Result<(Vec<u8>, RewriteReport), RewriteError> {
    let out = Rc::new(RefCell::new(Vec::with_capacity(
        html.len() + html.len() / 8,
    )));
    let sink = Rc::clone(&out);
    let mut rewriter = Rewriter::new(Rc::new(plan.clone()), move |c: &[u8]| {
        sink.borrow_mut().extend_from_slice(c);
    });
    rewriter.write(html)?;
    let report = rewriter.end()?;
    let bytes = out.take();
    Ok((bytes, report))
}
