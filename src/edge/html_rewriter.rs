//! The rewrite plan carried out by the runtime's own `HTMLRewriter`.
//!
//! workerd parses the page natively (it is lol_html compiled into the
//! runtime) and streams it without the body ever entering wasm; our code runs
//! only at matched elements. The core's [`crate::rewrite::Rewriter`] (lol_html
//! inside the wasm) stays for the CLI and the native tests, and the two are
//! kept equal by the differential test (`tests/e2e/rewrite-differential.test.mjs`).
//!
//! # Why the handlers are not per-request closures
//! A Rust closure handed to JS lives until JS frees it, and JS cannot tell us
//! when workerd is done with a handler (a visitor who disconnects mid-page
//! never reaches the document's end). So the three handler functions are
//! created once per isolate and never freed; each request gets JS functions
//! *bound* to its slot number (`Function.prototype.bind`, ordinary JS objects
//! the garbage collector frees), and the request's own state (the plan, which
//! blocks matched) lives in [`ACTIVE`] under that slot. The slot is removed at
//! the document's end, when the report goes to `on_end`; a slot whose stream
//! never ended is dropped after [`ABANDONED_AFTER_MS`], and at most
//! [`MAX_ACTIVE`] are kept, so memory stays bounded whatever the visitors do.
//!
//! # Failures
//! No handler ever throws into the runtime (a throwing handler cuts the page):
//! every call on an element is `catch`ed; the first failure is logged, and the
//! rest of the page streams on unchanged.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::console_error;

use crate::rewrite::{BlockAction, RewritePlan, RewriteReport};

/// A slot whose document never ended (the visitor went away) is forgotten
/// after this long; the rest of its page, if it still streams, passes unchanged.
const ABANDONED_AFTER_MS: f64 = 10.0 * 60.0 * 1_000.0;
/// Most rewrites kept in flight in one isolate; past it the oldest is dropped.
const MAX_ACTIVE: usize = 4_096;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = HTMLRewriter)]
    type JsHtmlRewriter;
    #[wasm_bindgen(constructor, js_class = "HTMLRewriter", catch)]
    fn new() -> Result<JsHtmlRewriter, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn on(
        this: &JsHtmlRewriter,
        selector: &str,
        handlers: &js_sys::Object,
    ) -> Result<JsHtmlRewriter, JsValue>;
    #[wasm_bindgen(method, catch, js_name = onDocument)]
    fn on_document(
        this: &JsHtmlRewriter,
        handlers: &js_sys::Object,
    ) -> Result<JsHtmlRewriter, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn transform(
        this: &JsHtmlRewriter,
        response: &web_sys::Response,
    ) -> Result<web_sys::Response, JsValue>;

    /// The runtime's `Element` (and, for `before`, its `EndTag`).
    type JsElement;
    #[wasm_bindgen(method, getter)]
    fn removed(this: &JsElement) -> bool;
    #[wasm_bindgen(method, js_name = getAttribute)]
    fn get_attribute(this: &JsElement, name: &str) -> Option<String>;
    #[wasm_bindgen(method, catch, js_name = setAttribute)]
    fn set_attribute(this: &JsElement, name: &str, value: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn before(this: &JsElement, content: &str, options: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn after(this: &JsElement, content: &str, options: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = setInnerContent)]
    fn set_inner_content(
        this: &JsElement,
        content: &str,
        options: &JsValue,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn replace(this: &JsElement, content: &str, options: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn remove(this: &JsElement) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = onEndTag)]
    fn on_end_tag(this: &JsElement, handler: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, js_name = tagName)]
    fn tag_name(this: &JsElement) -> String;
    /// `[name, value]` pairs.
    #[wasm_bindgen(method, getter)]
    fn attributes(this: &JsElement) -> js_sys::Iterator;

    /// One of our handler functions, to bind to a request's slot.
    type Handler;
    #[wasm_bindgen(method, js_name = bind)]
    fn bind_slot(this: &Handler, this_arg: &JsValue, slot: u32) -> JsValue;
    #[wasm_bindgen(method, js_name = bind)]
    fn bind_slot_index(this: &Handler, this_arg: &JsValue, slot: u32, index: u32) -> JsValue;
}

