//! Command-line arguments: every flag of every command is parsed here, in one
//! place, into a [`Command`]. Nothing here reads files or knows the rules.

use std::fmt;

use edgeseg::duration::parse_duration;

/// What the user asked for.
#[derive(Debug)]
pub enum Command {
    /// Print help: the overview, or one command's.
    Help(Option<&'static str>),
    Version,
    Validate {
        files: Vec<String>,
    },
    Simulate {
        visitor: Visitor,
        json: bool,
    },
    Preview {
        visitor: Visitor,
        page: String,
        segments: Vec<String>,
        /// `EXPERIMENT=VARIANT`, as written.
        variants: Vec<String>,
        plan: bool,
        /// Serve the page as to a counted visitor (with the Worker's tracking scripts).
        tracked: bool,
    },
    Schema,
    Eval {
        condition: String,
        attributes: String,
        groups: Option<String>,
    },
    Train(Train),
    Retrain(Retrain),
    /// `edgeseg export erase ...`.
    Erase(Erase),
}

/// `edgeseg retrain --worker URL [flags]`: the model signals in force,
/// trained again on the recent export, proposed as a draft when better.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrain {
    /// The site's origin (`--worker`, or `EDGESEG_URL`).
    pub worker: String,
    /// The admin token (`--token`, or `EDGESEG_ADMIN_TOKEN`).
    pub token: String,
    /// How many days of export to pull (default 28).
    pub days: u64,
    /// How much better a retrained model must be to be proposed.
    pub margin: f64,
    /// Keep the pulled export here (and pull only what is new next time);
    /// default: a temporary folder, removed afterwards.
    pub keep: Option<String>,
    /// Report only; save no draft.
    pub dry_run: bool,
    pub json: bool,
}

/// `edgeseg export erase --worker URL --token TOKEN VISITOR`.
#[derive(Debug, Clone, PartialEq)]
pub struct Erase {
    pub worker: String,
    /// `--token`, else `EDGESEG_ADMIN_TOKEN` from the environment.
    pub token: String,
    pub visitor: String,
    pub prefix: Option<String>,
    pub limit: Option<u32>,
    pub json: bool,
}

/// `edgeseg train MODEL DIR [flags]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Train {
    pub model: Model,
    pub dir: String,
    /// `--features a,b,c` (empty: every numeric signal recorded).
    pub features: Vec<String>,
    /// The signal's name in the paste block (and in `--compare` rules).
    pub name: String,
    pub compare: Option<String>,
    pub json: bool,
    /// Write the signal JSON (`{"name": {...}}`) to this file too.
    pub signal_out: Option<String>,
    /// A JSON array of feature objects to predict (the trainer's own predictions).
    pub predict: Option<String>,
    /// `--sample N`: the most moments kept in memory (a uniform sample of
    /// visitors beyond it).
    pub sample: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    Logistic {
        label: String,
        within: u64,
        within_text: String,
    },
    Trees {
        label: String,
        within: u64,
        within_text: String,
        trees: usize,
        depth: u16,
        rate: f64,
    },
    KMeans {
        k: usize,
        names: Option<Vec<String>>,
        seed: u64,
    },
    /// Write a synthetic export (for trying `train`, and for the tests).
    Generate {
        seed: u64,
        visitors: usize,
        days: u64,
    },
}

/// A simulated visitor: the rules, what it did, and its last request.
#[derive(Debug, Default)]
pub struct Visitor {
    pub rules: String,
    pub events: Vec<EventSpec>,
    pub attrs: Attrs,
    pub url: Option<String>,
    pub now: Option<u64>,
}

/// One `--event NAME[:PATH][@-DURATION][{PROPERTIES}]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub name: String,
    pub path: String,
    /// Seconds before `now`.
    pub ago: u64,
    /// A JSON object at the end, like `{"value": 129}`.
    pub props: serde_json::Map<String, serde_json::Value>,
}

/// Request facts set with `--attr KEY=VALUE`.
#[derive(Debug, Default)]
pub struct Attrs {
    pub country: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub language: Option<String>,
}

/// A usage error (exit 2): what is wrong, and for which command.
#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub command: Option<&'static str>,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        writeln!(f)?;
        match self
            .command
            .and_then(|c| COMMANDS.iter().find(|s| s.name == c))
        {
            Some(spec) => {
                writeln!(f, "Usage: {}", spec.usage)?;
                write!(f, "Run `edgeseg {} --help` for details.", spec.name)
            }
            None => {
                writeln!(f, "Usage: edgeseg COMMAND [ARGS]")?;
                write!(f, "Run `edgeseg help` for the commands.")
            }
        }
    }
}

fn usage(command: Option<&'static str>, message: impl Into<String>) -> UsageError {
    UsageError {
        message: message.into(),
        command,
    }
}

/// A command's name, flags and help.
struct Spec {
    name: &'static str,
    usage: &'static str,
    /// Flags that take a value.
    valued: &'static [&'static str],
    /// Flags without a value.
    switches: &'static [&'static str],
    help: &'static str,
}

