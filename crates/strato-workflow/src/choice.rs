//! Choice rules: the comparison operators, `And`/`Or`/`Not`, and the
//! type tests, parsed at deploy and evaluated against a state's input.

use crate::error::StatesError;
use crate::path::JsonPath;
use serde_json::Value;

/// One rule (a top-level one has a `Next`; nested ones don't).
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test { variable: JsonPath, test: Test },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `IsNull`, `IsPresent`, ... with the expected answer.
    Is(Kind, bool),
    StringMatches(String),
    Compare(Kind, Cmp, Operand),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
    Null,
    Present,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Literal(Value),
    Path(String),
}

const COMPARISONS: &[(&str, Kind)] = &[
    ("String", Kind::String),
    ("Numeric", Kind::Numeric),
    ("Boolean", Kind::Boolean),
    ("Timestamp", Kind::Timestamp),
];

const CMPS: &[(&str, Cmp)] = &[
    ("Equals", Cmp::Equals),
    ("LessThanEquals", Cmp::LessThanEquals),
    ("GreaterThanEquals", Cmp::GreaterThanEquals),
    ("LessThan", Cmp::LessThan),
    ("GreaterThan", Cmp::GreaterThan),
];

const TYPE_TESTS: &[(&str, Kind)] = &[
    ("IsNull", Kind::Null),
    ("IsPresent", Kind::Present),
    ("IsNumeric", Kind::Numeric),
    ("IsString", Kind::String),
    ("IsBoolean", Kind::Boolean),
    ("IsTimestamp", Kind::Timestamp),
];

/// Parses a rule; `top` allows (and the caller reads) `Next`.
pub fn parse_rule(value: &Value, top: bool) -> Result<Rule, String> {
    let fields = value.as_object().ok_or("a choice rule must be an object")?;
    for key in fields.keys() {
        let allowed = key == "Variable" || key == "Comment" || (top && key == "Next");
        if !allowed && !is_operator(key) {
            return Err(format!("a choice rule has an unknown field {key:?}"));
        }
    }
    let operators: Vec<&String> = fields.keys().filter(|k| is_operator(k)).collect();
    let [op] = operators.as_slice() else {
        return Err(format!(
            "a choice rule needs exactly one comparison operator, And, Or or Not (it has {})",
            operators.len()
        ));
    };
    let operand = &fields[op.as_str()];
    let list = |what: &str| -> Result<Vec<Rule>, String> {
        let items = operand
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("{what} needs a non-empty array of rules"))?;
        items.iter().map(|r| parse_rule(r, false)).collect()
    };
    match op.as_str() {
        "And" => return Ok(Rule::And(list("And")?)),
        "Or" => return Ok(Rule::Or(list("Or")?)),
        "Not" => return Ok(Rule::Not(Box::new(parse_rule(operand, false)?))),
        _ => {}
    }
    let variable = fields
        .get("Variable")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the {op} rule needs a Variable (a path such as $.value)"))?;
    let variable = JsonPath::parse(variable).map_err(|e| format!("the Variable: {e}"))?;
    let test = parse_test(op, operand)?;
    Ok(Rule::Test { variable, test })
}

fn is_operator(key: &str) -> bool {
    matches!(key, "And" | "Or" | "Not" | "StringMatches")
        || TYPE_TESTS.iter().any(|(name, _)| *name == key)
        || split_comparison(key).is_some()
}

fn split_comparison(key: &str) -> Option<(Kind, Cmp, bool)> {
    let (key, is_path) = match key.strip_suffix("Path") {
        Some(k) => (k, true),
        None => (key, false),
    };
    for (prefix, kind) in COMPARISONS {
        if let Some(rest) = key.strip_prefix(prefix) {
            for (name, cmp) in CMPS {
                if rest == *name && (*kind != Kind::Boolean || *cmp == Cmp::Equals) {
                    return Some((*kind, *cmp, is_path));
                }
            }
        }
    }
    None
}

