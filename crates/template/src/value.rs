//! The values a template reads: Go's `interface{}` as Helm fills it (nil, bool, int, float64,
//! string, `[]interface{}`, `map[string]interface{}`), plus objects with named fields and
//! methods (Helm's `.Release`, `.Capabilities`, `.Files`) and function values for `call`.
//!
//! Not Go's reflection: an object answers for its own fields and methods through [`Object`];
//! there are no pointers, channels, unsigned or complex numbers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// A value as a template sees it. Lists and maps are shared (`Arc`), so passing dot around and
/// reading `.Values` is cheap.
#[derive(Clone, Default)]
pub enum Value {
    /// Go's untyped nil (a nil `interface{}`).
    #[default]
    Nil,
    Bool(bool),
    /// Go's `int` (64 bits).
    Int(i64),
    /// Go's `float64`. Values decoded from YAML or JSON by Helm are always floats.
    Float(f64),
    String(String),
    /// Go's `[]interface{}`.
    List(Arc<Vec<Value>>),
    /// Go's `map[string]interface{}`; iterated and printed in key order, as Go does. Shared
    /// as Go's maps are: what a function changes in it (Sprig's `set`), every holder sees.
    Map(Arc<Dict>),
    /// A struct-like value with named fields and methods.
    Object(Arc<dyn Object>),
    /// A function value, for the `call` builtin.
    Function(Function),
}

/// A Go map held by reference: the entries behind a lock, so that Sprig's `set`, `unset` and
/// `merge` change the map every holder sees (`$_ := set . "x" 1`, then `.x`), as in Go.
/// Reads hand out copies of the values (cheap: lists and maps are shared).
#[derive(Default)]
pub struct Dict(RwLock<BTreeMap<String, Value>>);

impl Dict {
    pub fn new(entries: BTreeMap<String, Value>) -> Self {
        Dict(RwLock::new(entries))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Value>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        self.read().get(key).cloned()
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.read().contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// A copy of the entries, in key order.
    pub fn to_map(&self) -> BTreeMap<String, Value> {
        self.read().clone()
    }

    /// The entries, in key order.
    pub fn entries(&self) -> Vec<(String, Value)> {
        self.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Sets a key (Go's `m[k] = v`).
    pub fn insert(&self, key: String, value: Value) -> Option<Value> {
        self.0.write().unwrap_or_else(PoisonError::into_inner).insert(key, value)
    }

    /// Deletes a key (Go's `delete(m, k)`).
    pub fn remove(&self, key: &str) -> Option<Value> {
        self.0.write().unwrap_or_else(PoisonError::into_inner).remove(key)
    }
}

impl fmt::Debug for Dict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries()).finish()
    }
}

impl PartialEq for Dict {
    fn eq(&self, other: &Dict) -> bool {
        std::ptr::eq(self, other) || self.entries() == other.entries()
    }
}

/// A struct-like value: fields and methods looked up by name, as Go's reflection finds them on
/// a struct. Methods are tried before fields, as in Go.
pub trait Object: fmt::Debug + Send + Sync {
    /// The Go type name used in messages (`chartutil.Capabilities`).
    fn type_name(&self) -> &str;
    /// The field's value, or `None` if there is no such field.
    fn field(&self, name: &str) -> Option<Value>;
    /// Whether `name` is a method (then it is called, with the arguments given).
    fn has_method(&self, name: &str) -> bool {
        let _ = name;
        false
    }
    /// Calls method `name`; called only when [`Object::has_method`] said yes. The error is the
    /// text after `error calling NAME: `.
    fn call_method(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        let _ = args;
        Err(format!("no method {name}"))
    }
    /// The fields in declaration order, for printing as Go's `%v` prints a struct: `{a b}`.
    fn field_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// Go's `String` method (`fmt.Stringer`), if the type (or its pointer) has one: what an
    /// action that ends in this value prints (`printf "%v"` prints the fields).
    fn string(&self) -> Option<String> {
        None
    }
    /// For a Go map type with methods (Helm's `files`, a `map[string][]byte`): its entries in
    /// key order, which `range`, `len` and truth see. `None` for a struct.
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
}

/// A method of a [`Struct`].
pub type Method = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// A ready-made [`Object`]: a type name, fields in order and a method table.
#[derive(Clone, Default)]
pub struct Struct {
    type_name: String,
    fields: Vec<(String, Value)>,
    methods: BTreeMap<String, Method>,
}

impl Struct {
    pub fn new(type_name: &str) -> Self {
        Struct { type_name: type_name.to_string(), ..Struct::default() }
    }

    /// Adds (or replaces) a field.
    #[must_use]
    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name.to_string(), value)),
        }
        self
    }

    /// Adds a method; it checks its own arguments.
    #[must_use]
    pub fn method(mut self, name: &str, f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static) -> Self {
        self.methods.insert(name.to_string(), Arc::new(f));
        self
    }

    /// The struct as a [`Value`].
    pub fn into_value(self) -> Value {
        Value::Object(Arc::new(self))
    }
}

