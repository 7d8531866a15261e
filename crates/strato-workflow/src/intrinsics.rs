//! The intrinsic functions (`States.Format('{}', $.name)` and friends),
//! usable as the value of a `.$` field in `Parameters` and
//! `ResultSelector`. Parsed then evaluated against the state's input and
//! the context object.

use crate::error::StatesError;
use base64::Engine;
use serde_json::{Map, Number, Value};

/// Whether a `.$` value is an intrinsic call rather than a path.
pub fn is_intrinsic(text: &str) -> bool {
    text.starts_with("States.")
}

/// Evaluates an intrinsic call.
pub fn evaluate(text: &str, input: &Value, context: &Value) -> Result<Value, StatesError> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        at: 0,
    };
    let call = parser
        .call()
        .and_then(|call| match parser.at == parser.chars.len() {
            true => Ok(call),
            false => Err("unexpected text after the call".into()),
        })
        .map_err(|e| StatesError::intrinsic(format!("the intrinsic {text:?} is invalid: {e}")))?;
    eval(&call, input, context)
}

/// Checks an intrinsic call's syntax and function names (at deploy).
pub fn check(text: &str) -> Result<(), String> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        at: 0,
    };
    let call = parser.call()?;
    if parser.at != parser.chars.len() {
        return Err("unexpected text after the call".into());
    }
    check_names(&call)
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Literal(Value),
    Path(String),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq)]
struct Call {
    name: String,
    args: Vec<Arg>,
}

const FUNCTIONS: &[&str] = &[
    "Format",
    "StringToJson",
    "JsonToString",
    "Array",
    "ArrayPartition",
    "ArrayContains",
    "ArrayRange",
    "ArrayGetItem",
    "ArrayLength",
    "ArrayUnique",
    "Base64Encode",
    "Base64Decode",
    "Hash",
    "JsonMerge",
    "MathRandom",
    "MathAdd",
    "StringSplit",
    "UUID",
];

fn check_names(call: &Call) -> Result<(), String> {
    if !FUNCTIONS.contains(&call.name.as_str()) {
        return Err(format!("States.{} is not an intrinsic function", call.name));
    }
    for arg in &call.args {
        match arg {
            Arg::Call(inner) => check_names(inner)?,
            Arg::Path(path) => {
                crate::path::JsonPath::parse(path)?;
            }
            Arg::Literal(_) => {}
        }
    }
    Ok(())
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.at += 1;
        }
    }

    fn call(&mut self) -> Result<Call, String> {
        let rest: String = self.chars[self.at..].iter().collect();
        if !rest.starts_with("States.") {
            return Err("an intrinsic starts with States.".into());
        }
        self.at += "States.".len();
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.at += 1;
        }
        let name: String = self.chars[start..self.at].iter().collect();
        if self.peek() != Some('(') {
            return Err(format!("States.{name} needs its arguments in parentheses"));
        }
        self.at += 1;
        let mut args = Vec::new();
        self.skip_spaces();
        if self.peek() == Some(')') {
            self.at += 1;
            return Ok(Call { name, args });
        }
        loop {
            self.skip_spaces();
            args.push(self.arg()?);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.at += 1,
                Some(')') => {
                    self.at += 1;
                    return Ok(Call { name, args });
                }
                _ => return Err(format!("States.{name}: a ',' or ')' is missing")),
            }
        }
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.peek() {
            Some('\'') => self.string().map(|s| Arg::Literal(Value::String(s))),
            Some('$') => Ok(Arg::Path(self.path())),
            Some('S') => self.call().map(Arg::Call),
            Some(_) => {
                let start = self.at;
                while self.peek().is_some_and(|c| !matches!(c, ',' | ')' | ' ')) {
                    self.at += 1;
                }
                let text: String = self.chars[start..self.at].iter().collect();
                match serde_json::from_str::<Value>(&text) {
                    Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                        Ok(Arg::Literal(v))
                    }
                    _ => Err(format!(
                        "{text:?} is not an argument (quote strings with ')"
                    )),
                }
            }
            None => Err("an argument is missing".into()),
        }
    }

    /// A path, up to a ',' or ')' outside brackets and quotes.
    fn path(&mut self) -> String {
        let start = self.at;
        let (mut depth, mut quote) = (0, None);
        while let Some(c) = self.peek() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '[') => depth += 1,
                (None, ']') => depth -= 1,
                (None, ',' | ')') if depth == 0 => break,
                _ => {}
            }
            self.at += 1;
        }
        self.chars[start..self.at]
            .iter()
            .collect::<String>()
            .trim_end()
            .to_string()
    }

    /// A 'quoted' string; `\'`, `\{`, `\}` and `\\` escape. Braces keep
    /// their backslash so Format can tell an escaped brace from a `{}`.
    fn string(&mut self) -> Result<String, String> {
        self.at += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("a closing ' is missing".into()),
                Some('\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(c @ ('{' | '}')) => {
                            out.push('\\');
                            out.push(c);
                        }
                        Some(c) => out.push(c),
                        None => return Err("a string ends in \\".into()),
                    }
                    self.at += 1;
                }
                Some('\'') => {
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
}