const COMMANDS: &[Spec] = &[
    Spec {
        name: "validate",
        usage: "edgeseg validate FILE...",
        valued: &[],
        switches: &[],
        help: VALIDATE_HELP,
    },
    Spec {
        name: "simulate",
        usage: "edgeseg simulate FILE [--event SPEC]... [--attr KEY=VALUE]... [--url URL] [--now UNIX_SECONDS] [--json]",
        valued: &["--event", "--attr", "--url", "--now"],
        switches: &["--json"],
        help: SIMULATE_HELP,
    },
    Spec {
        name: "preview",
        usage: "edgeseg preview FILE PAGE.html [--segment S]... [--variant EXP=V]... [--event SPEC]... [--attr KEY=VALUE]... [--url URL] [--now UNIX_SECONDS] [--tracked] [--plan]",
        valued: &["--segment", "--variant", "--event", "--attr", "--url", "--now"],
        switches: &["--plan", "--tracked"],
        help: PREVIEW_HELP,
    },
    Spec {
        name: "schema",
        usage: "edgeseg schema",
        valued: &[],
        switches: &[],
        help: SCHEMA_HELP,
    },
    Spec {
        name: "eval",
        usage: "edgeseg eval CONDITION ATTRIBUTES [--groups SAVED_GROUPS]",
        valued: &["--groups"],
        switches: &[],
        help: EVAL_HELP,
    },
    Spec {
        name: "train",
        usage: "edgeseg train logistic|trees|kmeans|generate DIR [flags]",
        valued: &[
            "--label",
            "--within",
            "--features",
            "--name",
            "--compare",
            "--k",
            "--names",
            "--seed",
            "--trees",
            "--depth",
            "--rate",
            "--signal-out",
            "--predict",
            "--visitors",
            "--days",
            "--sample",
        ],
        switches: &["--json"],
        help: TRAIN_HELP,
    },
    Spec {
        name: "retrain",
        usage: "edgeseg retrain --worker URL [--token TOKEN] [--days N] [--margin M] [--keep DIR] [--dry-run] [--json]",
        valued: &["--worker", "--token", "--days", "--margin", "--keep"],
        switches: &["--dry-run", "--json"],
        help: RETRAIN_HELP,
    },
    Spec {
        name: "export",
        usage: "edgeseg export erase --worker URL [--token TOKEN] VISITOR [--prefix events/YYYY/] [--limit N] [--json]",
        valued: &["--worker", "--token", "--prefix", "--limit"],
        switches: &["--json"],
        help: EXPORT_HELP,
    },
];

/// Flags and positionals of one command, split but not yet interpreted.
struct Split {
    positionals: Vec<String>,
    flags: Vec<(&'static str, String)>,
    switches: Vec<&'static str>,
    help: bool,
}

impl Split {
    fn values<'a>(&'a self, flag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.flags
            .iter()
            .filter(move |(f, _)| *f == flag)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a flag given at most once.
    fn single(&self, cmd: &'static str, flag: &str) -> Result<Option<String>, UsageError> {
        let mut values = self.values(flag);
        let first = values.next().map(str::to_string);
        if values.next().is_some() {
            return Err(usage(Some(cmd), format!("{flag} may be given only once")));
        }
        Ok(first)
    }

    fn has(&self, switch: &str) -> bool {
        self.switches.contains(&switch)
    }
}

fn split(spec: &Spec, args: &[String]) -> Result<Split, UsageError> {
    let cmd = Some(spec.name);
    let mut out = Split {
        positionals: Vec::new(),
        flags: Vec::new(),
        switches: Vec::new(),
        help: false,
    };
    let mut it = args.iter();
    let mut only_positionals = false;
    while let Some(arg) = it.next() {
        if only_positionals || arg == "-" || !arg.starts_with('-') {
            out.positionals.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_positionals = true;
            continue;
        }
        if arg == "-h" || arg == "--help" {
            out.help = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        if let Some(&flag) = spec.valued.iter().find(|f| **f == name) {
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| usage(cmd, format!("{flag} needs a value")))?,
            };
            out.flags.push((flag, value));
        } else if let Some(&switch) = spec.switches.iter().find(|f| **f == name) {
            if inline.is_some() {
                return Err(usage(cmd, format!("{switch} takes no value")));
            }
            out.switches.push(switch);
        } else {
            let known = spec.valued.iter().chain(spec.switches).copied();
            let hint = match edgeseg::error::suggest(name, known) {
                Some(s) => format!(" (did you mean {s}?)"),
                None if spec.valued.is_empty() && spec.switches.is_empty() => {
                    format!(" (`edgeseg {}` takes no flags)", spec.name)
                }
                None => String::new(),
            };
            return Err(usage(cmd, format!("unknown flag {name}{hint}")));
        }
    }
    Ok(out)
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let Some(first) = args.first() else {
        return Err(usage(None, "no command given"));
    };
    let rest = &args[1..];
    match first.as_str() {
        "-h" | "--help" => return Ok(Command::Help(None)),
        "-V" | "--version" => return Ok(Command::Version),
        "help" => {
            return match rest {
                [] => Ok(Command::Help(None)),
                [topic] => match COMMANDS.iter().find(|s| s.name == topic) {
                    Some(s) => Ok(Command::Help(Some(s.name))),
                    None => Err(unknown_command(topic)),
                },
                _ => Err(usage(None, "`edgeseg help` takes at most one command")),
            }
        }
        _ => {}
    }
    let Some(spec) = COMMANDS.iter().find(|s| s.name == first) else {
        return Err(unknown_command(first));
    };
    let cmd = Some(spec.name);
    let s = split(spec, rest)?;
    if s.help {
        return Ok(Command::Help(Some(spec.name)));
    }
    let pos = &s.positionals;
    let command = match spec.name {
        "validate" => {
            if pos.is_empty() {
                return Err(usage(cmd, "missing FILE"));
            }
            Command::Validate { files: pos.clone() }
        }
        "simulate" => {
            let visitor = visitor(spec.name, &s, 1)?;
            Command::Simulate {
                visitor,
                json: s.has("--json"),
            }
        }
        "preview" => {
            let visitor = visitor(spec.name, &s, 2)?;
            Command::Preview {
                visitor,
                page: pos[1].clone(),
                segments: s.values("--segment").map(str::to_string).collect(),
                variants: s.values("--variant").map(str::to_string).collect(),
                plan: s.has("--plan"),
                tracked: s.has("--tracked"),
            }
        }
        "schema" => {
            if let Some(extra) = pos.first() {
                return Err(usage(cmd, format!("unexpected argument {extra:?}")));
            }
            Command::Schema
        }
        "eval" => {
            match pos.len() {
                0 => return Err(usage(cmd, "missing CONDITION and ATTRIBUTES")),
                1 => return Err(usage(cmd, "missing ATTRIBUTES")),
                2 => {}
                _ => return Err(usage(cmd, format!("unexpected argument {:?}", pos[2]))),
            }
            let groups = s.single(spec.name, "--groups")?;
            let stdin_uses = pos.iter().chain(&groups).filter(|a| *a == "-").count();
            if stdin_uses > 1 {
                return Err(usage(cmd, "only one argument can be `-` (read from stdin)"));
            }
            Command::Eval {
                condition: pos[0].clone(),
                attributes: pos[1].clone(),
                groups,
            }
        }
        "train" => Command::Train(train(&s)?),
        "retrain" => Command::Retrain(retrain(&s, &|k| std::env::var(k).ok())?),
        "export" => Command::Erase(erase(&s, std::env::var("EDGESEG_ADMIN_TOKEN").ok())?),
        _ => unreachable!("every command in COMMANDS is handled"),
    };
    Ok(command)
}