/// One response being rewritten.
struct Active {
    plan: Rc<RewritePlan>,
    matched: Vec<bool>,
    head_seen: bool,
    head_appended: bool,
    /// A `<meta>` policy forbids the insertion's scripts (as in the core's rewriter).
    head_dropped: bool,
    /// After a failure: nothing more is changed on this page.
    failed: bool,
    started_ms: f64,
    on_end: Option<Box<dyn FnOnce(RewriteReport)>>,
}

/// The isolate's handler functions (created once, never freed: see the module doc).
struct Handlers {
    /// `(slot, block index, element)`.
    element: Closure<dyn Fn(u32, u32, JsValue)>,
    /// `(slot, element)` for `<head>`: registers `head_end`.
    head: Closure<dyn Fn(u32, JsValue)>,
    /// `(slot, end tag)` for `</head>`.
    head_end: Closure<dyn Fn(u32, JsValue)>,
    /// `(slot, element)` for `<body>`.
    body: Closure<dyn Fn(u32, JsValue)>,
    /// `(slot, element)` for `<meta http-equiv="Content-Security-Policy">`.
    meta: Closure<dyn Fn(u32, JsValue)>,
    /// `(slot, document end)`.
    end: Closure<dyn Fn(u32, JsValue)>,
    /// `{html: true}`, the content option of every insertion.
    as_html: JsValue,
}

thread_local! {
    static ACTIVE: RefCell<BTreeMap<u32, Active>> = const { RefCell::new(BTreeMap::new()) };
    static NEXT_SLOT: Cell<u32> = const { Cell::new(0) };
    static HANDLERS: Handlers = Handlers::new();
}

impl Handlers {
    fn new() -> Self {
        let as_html = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&as_html, &"html".into(), &JsValue::TRUE);
        Handlers {
            element: Closure::new(on_element),
            head: Closure::new(on_head),
            head_end: Closure::new(on_head_end),
            body: Closure::new(on_body),
            meta: Closure::new(on_meta),
            end: Closure::new(on_document_end),
            as_html: as_html.into(),
        }
    }
}

/// The origin's response with `plan` applied as it streams through. `on_end`
/// gets the report when the page is done (not if the visitor leaves first).
///
/// # Errors
/// Only if the runtime refuses to build the rewriter (no `HTMLRewriter`); the
/// caller then sends the page unchanged. A selector the runtime rejects skips
/// that block alone (logged).
pub fn transform(
    response: &web_sys::Response,
    plan: RewritePlan,
    on_end: Box<dyn FnOnce(RewriteReport)>,
) -> Result<web_sys::Response, JsValue> {
    let now = super::now_millis();
    let slot = NEXT_SLOT.with(|n| {
        let slot = n.get();
        n.set(slot.wrapping_add(1));
        slot
    });
    let plan = Rc::new(plan);
    let result = HANDLERS.with(|h| build(h, slot, &plan)?.transform(response));
    if result.is_ok() {
        ACTIVE.with(|a| {
            let mut active = a.borrow_mut();
            forget_abandoned(&mut active, now);
            active.insert(
                slot,
                Active {
                    matched: vec![false; plan.blocks.len()],
                    plan,
                    head_seen: false,
                    head_appended: false,
                    head_dropped: false,
                    failed: false,
                    started_ms: now,
                    on_end: Some(on_end),
                },
            );
        });
    }
    result
}

/// `html`, fed to the runtime `chunk` bytes at a time, rewritten by `plan`:
/// the whole output and the report (for the admin `rewrite` check).
///
/// # Errors
/// If the runtime fails to build or run the rewriter.
pub async fn rewrite_text(
    html: &[u8],
    chunk: usize,
    plan: RewritePlan,
) -> worker::Result<(String, RewriteReport)> {
    let pieces: Vec<worker::Result<Vec<u8>>> = html.chunks(chunk).map(|c| Ok(c.to_vec())).collect();
    let input = worker::Response::from_stream(futures_util::stream::iter(pieces))?;
    let input = web_sys::Response::from(input);
    let report = Rc::new(RefCell::new(None));
    let sink = Rc::clone(&report);
    let output = transform(
        &input,
        plan,
        Box::new(move |r| *sink.borrow_mut() = Some(r)),
    )
    .map_err(|e| worker::Error::JsError(format!("{e:?}")))?;
    let text = worker::Response::from(output).text().await?;
    let report = report.take().unwrap_or_default();
    Ok((text, report))
}

