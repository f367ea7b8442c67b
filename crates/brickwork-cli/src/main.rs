//! `brickwork`: the command-line tool, shaped like the official `databricks`
//! CLI. Every operation of the API model is a command (`brickwork clusters
//! get CLUSTER_ID`, `brickwork account users list`), generated from
//! `api/model.json` into `generated.rs`; `auth`, `api`, `fs`, `emulator`,
//! `completion` and `demo` are written by hand.
//!
//! Exit codes: 0 success, 1 an API or other error, 2 a usage error (or an
//! invalid request, found before anything is sent), 3 an authentication or
//! configuration error (a token the workspace refuses included), 4 not found, 5 a timeout (a wait that ran out of time,
//! or a request that got no answer in time), 130 interrupted (Ctrl-C, after
//! cleaning up).

mod api;
mod auth;
mod demo;
mod fs;
mod generated;
mod operations;
mod output;
mod progress;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::rc::Rc;

use clap::{Args, CommandFactory, FromArgMatches, Subcommand, ValueEnum};
use operations::{group_command, Group, Invocation, Level};

/// A Databricks client for people and scripts.
#[derive(Debug, clap::Parser)]
#[command(name = "brickwork", version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Builtin,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Profile of ~/.databrickscfg to use.
    #[arg(short, long, global = true)]
    pub profile: Option<String>,
    /// Workspace or account URL (overrides the profile and DATABRICKS_HOST).
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Log requests to stderr (secrets redacted).
    #[arg(long, global = true)]
    pub debug: bool,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables for lists, indented JSON for objects.
    Text,
    /// JSON only, stable for scripts.
    Json,
}

/// The commands written by hand.
#[derive(Debug, Subcommand)]
enum Builtin {
    /// Authentication: what is configured, and logging in.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Call any API path: the raw escape hatch.
    Api(api::ApiArgs),
    /// Files in volumes (dbfs:/Volumes/...), in DBFS (dbfs:/...) and on this machine.
    #[command(subcommand)]
    Fs(fs::FsCommand),
    /// Run a local workspace (the emulator) in the foreground.
    Emulator(Box<brickwork_emulator::serve::ServeArgs>),
    /// Print a shell completion script.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Run the ETL demo: on the embedded emulator unless a workspace is named.
    Demo(demo::DemoArgs),
}

/// Exit codes by class of failure (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Other = 1,
    Usage = 2,
    AuthOrConfig = 3,
    NotFound = 4,
    Timeout = 5,
    /// Ctrl-C, as shells report a process ended by SIGINT.
    Interrupted = 130,
}

/// A failure of a command: its exit code, and the library's error if it
/// came from a call.
#[derive(Debug)]
pub struct CliError {
    exit: Exit,
    message: String,
    error: Option<brickwork::Error>,
    /// The reader of standard output has gone (`brickwork jobs list | head`):
    /// no failure, nothing to report.
    reader_gone: bool,
}

impl CliError {
    /// The same failure with what to do about it added to its message.
    pub fn with_hint(mut self, hint: &str) -> Self {
        self.message = format!("{}: {hint}", self.message);
        self
    }

    /// A command line that cannot be run as given.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError { exit: Exit::Usage, message: message.into(), error: None, reader_gone: false }
    }

    /// Anything else that is not the library's error.
    pub fn other(message: impl Into<String>) -> Self {
        CliError { exit: Exit::Other, message: message.into(), error: None, reader_gone: false }
    }

    /// Ctrl-C ended the command (after its clean-up ran).
    pub fn interrupted() -> Self {
        CliError { exit: Exit::Interrupted, message: "interrupted".into(), error: None, reader_gone: false }
    }

    /// Standard output was closed by its reader.
    pub fn reader_gone() -> Self {
        CliError { reader_gone: true, ..CliError::other("standard output was closed") }
    }
}

impl From<brickwork::Error> for CliError {
    fn from(error: brickwork::Error) -> Self {
        use brickwork::ErrorKind;
        let exit = match error.kind() {
            ErrorKind::Auth | ErrorKind::Config | ErrorKind::Unauthenticated => Exit::AuthOrConfig,
            ErrorKind::PermissionDenied if is_refused_token(error.message()) => Exit::AuthOrConfig,
            ErrorKind::Timeout => Exit::Timeout,
            kind if kind.is(ErrorKind::NotFound) => Exit::NotFound,
            _ => Exit::Other,
        };
        CliError { exit, message: error.message().to_string(), error: Some(error), reader_gone: false }
    }
}

