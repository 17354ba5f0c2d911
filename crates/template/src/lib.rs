//! Go's `text/template` as Helm uses it, in pure Rust: the first building block of rendering
//! Helm charts without helm.
//!
//! ```
//! use flotilla_template::{Funcs, Options, Templates, Value};
//!
//! let mut set = Templates::new(Funcs::new(), Options::default());
//! set.parse("t", r#"{{define "x"}}[{{.}}]{{end}}{{range $i, $v := .}}{{if $i}},{{end}}{{template "x" $v}}{{end}}"#).unwrap();
//! let data = Value::list([Value::Int(1), Value::Float(1e6), Value::from("a")]);
//! assert_eq!(set.execute("t", &data).unwrap(), "[1],[1e+06],[a]");
//! ```
//!
//! What it is: Go's lexer and parser (trim markers, comments, Go's number syntax, variables,
//! `if`/`else if`/`range`/`with`/`else with`/`define`/`template`/`block`/`break`/`continue`,
//! range over integers), Go's execution semantics (truth, dot, variable scoping, `missingkey`,
//! method calls on objects, recursion limit), Go's printing (`fmt`'s `%v` and `Printf`) and
//! builtins, with Go's error messages. A [`Funcs`] table takes the caller's functions; a
//! function receives a [`Context`] through which it can execute the set's templates (Helm's
//! `include` and `tpl`).
//!
//! [`sprig`] has Sprig's functions as charts use them ([`sprig::random`] draws from the
//! caller's seed, keys and certificates too, [`sprig::clock`] has the caller's time),
//! [`semver`] Masterminds' version
//! constraints. Maps are shared as Go's are ([`Dict`]): what `set` changes, every holder sees.
//!
//! What it is not: Helm's own functions (`include`, `tpl`, `required`, `toYaml`, ...) and
//! objects, which are `flotilla_core::helm`'s and plug into [`Funcs`]; Sprig's DSA keys and its
//! times outside UTC. It does no IO: no files, no clock, no randomness; what a
//! function needs of those, its caller gives it.
//!
//! Deviations from Go, all documented where they live:
//! - Values are Helm's kinds ([`Value`]): nil, bool, int (`int64`), float64, string, list,
//!   string-keyed map, objects ([`Object`]: named fields and methods, not arbitrary Go method
//!   sets) and function values. No pointers, channels, unsigned, complex or typed nils.
//! - A function checks its own argument types (Go checks them against the Go signature);
//!   its error is wrapped `error calling NAME: ...`, also for `printf`'s non-string format.
//! - `break` and `continue` are always keywords; complex constants are refused; `{{template}}`
//!   depth is limited to [`Options::max_depth`] (100) and nesting of parentheses and blocks to
//!   [`parse::MAX_NESTING`] (100), to keep a Rust stack safe; `index` of a string gives an
//!   int, not a `uint8`; a string escape of a non-UTF-8 byte (`"\xff"`) is refused.
//! - `printf` has no argument indexes (`%[1]d`), no `%x` on floats, no `%p`; `%v` of a
//!   function prints `<func>`.

pub mod exec;
pub mod funcs;
mod lex;
pub mod parse;
pub mod print;
pub mod semver;
pub mod sprig;
pub mod value;

pub use exec::{Error, MissingKey, Options, Templates};
pub use funcs::Funcs;
pub use value::{Arity, Context, Dict, Function, JsonNumbers, Object, Struct, Value};