/// Flags each `train` model takes (beyond the shared ones).
const TRAIN_SHARED: &[&str] = &[
    "--features",
    "--name",
    "--compare",
    "--json",
    "--signal-out",
    "--predict",
    "--sample",
];

fn train(s: &Split) -> Result<Train, UsageError> {
    let c = Some("train");
    let pos = &s.positionals;
    let Some(model) = pos.first() else {
        return Err(usage(c, "missing the model: logistic, trees or kmeans"));
    };
    let Some(dir) = pos.get(1) else {
        return Err(usage(c, "missing DIR, the folder of exported files"));
    };
    if let Some(extra) = pos.get(2) {
        return Err(usage(c, format!("unexpected argument {extra:?}")));
    }
    let own: &[&str] = match model.as_str() {
        "logistic" => &["--label", "--within"],
        "trees" => &["--label", "--within", "--trees", "--depth", "--rate"],
        "kmeans" => &["--k", "--names", "--seed"],
        "generate" => &["--seed", "--visitors", "--days"],
        other => {
            let hint =
                match edgeseg::error::suggest(other, ["logistic", "trees", "kmeans", "generate"]) {
                    Some(s) => format!(" (did you mean {s}?)"),
                    None => String::new(),
                };
            return Err(usage(
                c,
                format!("unknown model {other:?}{hint}: expected logistic, trees or kmeans"),
            ));
        }
    };
    for flag in s
        .flags
        .iter()
        .map(|(f, _)| *f)
        .chain(s.switches.iter().copied())
    {
        let shared = model != "generate" && TRAIN_SHARED.contains(&flag);
        if !shared && !own.contains(&flag) {
            return Err(usage(
                c,
                format!("{flag} does not apply to `train {model}`"),
            ));
        }
    }
    let number = |flag: &str, default: u64| -> Result<u64, UsageError> {
        match s.single("train", flag)? {
            Some(t) => t
                .parse::<u64>()
                .map_err(|_| usage(c, format!("{flag} expects a whole number, got {t:?}"))),
            None => Ok(default),
        }
    };
    let list = |flag: &str| -> Result<Vec<String>, UsageError> {
        Ok(s.single("train", flag)?
            .map(|t| {
                t.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default())
    };
    let labelled = || -> Result<(String, u64, String), UsageError> {
        let label = s.single("train", "--label")?.ok_or_else(|| {
            usage(
                c,
                "missing --label EVENT (the event to predict, like purchase)",
            )
        })?;
        let text = s
            .single("train", "--within")?
            .unwrap_or_else(|| "7d".to_string());
        let within = parse_duration(&text).ok_or_else(|| {
            usage(
                c,
                format!("--within expects a duration like 7d, 12h or 30m, got {text:?}"),
            )
        })?;
        Ok((label, within, text))
    };
    let (model, default_name) = match model.as_str() {
        "logistic" => {
            let (label, within, within_text) = labelled()?;
            let name = format!("{label}_chance");
            (
                Model::Logistic {
                    label,
                    within,
                    within_text,
                },
                name,
            )
        }
        "trees" => {
            let (label, within, within_text) = labelled()?;
            let rate = match s.single("train", "--rate")? {
                Some(t) => t.parse::<f64>().map_err(|_| {
                    usage(c, format!("--rate expects a number like 0.3, got {t:?}"))
                })?,
                None => 0.5,
            };
            let name = format!("{label}_chance_trees");
            (
                Model::Trees {
                    label,
                    within,
                    within_text,
                    trees: number("--trees", 60)? as usize,
                    depth: number("--depth", 3)?.min(u64::from(u16::MAX)) as u16,
                    rate,
                },
                name,
            )
        }
        "kmeans" => {
            let k = match s.single("train", "--k")? {
                Some(_) => number("--k", 0)? as usize,
                None => return Err(usage(c, "missing --k N (how many clusters)")),
            };
            let names = list("--names")?;
            if !names.is_empty() && names.len() != k {
                return Err(usage(
                    c,
                    format!(
                        "--names gives {} names for {k} clusters (--k {k}); give one name per cluster",
                        names.len()
                    ),
                ));
            }
            (
                Model::KMeans {
                    k,
                    names: (!names.is_empty()).then_some(names),
                    seed: number("--seed", 1)?,
                },
                "behaviour_cluster".to_string(),
            )
        }
        _ => (
            Model::Generate {
                seed: number("--seed", 13)?,
                visitors: number("--visitors", 900)? as usize,
                days: number("--days", 28)?,
            },
            String::new(),
        ),
    };
    Ok(Train {
        model,
        dir: dir.clone(),
        features: list("--features")?,
        name: s.single("train", "--name")?.unwrap_or(default_name),
        compare: s.single("train", "--compare")?,
        json: s.has("--json"),
        signal_out: s.single("train", "--signal-out")?,
        predict: s.single("train", "--predict")?,
        sample: match s.single("train", "--sample")? {
            Some(_) => match number("--sample", 0)? {
                0 => return Err(usage(c, "--sample expects at least 1 (moments to keep)")),
                n => n as usize,
            },
            None => edgeseg::learn::sample::DEFAULT_CAP,
        },
    })
}

/// `retrain`'s flags; `env` reads `EDGESEG_URL` and `EDGESEG_ADMIN_TOKEN`
/// (a scheduled job keeps the token in a secret, out of the command line).
fn retrain(s: &Split, env: &dyn Fn(&str) -> Option<String>) -> Result<Retrain, UsageError> {
    let c = Some("retrain");
    if let Some(extra) = s.positionals.first() {
        return Err(usage(c, format!("unexpected argument {extra:?}")));
    }
    let from_env = |flag: &str, var: &str| -> Result<Option<String>, UsageError> {
        Ok(s.single("retrain", flag)?
            .or_else(|| env(var))
            .filter(|v| !v.trim().is_empty()))
    };
    let worker = from_env("--worker", "EDGESEG_URL")?.ok_or_else(|| {
        usage(
            c,
            "missing --worker URL (the site's address, e.g. https://shop.example.com; or set EDGESEG_URL)",
        )
    })?;
    if !(worker.starts_with("https://") || worker.starts_with("http://")) {
        return Err(usage(
            c,
            format!(
                "--worker expects an http(s) URL like https://shop.example.com, got {worker:?}"
            ),
        ));
    }
    let token = from_env("--token", "EDGESEG_ADMIN_TOKEN")?.ok_or_else(|| {
        usage(
            c,
            "missing the admin token: set EDGESEG_ADMIN_TOKEN (or pass --token)",
        )
    })?;
    let days = match s.single("retrain", "--days")? {
        Some(t) => match t.parse::<u64>() {
            Ok(d @ 1..=366) => d,
            _ => {
                return Err(usage(
                    c,
                    format!("--days expects a whole number of days from 1 to 366, got {t:?}"),
                ))
            }
        },
        None => 28,
    };
    let margin = match s.single("retrain", "--margin")? {
        Some(t) => match t.parse::<f64>() {
            Ok(m) if (0.0..1.0).contains(&m) => m,
            _ => {
                return Err(usage(
                    c,
                    format!("--margin expects a number from 0 to 1 like 0.01, got {t:?}"),
                ))
            }
        },
        None => edgeseg::learn::retrain::DEFAULT_MARGIN,
    };
    Ok(Retrain {
        worker,
        token,
        days,
        margin,
        keep: s.single("retrain", "--keep")?,
        dry_run: s.has("--dry-run"),
        json: s.has("--json"),
    })
}

fn unknown_command(name: &str) -> UsageError {
    let hint = match edgeseg::error::suggest(name, COMMANDS.iter().map(|s| s.name)) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    };
    usage(None, format!("unknown command {name:?}{hint}"))
}

/// The visitor flags shared by `simulate` and `preview`; `files` is how many
/// positionals the command takes (FILE, or FILE and PAGE).
fn visitor(cmd: &'static str, s: &Split, files: usize) -> Result<Visitor, UsageError> {
    let c = Some(cmd);
    let pos = &s.positionals;
    if pos.is_empty() {
        return Err(usage(c, "missing FILE"));
    }
    if pos.len() < files {
        return Err(usage(c, "missing PAGE.html"));
    }
    if let Some(extra) = pos.get(files) {
        return Err(usage(c, format!("unexpected argument {extra:?}")));
    }
    if pos.iter().filter(|p| *p == "-").count() > 1 {
        return Err(usage(c, "only one file can be `-` (read from stdin)"));
    }
    let events = s
        .values("--event")
        .map(|spec| parse_event(spec).map_err(|m| usage(c, m)))
        .collect::<Result<_, _>>()?;
    let mut attrs = Attrs::default();
    for kv in s.values("--attr") {
        set_attr(&mut attrs, kv).map_err(|m| usage(c, m))?;
    }
    let now = match s.single(cmd, "--now")? {
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            usage(
                c,
                format!("--now expects whole seconds since 1970, got {text:?}"),
            )
        })?),
        None => None,
    };
    let url = s.single(cmd, "--url")?;
    if let Some(u) = &url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(usage(c, format!("--url expects an http(s) URL, got {u:?}")));
        }
    }
    Ok(Visitor {
        rules: pos[0].clone(),
        events,
        attrs,
        url,
        now,
    })
}

