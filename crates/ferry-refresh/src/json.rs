//! Walking a JSON answer with the path kept, so every error names the field it is about.

use crate::{Provider, RefreshError};
use serde_json::Value;

/// A value in the answer, with its path from the root.
pub struct Node<'a> {
    pub provider: Provider,
    pub value: &'a Value,
    pub path: String,
}

impl<'a> Node<'a> {
    pub fn root(provider: Provider, value: &'a Value) -> Node<'a> {
        Node {
            provider,
            value,
            path: String::new(),
        }
    }

    fn child(&self, key: &str, value: &'a Value) -> Node<'a> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Node {
            provider: self.provider,
            value,
            path,
        }
    }

    pub fn err(&self, message: impl Into<String>) -> RefreshError {
        RefreshError::malformed(self.provider, self.display_path(), message)
    }

    pub fn display_path(&self) -> &str {
        if self.path.is_empty() {
            "(the answer)"
        } else {
            &self.path
        }
    }

    /// A required member; missing or null is an error naming it.
    pub fn get(&self, key: &str) -> Result<Node<'a>, RefreshError> {
        match self.value.get(key) {
            Some(Value::Null) | None => Err(self.child(key, &Value::Null).err("missing")),
            Some(v) => Ok(self.child(key, v)),
        }
    }

    /// An optional member; absent and null are `None`.
    pub fn opt(&self, key: &str) -> Option<Node<'a>> {
        match self.value.get(key) {
            Some(Value::Null) | None => None,
            Some(v) => Some(self.child(key, v)),
        }
    }

    pub fn array(&self) -> Result<Vec<Node<'a>>, RefreshError> {
        match self.value {
            Value::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| Node {
                    provider: self.provider,
                    value: v,
                    path: format!("{}[{i}]", self.path),
                })
                .collect()),
            other => Err(self.err(format!("expected an array, found {}", kind(other)))),
        }
    }

    pub fn entries(&self) -> Result<Vec<(&'a str, Node<'a>)>, RefreshError> {
        match self.value {
            Value::Object(map) => Ok(map
                .iter()
                .map(|(k, v)| (k.as_str(), self.child(k, v)))
                .collect()),
            other => Err(self.err(format!("expected an object, found {}", kind(other)))),
        }
    }

    pub fn f64(&self) -> Result<f64, RefreshError> {
        match self.value {
            Value::Number(n) => n.as_f64().ok_or_else(|| self.err("not a finite number")),
            other => Err(self.err(format!("expected a number, found {}", kind(other)))),
        }
    }

    /// A price: a number >= 0 (0 means "not offered" to the caller). Negative is an error.
    pub fn price(&self) -> Result<f64, RefreshError> {
        let v = self.f64()?;
        if v < 0.0 {
            return Err(self.err(format!("negative price {v}")));
        }
        Ok(v)
    }

    pub fn str(&self) -> Result<&'a str, RefreshError> {
        match self.value {
            Value::String(s) => Ok(s),
            other => Err(self.err(format!("expected a string, found {}", kind(other)))),
        }
    }

    pub fn bool(&self) -> Result<bool, RefreshError> {
        match self.value {
            Value::Bool(b) => Ok(*b),
            other => Err(self.err(format!("expected true or false, found {}", kind(other)))),
        }
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a body as JSON, naming the provider and where the syntax broke.
pub fn parse(provider: Provider, body: &[u8]) -> Result<Value, RefreshError> {
    serde_json::from_slice(body).map_err(|e| {
        RefreshError::malformed(provider, "(the answer)", format!("not valid JSON: {e}"))
    })
}
