//! What a form sent, turned into settings and secrets; errors under their fields.

use super::*;

/// What the form sent (or, to show a stored connection, what it holds), by field name.
#[derive(Default)]
pub struct Values(HashMap<String, Vec<String>>);

impl Values {
    pub(super) fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            map.entry(k).or_default().push(v);
        }
        Self(map)
    }
    pub(super) fn one(&self, name: &str) -> &str {
        self.0
            .get(name)
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }
    pub(super) fn has(&self, name: &str, value: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.iter().any(|x| x == value))
    }
    pub(super) fn set(&mut self, name: String, value: String) {
        self.0.insert(name, vec![value]);
    }

    /// A stored connection's fields as the form shows them (no secret).
    pub(super) fn of_connection(connection: &domain::Connection) -> Self {
        let mut values = Self::of_settings(&connection.settings);
        values.set("name".into(), connection.name.clone());
        values.set("base_url".into(), connection.base_url.clone());
        values.set(
            "error_email".into(),
            connection.error_email.clone().unwrap_or_default(),
        );
        if connection.enabled {
            values.set("enabled".into(), "on".into());
        }
        values
    }

    pub(super) fn of_settings(settings: &domain::connection::ConnectionSettings) -> Self {
        let mut values = Self::default();
        let json = serde_json::to_value(settings).unwrap_or(Value::Null);
        for s in specs(settings.kind()) {
            let pointer = format!("/{}", s.path.replace('.', "/"));
            let name = format!("settings.{}", s.path);
            match json.pointer(&pointer) {
                Some(Value::Bool(true)) => values.set(name, "on".into()),
                Some(Value::Number(n)) => values.set(name, n.to_string()),
                Some(Value::String(t)) => values.set(name, t.clone()),
                Some(Value::Array(list)) => {
                    values.0.insert(
                        name,
                        list.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        values
    }
}

/// The settings the form sent, as the use case takes them; or the fields at fault.
pub(super) fn settings_from(
    kind: ConnectionKind,
    values: &Values,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut settings = Map::new();
    let mut errors = Vec::new();
    for s in specs(kind) {
        if let Some((on, is)) = s.when
            && values.one(&format!("settings.{on}")) != is
        {
            continue;
        }
        let name = format!("settings.{}", s.path);
        let raw = values.one(&name).trim();
        let value = match s.input {
            Input::Text | Input::LongText => Value::from(values.one(&name)),
            Input::Optional if raw.is_empty() => Value::Null,
            Input::Optional => Value::from(raw),
            Input::Check => Value::from(values.has(&name, "on")),
            Input::Select(_) => Value::from(raw),
            Input::Choices(options) => Value::Array(
                options
                    .iter()
                    .filter(|(v, _)| values.has(&name, v))
                    .map(|(v, _)| Value::from(*v))
                    .collect(),
            ),
            Input::Number { .. } => match raw.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    errors.push(FieldError {
                        field: name.clone(),
                        message: format!("{:?} is not a whole number", raw),
                    });
                    continue;
                }
            },
        };
        insert_at(&mut settings, s.path, value);
    }
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(errors)
    }
}

/// Puts `value` at a dotted path (`login.username`), making the objects on the way.
pub(super) fn insert_at(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = map
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                insert_at(inner, rest, value);
            }
        }
    }
}

/// The form field a [`SetupError`] names (`connections.settings.role_id` is
/// the field `settings.role_id`), with its message; `None` for failures that
/// are not a person's input.
pub(super) fn field_error(e: SetupError) -> Result<FieldError, ConsoleError> {
    let (field, message) = match e {
        SetupError::Invalid { field, message } | SetupError::Unusable { field, message } => {
            (field, message)
        }
        SetupError::Settings(e) => {
            let path = e.path().to_string();
            (
                format!("connections.settings.{path}"),
                e.inner().to_string(),
            )
        }
        e @ SetupError::Exists { .. } => ("connections.id".to_owned(), e.to_string()),
        e @ (SetupError::OnePerTenant { .. } | SetupError::KindChange { .. }) => {
            ("connections.kind".to_owned(), e.to_string())
        }
        e @ SetupError::NotFound { .. } => return Err(ConsoleError::NotFound(e.to_string())),
        SetupError::Store(e) => return Err(e.into()),
        SetupError::Secret(e) => return Err(e.into()),
        SetupError::Encode(_) => {
            return Err(ConsoleError::NotFound(
                "the stored settings could not be read; repair them through PUT /v1/connections/{id}".to_owned(),
            ));
        }
    };
    let name = field.strip_prefix("connections.").unwrap_or(&field);
    Ok(FieldError {
        field: name.to_owned(),
        message,
    })
}

