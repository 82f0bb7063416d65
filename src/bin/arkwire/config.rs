//! Every `serve` option from three places, in rising precedence: a TOML file
//! (`--config FILE`), the environment (`ARKWIRE_<OPTION>`), the command line.
//!
//! The file's keys are the options' long names (`max-message-size` or
//! `max_message_size`); a repeatable option takes an array, and `route`
//! also takes `[[route]]` tables (`user`, `upstream`, and optionally
//! `pool`, `timeout_ms`, `max_inflight`). Each value is checked by the option's own parser
//! before anything starts, so a bad item is reported with the file and the
//! key that hold it. The layering is done on the arguments themselves: file
//! values the command line or the environment did not set become flags in
//! front of the user's, and clap then parses the whole as usual.

use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// The subcommand whose options a config file may set.
const SERVE: &str = "serve";
/// Options that describe the configuration rather than belong to it.
const META: [&str; 3] = ["config", "print_config", "help"];

/// Gives every `serve` option an `ARKWIRE_<OPTION>` environment variable,
/// unless it names one already.
pub fn with_env(cmd: Command) -> Command {
    cmd.mut_subcommand(SERVE, |serve| {
        serve.mut_args(|arg| {
            let id = arg.get_id().as_str().to_string();
            if arg.get_env().is_some() || META.contains(&id.as_str()) || arg.is_positional() {
                return arg;
            }
            arg.env(format!("ARKWIRE_{}", id.to_uppercase()))
        })
    })
}

/// The arguments to parse, and which options the config file set.
pub struct Layered {
    /// `argv` with the file's flags inserted after `serve`.
    pub argv: Vec<OsString>,
    /// Ids of the options whose value came from the file.
    pub from_file: Vec<String>,
}

/// `argv` with the config file's values inserted after `serve`, for every
/// option neither the command line nor the environment set. Without
/// `--config` (or when `argv` does not parse; clap will say why) it is
/// returned unchanged.
pub fn layered(cmd: &Command, argv: Vec<OsString>) -> Result<Layered, String> {
    let unchanged = |argv| Layered {
        argv,
        from_file: Vec::new(),
    };
    let Ok(matches) = cmd.clone().try_get_matches_from(&argv) else {
        return Ok(unchanged(argv));
    };
    let Some((SERVE, serve)) = matches.subcommand() else {
        return Ok(unchanged(argv));
    };
    let Some(path) = serve.get_one::<std::path::PathBuf>("config") else {
        return Ok(unchanged(argv));
    };
    let serve_cmd = cmd
        .find_subcommand(SERVE)
        .ok_or("no serve subcommand")?
        .clone();
    let (tokens, from_file) = file_flags(&serve_cmd, serve, path)?;
    let at = argv
        .iter()
        .position(|a| a == SERVE)
        .ok_or("no serve subcommand")?;
    let mut out = argv[..=at].to_vec();
    out.extend(tokens);
    out.extend_from_slice(&argv[at + 1..]);
    Ok(Layered {
        argv: out,
        from_file,
    })
}

/// The flags a config file contributes, each value already checked, and
/// the ids of the options they set.
fn file_flags(
    serve: &Command,
    given: &ArgMatches,
    path: &Path,
) -> Result<(Vec<OsString>, Vec<String>), String> {
    let name = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {name}: {e}"))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map_or(0, |s| text[..s.start].lines().count().max(1));
        format!(
            "config file {name} is not valid TOML (line {line}): {}",
            e.message().trim()
        )
    })?;
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && !META.contains(&a.get_id().as_str()))
            .ok_or_else(|| {
                format!("config file {name}: unknown option `{key}` (see `arkwire serve --help`)")
            })?;
        let id = arg.get_id().as_str();
        if matches!(
            given.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue; // set where it counts more
        }
        ids.push(id.to_string());
        let bad = |why: String| format!("config file {name}: option `{key}`: {why}");
        let values = match value {
            toml::Value::Array(items) if matches!(arg.get_action(), ArgAction::Append) => items
                .iter()
                .map(|item| match item {
                    toml::Value::Table(t) if id == ROUTE => route_table(t),
                    other => scalar(other),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?,
            other => vec![scalar(other).map_err(bad)?],
        };
        for v in values {
            if matches!(arg.get_action(), ArgAction::SetTrue) {
                match v.as_str() {
                    "true" => tokens.push(OsString::from(format!("--{long}"))),
                    "false" => {}
                    _ => return Err(bad(format!("expected true or false, not {v}"))),
                }
                continue;
            }
            check(arg, &v).map_err(bad)?;
            tokens.push(OsString::from(format!("--{long}")));
            tokens.push(OsString::from(v));
        }
    }
    Ok((tokens, ids))
}

