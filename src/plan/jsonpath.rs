//! The JSONPath subset that `http` providers use to pick a value out of a
//! response: `$`, `.name`, `['name']`, `["name"]` and `[index]` (negative
//! indexes count from the end). Parsed when the plan is validated.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Field(String),
    Index(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(mut rest) = text.strip_prefix('$') else {
            return Err("a JSONPath starts with '$'".to_string());
        };
        let mut segments = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let name = &r[..end];
                if name.is_empty() {
                    return Err(format!("empty field name in '{text}'"));
                }
                segments.push(Segment::Field(name.to_string()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let Some(close) = find_close(r) else {
                    return Err(format!("'[' is not closed in '{text}'"));
                };
                let inner = r[..close].trim();
                rest = &r[close + 1..];
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                if let Some(name) = quoted {
                    segments.push(Segment::Field(name.to_string()));
                } else if let Ok(i) = inner.parse::<i64>() {
                    segments.push(Segment::Index(i));
                } else {
                    return Err(format!(
                        "'[{inner}]' is neither an index nor a quoted name (only $, .name, ['name'] and [n] are supported)"
                    ));
                }
            } else {
                return Err(format!(
                    "unexpected '{}' in '{text}': expected '.' or '['",
                    rest.chars().next().unwrap_or(' ')
                ));
            }
        }
        Ok(Self {
            text: text.to_string(),
            segments,
        })
    }

    /// The value at this path, if there is one.
    pub fn select<'v>(&self, mut value: &'v Value) -> Option<&'v Value> {
        for seg in &self.segments {
            value = match (seg, value) {
                (Segment::Field(name), Value::Object(map)) => map.get(name)?,
                (Segment::Index(i), Value::Array(items)) => {
                    let idx = if *i < 0 {
                        items
                            .len()
                            .checked_sub(usize::try_from(i.unsigned_abs()).ok()?)?
                    } else {
                        usize::try_from(*i).ok()?
                    };
                    items.get(idx)?
                }
                _ => return None,
            };
        }
        Some(value)
    }
}

fn find_close(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ']') => return Some(i),
            (None, _) => {}
        }
    }
    None
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for JsonPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_fields_and_indexes() {
        let v = json!({"data": {"items": [{"v": 1}, {"v": 2}], "a.b": true}});
        let p = |t: &str| JsonPath::parse(t).unwrap();
        assert_eq!(p("$").select(&v), Some(&v));
        assert_eq!(p("$.data.items[1].v").select(&v), Some(&json!(2)));
        assert_eq!(p("$.data.items[-1].v").select(&v), Some(&json!(2)));
        assert_eq!(p("$.data['a.b']").select(&v), Some(&json!(true)));
        assert_eq!(p("$.data.items[5]").select(&v), None);
        assert_eq!(p("$.data.items[-5]").select(&v), None);
        assert_eq!(p("$.nope").select(&v), None);
    }

    #[test]
    fn rejects_what_it_cannot_evaluate() {
        for bad in ["data", "$.", "$[", "$[*]", "$..x", "$x"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }
}
