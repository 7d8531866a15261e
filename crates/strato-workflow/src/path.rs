//! JSONPath as the States Language uses it: reference paths (`$.a.b[0]`,
//! only names and indexes, one value) for `InputPath`, `OutputPath`,
//! `ResultPath`, `ItemsPath` and `...Path` comparisons, and full paths
//! (wildcards, slices, unions, recursive descent, filters) in `Parameters`
//! and `ResultSelector`, where a path selecting several nodes yields an
//! array. A path starting `$$` reads the context object instead.

use crate::error::StatesError;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Field(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, i64),
    Union(Vec<Selector>),
    Descend(Box<Segment>),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Field(String),
    Index(i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Exists(Vec<Segment>),
    Compare(Vec<Segment>, Op, Value),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    /// Written `$$...`: reads the context object.
    context: bool,
    segments: Vec<Segment>,
}

impl JsonPath {
    /// Parses `$...`, or `$$...` (a path into the context object).
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let rest = text
            .strip_prefix('$')
            .ok_or_else(|| format!("the path {text:?} must start with $"))?;
        let (context, rest) = match rest.strip_prefix('$') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let mut parser = Parser {
            chars: rest.chars().collect(),
            at: 0,
        };
        let segments = parser
            .segments(false)
            .map_err(|e| format!("the path {text:?} is invalid: {e}"))?;
        Ok(JsonPath {
            text: text.to_string(),
            context,
            segments,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it reads the context object (`$$...`).
    pub fn is_context(&self) -> bool {
        self.context
    }

    /// The value it names in `input`, or in `context` for a `$$` path
    /// (see [`JsonPath::get`]).
    pub fn get_in(&self, input: &Value, context: &Value) -> Option<Value> {
        self.get(if self.context { context } else { input })
    }

    /// Whether it names at most one node (names and indexes only): what a
    /// reference path must be.
    pub fn is_reference(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Field(_) | Segment::Index(_)))
    }

    /// The nodes it selects in `root`, in document order.
    pub fn select(&self, root: &Value) -> Vec<Value> {
        let mut nodes = vec![root];
        for segment in &self.segments {
            nodes = nodes.into_iter().flat_map(|n| apply(segment, n)).collect();
        }
        nodes.into_iter().cloned().collect()
    }

    /// The value it names: for a reference path the one node (None if
    /// missing); for another path an array of every node selected.
    pub fn get(&self, root: &Value) -> Option<Value> {
        let mut found = self.select(root);
        if self.is_reference() {
            found.pop()
        } else {
            Some(Value::Array(found))
        }
    }

