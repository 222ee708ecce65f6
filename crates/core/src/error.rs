//! The one error type of the core. Bindings map it once each (napi, wasm-bindgen) to a JS error
//! whose message is `AUTOBALANCE_ERROR:` followed by [`Error::to_json`]; the TypeScript layer turns
//! that into typed error classes. Both backends therefore report identical codes, fields and text.

use serde::Serialize;

/// What kind of problem was found. Serialized in `snake_case` as the `code` of the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The spec is not valid JSON, or a field has the wrong type, or a required field is missing.
    InvalidSpec,
    /// Two sizes that must agree do not (matrix shapes, buffer lengths).
    ShapeMismatch,
    /// A number is outside its allowed range (rank > min(d1,d2), step <= 0, negative count, ...).
    OutOfRange,
    /// A value that must be finite is NaN or infinite.
    NonFinite,
    /// The problem would not fit in memory.
    TooLarge,
    /// The caller used the API in a wrong order or asked for something that does not exist.
    InvalidRequest,
}

/// A core error: a code, the spec field it concerns (dotted path, e.g. `init.u0`), and a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[error("{field}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub field: String,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

/// Prefix of the message of every JS error the bindings throw for a core [`Error`].
pub const JS_ERROR_PREFIX: &str = "AUTOBALANCE_ERROR:";

/// Longest field path an error carries, in characters (longer ones, echoed from input such as
/// an unknown key, are cut with an ellipsis).
pub const MAX_FIELD_CHARS: usize = 200;
/// Longest message an error carries, in characters (messages echo input: a 20 MB string would
/// otherwise become the message). With the field, `"<field>: <message>"` (the JS error's
/// message) is at most 1000 characters.
pub const MAX_MESSAGE_CHARS: usize = 1000 - MAX_FIELD_CHARS - 2;

/// `s` cut to at most `max` characters, the last of them an ellipsis when cut.
pub fn truncate(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        let keep = s[..i].char_indices().nth(max - 1).map_or(i, |(j, _)| j);
        s.truncate(keep);
        s.push('\u{2026}');
    }
    s
}

impl Error {
    /// An error; the field and the message are cut to [`MAX_FIELD_CHARS`] and
    /// [`MAX_MESSAGE_CHARS`] characters.
    pub fn new(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            code,
            field: truncate(field.into(), MAX_FIELD_CHARS),
            message: truncate(message.into(), MAX_MESSAGE_CHARS),
        }
    }
    pub fn spec(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidSpec, field, message)
    }
    pub fn shape(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ShapeMismatch, field, message)
    }
    pub fn range(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::OutOfRange, field, message)
    }
    pub fn non_finite(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NonFinite, field, message)
    }
    pub fn too_large(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::TooLarge, field, message)
    }
    pub fn request(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, field, message)
    }

    /// `{"code":..,"field":..,"message":..}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            String::from(
                r#"{"code":"invalid_request","field":"","message":"unserializable error"}"#,
            )
        })
    }

    /// The message a binding puts in the JS error it throws.
    pub fn to_js_message(&self) -> String {
        format!("{JS_ERROR_PREFIX}{}", self.to_json())
    }
}