/// The option whose items may be `[[route]]` tables.
const ROUTE: &str = "route";

/// A `[[route]]` table as the text of a `--route` item:
/// `user=upstream[,pool=N][,timeout-ms=N][,max-inflight=N]`.
fn route_table(table: &toml::Table) -> Result<String, String> {
    const KEYS: [&str; 5] = ["user", "upstream", "pool", "timeout_ms", "max_inflight"];
    if let Some(key) = table
        .keys()
        .find(|k| !KEYS.contains(&k.replace('-', "_").as_str()))
    {
        return Err(format!(
            "unknown key `{key}` in a [[route]] table (expected {})",
            KEYS.join(", ")
        ));
    }
    let get = |key: &str| table.get(key).or_else(|| table.get(&key.replace('_', "-")));
    let text = |key: &str| match get(key) {
        Some(toml::Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "`{key}` in a [[route]] table must be a string, not {other}"
        )),
        None => Err(format!("a [[route]] table needs `{key}`")),
    };
    let mut item = format!("{}={}", text("user")?, text("upstream")?);
    for key in ["pool", "timeout_ms", "max_inflight"] {
        if let Some(value) = get(key) {
            item.push_str(&format!(",{}={}", key.replace('_', "-"), scalar(value)?));
        }
    }
    Ok(item)
}

/// A TOML value as the text a flag would carry.
fn scalar(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!("expected a string, number or boolean, not {other}")),
    }
}

/// Runs the option's own value parser on `value`, alone.
fn check(arg: &Arg, value: &str) -> Result<(), String> {
    let long = arg.get_long().unwrap_or_default();
    Command::new("check")
        .no_binary_name(true)
        .arg(arg.clone().env(None::<&str>))
        .try_get_matches_from([format!("--{long}"), value.to_string()])
        .map(drop)
        .map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("").trim();
            first.trim_start_matches("error: ").to_string()
        })
}

/// The effective `serve` configuration as TOML, in the file's own form;
/// options whose name says they hold a secret are redacted.
pub fn print(serve: &Command, matches: &ArgMatches, from_file: &[String]) -> String {
    let mut out = String::new();
    for arg in serve.get_arguments() {
        let id = arg.get_id().as_str();
        if META.contains(&id) || arg.is_positional() {
            continue;
        }
        let Some(long) = arg.get_long() else {
            continue;
        };
        let Some(raw) = matches.get_raw(id) else {
            out.push_str(&format!("# {long} is not set\n"));
            continue;
        };
        let values: Vec<String> = raw.map(|v| v.to_string_lossy().into_owned()).collect();
        let secret = ["token", "secret", "password"]
            .iter()
            .any(|s| id.contains(s));
        let shown: Vec<String> = values
            .iter()
            .map(|v| {
                if secret {
                    "\"<redacted>\"".to_string()
                } else {
                    toml_value(v)
                }
            })
            .collect();
        let source = match matches.value_source(id) {
            _ if from_file.iter().any(|f| f == id) => "config file",
            Some(ValueSource::CommandLine) => "command line",
            Some(ValueSource::EnvVariable) => "environment",
            _ => "default",
        };
        let value = if matches!(arg.get_action(), ArgAction::Append) {
            format!("[{}]", shown.join(", "))
        } else {
            shown.join(" ")
        };
        out.push_str(&format!("{long} = {value}  # {source}\n"));
    }
    out
}

