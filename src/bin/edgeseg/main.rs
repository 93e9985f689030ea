//! `edgeseg`, the command-line tool: validate rules, simulate a visitor, preview
//! a page, print the schema, evaluate a condition, train models and retrain
//! the site's models through its admin API.
//!
//! Arguments are parsed in one place ([`args`]), the commands below only call
//! into the core, and everything printed is formatted in [`output`]. Native
//! only: for wasm32 (which cargo builds bins for in workspace-wide runs) this is
//! an empty program.

#[cfg(not(target_arch = "wasm32"))]
mod admin_api;
#[cfg(not(target_arch = "wasm32"))]
mod args;
#[cfg(not(target_arch = "wasm32"))]
mod export;
#[cfg(not(target_arch = "wasm32"))]
mod output;
#[cfg(not(target_arch = "wasm32"))]
mod retrain;
#[cfg(not(target_arch = "wasm32"))]
mod train;
#[cfg(not(target_arch = "wasm32"))]
mod train_compare;

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::io::{Read, Write};
    use std::process::ExitCode;

    use edgeseg::classify::Classification;
    use edgeseg::condition::{Condition, SavedGroups};
    use edgeseg::rewrite::rewrite_document;
    use edgeseg::rules::{review, CompiledRules};
    use edgeseg::simulate::{PastEvent, SimulatedVisitor};
    use serde_json::Value;

    use crate::args::{self, Command, UsageError, Visitor};
    use crate::output;

    const DEFAULT_URL: &str = "https://example.test/";

    /// Why a command failed.
    enum Failure {
        /// Exit 2.
        Usage(UsageError),
        /// Exit 1, with a message still to print.
        Input(String),
        /// Exit 1, the command has printed its errors.
        Reported,
    }

    impl From<UsageError> for Failure {
        fn from(e: UsageError) -> Self {
            Failure::Usage(e)
        }
    }

    pub fn main() -> ExitCode {
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let result = args::parse(&argv).map_err(Failure::from).and_then(run);
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure::Usage(e)) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
            Err(Failure::Input(message)) => {
                eprintln!("error: {message}");
                ExitCode::from(1)
            }
            Err(Failure::Reported) => ExitCode::from(1),
        }
    }

    fn run(command: Command) -> Result<(), Failure> {
        match command {
            Command::Help(topic) => print(args::help(topic)),
            Command::Version => print(&format!("edgeseg {}\n", env!("CARGO_PKG_VERSION"))),
            Command::Schema => print(&edgeseg::rules::schema::generate_pretty()),
            Command::Validate { files } => validate(&files),
            Command::Simulate { visitor, json } => {
                let rules = load_rules(&visitor.rules)?;
                let (c, url, now) = simulate(&rules, &visitor, None)?;
                let text = if json {
                    let value = output::simulate_json(&rules, &c, now, &url);
                    let mut s = serde_json::to_string_pretty(&value).expect("JSON serializes");
                    s.push('\n');
                    s
                } else {
                    output::simulate_human(&rules, &c, now, &url)
                };
                print(&text)
            }
            Command::Preview {
                visitor,
                page,
                segments,
                variants,
                plan,
                tracked,
            } => preview(&visitor, &page, &segments, &variants, plan, tracked),
            Command::Eval {
                condition,
                attributes,
                groups,
            } => eval(&condition, &attributes, groups.as_deref()),
            Command::Train(t) => {
                let out = crate::train::run(&t).map_err(Failure::Input)?;
                print(&out.stdout)
            }
            Command::Retrain(r) => {
                let out = crate::retrain::run(&r).map_err(Failure::Input)?;
                print(&out.stdout)?;
                if out.failed {
                    Err(Failure::Reported)
                } else {
                    Ok(())
                }
            }
            Command::Erase(e) => print(&crate::export::erase(&e).map_err(Failure::Input)?),
        }
    }

    fn print(text: &str) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`edgeseg schema | head`) is not an error worth reporting.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        Ok(())
    }

    /// The text of FILE, or stdin for `-`; and the name to show for it.
    fn read(file: &str) -> Result<(String, String), Failure> {
        if file == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Input(format!("cannot read stdin: {e}")))?;
            Ok(("<stdin>".into(), text))
        } else {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Failure::Input(format!("cannot read {file}: {e}")))?;
            Ok((file.to_string(), text))
        }
    }

    fn validate(files: &[String]) -> Result<(), Failure> {
        let mut failed = false;
        for file in files {
            let (name, text) = match read(file) {
                Ok(read) => read,
                Err(Failure::Input(m)) => {
                    eprintln!("error: {m}");
                    failed = true;
                    continue;
                }
                Err(other) => return Err(other),
            };
            match review::for_save(&text, None) {
                Ok(saveable) => {
                    println!("{}", output::valid(&name, &saveable.rules));
                    if !saveable.warnings.is_empty() {
                        eprint!(
                            "{}",
                            output::rule_warnings(&name, &text, &saveable.warnings)
                        );
                    }
                }
                Err(errors) => {
                    eprint!("{}", output::rule_errors(&name, &text, &errors));
                    failed = true;
                }
            }
        }
        if failed {
            Err(Failure::Reported)
        } else {
            Ok(())
        }
    }

    fn load_rules(file: &str) -> Result<CompiledRules, Failure> {
        let (name, text) = read(file)?;
        CompiledRules::from_json(&text).map_err(|errors| {
            eprint!("{}", output::rule_errors(&name, &text, &errors));
            Failure::Reported
        })
    }

    /// Runs the visitor's events through the page pipeline, then serves its
    /// last request; `force` previews segments and variants (nothing counted).
    fn simulate(
        rules: &CompiledRules,
        visitor: &Visitor,
        force: Option<edgeseg::preview::PreviewGrant>,
    ) -> Result<(Classification, String, u64), Failure> {
        let now = visitor.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        let url = visitor.url.clone().unwrap_or_else(|| DEFAULT_URL.into());
        let a = &visitor.attrs;
        let simulated = SimulatedVisitor {
            events: visitor
                .events
                .iter()
                .map(|e| PastEvent {
                    name: e.name.clone(),
                    path: e.path.clone(),
                    ago: e.ago,
                    props: e.props.clone(),
                })
                .collect(),
            url: url.clone(),
            referrer: a.referrer.clone(),
            user_agent: a.user_agent.clone(),
            country: a.country.clone(),
            accept_language: a.language.clone(),
            now,
        };
        let outcome = edgeseg::simulate::simulate_page(rules, &simulated, force)
            .map_err(|e| Failure::Input(e.to_string()))?;
        Ok((outcome.classification, url, now))
    }

    fn preview(
        visitor: &Visitor,
        page: &str,
        forced: &[String],
        variants: &[String],
        print_plan: bool,
        tracked: bool,
    ) -> Result<(), Failure> {
        if visitor.rules == "-" && page == "-" {
            return Err(Failure::Input(
                "only one of FILE and PAGE can be `-`".into(),
            ));
        }
        // Check the forced segments before reading the page.
        let rules = load_rules(&visitor.rules)?;
        let known: Vec<&str> = rules.segments.iter().map(|s| s.id.as_str()).collect();
        for s in forced {
            if !known.contains(&s.as_str()) {
                let hint = match edgeseg::error::suggest(s, known.iter().copied()) {
                    Some(h) => format!(" (did you mean {h:?}?)"),
                    None => String::new(),
                };
                return Err(Failure::Input(format!(
                    "unknown segment {s:?}{hint}; the rules have: {}",
                    known.join(", ")
                )));
            }
        }
        let variants = forced_variants(&rules, variants)?;
        // A preview, as a signed preview link shows it: the forced segments
        // and variants (if any), nothing counted, so no tracking script;
        // with --tracked (and nothing forced), the page a counted visitor gets.
        let grant = edgeseg::preview::PreviewGrant {
            segments: forced.to_vec(),
            variants,
            expires: u64::MAX,
            draft: None,
            pick: false,
        };
        let force =
            (!tracked || !grant.segments.is_empty() || !grant.variants.is_empty()).then_some(grant);
        let (c, _, _) = simulate(&rules, visitor, force)?;
        if print_plan {
            let mut s = serde_json::to_string_pretty(&c.plan.to_spec()).expect("JSON serializes");
            s.push('\n');
            return print(&s);
        }
        let (page_name, html) = read(page)?;
        let (bytes, _report) = rewrite_document(&c.plan, html.as_bytes())
            .map_err(|e| Failure::Input(format!("cannot rewrite {page_name}: {e}")))?;
        let sources: Vec<String> = output::block_sources(&rules, &c)
            .into_iter()
            .map(|(id, s)| format!("{id}: {}", s.unwrap_or("default")))
            .collect();
        eprintln!("edgeseg preview: {}", sources.join(", "));
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&bytes).and_then(|()| out.flush());
        Ok(())
    }

    /// `EXPERIMENT=VARIANT` flags checked against the rules, with a
    /// suggestion for a misspelt name.
    fn forced_variants(
        rules: &CompiledRules,
        flags: &[String],
    ) -> Result<Vec<(String, String)>, Failure> {
        let unknown = |what: &str, name: &str, known: &[&str]| {
            let hint = match edgeseg::error::suggest(name, known.iter().copied()) {
                Some(h) => format!(" (did you mean {h:?}?)"),
                None => String::new(),
            };
            Failure::Input(format!(
                "unknown {what} {name:?}{hint}; the rules have: {}",
                known.join(", ")
            ))
        };
        flags
            .iter()
            .map(|flag| {
                let (key, variant) = flag.split_once('=').ok_or_else(|| {
                    Failure::Input(format!(
                        "--variant {flag:?}: expected EXPERIMENT=VARIANT, e.g. hero_test=bold"
                    ))
                })?;
                let keys: Vec<&str> = rules.experiments.iter().map(|e| e.key.as_str()).collect();
                let e = rules
                    .experiments
                    .iter()
                    .find(|e| e.key == key)
                    .ok_or_else(|| unknown("experiment", key, &keys))?;
                let ids: Vec<&str> = e.variants.iter().map(|v| v.id.as_str()).collect();
                if !ids.contains(&variant) {
                    return Err(unknown(&format!("variant of {key}"), variant, &ids));
                }
                Ok((key.to_string(), variant.to_string()))
            })
            .collect()
    }

    fn eval(condition: &str, attributes: &str, groups: Option<&str>) -> Result<(), Failure> {
        let condition = json_arg("CONDITION", condition)?;
        let attributes = json_arg("ATTRIBUTES", attributes)?;
        let groups: SavedGroups = match groups {
            None => SavedGroups::new(),
            Some(text) => match json_arg("SAVED_GROUPS", text)? {
                Value::Object(map) => map,
                other => {
                    return Err(Failure::Input(format!(
                        "SAVED_GROUPS: expected an object of lists, got {}",
                        edgeseg::error::describe(&other)
                    )))
                }
            },
        };
        let mut problems = Vec::new();
        let compiled = Condition::compile(&condition, "", &mut problems);
        for p in &problems {
            eprintln!("warning: CONDITION: {p}");
        }
        print(&format!("{}\n", compiled.eval(&attributes, &groups)))
    }

    /// A JSON argument (or stdin for `-`); bad JSON is reported with a caret.
    fn json_arg(name: &str, text: &str) -> Result<Value, Failure> {
        let (shown, text) = if text == "-" {
            let (_, t) = read("-")?;
            (format!("{name} (stdin)"), t)
        } else {
            (name.to_string(), text.to_string())
        };
        serde_json::from_str(&text).map_err(|e| {
            let full = e.to_string();
            let message = full
                .rfind(" at line ")
                .map_or(full.as_str(), |i| &full[..i]);
            eprint!(
                "{}",
                output::syntax_error(&shown, &text, message, e.line(), e.column())
            );
            Failure::Reported
        })
    }
}
