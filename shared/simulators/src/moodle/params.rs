//! PHP request variables and Moodle's parameter validation.
//!
//! A form body becomes PHP's `$_POST`: `users[0][username]=x` is a nested array, keys
//! may be named (`options[ids][0]`) or non-contiguous, and PHP stops reading after
//! `max_input_vars` variables. Moodle then validates the array against the function's
//! parameter description (`external_function_parameters`), rejecting missing keys,
//! unexpected keys and values of the wrong type.

use serde_json::{Map, Number, Value};

use super::error::MoodleError;

/// A PHP request variable: a string or an (ordered) array.
#[derive(Debug, Clone, PartialEq)]
pub enum PhpValue {
    Str(String),
    Arr(Vec<(String, PhpValue)>),
}

impl PhpValue {
    fn entry(&mut self, key: &str) -> &mut PhpValue {
        if matches!(self, PhpValue::Str(_)) {
            *self = PhpValue::Arr(Vec::new());
        }
        match self {
            PhpValue::Arr(items) => {
                let pos = match items.iter().position(|(k, _)| k == key) {
                    Some(pos) => pos,
                    None => {
                        items.push((key.to_owned(), PhpValue::Arr(Vec::new())));
                        items.len() - 1
                    }
                };
                &mut items[pos].1
            }
            other => other,
        }
    }

    fn next_index(&self) -> String {
        match self {
            PhpValue::Arr(items) => {
                let max = items
                    .iter()
                    .filter_map(|(k, _)| k.parse::<i64>().ok())
                    .max();
                max.map_or(0, |m| m + 1).to_string()
            }
            PhpValue::Str(_) => "0".to_owned(),
        }
    }
}

/// Decodes a form body (`a=1&b[0]=2`) into name/value pairs, keeping at most
/// `max_input_vars` of them like PHP does (the rest are silently dropped).
pub fn decode_pairs(body: &[u8], max_input_vars: usize) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .filter(|(k, _)| !k.is_empty())
        .take(max_input_vars)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Splits `users[0][username]` into `["users", "0", "username"]` the way PHP does.
fn split_name(name: &str) -> Vec<String> {
    let Some(open) = name.find('[') else {
        return vec![name.to_owned()];
    };
    let base = &name[..open];
    if base.is_empty() {
        return vec![name.to_owned()];
    }
    let mut parts = vec![base.to_owned()];
    let mut rest = &name[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(close) => {
                parts.push(stripped[..close].to_owned());
                rest = &stripped[close + 1..];
            }
            None => break,
        }
    }
    parts
}

/// Builds PHP's nested request array from decoded pairs (later values win).
pub fn build_tree(pairs: &[(String, String)]) -> Vec<(String, PhpValue)> {
    let mut root = PhpValue::Arr(Vec::new());
    for (name, value) in pairs {
        let parts = split_name(name);
        let mut node = &mut root;
        for part in &parts {
            let key = if part.is_empty() {
                node.next_index()
            } else {
                part.clone()
            };
            node = node.entry(&key);
        }
        *node = PhpValue::Str(value.clone());
    }
    match root {
        PhpValue::Arr(items) => items,
        PhpValue::Str(_) => Vec::new(),
    }
}

/// Parameter types (Moodle's PARAM_*), as far as validation differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    Float,
    Bool,
    /// Any text (PARAM_RAW, PARAM_TEXT, PARAM_NOTAGS, ...).
    Text,
    /// PARAM_ALPHA / PARAM_ALPHANUMEXT / PARAM_PLUGIN: letters, digits, `_` and `-`.
    AlphaNumExt,
    /// PARAM_USERNAME: lower case only.
    Username,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Int => "int",
            Ty::Float => "float",
            Ty::Bool => "bool",
            Ty::Text => "raw",
            Ty::AlphaNumExt => "alphanumext",
            Ty::Username => "username",
        }
    }
}