/// A workspace answers a wrong or expired token with 403 "Invalid access
/// token." rather than 401: for the person at the terminal that is a
/// credential to fix, not a permission to ask for.
fn is_refused_token(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("access token") && (message.contains("invalid") || message.contains("expired"))
}

/// What every command shares: the global flags and the clients they configure.
pub struct Session {
    global: Global,
}

impl Session {
    fn new(global: Global) -> Rc<Session> {
        Rc::new(Session { global })
    }

    /// The configuration the global flags and the environment describe.
    pub fn config(&self, auth_type: Option<&str>) -> brickwork::Result<brickwork::Config> {
        let mut builder = brickwork::Config::builder();
        if let Some(profile) = &self.global.profile {
            builder = builder.profile(profile);
        }
        if let Some(host) = &self.global.host {
            builder = builder.host(host);
        }
        if let Some(auth_type) = auth_type {
            builder = builder.auth_type(auth_type);
        }
        builder.build()
    }

    /// A workspace client for this configuration.
    pub async fn workspace(&self) -> Result<brickwork::WorkspaceClient, CliError> {
        Ok(brickwork::WorkspaceClient::new(self.config(None)?).await?)
    }

    /// An account client for this configuration.
    pub async fn account(&self) -> Result<brickwork::AccountClient, CliError> {
        Ok(brickwork::AccountClient::new(self.config(None)?).await?)
    }

    /// Prints answers in the chosen format.
    pub fn printer(&self) -> output::Printer {
        output::Printer::new(self.global.output)
    }

    /// The chosen output format.
    pub fn output(&self) -> Output {
        self.global.output
    }

    /// Progress goes to stderr, and only to a person: a terminal, in text mode.
    pub fn show_progress(&self) -> bool {
        self.global.output == Output::Text && std::io::stderr().is_terminal()
    }
}

/// What is read from the command line before clap parses it.
#[derive(Debug, Default)]
struct ReadAhead {
    /// The first words that are not flags (or values of global flags): the
    /// groups named (`account settings personal-compute`). A leading `help`
    /// is skipped: `brickwork help clusters` names `clusters`.
    words: Vec<String>,
    /// JSON output is asked for, so that clap's own errors are JSON too.
    json: bool,
}

fn read_ahead(argv: &[OsString]) -> ReadAhead {
    let mut seen = ReadAhead::default();
    let mut args = argv.iter().skip(1).map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-o" | "--output" => seen.json |= args.next().is_some_and(|v| v == "json"),
            "--output=json" | "-ojson" | "-o=json" => seen.json = true,
            "-p" | "--profile" | "--host" => {
                args.next();
            }
            _ if arg.starts_with('-') || (seen.words.is_empty() && arg == "help") => {}
            _ if seen.words.len() < 3 => seen.words.push(arg),
            _ => {}
        }
    }
    seen
}

