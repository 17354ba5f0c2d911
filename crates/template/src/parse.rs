//! The parser: Go's `text/template/parse` (`parse.go` and `node.go`). A text becomes trees, one
//! for the text itself and one per `{{define}}` or `{{block}}`; errors are Go's, word for word
//! (`template: NAME:LINE: message`).
//!
//! Differences: complex numbers are refused (`complex numbers are not supported`); nesting
//! (parentheses, control structures) is limited to [`MAX_NESTING`] (100), where Go allows 10000
//! parentheses and any depth of blocks, so that a hostile text cannot overflow the stack.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::lex::{Item, ItemType, Lexer};
use crate::print::quote;

/// How deep parentheses and control structures may nest.
pub const MAX_NESTING: usize = 100;

/// A parse error, in Go's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// The whole message: `template: NAME:LINE: ...`.
    pub message: String,
}

/// One parsed template.
#[derive(Debug)]
pub(crate) struct Tree {
    pub name: String,
    /// The name of the text it was parsed from (the file), for messages.
    pub parse_name: String,
    pub root: Vec<Node>,
    /// The text it was parsed from, for an error's line and column.
    pub text: Arc<str>,
}

impl Tree {
    /// Go's `IsEmptyTree`: nothing but space and comments.
    pub(crate) fn is_empty(&self) -> bool {
        self.root.iter().all(|n| matches!(n, Node::Text { text, .. } if text.trim().is_empty()))
    }

    /// `NAME:LINE:COL` of a byte offset, as Go's `ErrorContext` gives it (the column 0-based).
    pub(crate) fn location(&self, pos: usize) -> String {
        let before = &self.text[..pos.min(self.text.len())];
        let (line, col) = match before.rfind('\n') {
            Some(nl) => (1 + before.matches('\n').count(), pos - (nl + 1)),
            None => (1, pos),
        };
        format!("{}:{line}:{col}", self.parse_name)
    }
}

#[derive(Debug)]
pub(crate) enum Node {
    Text { text: String },
    Action { pos: usize, pipe: Pipe },
    If(Branch),
    Range(Branch),
    With(Branch),
    Template { pos: usize, name: String, pipe: Option<Pipe> },
    Break { pos: usize },
    Continue { pos: usize },
}

impl Node {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Node::Text { .. } => 0,
            Node::Action { pos, .. } | Node::Template { pos, .. } | Node::Break { pos } | Node::Continue { pos } => {
                *pos
            }
            Node::If(b) | Node::Range(b) | Node::With(b) => b.pipe.pos,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug)]
pub(crate) enum Arg {
    Identifier {
        pos: usize,
        name: String,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    /// `.A.B`: the names without dots.
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `$x.A`: the variable's name (with `$`) first.
    Variable {
        pos: usize,
        idents: Vec<String>,
    },
    Bool {
        pos: usize,
        value: bool,
    },
    Number {
        pos: usize,
        number: Number,
    },
    String {
        pos: usize,
        quoted: String,
        text: String,
    },
    Pipe(Pipe),
    /// `(pipe).A.B`.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
}

impl Arg {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::String { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

/// A number constant with every reading Go gives it.
#[derive(Clone, Debug)]
pub(crate) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub is_uint: bool,
    pub float: Option<f64>,
}

// Go's `String()` of each node, which execution errors quote as their context.

fn write_list(f: &mut fmt::Formatter<'_>, list: &[Node]) -> fmt::Result {
    list.iter().try_for_each(|n| write!(f, "{n}"))
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Text { text } => f.write_str(text),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::If(b) => write_branch(f, "if", b),
            Node::Range(b) => write_branch(f, "range", b),
            Node::With(b) => write_branch(f, "with", b),
            Node::Template { name, pipe: None, .. } => write!(f, "{{{{template {}}}}}", quote(name)),
            Node::Template { name, pipe: Some(pipe), .. } => write!(f, "{{{{template {} {pipe}}}}}", quote(name)),
            Node::Break { .. } => f.write_str("{{break}}"),
            Node::Continue { .. } => f.write_str("{{continue}}"),
        }
    }
}