    /// `input` with `value` placed at this reference path (made of names),
    /// objects created on the way: what `ResultPath` does.
    pub fn write(&self, input: Value, value: Value) -> Result<Value, StatesError> {
        let mut names = Vec::new();
        for segment in &self.segments {
            match segment {
                Segment::Field(name) => names.push(name.as_str()),
                _ => {
                    return Err(StatesError::new(
                        crate::error::names::RESULT_PATH_MATCH_FAILURE,
                        format!("the ResultPath {} may only name fields", self.text),
                    ));
                }
            }
        }
        let Some((last, parents)) = names.split_last() else {
            return Ok(value);
        };
        let mut root = input;
        let mut node = &mut root;
        for name in parents {
            let object = node.as_object_mut().ok_or_else(|| self.mismatch())?;
            node = object
                .entry(name.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        node.as_object_mut()
            .ok_or_else(|| self.mismatch())?
            .insert(last.to_string(), value);
        Ok(root)
    }

    fn mismatch(&self) -> StatesError {
        StatesError::new(
            crate::error::names::RESULT_PATH_MATCH_FAILURE,
            format!(
                "Unable to apply ReferencePath {} to input: a step on the way is not an object",
                self.text
            ),
        )
    }
}

/// Reads `text` (`$...` from `input`, `$$...` from `context`) as
/// `Parameters` does: a reference path must find its node, another path
/// yields an array.
pub fn read(text: &str, input: &Value, context: &Value) -> Result<Value, StatesError> {
    let parsed = JsonPath::parse(text).map_err(StatesError::runtime)?;
    let root = if parsed.context { context } else { input };
    parsed.get(root).ok_or_else(|| {
        StatesError::runtime(format!(
            "The JSONPath '{text}' could not be found in the input '{}'",
            crate::payload::compact(root)
        ))
    })
}

fn apply<'v>(segment: &Segment, node: &'v Value) -> Vec<&'v Value> {
    match (segment, node) {
        (Segment::Field(name), Value::Object(map)) => map.get(name).into_iter().collect(),
        (Segment::Index(i), Value::Array(items)) => index(items, *i).into_iter().collect(),
        (Segment::Wildcard, Value::Object(map)) => map.values().collect(),
        (Segment::Wildcard, Value::Array(items)) => items.iter().collect(),
        (Segment::Slice(start, end, step), Value::Array(items)) => {
            slice(items, *start, *end, *step)
        }
        (Segment::Union(selectors), _) => selectors
            .iter()
            .flat_map(|s| match (s, node) {
                (Selector::Field(name), Value::Object(map)) => map.get(name),
                (Selector::Index(i), Value::Array(items)) => index(items, *i),
                _ => None,
            })
            .collect(),
        (Segment::Descend(inner), _) => {
            let mut out = Vec::new();
            descend(inner, node, &mut out);
            out
        }
        (Segment::Filter(filter), Value::Array(items)) => {
            items.iter().filter(|item| holds(filter, item)).collect()
        }
        (Segment::Filter(filter), Value::Object(map)) => {
            map.values().filter(|item| holds(filter, item)).collect()
        }
        _ => Vec::new(),
    }
}

fn descend<'v>(segment: &Segment, node: &'v Value, out: &mut Vec<&'v Value>) {
    out.extend(apply(segment, node));
    match node {
        Value::Object(map) => map.values().for_each(|v| descend(segment, v, out)),
        Value::Array(items) => items.iter().for_each(|v| descend(segment, v, out)),
        _ => {}
    }
}

fn index(items: &[Value], i: i64) -> Option<&Value> {
    let i = if i < 0 { items.len() as i64 + i } else { i };
    usize::try_from(i).ok().and_then(|i| items.get(i))
}

fn slice(items: &[Value], start: Option<i64>, end: Option<i64>, step: i64) -> Vec<&Value> {
    let len = items.len() as i64;
    let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let (start, end) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
    let mut out = Vec::new();
    let mut i = start;
    while i < end && step > 0 {
        out.push(&items[i as usize]);
        i += step;
    }
    out
}

fn holds(filter: &Filter, item: &Value) -> bool {
    let find = |segments: &[Segment]| -> Option<Value> {
        let path = JsonPath {
            text: String::new(),
            context: false,
            segments: segments.to_vec(),
        };
        path.select(item).into_iter().next()
    };
    match filter {
        Filter::Exists(path) => find(path).is_some(),
        Filter::Compare(path, op, literal) => match find(path) {
            Some(value) => compare(&value, *op, literal),
            None => false,
        },
        Filter::And(a, b) => holds(a, item) && holds(b, item),
        Filter::Or(a, b) => holds(a, item) || holds(b, item),
    }
}