fn eval(call: &Call, input: &Value, context: &Value) -> Result<Value, StatesError> {
    let args: Vec<Value> = call
        .args
        .iter()
        .map(|arg| match arg {
            Arg::Literal(Value::String(s)) if call.name != "Format" => {
                Ok(Value::String(s.replace("\\{", "{").replace("\\}", "}")))
            }
            Arg::Literal(v) => Ok(v.clone()),
            Arg::Path(p) => crate::path::read(p, input, context),
            Arg::Call(inner) => eval(inner, input, context),
        })
        .collect::<Result<_, _>>()?;
    let fail = |why: String| StatesError::intrinsic(format!("States.{}: {why}", call.name));
    let count = |n: std::ops::RangeInclusive<usize>| -> Result<(), StatesError> {
        match n.contains(&args.len()) {
            true => Ok(()),
            false => Err(fail(format!(
                "takes {} arguments, got {}",
                if n.start() == n.end() {
                    n.start().to_string()
                } else {
                    format!("{} to {}", n.start(), n.end())
                },
                args.len()
            ))),
        }
    };
    let string = |v: &Value, what: &str| -> Result<String, StatesError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| fail(format!("{what} must be a string")))
    };
    let array = |v: &Value, what: &str| -> Result<Vec<Value>, StatesError> {
        v.as_array()
            .cloned()
            .ok_or_else(|| fail(format!("{what} must be an array")))
    };
    let integer = |v: &Value, what: &str| -> Result<i64, StatesError> {
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| fail(format!("{what} must be an integer")))
    };
    Ok(match call.name.as_str() {
        "Format" => {
            let template = string(
                args.first()
                    .ok_or_else(|| fail("a template is required".into()))?,
                "the template",
            )?;
            format(&template, &args[1..]).map_err(fail)?
        }
        "StringToJson" => {
            count(1..=1)?;
            serde_json::from_str(&string(&args[0], "the argument")?)
                .map_err(|e| fail(format!("not JSON: {e}")))?
        }
        "JsonToString" => {
            count(1..=1)?;
            Value::String(crate::payload::compact(&args[0]))
        }
        "Array" => Value::Array(args),
        "ArrayPartition" => {
            count(2..=2)?;
            let size = integer(&args[1], "the chunk size")?;
            if size <= 0 {
                return Err(fail("the chunk size must be positive".into()));
            }
            let items = array(&args[0], "the first argument")?;
            Value::Array(
                items
                    .chunks(size as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            )
        }
        "ArrayContains" => {
            count(2..=2)?;
            Value::Bool(array(&args[0], "the first argument")?.contains(&args[1]))
        }
        "ArrayRange" => {
            count(3..=3)?;
            let (start, end, step) = (
                integer(&args[0], "the start")?,
                integer(&args[1], "the end")?,
                integer(&args[2], "the step")?,
            );
            if step == 0 {
                return Err(fail("the step must not be 0".into()));
            }
            let mut items = Vec::new();
            let mut i = start;
            while (step > 0 && i <= end) || (step < 0 && i >= end) {
                if items.len() == 1000 {
                    return Err(fail("the range holds more than 1000 items".into()));
                }
                items.push(Value::from(i));
                i += step;
            }
            Value::Array(items)
        }
        "ArrayGetItem" => {
            count(2..=2)?;
            let items = array(&args[0], "the first argument")?;
            let i = integer(&args[1], "the index")?;
            usize::try_from(i)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .ok_or_else(|| fail(format!("index {i} is out of bounds")))?
        }
        "ArrayLength" => {
            count(1..=1)?;
            Value::from(array(&args[0], "the argument")?.len())
        }
        "ArrayUnique" => {
            count(1..=1)?;
            let mut unique: Vec<Value> = Vec::new();
            for item in array(&args[0], "the argument")? {
                if !unique.contains(&item) {
                    unique.push(item);
                }
            }
            Value::Array(unique)
        }
        "Base64Encode" => {
            count(1..=1)?;
            let text = string(&args[0], "the argument")?;
            if text.len() > 10_000 {
                return Err(fail("the input is longer than 10,000 characters".into()));
            }
            Value::String(base64::engine::general_purpose::STANDARD.encode(text))
        }
        "Base64Decode" => {
            count(1..=1)?;
            let text = string(&args[0], "the argument")?;
            if text.len() > 10_000 {
                return Err(fail("the input is longer than 10,000 characters".into()));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| fail(format!("not base64: {e}")))?;
            Value::String(
                String::from_utf8(bytes)
                    .map_err(|_| fail("the decoded bytes are not UTF-8".into()))?,
            )
        }
        "Hash" => {
            count(2..=2)?;
            let data = match &args[0] {
                Value::String(s) => s.clone(),
                other => crate::payload::compact(other),
            };
            Value::String(hash(&data, &string(&args[1], "the algorithm")?).map_err(fail)?)
        }
        "JsonMerge" => {
            count(3..=3)?;
            if args[2] != Value::Bool(false) {
                return Err(fail(
                    "only shallow merges are supported (the third argument must be false)".into(),
                ));
            }
            let (Value::Object(a), Value::Object(b)) = (&args[0], &args[1]) else {
                return Err(fail("both arguments must be objects".into()));
            };
            let mut merged: Map<String, Value> = a.clone();
            merged.extend(b.clone());
            Value::Object(merged)
        }
        "MathRandom" => {
            count(2..=3)?;
            let (start, end) = (
                integer(&args[0], "the start")?,
                integer(&args[1], "the end")?,
            );
            if start >= end {
                return Err(fail("the start must be below the end".into()));
            }
            let n = match args.get(2) {
                Some(seed) => {
                    use rand::{Rng, SeedableRng};
                    let seed = integer(seed, "the seed")?;
                    rand::rngs::StdRng::seed_from_u64(seed as u64).random_range(start..end)
                }
                None => rand::random_range(start..end),
            };
            Value::from(n)
        }
        "MathAdd" => {
            count(2..=2)?;
            let sum = integer(&args[0], "the first number")?
                .checked_add(integer(&args[1], "the second number")?)
                .ok_or_else(|| fail("the sum overflows".into()))?;
            Value::Number(Number::from(sum))
        }
        "StringSplit" => {
            count(2..=2)?;
            let text = string(&args[0], "the string")?;
            let delimiters: Vec<char> = string(&args[1], "the delimiters")?.chars().collect();
            Value::Array(
                text.split(|c| delimiters.contains(&c))
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            )
        }
        "UUID" => {
            count(0..=0)?;
            Value::String(uuid::Uuid::new_v4().to_string())
        }
        other => {
            return Err(StatesError::intrinsic(format!(
                "States.{other} is not an intrinsic function"
            )));
        }
    })
}