/// The command tree: the hand-written commands, then a group per service,
/// with the operations only of the group the command line names (or of
/// every group, for shell completion).
fn command_tree(groups: &[&'static Group], words: &[String], everything: bool) -> clap::Command {
    let root = add_groups(Cli::command(), groups, Level::Workspace, words, everything);
    let account = clap::Command::new("account").about("The account-level APIs.").subcommand_required(true);
    let account_words = match words.split_first() {
        Some((first, rest)) if first == "account" => rest,
        _ => &[],
    };
    root.subcommand(add_groups(account, groups, Level::Account, account_words, everything))
}

/// The groups of one level under `command`, nested ones (`settings X`) under
/// their parent; `words` are the words that follow `command`.
fn add_groups(
    mut command: clap::Command,
    groups: &[&'static Group],
    level: Level,
    words: &[String],
    everything: bool,
) -> clap::Command {
    let named = |index: usize, name: &str| words.get(index).is_some_and(|w| w == name);
    let mut parents: Vec<&str> = Vec::new();
    for group in groups.iter().filter(|g| g.level == level) {
        match group.parent {
            None => command = command.subcommand(group_command(group, everything || named(0, group.name))),
            Some(parent) if !parents.contains(&parent) => parents.push(parent),
            Some(_) => {}
        }
    }
    for parent in parents {
        let mut nested = clap::Command::new(parent).about(format!("The {parent} services.")).subcommand_required(true);
        for group in groups.iter().filter(|g| g.level == level && g.parent == Some(parent)) {
            let full = everything || (named(0, parent) && named(1, group.name));
            nested = nested.subcommand(group_command(group, full));
        }
        command = command.subcommand(nested);
    }
    command
}

/// The innermost subcommand's matches: global flags are read there, where
/// clap propagates them.
fn leaf(matches: &clap::ArgMatches) -> &clap::ArgMatches {
    let mut current = matches;
    while let Some((_, sub)) = current.subcommand() {
        current = sub;
    }
    current
}

/// The generated operation the matches select, and its matches.
fn selected<'a>(
    groups: &[&'static Group],
    matches: &'a clap::ArgMatches,
) -> Option<(&'static operations::Operation, &'a clap::ArgMatches)> {
    let (first, sub) = matches.subcommand()?;
    let (level, name, matches) = match first {
        "account" => {
            let (name, m) = sub.subcommand()?;
            (Level::Account, name, m)
        }
        name => (Level::Workspace, name, sub),
    };
    let (parent, group_name, group_matches) = if groups.iter().any(|g| g.level == level && g.parent == Some(name)) {
        let (child, m) = matches.subcommand()?;
        (Some(name), child, m)
    } else {
        (None, name, matches)
    };
    let group = groups.iter().find(|g| g.level == level && g.parent == parent && g.name == group_name)?;
    let (op_name, op_matches) = group_matches.subcommand()?;
    let op = group.operations.iter().find(|o| o.name == op_name)?;
    Some((op, op_matches))
}

async fn run(matches: clap::ArgMatches, groups: Vec<&'static Group>, session: Rc<Session>) -> Result<(), CliError> {
    if let Some((op, op_matches)) = selected(&groups, &matches) {
        return Invocation::parse(session, op, op_matches)?.run().await;
    }
    let builtin = Builtin::from_arg_matches(&matches).map_err(|e| CliError::usage(e.to_string()))?;
    match builtin {
        Builtin::Auth(command) => auth::run(&session, &command).await,
        Builtin::Api(args) => api::run(&session, &args).await,
        Builtin::Fs(command) => fs::run(&session, &command).await,
        Builtin::Emulator(args) => match brickwork_emulator::serve::serve(&args, "brickwork emulator").await {
            code if code == ExitCode::SUCCESS => Ok(()),
            _ => Err(CliError::other("the emulator stopped with an error")),
        },
        Builtin::Completion { shell } => {
            let mut tree = command_tree(&groups, &[], true);
            // Into memory first: clap_complete panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut tree, "brickwork", &mut script);
            output::raw(&script)
        }
        Builtin::Demo(args) => demo::run(&session, &args).await,
    }
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let groups = generated::groups();
    let ahead = read_ahead(&argv);
    let tree = command_tree(&groups, &ahead.words, false);
    let (matches, global) =
        match tree.try_get_matches_from(&argv).and_then(|m| Global::from_arg_matches(leaf(&m)).map(|g| (m, g))) {
            Ok(parsed) => parsed,
            Err(e) if e.use_stderr() && ahead.json => {
                // clap's message without its usage and tip paragraphs, on one line.
                let rendered = e.render().to_string();
                let what = rendered.split("\n\n").next().unwrap_or_default().trim_start_matches("error: ");
                output::report(Output::Json, &CliError::usage(what.split_whitespace().collect::<Vec<_>>().join(" ")));
                return ExitCode::from(Exit::Usage as u8);
            }
            Err(e) => {
                let _ = e.print();
                return ExitCode::from(if e.use_stderr() { Exit::Usage as u8 } else { 0 });
            }
        };
    // `--debug` logs the library's requests; RUST_LOG chooses any other
    // filter (CI runs the demo at trace level and scans the log for secrets).
    let filter = match (global.debug, std::env::var("RUST_LOG")) {
        (true, _) => Some("brickwork=debug".to_string()),
        (false, Ok(filter)) if !filter.trim().is_empty() => Some(filter),
        _ => None,
    };
    if let Some(filter) = filter {
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).init();
    }
    let session = Session::new(global);
    let output = session.output();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            output::stderr_line(&format!("Error: cannot start: {e}"));
            return ExitCode::from(Exit::Other as u8);
        }
    };
    match runtime.block_on(run(matches, groups, session)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.reader_gone => ExitCode::SUCCESS,
        Err(err) => {
            output::report(output, &err);
            ExitCode::from(err.exit as u8)
        }
    }
}
