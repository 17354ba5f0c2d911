//! Execution: Go's `text/template/exec.go` over [`Value`]s. A [`Templates`] set holds trees by
//! name, the caller's [`Funcs`] and the [`Options`]; `execute` walks a tree and returns its
//! output or Go's error (`template: NAME:LINE:COL: executing "NAME" at <NODE>: ...`).
//!
//! Go's reflection distinguishes a missing value (an invalid `reflect.Value`) from a nil held
//! in an interface (a `null` in a map or list): `.a.b` is silent when `a` is missing but fails
//! with `nil pointer evaluating interface {}.b` when `a` is null. Dot and variables keep that
//! difference here as `Option<Value>`: `None` is missing, `Some(Value::Nil)` a held nil.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use crate::funcs::{self, Funcs};
use crate::parse::{self, Arg, Branch, Command, Node, Pipe, Tree};
use crate::print::{format_value, quote};
use crate::value::{Arity, Context, Function, Value};

/// What a missing map key gives (Go's `missingkey` option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// Go's default: a missing value, printed `<no value>`; a field of it is missing too.
    #[default]
    Default,
    /// `missingkey=zero`, as Helm sets when not strict: the zero of `interface{}`, a held nil;
    /// it prints `<no value>` but a field of it is an error.
    Zero,
    /// `missingkey=error`: `map has no entry for key "x"`.
    Error,
}

/// Knobs of a template set.
#[derive(Clone, Debug)]
pub struct Options {
    pub missing_key: MissingKey,
    /// How deep templates may call templates (`{{template}}` and functions' `execute`). Go
    /// allows 100000 and Helm's `include` 1000; a debug build overflowed a test thread's 2 MiB
    /// stack at 1000 levels, so the default is 100, which charts do not come near.
    pub max_depth: usize,
    /// The action delimiters; empty means `{{` and `}}`.
    pub left_delim: String,
    pub right_delim: String,
    /// How many nodes one execution (with the templates and texts it calls) may walk, and how
    /// many bytes it may write: a hostile text (`range` in `range` over `until 1000000`) stops
    /// with an error instead of running for hours. Go has no such bounds.
    pub max_steps: u64,
    pub max_output_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            missing_key: MissingKey::Default,
            max_depth: 100,
            left_delim: String::new(),
            right_delim: String::new(),
            max_steps: 50_000_000,
            max_output_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A parse or execution error, in Go's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Parse(#[from] parse::Error),
    /// An execution error; `message` is Go's whole message.
    #[error("{message}")]
    Exec { template: String, message: String },
    #[error("template: no template {} associated with the set", quote(.name))]
    NoTemplate { name: String },
}

/// Templates by name, the functions they may call and the options they run with.
#[derive(Clone, Default)]
pub struct Templates {
    trees: BTreeMap<String, Arc<Tree>>,
    funcs: Arc<Funcs>,
    options: Options,
    /// Nodes walked by the current execution, shared with the copies `tpl` makes.
    steps: Arc<AtomicU64>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("names", &self.trees.keys().collect::<Vec<_>>())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Templates {
    pub fn new(funcs: Funcs, options: Options) -> Self {
        Templates { trees: BTreeMap::new(), funcs: Arc::new(funcs), options, steps: Arc::default() }
    }

    /// Parses `text` as template `name`, adding it and its `define`s and `block`s to the set.
    /// As in Go, a later definition replaces an earlier one, except that an empty one (space
    /// and comments) does not replace a non-empty one. On error the set is unchanged.
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let mut trees = parse::TreeSet::new();
        let funcs = &self.funcs;
        let has_function = |n: &str| funcs.contains(n) || funcs::builtins().contains(n) || funcs::SPECIAL.contains(&n);
        parse::parse(name, text, (&self.options.left_delim, &self.options.right_delim), &has_function, &mut trees)?;
        for (name, tree) in trees {
            let keep_old = self.trees.get(&name).is_some_and(|_| tree.is_empty());
            if !keep_old {
                self.trees.insert(name, Arc::new(tree));
            }
        }
        Ok(())
    }

    /// Whether the set has a template of that name.
    pub fn contains(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// The names of the set's templates, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.trees.keys().map(String::as_str)
    }