/// `States.Format`: each `{}` takes the next argument (strings as they
/// are, anything else as JSON); `\{` and `\}` are braces.
fn format(template: &str, args: &[Value]) -> Result<Value, String> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('{' | '}')) => out.extend(chars.next()),
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                let arg = next
                    .next()
                    .ok_or("the template has more {} than arguments")?;
                match arg {
                    Value::String(s) => out.push_str(s),
                    Value::Array(_) | Value::Object(_) => {
                        return Err("arguments must be strings, numbers, booleans or null".into());
                    }
                    other => out.push_str(&other.to_string()),
                }
            }
            c => out.push(c),
        }
    }
    if next.next().is_some() {
        return Err("the template has fewer {} than arguments".into());
    }
    Ok(Value::String(out))
}

fn hash(data: &str, algorithm: &str) -> Result<String, String> {
    use sha2::Digest;
    Ok(match algorithm {
        "MD5" => hex::encode(md5::Md5::digest(data)),
        "SHA-1" => hex::encode(sha1::Sha1::digest(data)),
        "SHA-256" => hex::encode(sha2::Sha256::digest(data)),
        "SHA-384" => hex::encode(sha2::Sha384::digest(data)),
        "SHA-512" => hex::encode(sha2::Sha512::digest(data)),
        other => {
            return Err(format!(
                "{other:?} is not one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(text: &str, input: Value) -> Value {
        evaluate(text, &input, &json!({"Execution": {"Name": "run-1"}})).unwrap()
    }

    // Inputs and outputs from AWS's "Intrinsic functions" page.
    #[test]
    fn the_documented_examples_give_the_documented_results() {
        assert_eq!(
            run(
                "States.Format('Hello, my name is {}.', $.name)",
                json!({"name": "Arnav"})
            ),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            run(
                "States.StringToJson($.escapedJsonString)",
                json!({"escapedJsonString": "{\"foo\": \"bar\"}"})
            ),
            json!({"foo": "bar"})
        );
        assert_eq!(
            run(
                "States.JsonToString($.unescapedJson)",
                json!({"unescapedJson": {"foo": "bar"}})
            ),
            json!("{\"foo\":\"bar\"}")
        );
        assert_eq!(
            run(
                "States.Array('Foo', 2020, $.someJson, null)",
                json!({"someJson": {"random": "abcdefg"}})
            ),
            json!(["Foo", 2020, {"random": "abcdefg"}, null])
        );
        assert_eq!(
            run(
                "States.ArrayPartition($.inputArray, 4)",
                json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
            ),
            json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
        );
        assert_eq!(
            run(
                "States.ArrayContains($.inputArray, $.lookingFor)",
                json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5})
            ),
            json!(true)
        );
        assert_eq!(
            run("States.ArrayRange(1, 9, 2)", json!({})),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            run(
                "States.ArrayGetItem($.inputArray, $.index)",
                json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5})
            ),
            json!(6)
        );
        assert_eq!(
            run(
                "States.ArrayLength($.inputArray)",
                json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
            ),
            json!(9)
        );
        assert_eq!(
            run(
                "States.ArrayUnique($.inputArray)",
                json!({"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]})
            ),
            json!([1, 2, 3, 4])
        );
        assert_eq!(
            run(
                "States.Base64Encode($.input)",
                json!({"input": "Data to encode"})
            ),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            run(
                "States.Base64Decode($.base64)",
                json!({"base64": "RGF0YSB0byBlbmNvZGU="})
            ),
            json!("Data to encode")
        );
        assert_eq!(
            run(
                "States.Hash($.Data, $.Algorithm)",
                json!({"Data": "input data", "Algorithm": "SHA-1"})
            ),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(
            run(
                "States.JsonMerge($.json1, $.json2, false)",
                json!({
                    "json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
                    "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}
                })
            ),
            json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3})
        );
        assert_eq!(
            run(
                "States.MathAdd($.value1, $.step)",
                json!({"value1": 111, "step": -1})
            ),
            json!(110)
        );
        assert_eq!(
            run(
                "States.StringSplit($.inputString, $.splitter)",
                json!({"inputString": "1,2,3,4,5", "splitter": ","})
            ),
            json!(["1", "2", "3", "4", "5"])
        );
        assert_eq!(
            run(
                "States.StringSplit($.inputString, $.splitter)",
                json!({"inputString": "This.is+a,test=string", "splitter": ".+,="})
            ),
            json!(["This", "is", "a", "test", "string"])
        );
    }

    #[test]
    fn format_escapes_nesting_randoms_and_uuids() {
        assert_eq!(
            run(
                "States.Format('\\{literal\\} {} and {}', $$.Execution.Name, 3)",
                json!({})
            ),
            json!("{literal} run-1 and 3")
        );
        assert_eq!(
            run(
                "States.ArrayLength(States.Array(1, 'two', States.UUID()))",
                json!({})
            ),
            json!(3)
        );
        let n = run("States.MathRandom(1, 10)", json!({})).as_i64().unwrap();
        assert!((1..10).contains(&n));
        let seeded = run("States.MathRandom(1, 1000, 7)", json!({}));
        assert_eq!(seeded, run("States.MathRandom(1, 1000, 7)", json!({})));
        let id = run("States.UUID()", json!({}));
        assert_eq!(id.as_str().unwrap().len(), 36);
        assert_eq!(
            run("States.ArrayGetItem($.a[*], 1)", json!({"a": [4, 5]})),
            json!(5)
        );
    }

    #[test]
    fn bad_calls_fail_with_intrinsic_failure() {
        for bad in [
            "States.Nope(1)",
            "States.Format('{} {}', 1)",
            "States.ArrayGetItem(States.Array(1), 3)",
            "States.Hash('x', 'CRC')",
            "States.JsonMerge($.a, $.a, true)",
            "States.ArrayRange(1, 5000, 1)",
            "States.Array(1",
        ] {
            let err = evaluate(bad, &json!({"a": {}}), &json!({})).unwrap_err();
            assert_eq!(err.error, "States.IntrinsicFailure", "{bad}: {err}");
        }
        assert!(check("States.Format('{}', $.x)").is_ok());
        assert!(check("States.Frobnicate()").is_err());
    }
}