impl fmt::Debug for Struct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Struct")
            .field("type_name", &self.type_name)
            .field("fields", &self.fields)
            .field("methods", &self.methods.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Object for Struct {
    fn type_name(&self) -> &str {
        &self.type_name
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
    fn has_method(&self, name: &str) -> bool {
        self.methods.contains_key(name)
    }
    fn call_method(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        match self.methods.get(name) {
            Some(method) => method(args),
            None => Err(format!("no method {name}")),
        }
    }
    fn field_names(&self) -> Vec<String> {
        self.fields.iter().map(|(n, _)| n.clone()).collect()
    }
    /// A method `String` without arguments makes a [`Struct`] a `fmt.Stringer`.
    fn string(&self) -> Option<String> {
        let method = self.methods.get("String")?;
        match method(&[]) {
            Ok(Value::String(s)) => Some(s),
            _ => None,
        }
    }
}

/// What a function sees of the execution that calls it: enough for Helm's `include` (execute
/// a template of the set) and `tpl` (parse and execute a text with the set's definitions).
pub trait Context {
    /// Executes template `name` of the set with `data` as dot and returns its output.
    fn execute(&self, name: &str, data: &Value) -> Result<String, String>;
    /// Parses `text` as a template named `name` beside the set's templates (its definitions
    /// visible to it, its own `define`s to it only) and executes it with `data`.
    fn execute_text(&self, name: &str, text: &str, data: &Value) -> Result<String, String>;
    /// How many template invocations deep the caller is.
    fn depth(&self) -> usize;
}

/// How many arguments a function takes (counting the piped value); execution checks it with
/// Go's message before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    AtLeast(usize),
}

/// The body of a function: the execution context and the evaluated arguments; the error is the
/// text after `error calling NAME: `.
pub type FuncBody = dyn Fn(&dyn Context, &[Value]) -> Result<Value, String> + Send + Sync;

/// A function of a template's function table, or a function value for `call`.
#[derive(Clone)]
pub struct Function {
    pub(crate) arity: Arity,
    pub(crate) body: Arc<FuncBody>,
}

impl Function {
    pub fn new(
        arity: Arity,
        body: impl Fn(&dyn Context, &[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        Function { arity, body: Arc::new(body) }
    }

    pub fn arity(&self) -> Arity {
        self.arity
    }

    /// Calls the function (the arity is the caller's to check).
    pub fn call(&self, context: &dyn Context, args: &[Value]) -> Result<Value, String> {
        (self.body)(context, args)
    }

    pub(crate) fn same(&self, other: &Function) -> bool {
        Arc::ptr_eq(&self.body, &other.body)
    }
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Function").field("arity", &self.arity).finish_non_exhaustive()
    }
}

/// How JSON numbers become values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonNumbers {
    /// Every number is a float64, as Helm's values are (so 1000000 prints `1e+06`).
    Float,
    /// Integers that fit an `int64` are ints, the rest floats (as Go's own tests build data).
    IntegersAsInt,
}

impl Value {
    /// A list value.
    pub fn list(items: impl IntoIterator<Item = Value>) -> Value {
        Value::List(Arc::new(items.into_iter().collect()))
    }

    /// A map value.
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(Arc::new(Dict::new(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())))
    }

    /// The value of a JSON document.
    pub fn from_json(json: &serde_json::Value, numbers: JsonNumbers) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match (numbers, n.as_i64()) {
                (JsonNumbers::IntegersAsInt, Some(i)) => Value::Int(i),
                #[allow(clippy::cast_precision_loss, reason = "a u64 beyond i64 becomes a float64, as in Go")]
                _ => Value::Float(n.as_f64().unwrap_or_else(|| n.as_u64().map_or(0.0, |u| u as f64))),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => Value::list(items.iter().map(|i| Value::from_json(i, numbers))),
            serde_json::Value::Object(map) => {
                Value::map(map.iter().map(|(k, v)| (k.clone(), Value::from_json(v, numbers))))
            }
        }
    }

    /// The Go type name, as messages print it (`int`, `float64`, `map[string]interface {}`).
    pub fn type_name(&self) -> &str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Object(o) => o.type_name(),
            Value::Function(_) => "func(...interface {}) (interface {}, error)",
        }
    }

    /// Go's template truth (`if`, `and`, `not`): the zero value of its type and empty
    /// collections are false; nil is false; objects and functions are true.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(o) => o.entries().is_none_or(|e| !e.is_empty()),
            Value::Function(_) => true,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

impl PartialEq for Value {
    /// Structural equality; objects and functions are equal only to themselves.
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => Arc::ptr_eq(a, b),
            (Value::Function(a), Value::Function(b)) => a.same(b),
            _ => false,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("Nil"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Float(x) => write!(f, "Float({x:?})"),
            Value::String(s) => write!(f, "String({s:?})"),
            Value::List(l) => f.debug_list().entries(l.iter()).finish(),
            Value::Map(m) => m.fmt(f),
            Value::Object(o) => o.fmt(f),
            Value::Function(_) => f.write_str("Function"),
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }
}

impl From<BTreeMap<String, Value>> for Value {
    fn from(map: BTreeMap<String, Value>) -> Value {
        Value::Map(Arc::new(Dict::new(map)))
    }
}