    /// Template `name` printed back as Go's `Tree.Root.String()` prints it (the text whose
    /// pieces execution errors quote).
    pub fn tree_text(&self, name: &str) -> Option<String> {
        let tree = self.trees.get(name)?;
        Some(tree.root.iter().map(ToString::to_string).collect())
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Executes template `name` with `data` as dot (and `$`).
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, Error> {
        self.steps.store(0, AtomicOrdering::Relaxed);
        self.execute_at_depth(name, data, 0)
    }

    fn execute_at_depth(&self, name: &str, data: &Value, depth: usize) -> Result<String, Error> {
        let tree = self.trees.get(name).ok_or_else(|| Error::NoTemplate { name: name.to_string() })?;
        // Go's `reflect.ValueOf(nil)` is invalid: a nil datum is missing, not a held nil.
        let dot = if let Value::Nil = data { None } else { Some(data.clone()) };
        let mut out = String::new();
        let mut state =
            State { set: self, tree, vars: vec![("$".to_string(), dot.clone())], depth, at: At::None, out: &mut out };
        state.walk_list(&dot, &tree.root)?;
        Ok(out)
    }
}

/// The context functions get: the set and the depth of the call.
struct CallContext<'a> {
    set: &'a Templates,
    depth: usize,
}

impl CallContext<'_> {
    fn check_depth(&self) -> Result<(), String> {
        if self.depth >= self.set.options.max_depth {
            return Err(format!("exceeded maximum template depth ({})", self.set.options.max_depth));
        }
        Ok(())
    }
}

impl Context for CallContext<'_> {
    fn execute(&self, name: &str, data: &Value) -> Result<String, String> {
        self.check_depth()?;
        self.set.execute_at_depth(name, data, self.depth + 1).map_err(|e| e.to_string())
    }

    fn execute_text(&self, name: &str, text: &str, data: &Value) -> Result<String, String> {
        self.check_depth()?;
        let mut set = self.set.clone();
        set.parse(name, text).map_err(|e| e.to_string())?;
        set.execute_at_depth(name, data, self.depth + 1).map_err(|e| e.to_string())
    }

    fn depth(&self) -> usize {
        self.depth
    }
}

/// The node execution is at, for errors (Go's `state.at`).
#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Node(&'t Node),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Arg(&'t Arg),
}

impl At<'_> {
    fn pos(self) -> usize {
        match self {
            At::None => 0,
            At::Node(n) => n.pos(),
            At::Pipe(p) => p.pos,
            At::Cmd(c) => c.pos,
            At::Arg(a) => a.pos(),
        }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::None => Ok(()),
            At::Node(n) => write!(f, "{n}"),
            At::Pipe(p) => write!(f, "{p}"),
            At::Cmd(c) => write!(f, "{c}"),
            At::Arg(a) => write!(f, "{a}"),
        }
    }
}

/// What a walk ends with: on, or a `{{break}}` / `{{continue}}` on its way to its range.
#[derive(PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// A missing value or a held nil: dot, variables and field lookups (see the module doc).
type Dot = Option<Value>;

struct State<'t, 'o> {
    set: &'t Templates,
    tree: &'t Tree,
    vars: Vec<(String, Dot)>,
    depth: usize,
    at: At<'t>,
    out: &'o mut String,
}