fn parse_test(op: &str, operand: &Value) -> Result<Test, String> {
    if let Some((_, kind)) = TYPE_TESTS.iter().find(|(name, _)| *name == op) {
        let expect = operand
            .as_bool()
            .ok_or_else(|| format!("{op} takes true or false"))?;
        return Ok(Test::Is(*kind, expect));
    }
    if op == "StringMatches" {
        let pattern = operand.as_str().ok_or("StringMatches takes a string")?;
        return Ok(Test::StringMatches(pattern.to_string()));
    }
    let (kind, cmp, is_path) = split_comparison(op).expect("an operator");
    if is_path {
        let path = operand
            .as_str()
            .ok_or_else(|| format!("{op} takes a path (a string such as $.limit)"))?;
        JsonPath::parse(path).map_err(|e| format!("{op}: {e}"))?;
        return Ok(Test::Compare(kind, cmp, Operand::Path(path.to_string())));
    }
    let ok = match kind {
        Kind::String => operand.is_string(),
        Kind::Numeric => operand.is_number(),
        Kind::Boolean => operand.is_boolean(),
        Kind::Timestamp => operand.as_str().is_some_and(|s| timestamp(s).is_some()),
        Kind::Null | Kind::Present => false,
    };
    if !ok {
        return Err(format!(
            "{op} takes a {}",
            match kind {
                Kind::String => "string",
                Kind::Numeric => "number",
                Kind::Boolean => "boolean",
                _ => "timestamp (RFC 3339, e.g. 2016-03-14T01:59:00Z)",
            }
        ));
    }
    Ok(Test::Compare(kind, cmp, Operand::Literal(operand.clone())))
}