/// The elements of an HTML fragment as the runtime's parser reads it, for the
/// save-time review of content (`rules::review`): the same lol_html the core
/// would use natively, without a second copy of it in the Worker's bundle.
pub async fn scan_elements(html: &str) -> worker::Result<Vec<crate::rules::review::SeenElement>> {
    use crate::rules::review::SeenElement;
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&seen);
    let handler = Closure::<dyn Fn(JsValue)>::new(move |el: JsValue| {
        let el: JsElement = el.unchecked_into();
        let attributes = el
            .attributes()
            .into_iter()
            .filter_map(|pair| {
                let pair: js_sys::Array = pair.ok()?.dyn_into().ok()?;
                Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
            })
            .collect();
        sink.borrow_mut().push(SeenElement {
            tag: el.tag_name().to_ascii_lowercase(),
            attributes,
        });
    });
    let js = |e: JsValue| worker::Error::JsError(format!("{e:?}"));
    let rewriter = JsHtmlRewriter::new()
        .and_then(|r| r.on("*", &handlers_object("element", handler.as_ref())))
        .map_err(js)?;
    let input = web_sys::Response::from(worker::Response::ok(html)?);
    let output = rewriter.transform(&input).map_err(js)?;
    worker::Response::from(output).text().await?;
    drop(handler);
    Ok(seen.take())
}

/// Rewrites now in flight in this isolate (the health endpoint shows it, so a
/// load run can see that nothing piles up).
pub fn in_flight() -> usize {
    ACTIVE.with(|a| a.borrow().len())
}

fn build(h: &Handlers, slot: u32, plan: &RewritePlan) -> Result<JsHtmlRewriter, JsValue> {
    let bound = |f: &Closure<dyn Fn(u32, JsValue)>, key: &str| {
        let f: &Handler = f.as_ref().unchecked_ref();
        handlers_object(key, &f.bind_slot(&JsValue::NULL, slot))
    };
    let mut rewriter = JsHtmlRewriter::new()?;
    let element: &Handler = h.element.as_ref().unchecked_ref();
    for (index, block) in plan.blocks.iter().enumerate() {
        let handler = element.bind_slot_index(&JsValue::NULL, slot, index as u32);
        match rewriter.on(&block.selector_text, &handlers_object("element", &handler)) {
            Ok(r) => rewriter = r,
            // The runtime parses selectors with the same lol_html as the
            // core, so this should not happen; if it does, that block alone
            // stays as the origin sent it (and is not reported as applied).
            Err(e) => console_error!(
                "edgeseg: the runtime rejected block `{}`'s selector `{}`: {e:?}",
                block.block_id,
                block.selector_text
            ),
        }
    }
    if plan.head_append.is_some() {
        // In the same order as the core's rewriter registers them.
        rewriter = rewriter.on(crate::rewrite::META_CSP, &bound(&h.meta, "element"))?;
        rewriter = rewriter.on("head", &bound(&h.head, "element"))?;
        rewriter = rewriter.on("body", &bound(&h.body, "element"))?;
    }
    rewriter.on_document(&bound(&h.end, "end"))
}

fn handlers_object(key: &str, f: &JsValue) -> js_sys::Object {
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &key.into(), f);
    o
}

fn forget_abandoned(active: &mut BTreeMap<u32, Active>, now: f64) {
    active.retain(|_, a| now - a.started_ms < ABANDONED_AFTER_MS && now >= a.started_ms);
    while active.len() >= MAX_ACTIVE {
        // Slots are handed out in order, so the first key is the oldest
        // (until the counter wraps, after which any old one will do).
        let Some(oldest) = active.keys().next().copied() else {
            break;
        };
        active.remove(&oldest);
    }
}

/// Runs `f` on the slot's state unless the page is done with or failed.
fn with_active(slot: u32, f: impl FnOnce(&mut Active, &JsValue) -> Result<(), JsValue>) {
    let failure = ACTIVE.with(|a| {
        let mut active = a.borrow_mut();
        let state = active.get_mut(&slot).filter(|s| !s.failed)?;
        let as_html = HANDLERS.with(|h| h.as_html.clone());
        match f(state, &as_html) {
            Ok(()) => None,
            Err(e) => {
                state.failed = true;
                Some(e)
            }
        }
    });
    if let Some(e) = failure {
        console_error!("edgeseg: rewriting failed mid-page, passing the rest through: {e:?}");
    }
}