/// Parses `NAME[:PATH][@-DURATION][{PROPERTIES}]`: the properties, a JSON
/// object, come last so that neither `@` nor `:` inside them is read as part
/// of the time or the path.
pub fn parse_event(spec: &str) -> Result<EventSpec, String> {
    let bad = |why: &str| {
        format!("invalid --event {spec:?}: {why} (expected NAME[:PATH][@-DURATION][{{PROPERTIES}}], like page_view:/products/boots@-5m or purchase@-2d{{\"value\": 129}})")
    };
    let (spec_head, props) = match spec.find('{') {
        Some(at) => match serde_json::from_str::<serde_json::Value>(&spec[at..]) {
            Ok(serde_json::Value::Object(props)) => (&spec[..at], props),
            _ => {
                return Err(bad(
                    "the properties are a JSON object, like {\"value\": 129}",
                ))
            }
        },
        None => (spec, serde_json::Map::new()),
    };
    let (head, ago) = match spec_head.rsplit_once('@') {
        Some((head, when)) => {
            let Some(dur) = when.strip_prefix('-') else {
                return Err(bad("the time is how long ago, like @-5m"));
            };
            let secs = parse_duration(dur)
                .ok_or_else(|| bad("the duration is a whole number and s, m, h or d"))?;
            (head, secs)
        }
        None => (spec_head, 0),
    };
    let (name, path) = match head.split_once(':') {
        Some((name, path)) => (name, path),
        None => (head, "/"),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(bad("the name uses letters, digits and _"));
    }
    if !path.starts_with('/') {
        return Err(bad("the path starts with /"));
    }
    Ok(EventSpec {
        name: name.to_string(),
        path: path.to_string(),
        ago,
        props,
    })
}