/// Parses an RFC 3339 timestamp, as the States Language requires (an
/// uppercase T and Z or an offset), to milliseconds since the epoch.
pub fn timestamp(text: &str) -> Option<i64> {
    if text.contains('t') || text.contains('z') {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Evaluates a rule against a state's input.
pub fn evaluate(rule: &Rule, input: &Value, context: &Value) -> Result<bool, StatesError> {
    match rule {
        Rule::And(rules) => {
            for r in rules {
                if !evaluate(r, input, context)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Rule::Or(rules) => {
            for r in rules {
                if evaluate(r, input, context)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Rule::Not(inner) => Ok(!evaluate(inner, input, context)?),
        Rule::Test { variable, test } => {
            let value = variable.get_in(input, context);
            if let Test::Is(Kind::Present, expect) = test {
                return Ok(value.is_some() == *expect);
            }
            let value = value.ok_or_else(|| {
                StatesError::runtime(format!(
                    "Invalid path '{}': The choice state's condition path references an invalid value.",
                    variable.text()
                ))
            })?;
            test_value(test, &value, input, context)
        }
    }
}

fn test_value(
    test: &Test,
    value: &Value,
    input: &Value,
    context: &Value,
) -> Result<bool, StatesError> {
    Ok(match test {
        Test::Is(kind, expect) => {
            let is = match kind {
                Kind::Null => value.is_null(),
                Kind::Numeric => value.is_number(),
                Kind::String => value.is_string(),
                Kind::Boolean => value.is_boolean(),
                Kind::Timestamp => value.as_str().and_then(timestamp).is_some(),
                Kind::Present => true,
            };
            is == *expect
        }
        Test::StringMatches(pattern) => value.as_str().is_some_and(|s| matches_pattern(s, pattern)),
        Test::Compare(kind, cmp, operand) => {
            let other = match operand {
                Operand::Literal(v) => v.clone(),
                Operand::Path(p) => crate::path::read(p, input, context)?,
            };
            use std::cmp::Ordering;
            let order: Option<Ordering> = match kind {
                Kind::String => match (value.as_str(), other.as_str()) {
                    (Some(a), Some(b)) => Some(a.cmp(b)),
                    _ => None,
                },
                Kind::Numeric => match (value.as_f64(), other.as_f64()) {
                    (Some(a), Some(b)) if value.is_number() && other.is_number() => {
                        a.partial_cmp(&b)
                    }
                    _ => None,
                },
                Kind::Boolean => match (value.as_bool(), other.as_bool()) {
                    (Some(a), Some(b)) => Some(a.cmp(&b)),
                    _ => None,
                },
                Kind::Timestamp => match (
                    value.as_str().and_then(timestamp),
                    other.as_str().and_then(timestamp),
                ) {
                    (Some(a), Some(b)) => Some(a.cmp(&b)),
                    _ => None,
                },
                Kind::Null | Kind::Present => None,
            };
            match (order, cmp) {
                (None, _) => false,
                (Some(o), Cmp::Equals) => o == Ordering::Equal,
                (Some(o), Cmp::LessThan) => o == Ordering::Less,
                (Some(o), Cmp::GreaterThan) => o == Ordering::Greater,
                (Some(o), Cmp::LessThanEquals) => o != Ordering::Greater,
                (Some(o), Cmp::GreaterThanEquals) => o != Ordering::Less,
            }
        }
    })
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are
/// a literal star and backslash.
fn matches_pattern(text: &str, pattern: &str) -> bool {
    enum Piece {
        Char(char),
        Star,
    }
    let mut pieces = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => pieces.push(Piece::Char(chars.next().unwrap_or('\\'))),
            '*' => pieces.push(Piece::Star),
            c => pieces.push(Piece::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic wildcard matching with backtracking to the last star.
    let (mut t, mut p) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        match pieces.get(p) {
            Some(Piece::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Piece::Star) => {
                star = Some(p);
                mark = t;
                p += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    t = mark;
                }
                None => return false,
            },
        }
    }
    pieces[p..].iter().all(|piece| matches!(piece, Piece::Star))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(rule: Value, input: Value) -> bool {
        evaluate(&parse_rule(&rule, true).unwrap(), &input, &json!({})).unwrap()
    }

    #[test]
    fn comparisons_of_every_kind() {
        let input = json!({
            "type": "Private", "value": 42, "rating": 12.5, "flag": true,
            "when": "2016-03-14T01:59:00Z", "limit": 50, "name": "log-2024.txt", "none": null
        });
        for (rule, expect) in [
            (
                json!({"Variable": "$.type", "StringEquals": "Private"}),
                true,
            ),
            (
                json!({"Variable": "$.type", "StringGreaterThan": "Public"}),
                false,
            ),
            (json!({"Variable": "$.value", "NumericEquals": 42}), true),
            (
                json!({"Variable": "$.value", "NumericLessThanPath": "$.limit"}),
                true,
            ),
            (
                json!({"Variable": "$.rating", "NumericGreaterThanEquals": 12.5}),
                true,
            ),
            (json!({"Variable": "$.flag", "BooleanEquals": false}), false),
            (
                json!({"Variable": "$.when", "TimestampLessThan": "2020-01-01T00:00:00Z"}),
                true,
            ),
            (
                json!({"Variable": "$.when", "TimestampEquals": "2016-03-14T02:59:00+01:00"}),
                true,
            ),
            (
                json!({"Variable": "$.name", "StringMatches": "log-*.txt"}),
                true,
            ),
            (
                json!({"Variable": "$.name", "StringMatches": "log-\\*.txt"}),
                false,
            ),
            (json!({"Variable": "$.none", "IsNull": true}), true),
            (json!({"Variable": "$.missing", "IsPresent": false}), true),
            (json!({"Variable": "$.value", "IsNumeric": true}), true),
            (json!({"Variable": "$.when", "IsTimestamp": true}), true),
            (json!({"Variable": "$.type", "NumericEquals": 1}), false),
            (
                json!({"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "X"}),
                false,
            ),
            (
                json!({"And": [
                {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                {"Variable": "$.value", "NumericLessThan": 30}
            ], "Next": "X"}),
                false,
            ),
            (
                json!({"Or": [
                {"Variable": "$.value", "NumericEquals": 1},
                {"Variable": "$.flag", "BooleanEquals": true}
            ], "Next": "X"}),
                true,
            ),
        ] {
            assert_eq!(holds(rule.clone(), input.clone()), expect, "{rule}");
        }
    }

    #[test]
    fn bad_rules_say_what_is_wrong_and_missing_variables_fail() {
        for (rule, said) in [
            (json!({"Variable": "$.x"}), "exactly one"),
            (
                json!({"Variable": "$.x", "NumericEquals": "1"}),
                "takes a number",
            ),
            (
                json!({"Variable": "$.x", "StringEquals": "a", "NumericEquals": 1}),
                "exactly one",
            ),
            (
                json!({"Variable": "$.x", "BooleanLessThan": true}),
                "unknown field",
            ),
            (json!({"And": []}), "non-empty"),
            (json!({"StringEquals": "a"}), "needs a Variable"),
        ] {
            let err = parse_rule(&rule, true).unwrap_err();
            assert!(err.contains(said), "{rule}: {err}");
        }
        let rule = parse_rule(&json!({"Variable": "$.x", "StringEquals": "a"}), true).unwrap();
        assert_eq!(
            evaluate(&rule, &json!({}), &json!({})).unwrap_err().error,
            "States.Runtime"
        );
    }

    #[test]
    fn wildcards_match_like_aws() {
        assert!(matches_pattern("a.log", "*.log"));
        assert!(matches_pattern("abc", "a*c"));
        assert!(matches_pattern("a*c", "a\\*c"));
        assert!(!matches_pattern("abc", "a\\*c"));
        assert!(matches_pattern("", "*"));
        assert!(!matches_pattern("abd", "a*c"));
    }
}