fn on_element(slot: u32, index: u32, el: JsValue) {
    let el: JsElement = el.unchecked_into();
    with_active(slot, |state, as_html| {
        // The runtime still calls handlers inside content that an earlier
        // handler removed; what is not in the output is not an impression.
        if el.removed() {
            return Ok(());
        }
        let Some(block) = state.plan.blocks.get(index as usize) else {
            return Ok(());
        };
        if let Some(m) = state.matched.get_mut(index as usize) {
            *m = true;
        }
        apply(&block.action, &el, as_html)
    });
}

/// The same order as the core's rewriter (`rewrite::Rewriter`'s documentation).
fn apply(action: &BlockAction, el: &JsElement, as_html: &JsValue) -> Result<(), JsValue> {
    for (name, value) in &action.set_attributes {
        el.set_attribute(name, value)?;
    }
    if let Some(html) = &action.before {
        el.before(html, as_html)?;
    }
    if let Some(html) = &action.inner_html {
        el.set_inner_content(html, as_html)?;
    }
    if let Some(html) = &action.after {
        el.after(html, as_html)?;
    }
    if let Some(html) = &action.outer_html {
        el.replace(html, as_html)?;
    } else if action.remove {
        el.remove()?;
    }
    Ok(())
}

fn on_head(slot: u32, el: JsValue) {
    let el: JsElement = el.unchecked_into();
    with_active(slot, |state, _| {
        if state.head_seen || state.head_appended {
            return Ok(());
        }
        state.head_seen = true;
        let handler = HANDLERS.with(|h| {
            let f: &Handler = h.head_end.as_ref().unchecked_ref();
            f.bind_slot(&JsValue::NULL, slot)
        });
        // A `<head/>` without an end tag has none to wait for: `<body>` then
        // gets the insertion, as in the core.
        let _ = el.on_end_tag(&handler);
        Ok(())
    });
}

fn on_head_end(slot: u32, end: JsValue) {
    let end: JsElement = end.unchecked_into();
    with_active(slot, |state, as_html| {
        if state.head_appended {
            return Ok(());
        }
        state.head_appended = true;
        match &state.plan.head_append {
            Some(html) if !state.head_dropped => end.before(html, as_html).map(drop),
            _ => Ok(()),
        }
    });
}

fn on_body(slot: u32, el: JsValue) {
    let el: JsElement = el.unchecked_into();
    with_active(slot, |state, as_html| {
        if state.head_appended {
            return Ok(());
        }
        state.head_appended = true;
        match &state.plan.head_append {
            Some(html) if !state.head_dropped => el.before(html, as_html).map(drop),
            _ => Ok(()),
        }
    });
}

/// A `<meta http-equiv="Content-Security-Policy">` before the insertion: the
/// same edit as the core's rewriter ([`crate::csp::edit_meta`]).
fn on_meta(slot: u32, el: JsValue) {
    let el: JsElement = el.unchecked_into();
    with_active(slot, |state, _| {
        if state.head_appended || state.head_dropped {
            return Ok(());
        }
        let is_csp = el
            .get_attribute("http-equiv")
            .is_some_and(|v| v.eq_ignore_ascii_case(crate::csp::HEADER));
        let Some(head) = state.plan.head_append.as_deref().filter(|_| is_csp) else {
            return Ok(());
        };
        let Some(content) = el.get_attribute("content") else {
            return Ok(());
        };
        match crate::csp::edit_meta(&content, head) {
            crate::csp::MetaEdit::Keep => {}
            crate::csp::MetaEdit::Content(c) => {
                el.set_attribute("content", &c)?;
            }
            crate::csp::MetaEdit::Drop => state.head_dropped = true,
        }
        Ok(())
    });
}

fn on_document_end(slot: u32, _end: JsValue) {
    let Some(mut state) = ACTIVE.with(|a| a.borrow_mut().remove(&slot)) else {
        return;
    };
    let appended = state.head_appended && !state.head_dropped;
    let report = RewriteReport::from_matches(&state.plan, &state.matched, appended);
    if let Some(on_end) = state.on_end.take() {
        on_end(report);
    }
}