/// Whether a key must be present.
#[derive(Debug, Clone, PartialEq)]
pub enum Req {
    Required,
    Optional,
    Default(Value),
}

/// A parameter description (external_value / external_single_structure / external_multiple_structure).
#[derive(Debug, Clone, PartialEq)]
pub enum Desc {
    Value(Ty, Req),
    Single(Vec<(&'static str, Desc)>, Req),
    Multiple(Box<Desc>, Req),
}

impl Desc {
    fn req(&self) -> &Req {
        match self {
            Desc::Value(_, r) | Desc::Single(_, r) | Desc::Multiple(_, r) => r,
        }
    }
}

/// Shorthands for parameter descriptions.
pub fn req(ty: Ty) -> Desc {
    Desc::Value(ty, Req::Required)
}
pub fn opt(ty: Ty) -> Desc {
    Desc::Value(ty, Req::Optional)
}
pub fn def(ty: Ty, v: Value) -> Desc {
    Desc::Value(ty, Req::Default(v))
}
pub fn single(keys: Vec<(&'static str, Desc)>) -> Desc {
    Desc::Single(keys, Req::Required)
}
pub fn single_opt(keys: Vec<(&'static str, Desc)>) -> Desc {
    Desc::Single(keys, Req::Optional)
}
pub fn multiple(item: Desc) -> Desc {
    Desc::Multiple(Box::new(item), Req::Required)
}
pub fn multiple_opt(item: Desc) -> Desc {
    Desc::Multiple(Box::new(item), Req::Optional)
}
pub fn multiple_def(item: Desc) -> Desc {
    Desc::Multiple(Box::new(item), Req::Default(Value::Array(Vec::new())))
}

fn invalid(debuginfo: String) -> MoodleError {
    MoodleError::invalid_parameter(debuginfo)
}

/// `clean_param($s, PARAM_USERNAME)`: trimmed, in lower case, and without
/// spaces nor characters outside `[-.@_a-z0-9]` unless `extendedusernamechars`.
pub fn clean_username(s: &str, extended_usernames: bool) -> String {
    let lower = s.trim().to_lowercase();
    if extended_usernames {
        lower
    } else {
        lower
            .chars()
            .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(*c))
            .collect()
    }
}

fn validate_scalar(ty: Ty, s: &str, extended_usernames: bool) -> Result<Value, MoodleError> {
    let bad = || {
        invalid(format!(
            "Invalid external api parameter: the value is \"{s}\", the server was expecting \"{}\" type",
            ty.name()
        ))
    };
    match ty {
        Ty::Int => {
            let n: i64 = s.parse().map_err(|_| bad())?;
            if n.to_string() != s {
                return Err(bad());
            }
            Ok(Value::Number(n.into()))
        }
        Ty::Float => {
            let f: f64 = s.trim().parse().map_err(|_| bad())?;
            Number::from_f64(f).map(Value::Number).ok_or_else(bad)
        }
        Ty::Bool => match s {
            "0" => Ok(Value::Bool(false)),
            "1" => Ok(Value::Bool(true)),
            _ => Err(bad()),
        },
        Ty::Text => Ok(Value::String(s.to_owned())),
        Ty::AlphaNumExt => {
            if s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                Ok(Value::String(s.to_owned()))
            } else {
                Err(bad())
            }
        }
        Ty::Username => {
            if clean_username(s, extended_usernames) == s {
                Ok(Value::String(s.to_owned()))
            } else {
                Err(bad())
            }
        }
    }
}

/// Validates one value against its description, like `external_api::validate_parameters`.
pub fn validate(desc: &Desc, v: &PhpValue, extended_usernames: bool) -> Result<Value, MoodleError> {
    match (desc, v) {
        (Desc::Value(_, _), PhpValue::Arr(_)) => Err(invalid(
            "Scalar type expected, array or object received.".to_owned(),
        )),
        (Desc::Value(ty, _), PhpValue::Str(s)) => validate_scalar(*ty, s, extended_usernames),
        (Desc::Single(_, _), PhpValue::Str(s)) | (Desc::Multiple(_, _), PhpValue::Str(s)) => Err(
            invalid(format!("Only arrays accepted. The bad value is: '{s}'")),
        ),
        (Desc::Single(keys, _), PhpValue::Arr(items)) => {
            validate_single(keys, items, extended_usernames)
        }
        (Desc::Multiple(item, _), PhpValue::Arr(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (_, v) in items {
                out.push(validate(item, v, extended_usernames)?);
            }
            Ok(Value::Array(out))
        }
    }
}

/// Validates a single structure (also the top level of a function's parameters).
pub fn validate_single(
    keys: &[(&'static str, Desc)],
    items: &[(String, PhpValue)],
    extended_usernames: bool,
) -> Result<Value, MoodleError> {
    let mut out = Map::new();
    for (key, desc) in keys {
        match items.iter().find(|(k, _)| k == key) {
            Some((_, v)) => {
                let value = validate(desc, v, extended_usernames).map_err(|e| {
                    invalid(format!(
                        "{key} => Invalid parameter value detected: {}",
                        e.debuginfo.clone().unwrap_or_default()
                    ))
                })?;
                out.insert((*key).to_owned(), value);
            }
            None => match desc.req() {
                Req::Required => {
                    return Err(invalid(format!(
                        "Missing required key in single structure: {key}"
                    )));
                }
                Req::Optional => {}
                Req::Default(d) => {
                    out.insert((*key).to_owned(), d.clone());
                }
            },
        }
    }
    let unexpected: Vec<&str> = items
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !keys.iter().any(|(key, _)| key == k))
        .collect();
    if !unexpected.is_empty() {
        return Err(invalid(format!(
            "Unexpected keys ({}) detected in parameter array.",
            unexpected.join(", ")
        )));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(form: &str) -> Vec<(String, PhpValue)> {
        build_tree(&decode_pairs(form.as_bytes(), 5000))
    }

    #[test]
    fn nested_named_and_sparse_keys() {
        let t = tree(
            "users[5][username]=a&users[5][customfields][0][type]=x&users[9][username]=b&options[ids][0]=2",
        );
        let desc = single(vec![
            (
                "users",
                multiple(single(vec![
                    ("username", req(Ty::Username)),
                    (
                        "customfields",
                        multiple_opt(single(vec![("type", req(Ty::Text))])),
                    ),
                ])),
            ),
            ("options", single(vec![("ids", multiple(req(Ty::Int)))])),
        ]);
        let Desc::Single(keys, _) = &desc else {
            panic!()
        };
        let v = validate_single(keys, &t, true).unwrap();
        assert_eq!(
            v,
            json!({"users": [{"username": "a", "customfields": [{"type": "x"}]}, {"username": "b"}], "options": {"ids": [2]}})
        );
    }

    #[test]
    fn booleans_are_zero_or_one() {
        assert!(validate_scalar(Ty::Bool, "true", true).is_err());
        assert_eq!(validate_scalar(Ty::Bool, "1", true).unwrap(), json!(true));
    }

    #[test]
    fn unknown_keys_fail() {
        let t = tree("courseid=2&colour=red");
        let err = validate_single(&[("courseid", req(Ty::Int))], &t, true).unwrap_err();
        assert_eq!(err.errorcode, "invalidparameter");
    }

    #[test]
    fn truncation_drops_fields_past_the_limit() {
        let pairs = decode_pairs(b"a=1&b=2&c=3", 2);
        assert_eq!(pairs.len(), 2);
    }

    #[test]
    fn append_brackets() {
        let t = tree("ids[]=1&ids[]=2");
        assert_eq!(
            t,
            vec![(
                "ids".to_owned(),
                PhpValue::Arr(vec![
                    ("0".to_owned(), PhpValue::Str("1".into())),
                    ("1".to_owned(), PhpValue::Str("2".into()))
                ])
            )]
        );
    }
}
