//! The generated commands: what the table in `generated.rs` is made of, the
//! clap commands built from it (only for the group a command line names, so
//! starting stays cheap), and how a parsed command line becomes the
//! library's typed call and its printed answer.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use brickwork::service::runtime::{Call, Paginator, Request};
use brickwork::service::{LongRunning, Wait, WaitOptions};
use clap::{Arg, ArgAction, ArgMatches};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::output::{self, Printer};
use crate::progress::Progress;
use crate::{CliError, Session};

/// What a generated run function returns.
pub type Run = Pin<Box<dyn Future<Output = Result<(), CliError>>>>;

/// The APIs a group belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `brickwork <group> ...`
    Workspace,
    /// `brickwork account <group> ...`
    Account,
}

/// One service: a command group.
#[derive(Debug)]
pub struct Group {
    /// Its name on the command line (`clusters`, `cluster-policies`).
    pub name: &'static str,
    /// The group it is nested in (`settings`), if any.
    pub parent: Option<&'static str>,
    /// Workspace or account APIs.
    pub level: Level,
    /// One line of help.
    pub about: &'static str,
    /// Its commands.
    pub operations: &'static [Operation],
}

/// One operation: a command.
#[derive(Debug)]
pub struct Operation {
    /// Its name on the command line (`get`, `run-now`).
    pub name: &'static str,
    /// One line of help: method, path, what it waits for.
    pub about: &'static str,
    /// The API reference page.
    pub docs: &'static str,
    /// Required scalar parameters, as positional arguments in order: path
    /// parameters first.
    pub positionals: &'static [Param],
    /// How many positionals are path parameters: with `--json`, only those
    /// are given as arguments (the request body comes from the JSON), as in
    /// the official CLI.
    pub path_positionals: usize,
    /// Optional scalar parameters, as `--flags`.
    pub flags: &'static [Param],
    /// Every required parameter (wire names), scalar or not.
    pub required: &'static [&'static str],
    /// Whether `--json` can give the request.
    pub takes_json: bool,
    /// Whether the request has a raw body (an upload), read from a file or
    /// standard input.
    pub raw_body: bool,
    /// What is done with the answer.
    pub shape: Shape,
    /// Columns of the text table of a listing.
    pub columns: &'static [&'static str],
    /// Sends the typed call.
    pub run: fn(Invocation) -> Run,
}

/// A parameter given on the command line.
#[derive(Debug)]
pub struct Param {
    /// Its name on the wire.
    pub wire: &'static str,
    /// How its value is read.
    pub kind: Kind,
}

/// How a value is read from the command line.
#[derive(Debug)]
pub enum Kind {
    /// Text.
    Text,
    /// A 64-bit integer.
    Int,
    /// A number.
    Float,
    /// `true` or `false` (a flag alone is `true`).
    Bool,
    /// One of these values.
    Choice(&'static [&'static str]),
}

/// What a command does with its call's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Print it.
    Plain,
    /// Copy its bytes to standard output (downloads).
    Raw,
    /// Wait for the resource to reach its state, then print it.
    Wait,
    /// Wait for the long-running operation, then print its result.
    #[allow(dead_code)] // the operations of optional API packages
    LongRunning,
    /// Stream the items.
    List,
}

/// The flag of a parameter: `--cluster-name` for `cluster_name`.
pub fn flag_name(wire: &str) -> String {
    wire.replace('_', "-")
}

const JSON: &str = "json";
const NO_WAIT: &str = "no-wait";
const TIMEOUT: &str = "timeout";
const LIMIT: &str = "limit";
const BODY: &str = "SOURCE";

/// The clap command of a group, with its operations only when `full`
/// (a group the command line does not name needs only its name and help).
pub fn group_command(group: &Group, full: bool) -> clap::Command {
    let mut command = clap::Command::new(group.name).about(group.about).subcommand_required(true);
    if full {
        command = command.subcommands(group.operations.iter().map(operation_command));
    }
    command
}

