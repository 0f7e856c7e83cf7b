//! Lenient request input: JSON or form bodies, `name[]` arrays, `True`/
//! `False`, null as absent, unknown fields ignored. Handlers walk the input
//! with [`F`] and collect every problem into [`Errors`], so one response
//! names every bad field by its path (`participants[1].common_name`).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};
use crate::time::{parse_date, parse_time};

/// Upper bound of a request body we read.
pub const MAX_BODY: usize = 1024 * 1024;

pub fn parse_body(ctype: &str, bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Value::Object(Map::new()));
    }
    if ctype.starts_with("application/x-www-form-urlencoded") {
        return Ok(parse_form(bytes));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(Value::Object(m)),
        Ok(Value::Null) => Ok(Value::Object(Map::new())),
        Ok(_) => Err(ApiError::Malformed("the body must be a JSON object".into())),
        // Clients that forget the content type of a form still get through.
        Err(_) if !ctype.contains("json") && bytes.contains(&b'=') && !bytes.starts_with(b"{") => {
            Ok(parse_form(bytes))
        }
        Err(e) => Err(ApiError::Malformed(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// Bracket segments one form key may have (`a[b][c]` has 2); deeper keys
/// are dropped: nothing Convene reads is nested deeper, and unbounded
/// nesting would recurse without bound.
pub const MAX_FORM_DEPTH: usize = 8;
/// Pairs read from one form or query string.
pub const MAX_FORM_PAIRS: usize = 2_000;

/// `a=1&b[]=2&b[]=3&c[d]=4` → `{"a":"1","b":["2","3"],"c":{"d":"4"}}`.
pub fn parse_form(bytes: &[u8]) -> Value {
    let mut root = Value::Object(Map::new());
    for (k, v) in form_urlencoded_pairs(bytes)
        .into_iter()
        .take(MAX_FORM_PAIRS)
    {
        if k.matches('[').count() > MAX_FORM_DEPTH {
            continue;
        }
        let mut segs: Vec<String> = Vec::new();
        let (head, mut rest) = match k.find('[') {
            Some(i) => (&k[..i], &k[i..]),
            None => (k.as_str(), ""),
        };
        // A pair without a name (`=x`, `[]=x`) names no field; taken as
        // `[]` it would turn the whole form into an array and lose every
        // field sent before it.
        if head.is_empty() {
            continue;
        }
        segs.push(head.to_string());
        while let Some(stripped) = rest.strip_prefix('[') {
            match stripped.find(']') {
                Some(end) => {
                    segs.push(stripped[..end].to_string());
                    rest = &stripped[end + 1..];
                }
                None => break,
            }
        }
        insert_path(&mut root, &segs, Value::String(v));
    }
    root
}

fn insert_path(node: &mut Value, segs: &[String], v: Value) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    if first.is_empty() {
        // `[]`: append to an array.
        if !node.is_array() {
            *node = Value::Array(Vec::new());
        }
        let arr = node.as_array_mut().expect("array");
        if rest.is_empty() {
            arr.push(v);
        } else {
            // `a[][b]`: start a new object unless the last one lacks `b`.
            let need_new = match arr.last() {
                Some(Value::Object(m)) => m.contains_key(&rest[0]),
                _ => true,
            };
            if need_new {
                arr.push(Value::Object(Map::new()));
            }
            insert_path(arr.last_mut().expect("pushed"), rest, v);
        }
        return;
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let map = node.as_object_mut().expect("object");
    if rest.is_empty() {
        map.insert(first.clone(), v);
    } else {
        let child = map.entry(first.clone()).or_insert(Value::Null);
        insert_path(child, rest, v);
    }
}

fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes).unwrap_or_default()
}

/// Collected problems of one request.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, key: &str, description: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_string(),
            key: format!("errors.{key}"),
            description: description.into(),
            dashboard_url: None,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Err(422)` when anything was added.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.0))
        }
    }
}

/// A field of the input at a path; `v` is `None` when absent or null.
#[derive(Debug, Clone)]
pub struct F<'a> {
    pub path: String,
    pub v: Option<&'a Value>,
}

/// An event start or end as clients may give it.
#[derive(Debug, Clone, PartialEq)]
pub enum EventTime {
    Instant { at: Timestamp, tzid: Option<String> },
    Date(Date),
}

impl<'a> F<'a> {
    pub fn root(v: &'a Value) -> Self {
        F {
            path: String::new(),
            v: Some(v).filter(|v| !v.is_null()),
        }
    }

    pub fn get(&self, key: &str) -> F<'a> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        F {
            path,
            v: self.v.and_then(|v| v.get(key)).filter(|v| !v.is_null()),
        }
    }

    pub fn present(&self) -> bool {
        self.v.is_some()
    }

    /// A string; numbers are taken as their text.
    pub fn str(&self, errs: &mut Errors) -> Option<String> {
        match self.v? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                errs.add(
                    &self.path,
                    "invalid",
                    format!("{} must be a string", self.path),
                );
                None
            }
        }
    }

    pub fn req_str(&self, errs: &mut Errors) -> Option<String> {
        if !self.present() {
            errs.add(&self.path, "required", format!("{} is required", self.path));
            return None;
        }
        let s = self.str(errs)?;
        if s.trim().is_empty() {
            errs.add(
                &self.path,
                "required",
                format!("{} must not be blank", self.path),
            );
            return None;
        }
        Some(s)
    }

    /// `true`, `"true"`, `"True"`, `"1"`, `1` (and the false spellings).
    pub fn bool(&self, errs: &mut Errors) -> Option<bool> {
        let v = self.v?;
        let b = match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" | "" => Some(false),
                _ => None,
            },
            Value::Number(n) => n.as_i64().map(|n| n != 0),
            _ => None,
        };
        if b.is_none() {
            errs.add(
                &self.path,
                "invalid",
                format!("{} must be true or false", self.path),
            );
        }
        b
    }

    pub fn int(&self, errs: &mut Errors) -> Option<i64> {
        let v = self.v?;
        let n = match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if n.is_none() {
            errs.add(
                &self.path,
                "invalid",
                format!("{} must be an integer", self.path),
            );
        }
        n
    }

    /// The items of an array; a single value counts as a one-item array and
    /// a form's `{ "0": …, "1": … }` as an array too.
    pub fn array(&self, errs: &mut Errors) -> Option<Vec<F<'a>>> {
        let v = self.v?;
        let items: Vec<&'a Value> = match v {
            Value::Array(a) => a.iter().collect(),
            Value::Object(m) if !m.is_empty() && m.keys().all(|k| k.parse::<usize>().is_ok()) => {
                let mut kv: Vec<(usize, &'a Value)> =
                    m.iter().map(|(k, v)| (k.parse().unwrap_or(0), v)).collect();
                kv.sort_by_key(|(k, _)| *k);
                kv.into_iter().map(|(_, v)| v).collect()
            }
            Value::Object(_) => {
                errs.add(
                    &self.path,
                    "invalid",
                    format!("{} must be an array", self.path),
                );
                return None;
            }
            other => vec![other],
        };
        Some(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| F {
                    path: format!("{}[{i}]", self.path),
                    v: Some(v).filter(|v| !v.is_null()),
                })
                .collect(),
        )
    }

    pub fn str_array(&self, errs: &mut Errors) -> Option<Vec<String>> {
        let items = self.array(errs)?;
        Some(items.iter().filter_map(|f| f.str(errs)).collect())
    }

    pub fn time(&self, errs: &mut Errors) -> Option<Timestamp> {
        match self.event_time(errs)? {
            EventTime::Instant { at, .. } => Some(at),
            EventTime::Date(_) => {
                errs.add(
                    &self.path,
                    "invalid",
                    format!("{} must be a Time such as 2030-01-07T09:00:00Z", self.path),
                );
                None
            }
        }
    }

    pub fn req_time(&self, errs: &mut Errors) -> Option<Timestamp> {
        if !self.present() {
            errs.add(&self.path, "required", format!("{} is required", self.path));
            return None;
        }
        self.time(errs)
    }

    /// A Time, a Date, or `{"time": …, "tzid": …}`.
    pub fn event_time(&self, errs: &mut Errors) -> Option<EventTime> {
        let v = self.v?;
        let bad = |errs: &mut Errors| {
            errs.add(
                &self.path,
                "invalid",
                format!("{} must be a Time (2030-01-07T09:00:00Z), a Date (2030-01-07) or {{\"time\", \"tzid\"}}", self.path),
            )
        };
        match v {
            Value::String(s) => {
                if let Some(at) = parse_time(s) {
                    Some(EventTime::Instant { at, tzid: None })
                } else if let Some(d) = parse_date(s) {
                    Some(EventTime::Date(d))
                } else {
                    bad(errs);
                    None
                }
            }
            Value::Object(_) => {
                let tzid = self.get("tzid").tz(errs).map(|(name, _)| name);
                let inner = self.get("time");
                match inner.v {
                    Some(Value::String(s)) => {
                        if let Some(at) = parse_time(s) {
                            Some(EventTime::Instant { at, tzid })
                        } else if let Some(d) = parse_date(s) {
                            Some(EventTime::Date(d))
                        } else {
                            bad(errs);
                            None
                        }
                    }
                    _ => {
                        bad(errs);
                        None
                    }
                }
            }
            _ => {
                bad(errs);
                None
            }
        }
    }

    /// `{"hours": h, "minutes": m}`, or a bare number of minutes.
    pub fn duration(&self, errs: &mut Errors) -> Option<SignedDuration> {
        let v = self.v?;
        let bad = |errs: &mut Errors, why: &str| {
            errs.add(&self.path, "invalid", format!("{} {why}", self.path))
        };
        let mins = match v {
            Value::Object(_) => {
                let mut e = Errors::new();
                let h = self.get("hours").int(&mut e);
                let m = self.get("minutes").int(&mut e);
                if !e.is_empty() || (h.is_none() && m.is_none()) {
                    bad(errs, "must be a Duration such as {\"minutes\": 30}");
                    return None;
                }
                if h.is_some() && m.unwrap_or(0) >= 60 {
                    bad(errs, "minutes must be less than 60 when hours are given");
                    return None;
                }
                h.unwrap_or(0)
                    .saturating_mul(60)
                    .saturating_add(m.unwrap_or(0))
            }
            Value::Number(_) | Value::String(_) => match self.int(&mut Errors::new()) {
                Some(n) => n,
                None => {
                    bad(errs, "must be a Duration such as {\"minutes\": 30}");
                    return None;
                }
            },
            _ => {
                bad(errs, "must be a Duration such as {\"minutes\": 30}");
                return None;
            }
        };
        if !(0..=60 * 24 * 366).contains(&mins) {
            bad(errs, "is out of range");
            return None;
        }
        Some(SignedDuration::from_mins(mins))
    }

    /// An IANA zone name, resolved against the bundled database.
    pub fn tz(&self, errs: &mut Errors) -> Option<(String, TimeZone)> {
        let name = self.str(errs)?;
        match crate::tz(&name) {
            Some(tz) => Some((name, tz)),
            None => {
                errs.add(
                    &self.path,
                    "invalid",
                    format!("{name:?} is not a known IANA time zone"),
                );
                None
            }
        }
    }

    pub fn req_tz(&self, errs: &mut Errors) -> Option<(String, TimeZone)> {
        if !self.present() {
            errs.add(&self.path, "required", format!("{} is required", self.path));
            return None;
        }
        self.tz(errs)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pair_without_a_name_is_dropped_not_the_form() {
        let v = parse_form(b"duration=e&=&name=x&[]=y");
        assert_eq!(v["duration"], "e");
        assert_eq!(v["name"], "x");
        assert!(v.is_object());
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn forms_become_json() {
        let v = parse_form(b"a=1&calendar_ids%5B%5D=x&calendar_ids[]=y&c[d]=4&delete_all=True");
        assert_eq!(
            v,
            json!({"a":"1","calendar_ids":["x","y"],"c":{"d":"4"},"delete_all":"True"})
        );
        let v = parse_form(b"p[][start]=1&p[][end]=2&p[][start]=3&p[][end]=4");
        assert_eq!(
            v,
            json!({"p":[{"start":"1","end":"2"},{"start":"3","end":"4"}]})
        );
    }

    #[test]
    fn deep_form_keys_are_dropped_not_recursed() {
        let deep = format!("a{}=1&b=2", "[x]".repeat(100_000));
        assert_eq!(parse_form(deep.as_bytes()), json!({"b": "2"}));
        let ok = format!("a{}=1", "[x]".repeat(MAX_FORM_DEPTH));
        assert!(parse_form(ok.as_bytes())["a"].is_object());
    }

    #[test]
    fn null_is_absent_and_paths_are_named() {
        let v = json!({"a": null, "ps": [{"n": 1}, {}]});
        let root = F::root(&v);
        assert!(!root.get("a").present());
        let mut errs = Errors::new();
        let ps = root.get("ps").array(&mut errs).unwrap();
        assert!(ps[1].get("n").req_str(&mut errs).is_none());
        assert_eq!(errs.0[0].field, "ps[1].n");
        assert_eq!(errs.0[0].key, "errors.required");
    }

    #[test]
    fn lenient_scalars() {
        let v = json!({"t": "True", "f": "False", "n": "5", "d": {"hours": 1, "minutes": 30}, "bad": {"hours": 1, "minutes": 75}});
        let r = F::root(&v);
        let mut e = Errors::new();
        assert_eq!(r.get("t").bool(&mut e), Some(true));
        assert_eq!(r.get("f").bool(&mut e), Some(false));
        assert_eq!(r.get("n").int(&mut e), Some(5));
        assert_eq!(
            r.get("d").duration(&mut e),
            Some(SignedDuration::from_mins(90))
        );
        assert!(e.is_empty());
        assert_eq!(r.get("bad").duration(&mut e), None);
        assert_eq!(e.0.len(), 1);
    }

    #[test]
    fn bodies() {
        assert_eq!(parse_body("application/json", b"").unwrap(), json!({}));
        assert_eq!(parse_body("application/json", b"null").unwrap(), json!({}));
        assert!(matches!(
            parse_body("application/json", b"{nope"),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            parse_body("application/json", b"[1]"),
            Err(ApiError::Malformed(_))
        ));
        assert_eq!(
            parse_body("application/x-www-form-urlencoded", b"a=b").unwrap(),
            json!({"a":"b"})
        );
        assert_eq!(parse_body("", b"a=b").unwrap(), json!({"a":"b"}));
    }
}