/// One field as the template draws it.
pub struct FormField {
    pub name: String,
    pub id: String,
    pub label: &'static str,
    pub help: String,
    /// `text`, `textarea`, `number`, `checkbox`, `select`, `choices`.
    pub input: &'static str,
    pub value: String,
    pub checked: bool,
    pub min: String,
    pub max: String,
    /// `(value, label, chosen)`.
    pub options: Vec<(String, String, bool)>,
    pub error: Option<String>,
}

/// A secret's field: never a value, only the stored one masked.
pub struct SecretField {
    pub name: String,
    pub id: String,
    pub label: &'static str,
    /// `****abcd`, or `None` when none is stored (or on a new connection).
    pub masked: Option<String>,
    pub error: Option<String>,
}

/// A field the form got wrong: its name as the form sends it, and what to do.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

pub(super) fn css_id(name: &str) -> String {
    name.replace('.', "-")
}

pub(super) fn error_for(errors: &[FieldError], name: &str) -> Option<String> {
    errors
        .iter()
        .find(|e| e.field == name)
        .map(|e| e.message.clone())
}

pub(super) fn setting_fields(
    kind: ConnectionKind,
    values: &Values,
    errors: &[FieldError],
) -> Vec<FormField> {
    specs(kind)
        .iter()
        .map(|s| {
            let name = format!("settings.{}", s.path);
            let raw = values.one(&name).to_owned();
            let mut help = s.help.to_owned();
            if let Some((on, is)) = s.when {
                let option = specs(kind)
                    .iter()
                    .find(|o| o.path == on)
                    .and_then(|o| match o.input {
                        Input::Select(opts) => opts.iter().find(|(v, _)| *v == is).map(|(_, l)| *l),
                        _ => None,
                    })
                    .unwrap_or(is);
                help = format!("Only used with \u{201c}{option}\u{201d}. {help}");
            }
            let (input, min, max, options) = match s.input {
                Input::Text | Input::Optional => ("text", String::new(), String::new(), vec![]),
                Input::LongText => ("textarea", String::new(), String::new(), vec![]),
                Input::Number { min, max } => ("number", min.to_string(), max.to_string(), vec![]),
                Input::Check => ("checkbox", String::new(), String::new(), vec![]),
                Input::Select(opts) => (
                    "select",
                    String::new(),
                    String::new(),
                    opts.iter()
                        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned(), raw == *v))
                        .collect(),
                ),
                Input::Choices(opts) => (
                    "choices",
                    String::new(),
                    String::new(),
                    opts.iter()
                        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned(), values.has(&name, v)))
                        .collect(),
                ),
            };
            FormField {
                id: css_id(&name),
                error: error_for(errors, &name),
                checked: values.has(&name, "on"),
                value: raw,
                name,
                label: s.label,
                help,
                input,
                min,
                max,
                options,
            }
        })
        .collect()
}

pub(super) fn secret_fields(
    kind: ConnectionKind,
    masked: Option<&MaskedConnection>,
    errors: &[FieldError],
) -> Vec<SecretField> {
    let mut fields = vec![SecretField {
        name: "secret".into(),
        id: "secret".into(),
        label: secret_label(kind),
        masked: masked.and_then(|m| m.secret.clone()),
        error: error_for(errors, "secret"),
    }];
    for name in kind.secret_fields() {
        let full = format!("secrets.{name}");
        fields.push(SecretField {
            id: css_id(&full),
            error: error_for(errors, &full),
            masked: masked.and_then(|m| m.secrets.get(*name).cloned().flatten()),
            name: full,
            label: named_secret_label(name),
        });
    }
    fields
}