fn operation_command(op: &'static Operation) -> clap::Command {
    let mut command = clap::Command::new(op.name).about(op.about).after_help(format!("API reference: {}", op.docs));
    for p in op.positionals {
        let mut arg = Arg::new(p.wire).value_name(p.wire.to_ascii_uppercase()).help(kind_help(&p.kind));
        arg = value_parser(arg, &p.kind);
        arg = if op.takes_json { arg.required_unless_present(JSON) } else { arg.required(true) };
        command = command.arg(arg);
    }
    if op.raw_body {
        command =
            command.arg(Arg::new(BODY).help("the bytes to send: a local file, or - (the default) for standard input"));
    }
    for p in op.flags {
        let mut arg = value_parser(Arg::new(p.wire).long(flag_name(p.wire)).help(kind_help(&p.kind)), &p.kind);
        if matches!(p.kind, Kind::Bool) {
            // A boolean flag alone means `true`; `--flag=false` says otherwise.
            arg = arg.num_args(0..=1).require_equals(true).default_missing_value("true");
        }
        command = command.arg(arg);
    }
    if op.takes_json {
        command = command.arg(
            Arg::new(JSON)
                .long(JSON)
                .value_name("JSON")
                .help("the whole request: inline JSON, or @path/to/file.json (@- for standard input); flags and arguments override its fields"),
        );
    }
    match op.shape {
        Shape::Wait | Shape::LongRunning => {
            command = command
                .arg(Arg::new(NO_WAIT).long(NO_WAIT).action(ArgAction::SetTrue).help("answer at once, without waiting"))
                .arg(
                    Arg::new(TIMEOUT)
                        .long(TIMEOUT)
                        .value_name("DURATION")
                        .default_value("20m")
                        .help("how long to wait (e.g. 90s, 20m, 1h)"),
                );
        }
        Shape::List => {
            command = command.arg(
                Arg::new(LIMIT)
                    .long(LIMIT)
                    .value_name("N")
                    .value_parser(clap::value_parser!(usize))
                    .help("stop after N items"),
            );
        }
        Shape::Plain | Shape::Raw => {}
    }
    command
}

fn kind_help(kind: &Kind) -> &'static str {
    match kind {
        Kind::Text | Kind::Choice(_) => "",
        Kind::Int => "an integer",
        Kind::Float => "a number",
        Kind::Bool => "true or false",
    }
}

fn value_parser(arg: Arg, kind: &Kind) -> Arg {
    match kind {
        Kind::Text => arg,
        Kind::Int => arg.value_parser(clap::value_parser!(i64)),
        Kind::Float => arg.value_parser(clap::value_parser!(f64)),
        Kind::Bool => arg.value_parser(clap::value_parser!(bool)),
        Kind::Choice(values) => arg.value_parser(clap::builder::PossibleValuesParser::new(values.iter().copied())),
    }
}

