//! The command table of the `brickwork` CLI: one group per service and one
//! command per operation, named as the official `databricks` CLI names them,
//! each running the library's typed call for its operation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use crate::codegen::{
    call_shape, ident, inner, lro_decode, method_name, param_members, request_type, setter_name, waiter_plan, Ctx,
    Index, Kind, CALL_METHODS, HEADER,
};
use crate::model::{Model, Operation, Service, TypeDef, TypeRef};

/// Names the hand-written commands take; no generated group may use them.
const BUILTIN: &[&str] = &["account", "api", "auth", "completion", "demo", "emulator", "help", "version"];

/// Options every generated command has (a parameter of the same name is
/// given through `--json` only).
const RESERVED_FLAGS: &[&str] =
    &["json", "no-wait", "timeout", "limit", "output", "profile", "host", "debug", "help", "version"];

/// `snake_case` (or a dotted accessor's last part) as `kebab-case`.
fn kebab(name: &str) -> String {
    // `import_` (a Python keyword dodge) is the official CLI's `import`.
    name.rsplit('.').next().unwrap_or(name).trim_end_matches('_').replace('_', "-")
}

/// How a scalar parameter is read from the command line, as the CLI's
/// `operations::Kind` expression; `None` for values that only `--json` gives.
fn scalar_kind(ty: &TypeRef, index: &Index, enums: &HashMap<(String, String), Vec<String>>) -> Option<String> {
    match ty.kind.as_str() {
        "string" | "timestamp" | "duration" | "field_mask" => Some("Kind::Text".into()),
        "int64" => Some("Kind::Int".into()),
        "double" => Some("Kind::Float".into()),
        "boolean" => Some("Kind::Bool".into()),
        "ref" if index.kind(ty) == Some(Kind::Enum) => {
            let key = (ty.package.clone()?, ty.name.clone()?);
            let values = enums.get(&key)?;
            Some(format!("Kind::Choice(&[{}])", values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")))
        }
        _ => None,
    }
}

/// Up to four columns of a listing's text table: the item's id, its name,
/// its state, then other short facts, as a person scanning the list wants
/// them. The item's own id and name are told from those of what it refers
/// to by the words of its type's name (`job_id` of a `BaseJob`, not its
/// `effective_budget_policy_id`).
fn columns(item: &TypeRef, types: &HashMap<(String, String), &TypeDef>, index: &Index) -> Vec<String> {
    let Some(t) = item.package.clone().zip(item.name.clone()).and_then(|k| types.get(&k)) else {
        return Vec::new();
    };
    let scalar = |ty: &TypeRef| {
        matches!(ty.kind.as_str(), "string" | "timestamp" | "int64" | "boolean" | "double")
            || (ty.kind == "ref" && index.kind(ty) == Some(Kind::Enum))
    };
    let words: Vec<String> = split_words(&t.name);
    let own = |wire: &str, suffix: &str| words.iter().any(|w| wire == format!("{w}{suffix}"));
    // (rank, preference within the rank): lower is better.
    let score = |wire: &str| -> Option<(u8, u8)> {
        match wire {
            "id" => Some((0, 0)),
            w if own(w, "_id") => Some((0, 1)),
            "name" | "display_name" | "full_name" | "path" | "key" => Some((1, 0)),
            w if own(w, "_name") => Some((1, 1)),
            "state" | "status" | "life_cycle_state" => Some((2, 0)),
            w if w.ends_with("_id")
                && !["policy", "budget", "usage", "parent", "metastore", "workspace", "account"]
                    .iter()
                    .any(|x| w.contains(x)) =>
            {
                Some((0, 2))
            }
            "object_type" | "language" | "type" | "comment" | "owner" | "creator_user_name" | "user_name" => {
                Some((3, 0))
            }
            _ => None,
        }
    };
    let mut picked: Vec<((u8, u8), usize, String)> = Vec::new();
    for (i, f) in t.fields.iter().enumerate() {
        if scalar(&f.ty) {
            if let Some(s) = score(&f.wire) {
                picked.push((s, i, f.wire.clone()));
            }
        }
    }
    // A listing without a name of its own often has one a level down
    // (`settings.name` of a job).
    if !picked.iter().any(|((r, _), ..)| *r == 1) {
        let nested = t.fields.iter().enumerate().find_map(|(i, f)| {
            let sub = f.ty.package.clone().zip(f.ty.name.clone()).and_then(|k| types.get(&k))?;
            let name = sub.fields.iter().find(|g| g.wire == "name" && scalar(&g.ty))?;
            Some(((1, 2), i, format!("{}.{}", f.wire, name.wire)))
        });
        picked.extend(nested);
    }
    picked.sort();
    // The best of each of the first three ranks, then other facts, up to four.
    let mut out: Vec<String> = Vec::new();
    let mut ranks = BTreeSet::new();
    for ((r, _), _, wire) in &picked {
        if (*r < 3 && ranks.insert(*r)) || (*r == 3 && out.len() < 4) {
            out.push(wire.clone());
        }
    }
    out.truncate(4);
    out
}

/// `BaseJob` -> `["base", "job"]`.
fn split_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The expression a required argument of the service method gets: an empty
/// value of its type (the whole request replaces it).
fn placeholder(arg_type: &str) -> String {
    match arg_type {
        "impl Into<::std::string::String>" => "::std::string::String::new()".into(),
        "impl Into<crate::service::Sensitive>" => "::std::string::String::new()".into(),
        "impl Into<::bytes::Bytes>" => "::bytes::Bytes::new()".into(),
        _ => "::std::default::Default::default()".into(),
    }
}

/// What a command does with its call's answer.
enum Shape {
    Plain,
    Raw,
    Wait,
    LongRunning,
    List(Vec<String>),
}

struct Generated {
    table: String,
    runs: String,
    /// The best representative command of the group being generated.
    representative: Option<(u8, String)>,
}

/// An example command-line value of a scalar kind (a `Kind` expression).
fn example(kind: &str) -> String {
    match kind {
        "Kind::Int" => "1".into(),
        "Kind::Float" => "1.5".into(),
        "Kind::Bool" => "true".into(),
        k if k.starts_with("Kind::Choice") => k.split('"').nth(1).unwrap_or("x").to_string(),
        _ => "x".into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn command(
    out: &mut Generated,
    pkg: &str,
    service: &Service,
    accessor: &str,
    op: &Operation,
    ctx: &Ctx,
    all_types: &HashMap<(String, String), &TypeDef>,
    enums: &HashMap<(String, String), Vec<String>>,
) {
    let index = ctx.index;
    let req = request_type(service, op);
    let owner = (pkg.to_string(), req.clone());
    let members = param_members(op, pkg, &owner, index);
    let (_, decode) = call_shape(op, pkg, index);
    let shape = if let (Some(_), Some(ret)) = (&op.pagination, &op.returns) {
        Shape::List(columns(inner(&ret.items), all_types, index))
    } else if op.waiter.as_ref().and_then(|w| waiter_plan(service, op, w, ctx)).is_some() {
        Shape::Wait
    } else if op.lro.as_ref().and_then(|l| lro_decode(service, l, &req, ctx)).is_some() {
        Shape::LongRunning
    } else if decode == "rt::raw" {
        Shape::Raw
    } else {
        Shape::Plain
    };
    // Path parameters first: with --json they stay arguments, as in the
    // official CLI, while body fields come from the JSON.
    let mut path_positionals = Vec::new();
    let mut body_positionals = Vec::new();
    let mut flags = Vec::new();
    let mut required = Vec::new();
    let mut raw_body = None;
    // For the representative-command table: example values of the
    // positionals, the path they make, and whether every required value is
    // one the command line can give.
    let (mut path_examples, mut body_examples, mut expected_path) = (Vec::new(), Vec::new(), op.path.clone());
    let mut all_scalar = true;
    let (_, in_path) = crate::codegen::path_template(&op.path);
    for p in &op.params {
        let Some(m) = members.iter().find(|m| m.wire == p.wire) else { continue };
        if p.location == "raw_body" {
            raw_body = Some(m);
            continue;
        }
        let kind = scalar_kind(&p.ty, index, enums);
        let entry = |kind: &str| format!("Param {{ wire: {:?}, kind: {kind} }}", m.wire);
        if m.required {
            required.push(format!("{:?}", m.wire));
            match &kind {
                Some(kind) if in_path.contains(&p.wire) => {
                    path_positionals.push(entry(kind));
                    path_examples.push(example(kind));
                    for placeholder in [format!("{{{}}}", p.wire), format!("{{{}.value}}", p.wire)] {
                        expected_path = expected_path.replace(&placeholder, &example(kind));
                    }
                }
                Some(kind) => {
                    body_positionals.push(entry(kind));
                    body_examples.push(example(kind));
                }
                None => all_scalar = false,
            }
        } else if let Some(kind) = &kind {
            // The flag as the CLI spells it (operations::flag_name).
            if !RESERVED_FLAGS.contains(&m.wire.replace('_', "-").as_str()) {
                flags.push(entry(kind));
            }
        }
    }
    let path_count = path_positionals.len();
    let positionals = [path_positionals, body_positionals].concat();
    let run = format!("run_{}_{}", service.name, op.name);
    let (shape_expr, columns) = match &shape {
        Shape::Plain => ("Shape::Plain", String::new()),
        Shape::Raw => ("Shape::Raw", String::new()),
        Shape::Wait => ("Shape::Wait", String::new()),
        Shape::LongRunning => ("Shape::LongRunning", String::new()),
        Shape::List(c) => ("Shape::List", c.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")),
    };
    if all_scalar && raw_body.is_none() {
        // Reads first, lists best (an empty answer is a whole one).
        let rank = match (&shape, op.method.as_str()) {
            (Shape::List(_), "GET") => 0,
            (_, "GET") => 1,
            _ => 2,
        };
        let shape_name = match shape {
            Shape::Wait | Shape::LongRunning => "waits",
            _ => "answers",
        };
        let args: Vec<String> = [path_examples, body_examples].concat();
        let row = format!(
            "{}\t{}\t{}\t{}\t{}\t{expected_path}\t{shape_name}",
            kebab(&op.python_name),
            args.join(" "),
            op.method,
            pkg,
            service.level,
        );
        if out.representative.as_ref().is_none_or(|(best, _)| rank < *best) {
            out.representative = Some((rank, row));
        }
    }
    let mut about = format!("{} {}", op.method, op.path);
    if let Some(w) = &op.waiter {
        if matches!(shape, Shape::Wait) {
            about.push_str(&format!("; waits for {}", w.target.join(" or ")));
        }
    }
    if matches!(shape, Shape::LongRunning) {
        about.push_str("; waits for the operation to finish");
    }
    let _ = writeln!(
        out.table,
        "        Operation {{ name: {:?}, about: {about:?}, docs: {:?}, positionals: &[{}], path_positionals: {path_count}, flags: &[{}], required: &[{}], takes_json: {}, raw_body: {}, shape: {shape_expr}, columns: &[{columns}], run: {run} }},",
        kebab(&op.python_name),
        op.docs_url,
        positionals.join(", "),
        flags.join(", "),
        required.join(", "),
        !op.params.is_empty(),
        raw_body.is_some(),
    );
    // The typed call: the service method with empty required arguments, then
    // the whole request decoded from the command line.
    let client = if service.level == "account" { "inv.account().await?" } else { "inv.workspace().await?" };
    let target = accessor.split('.').map(|a| format!("{}()", ident(a))).collect::<Vec<_>>().join(".");
    let args: Vec<String> = members.iter().filter(|m| m.required).map(|m| placeholder(&m.shape.arg)).collect();
    let method = method_name(pkg, service, op);
    let method = match crate::codegen::helper_rename(pkg, &service.name, &op.name) {
        // The hand-written helper has the operation's own name and shape.
        Some(_) => ident(&op.name),
        None => method,
    };
    let mut call = format!("client.{target}.{method}({})", args.join(", "));
    // The request is decoded (and so checked) before any client is made.
    let mut decode_request = String::new();
    if !op.params.is_empty() {
        decode_request = format!("let request = inv.request::<brickwork::service::{pkg}::{req}>()?;\n        ");
        call = format!("{call}.with_request(request)");
    }
    if let Some(raw) = raw_body {
        // The body is no part of the decoded request: it is read apart.
        call = format!("{call}.{}(inv.body()?)", setter_name(&raw.id, CALL_METHODS));
    }
    let emit = match shape {
        Shape::Plain => "plain",
        Shape::Raw => "raw",
        Shape::Wait => "wait",
        Shape::LongRunning => "long_running",
        Shape::List(_) => "list",
    };
    let _ = writeln!(
        out.runs,
        "#[cfg(feature = \"{pkg}\")]\nfn {run}(inv: Invocation) -> Run {{\n    Box::pin(async move {{\n        {decode_request}let client = {client};\n        inv.{emit}({call}).await\n    }})\n}}\n"
    );
}

/// `crates/brickwork-cli/src/generated.rs`: the command table and a run
/// function per operation, each package behind its cargo feature.
/// Also answers `crates/brickwork-cli/tests/representative.tsv`: one
/// command of each group, with the request it must make.
pub fn commands(model: &Model, index: &Index, idempotent: &BTreeSet<(String, String, String)>) -> (String, String) {
    let mut all_types: HashMap<(String, String), &TypeDef> = HashMap::new();
    let mut enums: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (pkg, p) in &model.packages {
        for t in &p.types {
            all_types.insert((pkg.clone(), t.name.clone()), t);
        }
        for e in &p.enums {
            enums.insert((pkg.clone(), e.name.clone()), e.values.iter().map(|v| v.wire.clone()).collect());
        }
    }
    let mut groups: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Generated { table: String::new(), runs: String::new(), representative: None };
    let mut representatives = String::from(REPRESENTATIVE_HEADER);
    let mut seen: BTreeSet<(String, Option<String>, String)> = BTreeSet::new();
    for (pkg, p) in &model.packages {
        let types: HashMap<String, &TypeDef> = p.types.iter().map(|t| (t.name.clone(), t)).collect();
        let ctx = Ctx { pkg, index, types: &types, idempotent };
        for service in &p.services {
            let Some(accessor) = service.accessors.first() else { continue };
            if service.operations.is_empty() {
                continue;
            }
            let name = kebab(accessor);
            let parent = accessor.split_once('.').map(|(parent, _)| kebab(parent));
            assert!(!BUILTIN.contains(&name.as_str()), "the {name} group would hide a built-in command");
            assert!(seen.insert((service.level.clone(), parent.clone(), name.clone())), "two {name} groups");
            let constant = format!(
                "OPS_{}_{}",
                service.level.to_ascii_uppercase(),
                accessor.replace('.', "_").to_ascii_uppercase()
            );
            let _ = writeln!(out.table, "#[cfg(feature = \"{pkg}\")]\nstatic {constant}: &[Operation] = &[");
            out.representative = None;
            for op in &service.operations {
                command(&mut out, pkg, service, accessor, op, &ctx, &all_types, &enums);
            }
            let _ = writeln!(out.table, "];\n");
            let words = match (&parent, service.level.as_str()) {
                (Some(parent), "account") => format!("account {parent} {name}"),
                (Some(parent), _) => format!("{parent} {name}"),
                (None, "account") => format!("account {name}"),
                (None, _) => name.clone(),
            };
            if let Some((_, row)) = out.representative.take() {
                let _ = writeln!(representatives, "{words}\t{row}");
            }
            let level = if service.level == "account" { "Level::Account" } else { "Level::Workspace" };
            let docs = service
                .operations
                .first()
                .map(|o| o.docs_url.rsplit_once('/').map(|(d, _)| d).unwrap_or_default())
                .unwrap_or_default();
            let about = format!(
                "The {} service ({} operations; {docs}).",
                service.name.replace('_', " "),
                service.operations.len()
            );
            let _ = writeln!(
                groups.entry(pkg.clone()).or_default(),
                "        Group {{ name: {name:?}, parent: {:?}, level: {level}, about: {about:?}, operations: {constant} }},",
                parent
            );
        }
    }
    let mut code = String::new();
    let _ = writeln!(code, "{HEADER}");
    code.push_str("//! Every operation of the API model as a command: the table the command\n//! line is parsed by, and a run function per operation that sends the\n//! library's typed call.\n\n");
    code.push_str("#![allow(clippy::all, unused_imports)]\n\n");
    code.push_str("use crate::operations::{Group, Invocation, Kind, Level, Operation, Param, Run, Shape};\n\n");
    code.push_str("/// The groups of the compiled API packages.\npub fn groups() -> Vec<&'static Group> {\n    let mut all: Vec<&'static Group> = Vec::new();\n");
    for pkg in groups.keys() {
        let _ =
            writeln!(code, "    #[cfg(feature = \"{pkg}\")]\n    all.extend(GROUPS_OF_{});", pkg.to_ascii_uppercase());
    }
    code.push_str("    all\n}\n\n");
    for (pkg, entries) in &groups {
        let _ = writeln!(
            code,
            "#[cfg(feature = \"{pkg}\")]\nstatic GROUPS_OF_{}: &[Group] = &[\n{entries}];\n",
            pkg.to_ascii_uppercase()
        );
    }
    code.push_str(&out.table);
    code.push_str(&out.runs);
    (code, representatives)
}

const REPRESENTATIVE_HEADER: &str = "# Generated by `cargo xtask codegen` from api/model.json. DO NOT EDIT.\n\
# One command of each group, for the CLI's test that every group reaches its endpoint:\n\
# group words, command, example arguments, method, API package, level, path they make, whether it waits.\n";

/// The `[features]` table of crates/brickwork-cli/Cargo.toml: the library's
/// API packages, the same defaults.
pub fn features(model: &Model) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "[features]\n# Generated by `cargo xtask codegen`: one feature per API package, as the library has."
    );
    let defaults: Vec<String> = crate::codegen::DEFAULT_FEATURES.iter().map(|f| format!("{f:?}")).collect();
    let _ = writeln!(out, "default = [{}]", defaults.join(", "));
    let all: Vec<String> = model.packages.keys().map(|k| format!("{k:?}")).collect();
    let _ = writeln!(out, "all-services = [{}]", all.join(", "));
    for name in model.packages.keys() {
        let _ = writeln!(out, "{name} = [\"brickwork/{name}\"]");
    }
    out
}