impl<'t> State<'t, '_> {
    fn errorf<T>(&self, message: impl fmt::Display) -> Result<T> {
        let name = &self.tree.name;
        let message = match self.at {
            At::None => format!("template: {name}: {message}"),
            at => format!("template: {}: executing {} at <{at}>: {message}", self.tree.location(at.pos()), quote(name)),
        };
        Err(Error::Exec { template: name.clone(), message })
    }

    fn var_value(&self, name: &str) -> Result<Dot> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.errorf(format!("undefined variable: {name}")),
        }
    }

    fn set_var(&mut self, name: &str, value: Dot) -> Result<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => self.errorf(format!("undefined variable: {name}")),
        }
    }

    fn set_top_var(&mut self, n: usize, value: Dot) {
        let at = self.vars.len() - n;
        self.vars[at].1 = value;
    }

    /// Counts one step (a node, an iteration) against the budgets of [`Options`].
    fn step(&mut self) -> Result<()> {
        let steps = self.set.steps.fetch_add(1, AtomicOrdering::Relaxed);
        if steps >= self.set.options.max_steps {
            return self.errorf(format!("exceeded the step budget ({})", self.set.options.max_steps));
        }
        if self.out.len() > self.set.options.max_output_bytes {
            return self.errorf(format!("output larger than {} bytes", self.set.options.max_output_bytes));
        }
        Ok(())
    }

    fn walk_list(&mut self, dot: &Dot, list: &'t [Node]) -> Result<Flow> {
        for node in list {
            let flow = self.walk(dot, node)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Dot, node: &'t Node) -> Result<Flow> {
        self.at = At::Node(node);
        self.step()?;
        match node {
            Node::Text { text } => self.out.push_str(text),
            Node::Action { pipe, .. } => {
                // Variables declared here persist until the enclosing {{end}}; a declaration
                // prints nothing.
                let value = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print_value(node, value.as_ref())?;
                }
            }
            Node::Break { .. } => return Ok(Flow::Break),
            Node::Continue { .. } => return Ok(Flow::Continue),
            Node::If(branch) => return self.walk_if_or_with(false, dot, branch),
            Node::With(branch) => return self.walk_if_or_with(true, dot, branch),
            Node::Range(branch) => {
                let mark = self.vars.len();
                let flow = self.walk_range(dot, node, branch);
                self.vars.truncate(mark);
                return flow;
            }
            Node::Template { name, pipe, .. } => self.walk_template(dot, node, name, pipe.as_ref())?,
        }
        Ok(Flow::Normal)
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Dot, branch: &'t Branch) -> Result<Flow> {
        let mark = self.vars.len();
        let result = (|| {
            let value = self.eval_pipeline(dot, &branch.pipe)?;
            if value.as_ref().is_some_and(Value::is_true) {
                if with { self.walk_list(&value, &branch.list) } else { self.walk_list(dot, &branch.list) }
            } else if let Some(else_list) = &branch.else_list {
                self.walk_list(dot, else_list)
            } else {
                Ok(Flow::Normal)
            }
        })();
        self.vars.truncate(mark);
        result
    }

    fn walk_range(&mut self, dot: &Dot, node: &'t Node, r: &'t Branch) -> Result<Flow> {
        self.at = At::Node(node);
        let value = self.eval_pipeline(dot, &r.pipe)?;
        // The mark is taken after the pipeline pushed its variables.
        let mark = self.vars.len();
        let items: Vec<(Dot, Dot)> = match &value {
            None => Vec::new(),
            Some(Value::List(list)) => {
                list.iter().enumerate().map(|(i, v)| (Some(Value::Int(int(i))), Some(v.clone()))).collect()
            }
            Some(Value::Map(map)) => {
                map.entries().into_iter().map(|(k, v)| (Some(Value::String(k)), Some(v))).collect()
            }
            Some(Value::Object(o)) if o.entries().is_some() => {
                o.entries().unwrap_or_default().into_iter().map(|(k, v)| (Some(Value::String(k)), Some(v))).collect()
            }
            Some(Value::Int(n)) => {
                // Go reports this and the next at the last node evaluated, not at the range.
                if r.pipe.decl.len() > 1 {
                    return self.errorf(format!("can't use {n} to iterate over more than one variable"));
                }
                (0..*n).map(|i| (None, Some(Value::Int(i)))).collect()
            }
            Some(other) => {
                return self.errorf(format!("range can't iterate over {}", format_value(other)));
            }
        };
        if items.is_empty() {
            if let Some(else_list) = &r.else_list {
                return self.walk_list(dot, else_list);
            }
            return Ok(Flow::Normal);
        }
        for (index, elem) in items {
            self.step()?;
            if !r.pipe.decl.is_empty() {
                if r.pipe.is_assign {
                    // With two variables the index comes first; with one, the element.
                    let value = if r.pipe.decl.len() > 1 { index.clone() } else { elem.clone() };
                    self.set_var(&r.pipe.decl[0], value)?;
                } else {
                    self.set_top_var(1, elem.clone());
                }
            }
            if r.pipe.decl.len() > 1 {
                if r.pipe.is_assign {
                    self.set_var(&r.pipe.decl[1], elem.clone())?;
                } else {
                    self.set_top_var(2, index);
                }
            }
            let flow = self.walk_list(&elem, &r.list);
            self.vars.truncate(mark);
            if flow? == Flow::Break {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_template(&mut self, dot: &Dot, node: &'t Node, name: &str, pipe: Option<&'t Pipe>) -> Result<()> {
        self.at = At::Node(node);
        let Some(tree) = self.set.trees.get(name) else {
            return self.errorf(format!("template {} not defined", quote(name)));
        };
        if self.depth >= self.set.options.max_depth {
            return self.errorf(format!("exceeded maximum template depth ({})", self.set.options.max_depth));
        }
        let dot = match pipe {
            Some(pipe) => self.eval_pipeline(dot, pipe)?,
            None => None,
        };
        // No dynamic scoping: the template sees only `$`, its dot.
        let mut inner = State {
            set: self.set,
            tree,
            vars: vec![("$".to_string(), dot.clone())],
            depth: self.depth + 1,
            at: At::None,
            out: &mut *self.out,
        };
        inner.walk_list(&dot, &tree.root)?;
        Ok(())
    }

    /// Go's `evalPipeline`: each command's value is the next one's final argument; a held nil
    /// becomes missing at the end of each command (Go digs into the interface).
    fn eval_pipeline(&mut self, dot: &Dot, pipe: &'t Pipe) -> Result<Dot> {
        self.at = At::Pipe(pipe);
        let mut value: Option<Dot> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            value = Some(v.filter(|v| !matches!(v, Value::Nil)));
        }
        let value = value.flatten();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_: Option<&Dot>) -> Result<()> {
        if args.len() > 1 || final_.is_some() {
            return self.errorf(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    /// One command; `final_` is the previous command's value (`None`: there is none).
    fn eval_command(&mut self, dot: &Dot, cmd: &'t Command, final_: Option<Dot>) -> Result<Dot> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                self.at = At::Arg(first);
                return self.eval_field_chain(dot, dot.clone(), first, idents, &cmd.args, final_);
            }
            Arg::Chain { .. } => return self.eval_chain(dot, first, &cmd.args, final_),
            Arg::Identifier { name, .. } => {
                self.at = At::Arg(first);
                return self.eval_function(dot, name, Site::Cmd(cmd), &cmd.args, final_);
            }
            Arg::Pipe(pipe) => {
                self.not_a_function(&cmd.args, final_.as_ref())?;
                return self.eval_pipeline(dot, pipe);
            }
            Arg::Variable { .. } => return self.eval_variable(dot, first, &cmd.args, final_),
            _ => {}
        }
        self.at = At::Arg(first);
        self.not_a_function(&cmd.args, final_.as_ref())?;
        match first {
            Arg::Bool { value, .. } => Ok(Some(Value::Bool(*value))),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => self.errorf("nil is not a command"),
            Arg::Number { number, .. } => self.ideal_constant(number).map(Some),
            Arg::String { text, .. } => Ok(Some(Value::String(text.clone()))),
            _ => self.errorf(format!("can't evaluate command {}", quote(&first.to_string()))),
        }
    }

    /// Go's `idealConstant`: a number's syntax says its type.
    fn ideal_constant(&self, n: &parse::Number) -> Result<Value> {
        let t = &n.text;
        let hex_int = t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) && !t.contains(['p', 'P']);
        let rune_int = t.starts_with('\'');
        match (n.float, n.int) {
            (Some(f), _) if !hex_int && !rune_int && t.contains(['.', 'e', 'E', 'p', 'P']) => Ok(Value::Float(f)),
            (_, Some(i)) => Ok(Value::Int(i)),
            _ if n.is_uint => self.errorf(format!("{t} overflows int")),
            _ => Ok(Value::Nil),
        }
    }

    fn eval_chain(&mut self, dot: &Dot, chain: &'t Arg, args: &'t [Arg], final_: Option<Dot>) -> Result<Dot> {
        self.at = At::Arg(chain);
        let Arg::Chain { node, fields, .. } = chain else { unreachable!("called on chains") };
        if let Arg::Nil { .. } = node.as_ref() {
            return self.errorf(format!("indirection through explicit nil in {chain}"));
        }
        // (pipe).Field1.Field2: the pipeline first, then the fields.
        let receiver = self.eval_arg_dot(dot, node)?;
        self.eval_field_chain(dot, receiver, chain, fields, args, final_)
    }

    fn eval_variable(&mut self, dot: &Dot, variable: &'t Arg, args: &'t [Arg], final_: Option<Dot>) -> Result<Dot> {
        self.at = At::Arg(variable);
        let Arg::Variable { idents, .. } = variable else { unreachable!("called on variables") };
        let value = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            self.not_a_function(args, final_.as_ref())?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, variable, &idents[1..], args, final_)
    }

    /// `.X.Y.Z` possibly with arguments for the last: dot is where arguments are evaluated,
    /// `receiver` what the chain walks along.
    fn eval_field_chain(
        &mut self,
        dot: &Dot,
        mut receiver: Dot,
        node: &'t Arg,
        idents: &[String],
        args: &'t [Arg],
        final_: Option<Dot>,
    ) -> Result<Dot> {
        let n = idents.len();
        for ident in &idents[..n - 1] {
            receiver = self.eval_field(dot, ident, node, &[], None, receiver)?;
        }
        self.eval_field(dot, &idents[n - 1], node, args, final_, receiver)
    }

    /// Go's `evalField`: a method (called with the arguments), a struct field or a map key.
    fn eval_field(
        &mut self,
        dot: &Dot,
        name: &str,
        node: &'t Arg,
        args: &'t [Arg],
        final_: Option<Dot>,
        receiver: Dot,
    ) -> Result<Dot> {
        let Some(receiver) = receiver else {
            if self.set.options.missing_key == MissingKey::Error {
                return self.errorf(format!("nil data; no entry for key {}", quote(name)));
            }
            return Ok(None);
        };
        let has_args = args.len() > 1 || final_.is_some();
        match &receiver {
            Value::Nil => self.errorf(format!("nil pointer evaluating interface {{}}.{name}")),
            Value::Object(object) if object.has_method(name) => {
                let object = Arc::clone(object);
                let values = self.eval_args(dot, args, final_)?;
                match object.call_method(name, &values) {
                    Ok(v) => Ok(Some(v)),
                    Err(e) => {
                        self.at = At::Arg(node);
                        self.errorf(format!("error calling {name}: {e}"))
                    }
                }
            }
            Value::Object(object) => match object.field(name) {
                Some(_) if has_args => self.errorf(format!("{name} has arguments but cannot be invoked as function")),
                Some(v) => Ok(Some(v)),
                None => self.errorf(format!("can't evaluate field {name} in type {}", object.type_name())),
            },
            Value::Map(map) => {
                if has_args {
                    return self.errorf(format!("{name} is not a method but has arguments"));
                }
                match map.get(name) {
                    Some(v) => Ok(Some(v)),
                    None => match self.set.options.missing_key {
                        MissingKey::Default => Ok(None),
                        MissingKey::Zero => Ok(Some(Value::Nil)),
                        MissingKey::Error => self.errorf(format!("map has no entry for key {}", quote(name))),
                    },
                }
            }
            other => self.errorf(format!("can't evaluate field {name} in type {}", other.type_name())),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Dot,
        name: &str,
        site: Site<'t>,
        args: &'t [Arg],
        final_: Option<Dot>,
    ) -> Result<Dot> {
        let user = self.set.funcs.get(name);
        let builtin = user.is_none();
        if builtin && (name == "and" || name == "or") {
            return self.eval_and_or(dot, name, args, final_);
        }
        if builtin && name == "call" {
            return self.eval_call_builtin(dot, site, args, final_);
        }
        let Some(function) = user.or_else(|| funcs::builtins().get(name)) else {
            return self.errorf(format!("{} is not a defined function", quote(name)));
        };
        let function = function.clone();
        self.check_arity(name, function.arity, args, final_.is_some())?;
        let values = self.eval_args(dot, args, final_)?;
        self.call(&function, name, site, &values)
    }

    /// Go's argument count check, before the arguments are evaluated.
    fn check_arity(&self, name: &str, arity: Arity, args: &[Arg], has_final: bool) -> Result<()> {
        let given = args.len().saturating_sub(1);
        let num_in = given + usize::from(has_final);
        match arity {
            Arity::AtLeast(n) if num_in < n => {
                self.errorf(format!("wrong number of args for {name}: want at least {n} got {given}"))
            }
            Arity::Exactly(n) if num_in != n => {
                self.errorf(format!("wrong number of args for {name}: want {n} got {num_in}"))
            }
            _ => Ok(()),
        }
    }

    fn call(&mut self, function: &Function, name: &str, site: Site<'t>, values: &[Value]) -> Result<Dot> {
        let context = CallContext { set: self.set, depth: self.depth };
        match function.call(&context, values) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                self.at = site.at();
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    /// `and` and `or` stop at the first argument that decides, and return it.
    fn eval_and_or(&mut self, dot: &Dot, name: &str, args: &'t [Arg], final_: Option<Dot>) -> Result<Dot> {
        self.check_arity(name, Arity::AtLeast(1), args, final_.is_some())?;
        let mut v: Dot = None;
        for arg in &args[1..] {
            v = self.eval_arg_dot(dot, arg)?;
            if v.as_ref().is_some_and(Value::is_true) == (name == "or") {
                return Ok(v);
            }
        }
        if let Some(f) = final_ {
            v = f;
        }
        Ok(v)
    }

    /// `call FN ARGS...`: FN must be a function value.
    fn eval_call_builtin(&mut self, dot: &Dot, site: Site<'t>, args: &'t [Arg], final_: Option<Dot>) -> Result<Dot> {
        self.check_arity("call", Arity::AtLeast(1), args, final_.is_some())?;
        // Go names the callee by its node, or, when it is piped in, as `reflect.Value` prints.
        let callee = match (args.get(1), &final_) {
            (Some(arg), _) => arg.to_string(),
            (None, Some(f)) => format!("<{} Value>", f.as_ref().map_or("invalid", Value::type_name)),
            (None, None) => String::new(),
        };
        let values = self.eval_args(dot, args, final_)?;
        let result = match &values[0] {
            Value::Nil => Err("call of nil".to_string()),
            Value::Function(f) => {
                let n = values.len() - 1;
                match f.arity {
                    Arity::Exactly(want) if n != want => {
                        Err(format!("wrong number of args for {callee}: got {n} want {want}"))
                    }
                    Arity::AtLeast(want) if n < want => {
                        Err(format!("wrong number of args for {callee}: got {n} want at least {want}"))
                    }
                    _ => f.call(&CallContext { set: self.set, depth: self.depth }, &values[1..]),
                }
            }
            other => Err(format!("non-function {callee} of type {}", other.type_name())),
        };
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                self.at = site.at();
                self.errorf(format!("error calling call: {e}"))
            }
        }
    }

    /// The arguments after the function name, then the piped value; a missing value is passed
    /// as nil.
    fn eval_args(&mut self, dot: &Dot, args: &'t [Arg], final_: Option<Dot>) -> Result<Vec<Value>> {
        let mut values = Vec::with_capacity(args.len());
        for arg in args.iter().skip(1) {
            values.push(self.eval_arg_dot(dot, arg)?.unwrap_or_default());
        }
        if let Some(f) = final_ {
            values.push(f.unwrap_or_default());
        }
        Ok(values)
    }

    /// Go's `evalArg` for an `interface{}` parameter.
    fn eval_arg_dot(&mut self, dot: &Dot, arg: &'t Arg) -> Result<Dot> {
        self.at = At::Arg(arg);
        match arg {
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Ok(Some(Value::Nil)),
            Arg::Field { idents, .. } => {
                self.eval_field_chain(dot, dot.clone(), arg, idents, std::slice::from_ref(arg), None)
            }
            Arg::Variable { .. } => self.eval_variable(dot, arg, &[], None),
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe),
            Arg::Identifier { name, .. } => {
                self.eval_function(dot, name, Site::Arg(arg), std::slice::from_ref(arg), None)
            }
            Arg::Chain { .. } => self.eval_chain(dot, arg, &[], None),
            Arg::Bool { value, .. } => Ok(Some(Value::Bool(*value))),
            Arg::Number { number, .. } => self.ideal_constant(number).map(Some),
            Arg::String { text, .. } => Ok(Some(Value::String(text.clone()))),
        }
    }

    fn print_value(&mut self, node: &'t Node, value: Option<&Value>) -> Result<()> {
        self.at = At::Node(node);
        match value {
            None => self.out.push_str("<no value>"),
            Some(v @ Value::Function(_)) => {
                return self.errorf(format!("can't print {node} of type {}", v.type_name()));
            }
            // Go's printValue takes a struct's address when its pointer is a fmt.Stringer.
            Some(Value::Object(o)) if o.string().is_some() => self.out.push_str(&o.string().unwrap_or_default()),
            Some(v) => self.out.push_str(&format_value(v)),
        }
        Ok(())
    }
}

/// Where a function was called from, for its error's context: a command, or an argument.
#[derive(Clone, Copy)]
enum Site<'t> {
    Cmd(&'t Command),
    Arg(&'t Arg),
}

impl<'t> Site<'t> {
    fn at(self) -> At<'t> {
        match self {
            Site::Cmd(c) => At::Cmd(c),
            Site::Arg(a) => At::Arg(a),
        }
    }
}

fn int(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}