/// A flag's text as a TOML value: numbers and booleans bare, the rest quoted.
fn toml_value(text: &str) -> String {
    if text.parse::<i64>().is_ok() || text == "true" || text == "false" {
        text.to_string()
    } else {
        toml::Value::String(text.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> Command {
        with_env(
            Command::new("arkwire").subcommand(
                Command::new(SERVE)
                    .arg(
                        Arg::new("config")
                            .long("config")
                            .value_parser(clap::value_parser!(std::path::PathBuf)),
                    )
                    .arg(
                        Arg::new("workers")
                            .long("workers")
                            .value_parser(clap::value_parser!(usize))
                            .default_value("4"),
                    )
                    .arg(Arg::new("quiet").long("quiet").action(ArgAction::SetTrue))
                    .arg(Arg::new("route").long("route").action(ArgAction::Append)),
            ),
        )
    }

    fn file(text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "arkwire-config-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("serve.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn file_values_go_in_front_of_the_command_line() {
        let path = file("workers = 9\nquiet = true\nroute = [\"a\", \"b\"]\n");
        let p = path.to_str().unwrap();
        let out = layered(&cmd(), argv(&["arkwire", "serve", "--config", p])).unwrap();
        assert_eq!(out.from_file, ["quiet", "route", "workers"], "in key order");
        let m = cmd().try_get_matches_from(out.argv).unwrap();
        let serve = m.subcommand_matches(SERVE).unwrap();
        assert_eq!(serve.get_one::<usize>("workers"), Some(&9));
        assert!(serve.get_flag("quiet"));
        let routes: Vec<_> = serve.get_many::<String>("route").unwrap().collect();
        assert_eq!(routes, ["a", "b"]);
        // The command line wins over the file.
        let out = layered(
            &cmd(),
            argv(&["arkwire", "serve", "--config", p, "--workers", "2"]),
        )
        .unwrap();
        let m = cmd().try_get_matches_from(out.argv).unwrap();
        let serve = m.subcommand_matches(SERVE).unwrap();
        assert_eq!(serve.get_one::<usize>("workers"), Some(&2));
    }

    #[test]
    fn route_tables_become_route_items() {
        let path = file(concat!(
            "[[route]]\nuser = \"alice\"\nupstream = \"tcp://h:1\"\n",
            "[[route]]\nuser = \"team-*\"\nupstream = \"tcp://h:2\"\npool = 2\nmax_inflight = 1\n",
        ));
        let p = path.to_str().unwrap();
        let out = layered(&cmd(), argv(&["arkwire", "serve", "--config", p])).unwrap();
        let m = cmd().try_get_matches_from(out.argv).unwrap();
        let serve = m.subcommand_matches(SERVE).unwrap();
        let routes: Vec<_> = serve.get_many::<String>("route").unwrap().collect();
        assert_eq!(
            routes,
            ["alice=tcp://h:1", "team-*=tcp://h:2,pool=2,max-inflight=1"]
        );
        for (text, why) in [
            ("[[route]]\nuser = \"a\"\n", "needs `upstream`"),
            (
                "[[route]]\nuser = \"a\"\nupstream = \"h:1\"\ncolour = 1\n",
                "unknown key `colour`",
            ),
            (
                "[[route]]\nuser = 1\nupstream = \"h:1\"\n",
                "must be a string",
            ),
        ] {
            let path = file(text);
            let p = path.to_str().unwrap();
            let err = layered(&cmd(), argv(&["arkwire", "serve", "--config", p]))
                .err()
                .unwrap();
            assert!(err.contains("option `route`") && err.contains(why), "{err}");
        }
    }

    #[test]
    fn a_bad_item_is_named_with_its_file() {
        let path = file("workers = \"many\"\n");
        let p = path.to_str().unwrap();
        let err = layered(&cmd(), argv(&["arkwire", "serve", "--config", p]))
            .err()
            .unwrap();
        assert!(
            err.starts_with(&format!("config file {p}: option `workers`:")),
            "{err}"
        );
        assert!(err.contains("many"), "{err}");
        let path = file("wokers = 3\n");
        let p = path.to_str().unwrap();
        let err = layered(&cmd(), argv(&["arkwire", "serve", "--config", p]))
            .err()
            .unwrap();
        assert_eq!(
            err,
            format!("config file {p}: unknown option `wokers` (see `arkwire serve --help`)")
        );
    }
}