const ATTR_KEYS: &[&str] = &["country", "device", "user_agent", "referrer", "language"];

fn set_attr(attrs: &mut Attrs, kv: &str) -> Result<(), String> {
    let Some((key, value)) = kv.split_once('=') else {
        return Err(format!("invalid --attr {kv:?}: expected KEY=VALUE"));
    };
    let value = value.to_string();
    match key {
        "country" => attrs.country = Some(value),
        "user_agent" => attrs.user_agent = Some(value),
        "referrer" => attrs.referrer = Some(value),
        "language" => attrs.language = Some(value),
        "device" => {
            attrs.user_agent = Some(
                edgeseg::simulate::device_user_agent(&value)
                    .ok_or_else(|| {
                        format!(
                            "invalid --attr device={value}: expected mobile, tablet, desktop or bot"
                        )
                    })?
                    .to_string(),
            )
        }
        k if k.starts_with("utm_") || k == "query" || k == "path" || k == "url" => {
            return Err(format!(
                "--attr {k} comes from the URL: use --url 'https://example.test/?utm_campaign=spring'"
            ))
        }
        other => {
            let hint = match edgeseg::error::suggest(other, ATTR_KEYS.iter().copied()) {
                Some(s) => format!("did you mean {s}? "),
                None => String::new(),
            };
            return Err(format!(
                "unknown --attr key {other:?} ({hint}known: {})",
                ATTR_KEYS.join(", ")
            ));
        }
    }
    Ok(())
}

fn erase(s: &Split, env_token: Option<String>) -> Result<Erase, UsageError> {
    let c = Some("export");
    let pos = &s.positionals;
    match pos.first().map(String::as_str) {
        Some("erase") => {}
        Some(other) => {
            return Err(usage(
                c,
                format!("unknown export command {other:?}: expected erase"),
            ))
        }
        None => return Err(usage(c, "missing the export command: erase")),
    }
    let Some(visitor) = pos.get(1) else {
        return Err(usage(
            c,
            "missing VISITOR, the 32 hex digits of the visitor id",
        ));
    };
    if let Some(extra) = pos.get(2) {
        return Err(usage(c, format!("unexpected argument {extra:?}")));
    }
    if let Err(e) = edgeseg::export::erase::visitor_id(visitor) {
        return Err(usage(c, e.to_string()));
    }
    let worker = s
        .single("export", "--worker")?
        .ok_or_else(|| usage(c, "missing --worker URL, the Worker's address"))?;
    let token = s
        .single("export", "--token")?
        .or(env_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| {
            usage(
                c,
                "missing --token (or EDGESEG_ADMIN_TOKEN in the environment)",
            )
        })?;
    let limit = match s.single("export", "--limit")? {
        None => None,
        Some(n) => Some(
            n.parse::<u32>()
                .ok()
                .filter(|n| (1..=200).contains(n))
                .ok_or_else(|| {
                    usage(c, format!("--limit: objects per call, 1 to 200, got {n:?}"))
                })?,
        ),
    };
    Ok(Erase {
        worker,
        token,
        visitor: visitor.clone(),
        prefix: s.single("export", "--prefix")?,
        limit,
        json: s.has("--json"),
    })
}