/// The value of argument `id`, if the command has it and it was given.
fn one<'a, T: Clone + Send + Sync + 'static>(matches: &'a ArgMatches, id: &str) -> Option<&'a T> {
    matches.try_get_one::<T>(id).ok().flatten()
}

/// The value a parameter was given, as JSON.
fn given(matches: &ArgMatches, p: &Param) -> Option<Value> {
    match p.kind {
        Kind::Text | Kind::Choice(_) => one::<String>(matches, p.wire).map(|v| Value::String(v.clone())),
        Kind::Int => one::<i64>(matches, p.wire).map(|v| Value::from(*v)),
        Kind::Float => one::<f64>(matches, p.wire).and_then(|v| serde_json::Number::from_f64(*v)).map(Value::Number),
        Kind::Bool => one::<bool>(matches, p.wire).map(|v| Value::Bool(*v)),
    }
}

/// A parsed command line of one operation, before anything is sent.
pub struct Invocation {
    session: Rc<Session>,
    op: &'static Operation,
    request: Map<String, Value>,
    body: Option<String>,
    no_wait: bool,
    timeout: Duration,
    limit: Option<usize>,
}

impl Invocation {
    /// The request the command line describes: `--json`, then the
    /// arguments and flags over it. A required field missing from all of
    /// them is a usage error, found before any request is sent.
    pub fn parse(session: Rc<Session>, op: &'static Operation, matches: &ArgMatches) -> Result<Invocation, CliError> {
        let json = one::<String>(matches, JSON);
        let mut request = match json {
            Some(text) => read_json(text)?,
            None => Map::new(),
        };
        let (path, body) = op.positionals.split_at(op.path_positionals.min(op.positionals.len()));
        if let Some(p) = body.iter().find(|p| json.is_some() && given(matches, p).is_some()) {
            let arguments: Vec<String> = path.iter().map(|p| p.wire.to_ascii_uppercase()).collect();
            return Err(CliError::usage(format!(
                "with --json, give `{}` in the JSON, not as an argument (arguments here: {})",
                p.wire,
                arguments.join(" ")
            )));
        }
        for p in op.positionals.iter().chain(op.flags) {
            if let Some(value) = given(matches, p) {
                request.insert(p.wire.to_string(), value);
            }
        }
        if let Some(missing) = op.required.iter().find(|wire| request.get(**wire).is_none_or(Value::is_null)) {
            return Err(CliError::usage(format!(
                "missing required field `{missing}`: give it as an argument{}",
                if op.takes_json { " or in --json" } else { "" }
            )));
        }
        let timeout = match one::<String>(matches, TIMEOUT) {
            Some(text) => brickwork::service::IntoTimeout::into_timeout(text.as_str())
                .map_err(|e| CliError::usage(format!("--timeout: {}", e.message())))?,
            None => Duration::from_secs(20 * 60),
        };
        Ok(Invocation {
            session,
            op,
            request,
            body: one::<String>(matches, BODY).cloned(),
            no_wait: one::<bool>(matches, NO_WAIT).copied().unwrap_or(false),
            timeout,
            limit: one::<usize>(matches, LIMIT).copied(),
        })
    }

    /// Run the operation.
    pub async fn run(self) -> Result<(), CliError> {
        (self.op.run)(self).await
    }

    /// The request decoded as the operation's typed request: a value of the
    /// wrong type is a usage error naming the field's path; a field the
    /// request does not have is not sent, with a warning naming its path.
    pub fn request<R: DeserializeOwned>(&self) -> Result<R, CliError> {
        let mut unknown = Vec::new();
        let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let value = Value::Object(self.request.clone());
        let decoded =
            serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut note)).map_err(|e| {
                let path = e.path().to_string();
                CliError::usage(format!("invalid request at `{path}`: {}", e.into_inner()))
            })?;
        for path in unknown {
            crate::output::warn(&format!("unknown field `{path}` in the request is not sent"));
        }
        Ok(decoded)
    }

    /// The raw body of an upload, from its file or standard input.
    pub fn body(&self) -> Result<bytes::Bytes, CliError> {
        let source = self.body.as_deref().unwrap_or("-");
        let read = if source == "-" {
            let mut buffer = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buffer).map(|_| buffer)
        } else {
            std::fs::read(source)
        };
        read.map(bytes::Bytes::from).map_err(|e| CliError::usage(format!("cannot read {source}: {e}")))
    }

    /// The workspace client the global flags and the environment configure.
    pub async fn workspace(&self) -> Result<brickwork::WorkspaceClient, CliError> {
        self.session.workspace().await
    }

    /// The account client the global flags and the environment configure.
    pub async fn account(&self) -> Result<brickwork::AccountClient, CliError> {
        self.session.account().await
    }

    fn printer(&self) -> Printer {
        self.session.printer()
    }

    /// Send and print the answer.
    pub async fn plain<R: Request, O: Serialize + Send + 'static>(&self, call: Call<R, O>) -> Result<(), CliError> {
        let answer = call.await?;
        self.printer().value(&answer)
    }

    /// Send and copy the answer's bytes to standard output.
    pub async fn raw<R: Request>(&self, call: Call<R, brickwork::transport::Response>) -> Result<(), CliError> {
        output::raw(call.await?.bytes())
    }

    /// Send, then wait for the resource (unless `--no-wait`) with a
    /// progress line on a terminal, and print where it ended.
    pub async fn wait<R, A, T>(&self, call: Call<R, Wait<A, T>>) -> Result<(), CliError>
    where
        R: Request,
        A: Serialize + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let pending = call.await?;
        if self.no_wait {
            return self.printer().value(pending.response());
        }
        let progress = Progress::start(self.session.show_progress(), pending.id());
        let spec = pending.spec();
        let shown = progress.clone();
        let options = WaitOptions::default().timeout(self.timeout).on_progress(move |polled: &T| {
            let json = serde_json::to_value(polled).unwrap_or(Value::Null);
            let (state, message) = spec.state_of(&json);
            shown.update(state.as_deref(), message.as_deref(), &json);
        });
        let done = pending.wait_with(options).await;
        progress.finish();
        self.printer().value(&done?)
    }

    /// Send, then wait for the long-running operation (unless `--no-wait`)
    /// and print its result.
    #[allow(dead_code)] // the operations of optional API packages
    pub async fn long_running<R, O, T>(&self, call: Call<R, LongRunning<O, T>>) -> Result<(), CliError>
    where
        R: Request,
        O: Serialize + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let pending = call.await?;
        if self.no_wait {
            return self.printer().value(pending.operation());
        }
        let progress = Progress::start(self.session.show_progress(), pending.name());
        let done = pending.wait_with(WaitOptions::default().timeout(self.timeout)).await;
        progress.finish();
        self.printer().value(&done?)
    }

    /// Stream the items of a listing as they arrive, up to `--limit`.
    pub async fn list<R, T>(&self, paginator: Paginator<R, T>) -> Result<(), CliError>
    where
        R: Request,
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let mut items = match self.limit {
            Some(n) => paginator.max_items(n),
            None => paginator,
        };
        let mut listing = self.printer().listing(self.op.columns);
        loop {
            match items.try_next().await {
                Ok(Some(item)) => listing.push(serde_json::to_value(&item).unwrap_or(Value::Null))?,
                Ok(None) => return listing.finish(),
                Err(err) => {
                    // What was printed stays well-formed (a JSON array, a
                    // table); the exit code and stderr say it is not all.
                    listing.finish()?;
                    return Err(err.into());
                }
            }
        }
    }
}

