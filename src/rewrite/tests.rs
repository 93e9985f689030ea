//! Unit tests of the streaming rewriter; the data-driven cases are in
//! `tests/rewrite_fixtures.rs`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::*;

fn block(id: &str, action: BlockAction) -> BlockRewrite {
    let selector_text = format!(r#"[data-edgeseg-block="{id}"]"#);
    BlockRewrite {
        block_id: id.to_owned(),
        selector: Arc::new(selector_text.parse().expect("valid selector")),
        selector_text,
        action,
        source: "test".to_owned(),
    }
}

fn inner(html: &str) -> BlockAction {
    BlockAction {
        inner_html: Some(html.to_owned()),
        ..BlockAction::default()
    }
}

/// A page of about `size` bytes with a hero block near the start and an offer
/// block near the end; returns it with the expected rewritten output.
fn big_page(size: usize) -> (Vec<u8>, Vec<u8>) {
    let head = "<!doctype html><html><head><title>Big</title></head><body>\
                <div data-edgeseg-block=\"hero\">Default hero</div>\n";
    let tail = "<div data-edgeseg-block=\"offer\">Default offer</div></body></html>\n";
    let mut src = String::from(head);
    let mut expected = String::from(
        "<!doctype html><html><head><title>Big</title><meta name=seg content=vip></head><body>\
         <div data-edgeseg-block=\"hero\">Hi VIP ✨</div>\n",
    );
    let mut i = 0;
    while src.len() < size {
        let card = format!(
            "<article class=\"card\" id=\"p{i}\"><h2>Product {i} – ünïcödé</h2>\
             <p>Only <b>{i}.99 €</b> today.</p><!-- <div data-edgeseg-block=\"hero\"> --></article>\n"
        );
        src.push_str(&card);
        expected.push_str(&card);
        i += 1;
    }
    src.push_str(tail);
    expected.push_str("<div data-edgeseg-block=\"offer\">10% off</div></body></html>\n");
    (src.into_bytes(), expected.into_bytes())
}

#[test]
fn two_megabyte_page_in_16k_chunks_is_rewritten_and_streamed() {
    let (src, expected) = big_page(2 * 1024 * 1024);
    let plan = RewritePlan {
        blocks: vec![
            block("hero", inner("Hi VIP ✨")),
            block("offer", inner("10% off")),
        ],
        head_append: Some("<meta name=seg content=vip>".to_owned()),
    };
    let out = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&out);
    let mut rewriter = Rewriter::new(Rc::new(plan), move |c: &[u8]| {
        sink.borrow_mut().extend_from_slice(c)
    });

    let mut chunks = src.chunks(16 * 1024);
    for chunk in chunks.by_ref().take(3) {
        rewriter.write(chunk).unwrap();
    }
    let early = out.borrow().len();
    assert!(early > 0, "no output after the first three chunks");
    assert!(
        early > 2 * 16 * 1024,
        "output lags input by more than a chunk: {early} bytes out after 48 KiB in"
    );
    let mut max_lag = 0;
    let mut fed = 3 * 16 * 1024;
    for chunk in chunks {
        rewriter.write(chunk).unwrap();
        fed += chunk.len();
        // Output may grow (the hero text is longer) but never lags far behind.
        max_lag = max_lag.max(fed.saturating_sub(out.borrow().len()));
    }
    assert!(
        max_lag < 16 * 1024,
        "output lagged input by {max_lag} bytes"
    );
    let report = rewriter.end().unwrap();

    assert_eq!(report.applied, ["hero", "offer"]);
    assert!(report.head_appended);
    let got = out.take();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "2 MB page rewritten wrongly");
}

#[test]
fn whole_page_in_one_chunk_is_within_the_memory_limit() {
    // The limit is on bytes held back between chunks, not on the chunk size.
    let (src, expected) = big_page(2 * MAX_BUFFERED_BYTES);
    let plan = RewritePlan {
        blocks: vec![
            block("hero", inner("Hi VIP ✨")),
            block("offer", inner("10% off")),
        ],
        head_append: Some("<meta name=seg content=vip>".to_owned()),
    };
    let (got, _) = rewrite_document(&plan, &src).unwrap();
    assert!(got == expected);
}

#[test]
fn oversized_tag_bails_out_and_passes_the_rest_through() {
    let plan = RewritePlan {
        blocks: vec![block("hero", inner("new"))],
        head_append: None,
    };
    let huge = "x".repeat(MAX_BUFFERED_BYTES + 10);
    let src = format!(
        "<div data-edgeseg-block=hero>old</div><img alt=\"{huge}\"><div data-edgeseg-block=hero>old</div>"
    );
    let out = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&out);
    let mut rewriter = Rewriter::new(Rc::new(plan), move |c: &[u8]| {
        sink.borrow_mut().extend_from_slice(c)
    });
    let mut error = None;
    for chunk in src.as_bytes().chunks(64 * 1024) {
        if let Err(e) = rewriter.write(chunk) {
            assert!(error.is_none(), "the error is reported once");
            error = Some(e);
        }
    }
    let report = rewriter.end().unwrap();
    let error = error.expect("a tag over the limit is an error");
    assert!(
        matches!(error, RewriteError::MemoryLimitExceeded(_)),
        "{error}"
    );
    assert_eq!(report.applied, ["hero"]);
    let expected = src.replacen("old", "new", 1);
    assert!(
        *out.borrow() == expected.as_bytes(),
        "page not whole after a bail-out"
    );
}

#[test]
fn invalid_attribute_name_is_an_error_naming_the_block() {
    let plan = RewritePlan {
        blocks: vec![block(
            "cta",
            BlockAction {
                set_attributes: vec![("bad name".to_owned(), "x".to_owned())],
                ..BlockAction::default()
            },
        )],
        head_append: None,
    };
    let err = rewrite_document(&plan, b"<a data-edgeseg-block=cta>Buy</a>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Block `cta` sets attribute `bad name`, which is not a valid attribute name."
    );
}

#[test]
fn same_block_id_twice_in_the_plan_is_reported_once() {
    let plan = RewritePlan {
        blocks: vec![
            block("hero", inner("a")),
            block("offer", inner("b")),
            block("hero", BlockAction::default()),
        ],
        head_append: None,
    };
    let (_, report) = rewrite_document(
        &plan,
        b"<p data-edgeseg-block=offer></p><p data-edgeseg-block=hero></p>",
    )
    .unwrap();
    assert_eq!(report.applied, ["hero", "offer"]);
}

#[test]
fn rewriter_is_static_so_it_can_live_across_awaits() {
    fn assert_static<T: 'static>(_: &T) {}
    let rewriter = Rewriter::new(Rc::new(RewritePlan::default()), |_: &[u8]| {});
    assert_static(&rewriter);
}