/// The help text for the overview (`None`) or one command.
pub fn help(command: Option<&str>) -> &'static str {
    match command.and_then(|c| COMMANDS.iter().find(|s| s.name == c)) {
        Some(spec) => spec.help,
        None => OVERVIEW_HELP,
    }
}

const OVERVIEW_HELP: &str = "\
edgeseg: check, simulate and preview edgeseg rules on your machine.

Usage: edgeseg COMMAND [ARGS]

Commands:
  validate FILE...          check a rules document; every error with its JSON path and line
  simulate FILE [flags]     which segments a simulated visitor is in, and which content it gets
  preview FILE PAGE.html    the page as that visitor (or a forced segment) would see it
  schema                    print the rules JSON Schema
  eval CONDITION ATTRS      evaluate one GrowthBook-style condition
  train MODEL DIR [flags]   fit a model on an exported folder; prints a report and a signal to paste
  retrain --worker URL      train the site's models again on its recent export; a draft when better
  export erase VISITOR      erase one visitor's records from the export in R2 (GDPR Art. 17)
  help [COMMAND]            this help, or a command's

Options:
  -h, --help                help (also after a command: `edgeseg simulate --help`)
  -V, --version             print the version

A FILE of `-` is read from stdin.
Exit codes: 0 success, 1 invalid input (rules, page, JSON, unknown names), 2 usage error.
";

const VALIDATE_HELP: &str = "\
Check rules documents.

Usage: edgeseg validate FILE...

Prints `FILE: valid (version \"...\", N segments, M blocks)` for a good document.
For a bad one, prints every error to stderr and exits 1. A JSON syntax error
gives the line and column, the line, and a caret:

  ERROR: rules.json:3:3: expected `,` or `}`
   |   \"version\": \"x\"
   |   ^

Any other error gives its JSON path, then (when the path is found in the text)
where it is:

  ERROR: rules.json: segments[1].priority: expected a whole number, got \"three\"
    at rules.json:11:19
   |       \"priority\": \"three\",
   |                   ^

`-` reads the document from stdin.
Exit codes: 0 all valid, 1 an invalid or unreadable file, 2 usage error.
";

const SIMULATE_HELP: &str = "\
Simulate a visitor and show how the rules classify it.

Usage: edgeseg simulate FILE [--event SPEC]... [--attr KEY=VALUE]... [--url URL] [--now UNIX_SECONDS] [--json]

The visitor starts fresh, does each --event in time order (every page_view is a
request, classified as the Worker would), then makes one last request for --url
at --now, which is the one shown.

