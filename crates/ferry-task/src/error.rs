use std::fmt;

/// What was wrong, and where: the file, the line and column when known, the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct TaskError {
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// The key the error is about (`resources.accelerators`), when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(k) = &self.key {
            write!(f, "{k}: ")?;
        }
        f.write_str(&self.message)
    }
}
