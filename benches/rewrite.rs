//! Rewrite throughput on a ~100 KB product page: plain lol_html pass-through
//! against our `Rewriter` with a 3-block plan and with an empty plan.
//!
//! The design target is that rewriting keeps at least 80% of pass-through
//! throughput; after the criterion groups this prints that ratio from its own
//! timing loop (criterion does not print ratios).

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::cell::RefCell;
    use std::hint::black_box;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use criterion::{Criterion, Throughput};
    use edgeseg::rewrite::{BlockAction, BlockRewrite, RewritePlan, Rewriter};
    use lol_html::html_content::Element;
    use lol_html::{ElementContentHandlers, HtmlRewriter, Selector, Settings};
    use std::borrow::Cow;

    /// The Workers runtime hands the body over in chunks of about this size.
    const CHUNK: usize = 16 * 1024;

    /// A realistic product listing page of about 100 KB.
    pub fn product_page() -> Vec<u8> {
        let mut html = String::from(
            r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trail running shoes – Example Outdoor Store</title>
<link rel="stylesheet" href="/assets/app.8f3a1c.css">
<link rel="preload" as="font" href="/assets/inter.woff2" crossorigin>
<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}gtag("js",new Date());</script>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"ItemList","name":"Trail running shoes"}</script>
</head>
<body class="page page--listing">
<header class="site-header">
<nav class="nav" aria-label="Main"><ul class="nav__list">
"#,
        );
        for (i, item) in [
            "Men", "Women", "Kids", "Running", "Hiking", "Climbing", "Camping", "Sale", "Brands",
            "Stores",
        ]
        .iter()
        .enumerate()
        {
            html.push_str(&format!(
                "<li class=\"nav__item\"><a class=\"nav__link\" href=\"/c/{i}-{}\">{item}</a></li>\n",
                item.to_lowercase()
            ));
        }
        html.push_str(
            r#"</ul></nav>
</header>
<main id="main">
<section data-edgeseg-block="hero" class="hero"><h1>Trail running shoes</h1><p>Grip, cushioning and protection for every kind of trail.</p><a class="btn" href="/c/running">Shop now</a></section>
<div data-edgeseg-block="offer" class="offer-banner"><p>Free shipping on orders over 50 €</p></div>
<ul class="grid">
"#,
        );
        let mut i = 0;
        while html.len() < 96 * 1024 {
            html.push_str(&format!(
                r#"<li class="grid__item"><article class="card" data-product-id="sku-{i:05}">
<a class="card__link" href="/p/trail-runner-{i}"><img class="card__img" src="/img/p/{i}-400.webp" srcset="/img/p/{i}-400.webp 400w, /img/p/{i}-800.webp 800w" sizes="(min-width: 800px) 25vw, 50vw" alt="Trail Runner {i}" loading="lazy" width="400" height="400"></a>
<h2 class="card__title"><a href="/p/trail-runner-{i}">Trail Runner {i} GTX</a></h2>
<p class="card__price"><span class="price">{}.{:02} €</span> <s class="price--old">{}.00 €</s></p>
<button class="btn btn--small" data-edgeseg-track="add_to_cart" data-sku="sku-{i:05}">Add to cart</button>
</article></li>
"#,
                79 + i % 60,
                (i * 7) % 100,
                99 + i % 60
            ));
            if i % 12 == 11 {
                html.push_str("<script>window.dataLayer.push({event:\"impression\",list:\"grid\"});</script>\n");
            }
            i += 1;
        }
        html.push_str(
            r#"</ul>
<div class="cta-wrap"><a data-edgeseg-block="cta" class="btn btn--primary" href="/signup">Join and get 10% off</a></div>
</main>
<footer class="site-footer"><p>&copy; Example Outdoor Store</p></footer>
<script src="/__edgeseg/edgeseg.js" defer></script>
<script src="/assets/app.2b9e0d.js" defer></script>
</body>
</html>
"#,
        );
        html.into_bytes()
    }

    fn block(id: &str, action: BlockAction) -> BlockRewrite {
        let selector_text = format!(r#"[data-edgeseg-block="{id}"]"#);
        BlockRewrite {
            block_id: id.to_owned(),
            selector: Arc::new(selector_text.parse().expect("valid selector")),
            selector_text,
            action,
            source: "bench".to_owned(),
        }
    }

    pub fn three_block_plan() -> RewritePlan {
        RewritePlan {
            blocks: vec![
                block(
                    "hero",
                    BlockAction {
                        inner_html: Some("<h1>Welcome back, trail runner</h1><p>New arrivals picked for you.</p>".into()),
                        set_attributes: vec![("data-segment".into(), "returning".into())],
                        ..BlockAction::default()
                    },
                ),
                block("offer", BlockAction { remove: true, ..BlockAction::default() }),
                block(
                    "cta",
                    BlockAction {
                        outer_html: Some("<a class=\"btn btn--primary\" href=\"/cart\">Finish your order</a>".into()),
                        ..BlockAction::default()
                    },
                ),
            ],
            head_append: Some("<script>window.edgeseg={\"segments\":[\"returning\"]}</script>".into()),
        }
    }

    pub fn passthrough(page: &[u8]) -> usize {
        let mut out = Vec::with_capacity(page.len() + 1024);
        let mut rewriter = HtmlRewriter::new(Settings::new(), |c: &[u8]| out.extend_from_slice(c));
        for chunk in page.chunks(CHUNK) {
            rewriter.write(chunk).expect("write");
        }
        rewriter.end().expect("end");
        out.len()
    }

    /// lol_html with the selectors our rewriter registers for `plan` (the
    /// blocks', plus `head` and `body` for `head_append`) and no-op handlers:
    /// what lol_html's selector matching costs before we do anything.
    pub fn same_selectors(plan: &RewritePlan) -> Vec<Selector> {
        let mut selectors: Vec<Selector> =
            plan.blocks.iter().map(|b| (*b.selector).clone()).collect();
        if plan.head_append.is_some() {
            selectors.push("head".parse().expect("selector"));
            selectors.push("body".parse().expect("selector"));
        }
        selectors
    }

    pub fn noop_handlers(selectors: &[Selector], page: &[u8]) -> usize {
        let mut out = Vec::with_capacity(page.len() + 1024);
        let mut settings = Settings::new();
        for selector in selectors {
            settings = settings.append_element_content_handler((
                Cow::Borrowed(selector),
                ElementContentHandlers::default().element(|_: &mut Element<'_, '_>| Ok(())),
            ));
        }
        let mut rewriter = HtmlRewriter::new(settings, |c: &[u8]| out.extend_from_slice(c));
        for chunk in page.chunks(CHUNK) {
            rewriter.write(chunk).expect("write");
        }
        rewriter.end().expect("end");
        out.len()
    }

    pub fn ours(plan: &Rc<RewritePlan>, page: &[u8]) -> usize {
        let out = Rc::new(RefCell::new(Vec::with_capacity(page.len() + 1024)));
        let sink = Rc::clone(&out);
        let mut rewriter = Rewriter::new(Rc::clone(plan), move |c: &[u8]| {
            sink.borrow_mut().extend_from_slice(c)
        });
        for chunk in page.chunks(CHUNK) {
            rewriter.write(chunk).expect("write");
        }
        let report = rewriter.end().expect("end");
        black_box(report);
        let len = out.borrow().len();
        len
    }

    pub fn criterion_groups(c: &mut Criterion) {
        let page = product_page();
        let plan = Rc::new(three_block_plan());
        let empty = Rc::new(RewritePlan::default());
        let mut group = c.benchmark_group("rewrite");
        group.throughput(Throughput::Bytes(page.len() as u64));
        let selectors = same_selectors(&plan);
        group.bench_function("passthrough", |b| b.iter(|| passthrough(black_box(&page))));
        group.bench_function("lol_html_same_selectors_noop", |b| {
            b.iter(|| noop_handlers(&selectors, black_box(&page)))
        });
        group.bench_function("plan_3_blocks", |b| {
            b.iter(|| ours(&plan, black_box(&page)))
        });
        group.bench_function("plan_empty", |b| b.iter(|| ours(&empty, black_box(&page))));
        group.finish();
    }

    fn median_time(runs: usize, mut f: impl FnMut() -> usize) -> Duration {
        for _ in 0..runs / 10 {
            black_box(f());
        }
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                black_box(f());
                start.elapsed()
            })
            .collect();
        times.sort();
        times[runs / 2]
    }

    pub fn print_ratio() {
        let page = product_page();
        let plan = Rc::new(three_block_plan());
        let empty = Rc::new(RewritePlan::default());
        // Sanity: the plan does change the page, and all three blocks apply.
        let (_, report) = edgeseg::rewrite::rewrite_document(&plan, &page).expect("rewrite");
        assert_eq!(report.applied, ["hero", "offer", "cta"]);

        const RUNS: usize = 301;
        // Interleave the measurements a few times so that noise from other
        // processes on the machine hits both sides alike.
        let selectors = same_selectors(&plan);
        let (mut pass, mut three, mut none, mut noop) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            pass.push(median_time(RUNS, || passthrough(&page)));
            noop.push(median_time(RUNS, || noop_handlers(&selectors, &page)));
            three.push(median_time(RUNS, || ours(&plan, &page)));
            none.push(median_time(RUNS, || ours(&empty, &page)));
        }
        let (pass, three, none, noop) = (
            pass.iter().min().unwrap(),
            three.iter().min().unwrap(),
            none.iter().min().unwrap(),
            noop.iter().min().unwrap(),
        );
        let mbps = |d: &Duration| page.len() as f64 / d.as_secs_f64() / 1e6;
        println!(
            "page {} bytes; median of {RUNS} runs (best of 5 rounds): passthrough {:?} ({:.0} MB/s), 3 blocks {:?} ({:.0} MB/s), empty plan {:?} ({:.0} MB/s)",
            page.len(),
            pass,
            mbps(pass),
            three,
            mbps(three),
            none,
            mbps(none)
        );
        println!(
            "rewrite/passthrough throughput ratio: {:.0}%",
            100.0 * pass.as_secs_f64() / three.as_secs_f64()
        );
        // lol_html leaves its selector-free fast path as soon as one selector
        // is registered; this ratio isolates what our handlers add on top.
        println!(
            "rewrite/lol_html-with-same-selectors throughput ratio: {:.0}% (lol_html with our selectors and no-op handlers: {:?}, {:.0} MB/s)",
            100.0 * noop.as_secs_f64() / three.as_secs_f64(),
            noop,
            mbps(noop)
        );
        println!(
            "rewrite(empty plan)/passthrough throughput ratio: {:.0}%",
            100.0 * pass.as_secs_f64() / none.as_secs_f64()
        );
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let mut criterion = criterion::Criterion::default().configure_from_args();
    native::criterion_groups(&mut criterion);
    criterion.final_summary();
    native::print_ratio();
}

#[cfg(target_arch = "wasm32")]
fn main() {}