/// `--json` as given: inline, `@file`, or `@-` for standard input; it must
/// be an object.
fn read_json(text: &str) -> Result<Map<String, Value>, CliError> {
    match json_argument(text)? {
        Value::Object(map) => Ok(map),
        _ => Err(CliError::usage("--json: the request must be a JSON object")),
    }
}

/// A JSON argument: inline, `@path/to/file.json`, or `@-` for standard input.
pub fn json_argument(text: &str) -> Result<Value, CliError> {
    let (source, raw) = match text.strip_prefix('@') {
        Some("-") => {
            let mut buffer = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut buffer)
                .map_err(|e| CliError::usage(format!("--json @-: cannot read standard input: {e}")))?;
            ("--json @-".to_string(), buffer)
        }
        Some(path) => {
            let raw = std::fs::read_to_string(path).map_err(|e| CliError::usage(format!("--json @{path}: {e}")))?;
            (format!("--json @{path}"), raw)
        }
        None => ("--json".to_string(), text.to_string()),
    };
    serde_json::from_str(&raw).map_err(|e| CliError::usage(format!("{source}: invalid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_command_is_a_valid_clap_command() {
        // The whole tree, so that clashes with the global flags and between
        // groups are found too.
        crate::command_tree(&crate::generated::groups(), &[], true).debug_assert();
    }

    #[test]
    fn every_generated_command_is_reached_by_its_command_line() {
        for group in crate::generated::groups() {
            let mut words: Vec<String> = Vec::new();
            if group.level == Level::Account {
                words.push("account".into());
            }
            words.extend(group.parent.map(String::from));
            words.push(group.name.into());
            for op in group.operations {
                let mut argv: Vec<String> = vec!["brickwork".into()];
                argv.extend(words.iter().cloned());
                argv.push(op.name.into());
                argv.extend(op.positionals.iter().map(|p| example_value(&p.kind)));
                let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
                let tree = crate::command_tree(&crate::generated::groups(), &crate::read_ahead(&argv).words, false);
                let matches = tree.try_get_matches_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
                let (selected, _) = crate::selected(&crate::generated::groups(), &matches)
                    .unwrap_or_else(|| panic!("{argv:?} selects no operation"));
                assert!(std::ptr::eq(selected, op), "{argv:?} selects {}", selected.name);
            }
        }
    }

    fn example_value(kind: &Kind) -> String {
        match kind {
            Kind::Text => "x".into(),
            Kind::Int => "1".into(),
            Kind::Float => "1.5".into(),
            Kind::Bool => "true".into(),
            Kind::Choice(values) => values.first().map(|v| v.to_string()).unwrap_or_default(),
        }
    }
}