Flags:
  --event NAME[:PATH][@-DURATION][{PROPERTIES}]
        an event: page_view or an event the rules declare; PATH defaults to /,
        the time to now: page_view:/products/boots@-5m, add_to_cart@-40m;
        properties last, as a JSON object: 'purchase@-2d{\"value\": 129}'
  --attr KEY=VALUE
        request facts: country=DE, device=mobile|tablet|desktop|bot,
        user_agent=..., referrer=https://..., language=de (utm_* and other query
        parameters come from --url)
  --url URL           the last request (default https://example.test/)
  --now UNIX_SECONDS  the time of the last request (default: the clock)
  --json              print one JSON object instead of the report

JSON output fields:
  rules_version     the rules' `version`
  now, url          the last request
  signals           {name: number, or null when absent}
  segments          every segment in document order: {id, priority, condition
                    (did it hold), member (bool), standing: \"out\" | \"pending\" |
                    \"entered\" | \"member\" | \"holding\" | \"forced\", and by standing
                    since (member, pending), enters_at (pending), until (holding),
                    all in unix seconds}
  visitor_segments  the visitor's segments, best first
  entered           segments entered on the last request
  blocks            {block id: segment whose content applies, or null for the default}
  experiments       [{experiment, variant (or null), why, blocks}]: why says, for a
                    scheduled one, \"not started until 2026-12-24T18:00:00Z\" or
                    \"ended at ...\"
  scheduled         [{block, segment, why}]: a segment's content passed over for
                    its start_at/end_at (\"not started until ...\", \"ended at ...\")

Exit codes: 0 success, 1 invalid rules or an unknown event, 2 usage error.
";

const PREVIEW_HELP: &str = "\
Print a page rewritten for a visitor.

Usage: edgeseg preview FILE PAGE.html [--segment S]... [--variant EXP=V]... [--event SPEC]... [--attr KEY=VALUE]... [--url URL] [--now UNIX_SECONDS] [--tracked] [--plan]

Prints the rewritten HTML to stdout (and which segment filled each block to stderr).

Flags:
  --segment S   force segment S on, whatever its condition (repeatable); the
                visitor keeps any segment it is in by itself
  --variant EXPERIMENT=VARIANT
                show that experiment's variant whatever the visitor's
                segments (repeatable), as a signed preview link with a
                variant does
  --event, --attr, --url, --now
                the visitor, as for `edgeseg simulate`; try
                --url 'https://x.test/?utm_campaign=spring'
  --tracked     the page exactly as the Worker serves it to this visitor when
                consent allows tracking: with the scripts it adds for a
                counted visitor (the visitor id when the export or webhooks are
                on, the engagement measurement when signals read it). Without
                it, and always with --segment or --variant, the page is shown
                as a signed preview link shows it (nothing counted, so no
                tracking scripts; no preview banner)
  --plan        print the rewrite plan as JSON instead of the page (the form
                the Worker's admin `rewrite` check takes)

Both go through the same page pipeline as the Worker (src/page/).

Exit codes: 0 success, 1 invalid rules or page, an unknown segment, experiment,
variant or event, 2 usage error.
";

const SCHEMA_HELP: &str = "\
Print the JSON Schema of the rules document (the same as schema/rules.schema.json).

Usage: edgeseg schema

Exit codes: 0 success, 2 usage error.
";

const EVAL_HELP: &str = "\
Evaluate one GrowthBook-style condition against attributes.

Usage: edgeseg eval CONDITION ATTRIBUTES [--groups SAVED_GROUPS]

CONDITION, ATTRIBUTES and SAVED_GROUPS are JSON; one of them may be `-` to read
it from stdin. Prints `true` or `false`. Problems in the condition (an unknown
operator, a bad regex) are reported on stderr as warnings; such a test fails.

  edgeseg eval '{\"country\": {\"$in\": [\"DE\", \"AT\"]}}' '{\"country\": \"DE\"}'
  edgeseg eval '{\"id\": {\"$inGroup\": \"staff\"}}' '{\"id\": \"42\"}' --groups '{\"staff\": [\"42\"]}'

Exit codes: 0 true or false, 1 invalid JSON (with its position), 2 usage error.
";

const EXPORT_HELP: &str = "\
Erase one visitor from the export.

Usage: edgeseg export erase --worker URL [--token TOKEN] VISITOR [--prefix events/YYYY/] [--limit N] [--json]

VISITOR is the 32 hex digits of the visitor id (`visitor` in the export,
edgeseg.visitorId on the page). The Worker rewrites every export object in R2
that holds a record of that visitor without those records (an object left
empty is deleted); the other visitors' records stay as they were. It reads
--limit objects per call (default 20, at most 200) and answers with a cursor;
this command calls again until the whole export (or --prefix, e.g.
events/2026/12/) is done, a line per call on stderr.

--token is an admin token or a publisher's (EDGESEG_ADMIN_TOKEN is read when
--token is not given). Each call that removed records, and the last one, is
in the audit log (GET api/audit) as erase_export, with a reference to the id
(the first 16 hex digits of its SHA-256), not the id itself.

Exit codes: 0 done, 1 the Worker refused or could not be reached (a clear
message; what was erased before stays erased, run it again to finish),
2 usage error.
";

const TRAIN_HELP: &str = "\
Fit a model on a folder of exported records and print a signal to paste.

Usage: edgeseg train logistic DIR --label EVENT [--within DURATION] [--features A,B,...]
       edgeseg train trees DIR --label EVENT [--within DURATION] [--trees N] [--depth N] [--rate R]
       edgeseg train kmeans DIR --k N [--features A,B,...] [--names A,B,...] [--seed N]
       edgeseg train generate DIR [--seed N] [--visitors N] [--days N]

DIR is the export pulled from R2 (events/YYYY/MM/DD/HH/*.ndjson.gz, any folder
of such files). Each record is one moment of one visitor; its features are the
signal values the Worker recorded then (an absent signal counts as 0). For
logistic and trees, the label is whether the same visitor sent EVENT within
DURATION (default 7d) after the moment; moments whose window is not over by the
export's last record are left out. The older 70% of moments trains, the newer
30% tests; the report gives both time ranges and the quality on the newer part.

Flags:
  --features A,B     the signals to learn from (default: every numeric signal
                     except models: the signal --name, the models of the
                     --compare rules, and signals whose values are all chances)
  --name NAME        the signal's name in the paste block (default EVENT_chance,
                     EVENT_chance_trees, behaviour_cluster)
  --compare RULES    score the signal of that name in a rules file on the same
                     newer part, beside the new model: the drift report
  --signal-out FILE  also write the paste block's JSON to FILE
  --predict JSON     a JSON array of {feature: value} objects: print the trained
                     model's prediction for each
  --sample N         keep at most N moments in memory (default 300000): past it,
                     a uniform sample of visitors, each with all its moments,
                     so memory stays bounded whatever the export's size
  --json             one JSON object (report data, signal, predictions) instead;
                     also silences the progress line long reads print on stderr
  logistic:  L2-regularized on standardized features; the weights printed are
             on the raw values (the scaling is folded in)
  trees:     --trees (default 60, at most 500), --depth (default 3, at most 6),
             --rate (default 0.5) of a gradient-boosted ensemble
  kmeans:    --k clusters (2 to 32) of standardized features, k-means++ with
             --seed (default 1) and 8 restarts; --names gives the clusters names
             (the signal's value is then the name, else the number 0..k-1,
             largest cluster first)
  generate:  writes a synthetic export with three behaviour groups and a known
             purchase propensity to DIR (for trying this command)

Exit codes: 0 success, 1 unreadable or too little data, 2 usage error.
";

const RETRAIN_HELP: &str = "\
Train the model signals in force again on the site's recent export, and save
the better ones as a draft revision for a publisher to approve.

Usage: edgeseg retrain --worker URL [--token TOKEN] [--days N] [--margin M]
                       [--keep DIR] [--dry-run] [--json]

Through the Worker's admin API (the admin token only): reads the rules in
force, pulls the last --days of the export, and trains each logistic, trees
and cluster signal again with the settings recorded in its \"trained\" field
(which `edgeseg train` writes into the paste block): the same features, label,
window and parameters. Both the model in force and the new one are scored on
the newest 30% of moments; a new model at least --margin better (ROC-AUC for
chances, silhouette for clusters) replaces the old one in a draft, saved with
the quality report as its message. Nothing goes live until a publisher
publishes the draft. Models without \"trained\" are skipped (train them once with
`edgeseg train` and paste the block).

Flags:
  --worker URL    the site, e.g. https://shop.example.com (or EDGESEG_URL)
  --token TOKEN   the admin token (or EDGESEG_ADMIN_TOKEN, better: a command
                  line is visible to other users of the machine)
  --days N        how much of the export to pull (default 28, at most 366)
  --margin M      how much better a new model must be (default 0.01)
  --keep DIR      keep the pulled export in DIR; a later run pulls only new
                  objects, and removes export files there that are outside the
                  window or no longer in R2 (an erased visitor's old objects)
  --dry-run       report, save no draft
  --json          one JSON object instead of the report

Exit codes: 0 done (a draft saved, or nothing better); 1 the Worker refused the
token, could not be reached or failed (nothing saved), or a model could not be
trained again (it is named, with the path of the setting to fix); 2 usage error.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn events_parse_name_path_and_time() {
        let e = parse_event("page_view:/products/boots@-5m").unwrap();
        assert_eq!(
            (e.name.as_str(), e.path.as_str(), e.ago),
            ("page_view", "/products/boots", 300)
        );
        let e = parse_event("add_to_cart@-2m").unwrap();
        assert_eq!(
            (e.name.as_str(), e.path.as_str(), e.ago),
            ("add_to_cart", "/", 120)
        );
        let e = parse_event("purchase:/checkout").unwrap();
        assert_eq!((e.path.as_str(), e.ago), ("/checkout", 0));
        assert!(parse_event("page_view@5m").is_err());
        assert!(parse_event("page_view@-5 minutes").is_err());
        assert!(parse_event("page_view:products").is_err());
        assert!(parse_event(":/x").is_err());
        let e =
            parse_event(r#"purchase:/checkout@-2d{"value": "129.00", "note": "a@b:c"}"#).unwrap();
        assert_eq!(
            (e.name.as_str(), e.path.as_str(), e.ago),
            ("purchase", "/checkout", 172_800)
        );
        assert_eq!(e.props["value"], "129.00");
        assert_eq!(e.props["note"], "a@b:c");
        assert!(parse_event("purchase{\"value\": 1").is_err());
        assert!(parse_event("purchase[1]").is_err());
        assert!(parse_event("purchase{1}").is_err());
    }

    #[test]
    fn flags_take_values_inline_or_next() {
        let Command::Simulate { visitor, json } = parse(&args(&[
            "simulate",
            "r.json",
            "--now=100",
            "--url",
            "https://a.test/x",
            "--json",
        ]))
        .unwrap() else {
            panic!("not simulate")
        };
        assert!(json);
        assert_eq!(visitor.now, Some(100));
        assert_eq!(visitor.url.as_deref(), Some("https://a.test/x"));
    }

    #[test]
    fn unknown_flags_suggest_the_closest() {
        let e = parse(&args(&["simulate", "r.json", "--evnt", "x"])).unwrap_err();
        assert!(e.message.contains("did you mean --event?"), "{}", e.message);
        let e = parse(&args(&["valdate"])).unwrap_err();
        assert!(e.message.contains("`validate`"), "{}", e.message);
    }

    #[test]
    fn retrain_reads_the_token_from_the_environment() {
        let spec = COMMANDS.iter().find(|s| s.name == "retrain").unwrap();
        let env = |k: &str| (k == "EDGESEG_ADMIN_TOKEN").then(|| "t0ken".to_string());
        let s = split(spec, &args(&["--worker", "http://127.0.0.1:8787/"])).unwrap();
        let r = retrain(&s, &env).unwrap();
        assert_eq!(r.token, "t0ken");
        assert_eq!((r.days, r.margin, r.dry_run), (28, 0.01, false));
        let none = |_: &str| None;
        let e = retrain(&s, &none).unwrap_err();
        assert!(e.message.contains("EDGESEG_ADMIN_TOKEN"), "{}", e.message);
        let s = split(spec, &args(&["--token", "x"])).unwrap();
        let e = retrain(&s, &none).unwrap_err();
        assert!(e.message.contains("missing --worker"), "{}", e.message);
        let s = split(
            spec,
            &args(&["--worker", "shop.example.com", "--token", "x"]),
        )
        .unwrap();
        assert!(retrain(&s, &none)
            .unwrap_err()
            .message
            .contains("http(s) URL"));
        let s = split(
            spec,
            &args(&["--worker", "http://x", "--token", "x", "--margin", "2"]),
        )
        .unwrap();
        assert!(retrain(&s, &none).unwrap_err().message.contains("--margin"));
    }
}