fn write_branch(f: &mut fmt::Formatter<'_>, name: &str, b: &Branch) -> fmt::Result {
    write!(f, "{{{{{name} {}}}}}", b.pipe)?;
    write_list(f, &b.list)?;
    if let Some(else_list) = &b.else_list {
        f.write_str("{{else}}")?;
        write_list(f, else_list)?;
    }
    f.write_str("{{end}}")
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            match arg {
                Arg::Pipe(p) => write!(f, "({p})")?,
                _ => write!(f, "{arg}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot { .. } => f.write_char('.'),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Field { idents, .. } => idents.iter().try_for_each(|i| write!(f, ".{i}")),
            Arg::Variable { idents, .. } => f.write_str(&idents.join(".")),
            Arg::Bool { value, .. } => write!(f, "{value}"),
            Arg::Number { number, .. } => f.write_str(&number.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => write!(f, "{p}"),
            Arg::Chain { node, fields, .. } => {
                match node.as_ref() {
                    Arg::Pipe(p) => write!(f, "({p})")?,
                    other => write!(f, "{other}")?,
                }
                fields.iter().try_for_each(|i| write!(f, ".{i}"))
            }
        }
    }
}

/// What a parse produces before it joins a template set: trees by name, each checked against
/// the others of the same text (Go's `treeSet`).
pub(crate) type TreeSet = BTreeMap<String, Tree>;

/// The per-tree state of Go's `Tree` during a parse; a `{{define}}` gets its own.
struct TreeState {
    name: String,
    token: [Item; 3],
    peek_count: usize,
    vars: Vec<String>,
    range_depth: usize,
}

impl TreeState {
    fn new(name: &str) -> Self {
        let eof = Item { typ: ItemType::Eof, pos: 0, val: String::new(), line: 1 };
        TreeState {
            name: name.to_string(),
            token: [eof.clone(), eof.clone(), eof],
            peek_count: 0,
            vars: vec!["$".to_string()],
            range_depth: 0,
        }
    }
}

/// Parses `text` named `name` into `trees`. `has_function` says whether a name is a function
/// (Go checks at parse time).
pub(crate) fn parse(
    name: &str,
    text: &str,
    delims: (&str, &str),
    has_function: &dyn Fn(&str) -> bool,
    trees: &mut TreeSet,
) -> Result<(), Error> {
    let shared: Arc<str> = Arc::from(text);
    let mut parser = Parser {
        lex: Lexer::new(text, delims.0, delims.1),
        st: TreeState::new(name),
        parse_name: name.to_string(),
        text: shared,
        has_function,
        trees,
        action_line: 0,
        nesting: 0,
    };
    let root = parser.parse_top()?;
    let tree = Tree { name: name.to_string(), parse_name: name.to_string(), root, text: parser.text.clone() };
    parser.add(tree)
}

struct Parser<'a, 'f> {
    lex: Lexer<'a>,
    st: TreeState,
    parse_name: String,
    text: Arc<str>,
    has_function: &'f dyn Fn(&str) -> bool,
    trees: &'f mut TreeSet,
    action_line: usize,
    nesting: usize,
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// What `itemList` stops at.
enum Stop {
    End,
    /// `{{else}}`; `true` when an `if` or `with` follows it (`{{else if ...}}`).
    Else,
}

/// What `textOrAction` gives: a node, or an `{{end}}` / `{{else}}`.
enum Parsed {
    Node(Node),
    Stop(Stop, &'static str),
}

impl Parser<'_, '_> {
    fn next(&mut self) -> Item {
        if self.st.peek_count > 0 {
            self.st.peek_count -= 1;
        } else {
            self.st.token[0] = self.lex.next_item();
        }
        self.st.token[self.st.peek_count].clone()
    }

    fn backup(&mut self) {
        self.st.peek_count += 1;
    }

    fn backup2(&mut self, t1: Item) {
        self.st.token[1] = t1;
        self.st.peek_count = 2;
    }

    fn backup3(&mut self, t2: Item, t1: Item) {
        self.st.token[1] = t1;
        self.st.token[2] = t2;
        self.st.peek_count = 3;
    }

    fn peek(&mut self) -> Item {
        if self.st.peek_count > 0 {
            return self.st.token[self.st.peek_count - 1].clone();
        }
        self.st.peek_count = 1;
        self.st.token[0] = self.lex.next_item();
        self.st.token[0].clone()
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let token = self.next();
            if token.typ != ItemType::Space {
                return token;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let token = self.next_non_space();
        self.backup();
        token
    }

    fn errorf<T>(&self, message: impl fmt::Display) -> Result<T> {
        Err(Error { message: format!("template: {}:{}: {message}", self.parse_name, self.st.token[0].line) })
    }

    fn expect(&mut self, expected: ItemType, context: &str) -> Result<Item> {
        let token = self.next_non_space();
        if token.typ != expected {
            return self.unexpected(&token, context);
        }
        Ok(token)
    }

    fn unexpected<T>(&self, token: &Item, context: &str) -> Result<T> {
        if token.typ == ItemType::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.parse_name, self.action_line);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{token}{extra}"));
        }
        self.errorf(format!("unexpected {token} in {context}"))
    }

    /// Go's `add`: a second non-empty definition of a name in one text is an error.
    fn add(&mut self, tree: Tree) -> Result<()> {
        match self.trees.get(&tree.name) {
            Some(existing) if !existing.is_empty() => {
                if !tree.is_empty() {
                    return self.errorf(format!("template: multiple definition of template {}", quote(&tree.name)));
                }
                Ok(())
            }
            _ => {
                self.trees.insert(tree.name.clone(), tree);
                Ok(())
            }
        }
    }

    fn parse_top(&mut self) -> Result<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let delim = self.next();
                if self.next_non_space().typ == ItemType::Define {
                    let outer = std::mem::replace(&mut self.st, TreeState::new("definition"));
                    let defined = self.parse_definition();
                    self.st = outer;
                    defined?;
                    continue;
                }
                self.backup2(delim);
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.push(n),
                Parsed::Stop(_, word) => return self.errorf(format!("unexpected {word}")),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> Result<()> {
        let context = "define clause";
        let name = self.next_non_space();
        if !matches!(name.typ, ItemType::String | ItemType::RawString) {
            return self.unexpected(&name, context);
        }
        self.st.name = match unquote(&name.val) {
            Ok(s) => s,
            Err(e) => return self.errorf(e),
        };
        self.expect(ItemType::RightDelim, context)?;
        let (root, stop) = self.item_list()?;
        if !matches!(stop, Stop::End) {
            return self.errorf(format!("unexpected {{{{else}}}} in {context}"));
        }
        let tree =
            Tree { name: self.st.name.clone(), parse_name: self.parse_name.clone(), root, text: self.text.clone() };
        self.add(tree)
    }

    fn item_list(&mut self) -> Result<(Vec<Node>, Stop)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                Parsed::Stop(stop, _) => return Ok((list, stop)),
            }
        }
        self.errorf("unexpected EOF")
    }

    fn text_or_action(&mut self) -> Result<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Text => Ok(Parsed::Node(Node::Text { text: token.val })),
            ItemType::LeftDelim => {
                self.action_line = token.line;
                let action = self.action();
                self.action_line = 0;
                action
            }
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> Result<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Block => return self.block_control().map(Parsed::Node),
            ItemType::Break | ItemType::Continue => {
                let word = if token.typ == ItemType::Break { "{{break}}" } else { "{{continue}}" };
                let next = self.next_non_space();
                if next.typ != ItemType::RightDelim {
                    return self.unexpected(&next, word);
                }
                if self.st.range_depth == 0 {
                    return self.errorf(format!("{word} outside {{{{range}}}}"));
                }
                let pos = token.pos;
                return Ok(Parsed::Node(if token.typ == ItemType::Break {
                    Node::Break { pos }
                } else {
                    Node::Continue { pos }
                }));
            }
            ItemType::Else => {
                let peek = self.peek_non_space();
                if !matches!(peek.typ, ItemType::If | ItemType::With) {
                    self.expect(ItemType::RightDelim, "else")?;
                }
                return Ok(Parsed::Stop(Stop::Else, "{{else}}"));
            }
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(Parsed::Stop(Stop::End, "{{end}}"));
            }
            ItemType::If => return self.control("if").map(|b| Parsed::Node(Node::If(b))),
            ItemType::Range => return self.control("range").map(|b| Parsed::Node(Node::Range(b))),
            ItemType::With => return self.control("with").map(|b| Parsed::Node(Node::With(b))),
            ItemType::Template => return self.template_control().map(Parsed::Node),
            _ => {}
        }
        self.backup();
        let token = self.peek();
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        Ok(Parsed::Node(Node::Action { pos: token.pos, pipe }))
    }

    fn enter(&mut self) -> Result<()> {
        if self.nesting >= MAX_NESTING {
            return self.errorf("max expression depth exceeded");
        }
        self.nesting += 1;
        Ok(())
    }

    fn control(&mut self, context: &'static str) -> Result<Branch> {
        self.enter()?;
        let vars = self.st.vars.len();
        let branch = self.parse_control(context);
        self.st.vars.truncate(vars);
        self.nesting -= 1;
        branch
    }

    fn parse_control(&mut self, context: &'static str) -> Result<Branch> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if context == "range" {
            self.st.range_depth += 1;
        }
        let listed = self.item_list();
        if context == "range" {
            self.st.range_depth -= 1;
        }
        let (list, stop) = listed?;
        let else_list = match stop {
            Stop::End => None,
            Stop::Else => {
                // `{{else if ...}}` and `{{else with ...}}` are `{{else}}{{if ...}}...{{end}}{{end}}`
                // with the inner `{{end}}` standing for both.
                if context == "if" && self.peek().typ == ItemType::If {
                    self.next();
                    Some(vec![Node::If(self.control("if")?)])
                } else if context == "with" && self.peek().typ == ItemType::With {
                    self.next();
                    Some(vec![Node::With(self.control("with")?)])
                } else {
                    let (else_list, stop) = self.item_list()?;
                    if !matches!(stop, Stop::End) {
                        return self.errorf("expected end; found {{else}}");
                    }
                    Some(else_list)
                }
            }
        };
        Ok(Branch { pipe, list, else_list })
    }

    fn block_control(&mut self) -> Result<Node> {
        let context = "block clause";
        let token = self.next_non_space();
        let name = self.parse_template_name(&token, context)?;
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        self.enter()?;
        let outer = std::mem::replace(&mut self.st, TreeState::new(&name));
        let body = self.item_list();
        self.st = outer;
        self.nesting -= 1;
        let (root, stop) = body?;
        if !matches!(stop, Stop::End) {
            return self.errorf(format!("unexpected {{{{else}}}} in {context}"));
        }
        self.add(Tree { name: name.clone(), parse_name: self.parse_name.clone(), root, text: self.text.clone() })?;
        Ok(Node::Template { pos: token.pos, name, pipe: Some(pipe) })
    }

    fn template_control(&mut self) -> Result<Node> {
        let context = "template clause";
        let token = self.next_non_space();
        let name = self.parse_template_name(&token, context)?;
        let mut pipe = None;
        if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(context, ItemType::RightDelim)?);
        }
        Ok(Node::Template { pos: token.pos, name, pipe })
    }

    fn parse_template_name(&self, token: &Item, context: &str) -> Result<String> {
        match token.typ {
            ItemType::String | ItemType::RawString => match unquote(&token.val) {
                Ok(s) => Ok(s),
                Err(e) => self.errorf(e),
            },
            _ => self.unexpected(token, context),
        }
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> Result<Pipe> {
        let token = self.peek_non_space();
        let mut pipe = Pipe { pos: token.pos, is_assign: false, decl: Vec::new(), cmds: Vec::new() };
        // Declarations or assignments: `$x :=`, `$x =`, `$i, $v :=` (range only).
        loop {
            let v = self.peek_non_space();
            if v.typ != ItemType::Variable {
                break;
            }
            self.next();
            // Space is a token, so "$x foo" needs three tokens of look-ahead.
            let token_after_variable = self.peek();
            let next = self.peek_non_space();
            match next.typ {
                ItemType::Assign | ItemType::Declare => {
                    pipe.is_assign = next.typ == ItemType::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.st.vars.push(v.val);
                }
                ItemType::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.st.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().typ {
                            ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => continue,
                            _ => return self.errorf("range can only initialize variables"),
                        }
                    }
                    return self.errorf(format!("too many declarations in {context}"));
                }
                _ if token_after_variable.typ == ItemType::Space => self.backup3(v, token_after_variable),
                _ => self.backup2(v),
            }
            break;
        }
        loop {
            let token = self.next_non_space();
            match token.typ {
                t if t == end => {
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> Result<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool { .. } | Arg::Dot { .. } | Arg::Nil { .. } | Arg::Number { .. } | Arg::String { .. }
            ) {
                return self.errorf(format!("non executable command in pipeline stage {}", i + 1));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> Result<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command { pos, args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                cmd.args.push(operand);
            }
            let token = self.next();
            match token.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Result<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == ItemType::Field {
            fields.push(self.next().val[1..].to_string());
        }
        Ok(Some(match node {
            Arg::Field { idents, .. } => Arg::Field { pos, idents: idents.into_iter().chain(fields).collect() },
            Arg::Variable { idents, .. } => Arg::Variable { pos, idents: idents.into_iter().chain(fields).collect() },
            Arg::Bool { .. } | Arg::String { .. } | Arg::Number { .. } | Arg::Nil { .. } | Arg::Dot { .. } => {
                return self.errorf(format!("unexpected . after term {}", quote(&node.to_string())));
            }
            node => Arg::Chain { pos, node: Box::new(node), fields },
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.typ {
            ItemType::Identifier => {
                if !(self.has_function)(&token.val) {
                    return self.errorf(format!("function {} not defined", quote(&token.val)));
                }
                Arg::Identifier { pos, name: token.val }
            }
            ItemType::Dot => Arg::Dot { pos },
            ItemType::Nil => Arg::Nil { pos },
            ItemType::Variable => {
                let idents: Vec<String> = token.val.split('.').map(str::to_string).collect();
                if !self.st.vars.contains(&idents[0]) {
                    return self.errorf(format!("undefined variable {}", quote(&idents[0])));
                }
                Arg::Variable { pos, idents }
            }
            ItemType::Field => Arg::Field { pos, idents: vec![token.val[1..].to_string()] },
            ItemType::Bool => Arg::Bool { pos, value: token.val == "true" },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => {
                match parse_number(&token.val, token.typ) {
                    Ok(number) => Arg::Number { pos, number },
                    Err(e) => return self.errorf(e),
                }
            }
            ItemType::LeftParen => {
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", ItemType::RightParen);
                self.nesting -= 1;
                Arg::Pipe(pipe?)
            }
            ItemType::String | ItemType::RawString => match unquote(&token.val) {
                Ok(text) => Arg::String { pos, quoted: token.val, text },
                Err(e) => return self.errorf(e),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// Go's `newNumber`: every reading of a constant (int, uint, float), or Go's error.
fn parse_number(text: &str, typ: ItemType) -> Result<Number, String> {
    let mut n = Number { text: text.to_string(), int: None, is_uint: false, float: None };
    // An imaginary constant is one whose part before the `i` reads as a float; otherwise Go
    // goes on and fails as for any bad number.
    let imaginary = text.strip_suffix('i').is_some_and(|f| parse_go_float(f).is_some());
    if typ == ItemType::Complex || imaginary {
        return Err(format!("complex numbers are not supported: {}", quote(text)));
    }
    if typ == ItemType::CharConstant {
        let body = &text[1..];
        let (c, tail) = unquote_char(body, '\'').map_err(|()| "invalid syntax".to_string())?;
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        let v = i64::from(u32::from(c));
        n.int = Some(v);
        n.is_uint = true;
        #[allow(clippy::cast_precision_loss, reason = "a char fits a float64 exactly")]
        {
            n.float = Some(v as f64);
        }
        return Ok(n);
    }
    let parsed = parse_go_int(text);
    if let Some(v) = parsed {
        if let Ok(i) = i64::try_from(v) {
            n.int = Some(i);
        }
        if v >= 0 && u64::try_from(v).is_ok() && !text.starts_with(['+', '-']) {
            n.is_uint = true;
        }
    }
    if let Some(i) = n.int {
        #[allow(clippy::cast_precision_loss, reason = "Go promotes the int to float64 the same way")]
        {
            n.float = Some(i as f64);
        }
    } else if n.is_uint {
        #[allow(clippy::cast_precision_loss, reason = "Go promotes the uint to float64 the same way")]
        {
            n.float = parsed.map(|v| v as f64);
        }
    } else if let Some(f) = parse_go_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", quote(text)));
        }
        n.float = Some(f);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_precision_loss,
            clippy::float_cmp,
            reason = "the int is kept only when exact, as in Go"
        )]
        if f.fract() == 0.0 && f.abs() < 9.2e18 && (f as i64) as f64 == f {
            n.int = Some(f as i64);
        }
    }
    if n.int.is_none() && !n.is_uint && n.float.is_none() {
        return Err(format!("illegal number syntax: {}", quote(text)));
    }
    Ok(n)
}

/// Go's `underscoreOK`: underscores only between digits (or after a base prefix).
fn underscore_ok(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && matches!(c.to_ascii_lowercase(), b'a'..=b'f')) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseInt(text, 0, 64)` without the range check: sign, `0x`/`0o`/`0b`/`0` prefixes
/// and underscores as Go's syntax allows them.
fn parse_go_int(text: &str) -> Option<i128> {
    if text.contains('_') && !underscore_ok(text) {
        return None;
    }
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let body = body.replace('_', "");
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.len() > 70 {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// `strconv.ParseFloat(text, 64)` for the forms the lexer lets through: decimal with optional
/// exponent, and hexadecimal with a `p` exponent.
fn parse_go_float(text: &str) -> Option<f64> {
    if text.contains('_') && !underscore_ok(text) {
        return None;
    }
    let clean = text.replace('_', "");
    let (neg, body) = match clean.as_bytes().first()? {
        b'-' => (true, &clean[1..]),
        b'+' => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let value = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let (mantissa, exp) = hex.split_once(['p', 'P'])?;
        let exp: i32 = exp.parse().ok()?;
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let mut m = 0f64;
        for c in int_part.chars().chain(frac_part.chars()) {
            m = m * 16.0 + f64::from(c.to_digit(16)?);
        }
        let shift = exp - 4 * i32::try_from(frac_part.len()).ok()?;
        m * 2f64.powi(shift)
    } else {
        if !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -value } else { value })
}

/// `strconv.Unquote` for the three quotings a template has.
pub(crate) fn unquote(quoted: &str) -> Result<String, String> {
    let err = || "invalid syntax".to_string();
    if let Some(raw) = quoted.strip_prefix('`').and_then(|s| s.strip_suffix('`')) {
        return Ok(raw.replace('\r', ""));
    }
    let body = quoted.strip_prefix('"').and_then(|s| s.strip_suffix('"')).ok_or_else(err)?;
    let mut out = String::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (c, tail) = unquote_char(rest, '"').map_err(|()| err())?;
        out.push(c);
        rest = tail;
    }
    Ok(out)
}

/// `strconv.UnquoteChar`: the first character of `s` with its escape decoded, and the rest.
fn unquote_char(s: &str, quote: char) -> Result<(char, &str), ()> {
    let mut chars = s.chars();
    let c = chars.next().ok_or(())?;
    if c == quote && (quote == '\'' || quote == '"') {
        return Err(());
    }
    if c != '\\' {
        return Ok((c, chars.as_str()));
    }
    let e = chars.next().ok_or(())?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '\'' | '"' if e == quote => Some(e),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c, rest));
    }
    let hex = |n: usize| -> Result<(u32, &str), ()> {
        let digits = rest.get(..n).ok_or(())?;
        Ok((u32::from_str_radix(digits, 16).map_err(|_| ())?, &rest[n..]))
    };
    match e {
        'x' => {
            let (v, tail) = hex(2)?;
            // A byte escape: Go allows any byte; only the ASCII ones make a char on their own.
            Ok((char::from_u32(v).filter(|_| v < 0x80).ok_or(())?, tail))
        }
        'u' => {
            let (v, tail) = hex(4)?;
            Ok((char::from_u32(v).ok_or(())?, tail))
        }
        'U' => {
            let (v, tail) = hex(8)?;
            Ok((char::from_u32(v).ok_or(())?, tail))
        }
        '0'..='7' => {
            let digits = s.get(1..4).ok_or(())?;
            let v = u32::from_str_radix(digits, 8).map_err(|_| ())?;
            Ok((char::from_u32(v).filter(|_| v < 0x80).ok_or(())?, &s[4..]))
        }
        _ => Err(()),
    }
}