fn compare(value: &Value, op: Op, literal: &Value) -> bool {
    use std::cmp::Ordering;
    let order = match (value, literal) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (a, b) => (a == b).then_some(Ordering::Equal),
    };
    match op {
        Op::Eq => order == Some(Ordering::Equal),
        Op::Ne => order != Some(Ordering::Equal),
        Op::Lt => order == Some(Ordering::Less),
        Op::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
        Op::Gt => order == Some(Ordering::Greater),
        Op::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.at += 1;
        }
    }

    /// Segments up to the end (or, inside a filter, up to an operator).
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Segment>, String> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Ok(out),
                Some('.') => {
                    self.at += 1;
                    if self.eat('.') {
                        let inner = if self.peek() == Some('[') {
                            self.at += 1;
                            self.bracket()?
                        } else {
                            self.dotted()?
                        };
                        out.push(Segment::Descend(Box::new(inner)));
                    } else {
                        out.push(self.dotted()?);
                    }
                }
                Some('[') => {
                    self.at += 1;
                    out.push(self.bracket()?);
                }
                Some(_) if in_filter => return Ok(out),
                Some(c) => return Err(format!("unexpected {c:?}")),
            }
        }
    }

    fn dotted(&mut self) -> Result<Segment, String> {
        if self.eat('*') {
            return Ok(Segment::Wildcard);
        }
        let start = self.at;
        while let Some(c) = self.peek() {
            if matches!(c, '.' | '[' | ' ' | ')' | '=' | '!' | '<' | '>' | '&' | '|') {
                break;
            }
            self.at += 1;
        }
        if self.at == start {
            return Err("a name is missing after '.'".into());
        }
        Ok(Segment::Field(self.chars[start..self.at].iter().collect()))
    }

    fn bracket(&mut self) -> Result<Segment, String> {
        self.skip_spaces();
        let segment = if self.eat('*') {
            Segment::Wildcard
        } else if self.eat('?') {
            if !self.eat('(') {
                return Err("a filter is written [?(...)]".into());
            }
            let filter = self.filter()?;
            if !self.eat(')') {
                return Err("a filter's ')' is missing".into());
            }
            Segment::Filter(filter)
        } else {
            let mut selectors = Vec::new();
            let mut slice = None;
            loop {
                self.skip_spaces();
                match self.peek() {
                    Some('\'') | Some('"') => selectors.push(Selector::Field(self.quoted()?)),
                    _ => {
                        let first = self.integer()?;
                        if self.peek() == Some(':') {
                            self.at += 1;
                            let end = self.integer()?;
                            let step = if self.eat(':') { self.integer()? } else { None };
                            slice = Some(Segment::Slice(first, end, step.unwrap_or(1)));
                            break;
                        }
                        selectors.push(Selector::Index(
                            first.ok_or("an index or a quoted name is expected")?,
                        ));
                    }
                }
                self.skip_spaces();
                if !self.eat(',') {
                    break;
                }
            }
            match (slice, selectors.len()) {
                (Some(s), _) => s,
                (None, 1) => match selectors.pop().expect("one") {
                    Selector::Field(name) => Segment::Field(name),
                    Selector::Index(i) => Segment::Index(i),
                },
                (None, _) => Segment::Union(selectors),
            }
        };
        self.skip_spaces();
        if !self.eat(']') {
            return Err("a ']' is missing".into());
        }
        Ok(segment)
    }

    fn integer(&mut self) -> Result<Option<i64>, String> {
        self.skip_spaces();
        let start = self.at;
        if self.peek() == Some('-') {
            self.at += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| format!("{text:?} is not an index"))
    }

    fn quoted(&mut self) -> Result<String, String> {
        let quote = self.peek().expect("a quote");
        self.at += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("a closing quote is missing".into()),
                Some('\\') => {
                    self.at += 1;
                    out.extend(self.peek());
                    self.at += 1;
                }
                Some(c) if c == quote => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn filter(&mut self) -> Result<Filter, String> {
        let mut left = self.comparison()?;
        loop {
            self.skip_spaces();
            if self.peek() == Some('&') && self.chars.get(self.at + 1) == Some(&'&') {
                self.at += 2;
                left = Filter::And(Box::new(left), Box::new(self.comparison()?));
            } else if self.peek() == Some('|') && self.chars.get(self.at + 1) == Some(&'|') {
                self.at += 2;
                left = Filter::Or(Box::new(left), Box::new(self.comparison()?));
            } else {
                return Ok(left);
            }
        }
    }

    fn comparison(&mut self) -> Result<Filter, String> {
        self.skip_spaces();
        if !self.eat('@') {
            return Err("a filter compares @ paths".into());
        }
        let path = self.segments(true)?;
        self.skip_spaces();
        let op = match (self.peek(), self.chars.get(self.at + 1).copied()) {
            (Some('='), Some('=')) => Op::Eq,
            (Some('!'), Some('=')) => Op::Ne,
            (Some('<'), Some('=')) => Op::Le,
            (Some('>'), Some('=')) => Op::Ge,
            (Some('<'), _) => Op::Lt,
            (Some('>'), _) => Op::Gt,
            _ => return Ok(Filter::Exists(path)),
        };
        self.at += if matches!(op, Op::Lt | Op::Gt) { 1 } else { 2 };
        self.skip_spaces();
        let literal = match self.peek() {
            Some('\'') | Some('"') => Value::String(self.quoted()?),
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, ' ' | ')' | '&' | '|'))
                {
                    self.at += 1;
                }
                let text: String = self.chars[start..self.at].iter().collect();
                serde_json::from_str(&text).map_err(|_| format!("{text:?} is not a literal"))?
            }
        };
        Ok(Filter::Compare(path, op, literal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(path: &str, input: &Value) -> Option<Value> {
        JsonPath::parse(path).unwrap().get(input)
    }

    #[test]
    fn reference_paths_name_one_node() {
        let input = json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true}});
        // The examples of the States Language specification.
        assert_eq!(get("$.foo", &input), Some(json!(123)));
        assert_eq!(get("$.bar", &input), Some(json!(["a", "b", "c"])));
        assert_eq!(get("$.car.cdr", &input), Some(json!(true)));
        assert_eq!(get("$.bar[0]", &input), Some(json!("a")));
        assert_eq!(get("$.bar[-1]", &input), Some(json!("c")));
        assert_eq!(get("$['car']['cdr']", &input), Some(json!(true)));
        assert_eq!(get("$", &input), Some(input.clone()));
        assert_eq!(get("$.nope", &input), None);
        assert!(JsonPath::parse("$.bar[0]").unwrap().is_reference());
        assert!(!JsonPath::parse("$.bar[*]").unwrap().is_reference());
    }

    #[test]
    fn full_paths_select_arrays() {
        let input = json!({"items": [
            {"name": "a", "price": 5, "tags": ["x"]},
            {"name": "b", "price": 15},
            {"name": "c", "price": 25, "tags": []}
        ]});
        assert_eq!(get("$.items[*].name", &input), Some(json!(["a", "b", "c"])));
        assert_eq!(get("$.items[0:2].name", &input), Some(json!(["a", "b"])));
        assert_eq!(get("$.items[0,2].price", &input), Some(json!([5, 25])));
        assert_eq!(get("$..price", &input), Some(json!([5, 15, 25])));
        assert_eq!(
            get("$.items[?(@.price > 10)].name", &input),
            Some(json!(["b", "c"]))
        );
        assert_eq!(
            get("$.items[?(@.price >= 5 && @.name != 'c')].name", &input),
            Some(json!(["a", "b"]))
        );
        assert_eq!(
            get("$.items[?(@.tags)].name", &input),
            Some(json!(["a", "c"]))
        );
        assert_eq!(get("$.missing[*]", &input), Some(json!([])));
    }

    #[test]
    fn result_paths_place_values_and_refuse_non_objects() {
        let input = json!({"comment": "An input", "details": "x"});
        let placed = JsonPath::parse("$.results.sum")
            .unwrap()
            .write(input.clone(), json!(3))
            .unwrap();
        assert_eq!(
            placed,
            json!({"comment": "An input", "details": "x", "results": {"sum": 3}})
        );
        let replaced = JsonPath::parse("$").unwrap().write(input.clone(), json!(1));
        assert_eq!(replaced.unwrap(), json!(1));
        let err = JsonPath::parse("$.details.deeper")
            .unwrap()
            .write(input, json!(1))
            .unwrap_err();
        assert_eq!(err.error, "States.ResultPathMatchFailure");
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["foo", "$.", "$[", "$[?(x)]", "$.a b"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn context_paths_read_the_context_object() {
        let ctx = json!({"Execution": {"Id": "e1"}});
        assert_eq!(
            read("$$.Execution.Id", &json!({}), &ctx).unwrap(),
            json!("e1")
        );
        assert_eq!(
            read("$.x", &json!({}), &ctx).unwrap_err().error,
            "States.Runtime"
        );
    }
}
