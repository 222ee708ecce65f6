//! JSON text to [`serde_json::Value`] with correctly rounded numbers.
//!
//! serde_json (without its `float_roundtrip` feature, which the workspace does not enable: it
//! would change how every run spec is read) may read a 17-digit number one unit in the last place
//! off. A study reads the curvature reports of its points back from their JSON text and puts their
//! numbers in columns, and it re-serializes run specs after setting an axis value; both must keep
//! every bit. Numbers here are read by `str::parse::<f64>` (correctly rounded), so a number written
//! by serde_json (shortest round-trip digits) is read back to the same bits, and writing the value
//! again gives the same text.

use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};

/// Deepest nesting accepted (serde_json's own limit).
const MAX_DEPTH: usize = 128;

/// Parse JSON text; errors are `invalid_spec` on `field`, with the line and column.
pub fn parse(text: &str, field: &str) -> Result<Value> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        text,
    };
    let v = p
        .value(0)
        .and_then(|v| {
            p.ws();
            if p.i < p.s.len() {
                Err("trailing characters")
            } else {
                Ok(v)
            }
        })
        .map_err(|why| {
            let before = &text[..p.i.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
            Error::spec(
                field,
                format!("not valid JSON: {why} at line {line} column {col}"),
            )
        })?;
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    text: &'a str,
}

type R<T> = std::result::Result<T, &'static str>;

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> R<Value> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err("expected a value")
        }
    }

    fn value(&mut self, depth: usize) -> R<Value> {
        if depth > MAX_DEPTH {
            return Err("nesting too deep");
        }
        self.ws();
        match self.s.get(self.i) {
            None => Err("unexpected end of input"),
            Some(b'{') => {
                self.i += 1;
                let mut m = Map::new();
                self.ws();
                if self.eat(b'}') {
                    return Ok(Value::Object(m));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err("expected a string key");
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b':') {
                        return Err("expected ':'");
                    }
                    let v = self.value(depth + 1)?;
                    m.insert(k, v);
                    self.ws();
                    if self.eat(b'}') {
                        return Ok(Value::Object(m));
                    }
                    if !self.eat(b',') {
                        return Err("expected ',' or '}'");
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.eat(b']') {
                    return Ok(Value::Array(a));
                }
                loop {
                    a.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b']') {
                        return Ok(Value::Array(a));
                    }
                    if !self.eat(b',') {
                        return Err("expected ',' or ']'");
                    }
                }
            }
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err("expected a value"),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.s.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    /// JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    fn number(&mut self) -> R<Value> {
        let start = self.i;
        let v = self.number_token(start);
        if v.is_err() {
            self.i = start; // errors point at the number
        }
        v
    }

    fn number_token(&mut self, start: usize) -> R<Value> {
        self.eat(b'-');
        let int_start = self.i;
        let n = self.digits();
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return Err("invalid number");
        }
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            if self.digits() == 0 {
                return Err("invalid number");
            }
        }
        if self.eat(b'e') || self.eat(b'E') {
            float = true;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return Err("invalid number");
            }
        }
        let tok = &self.text[start..self.i];
        if !float {
            if let Ok(u) = tok.parse::<u64>() {
                return Ok(Value::Number(u.into()));
            }
            if let Ok(i) = tok.parse::<i64>() {
                return Ok(Value::Number(i.into()));
            }
        }
        let x: f64 = tok.parse().map_err(|_| "invalid number")?;
        Number::from_f64(x)
            .map(Value::Number)
            .ok_or("number out of range")
    }

    fn hex4(&mut self) -> R<u32> {
        let h = self.s.get(self.i..self.i + 4).ok_or("invalid \\u escape")?;
        let h = std::str::from_utf8(h).map_err(|_| "invalid \\u escape")?;
        let v = u32::from_str_radix(h, 16).map_err(|_| "invalid \\u escape")?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> R<String> {
        self.i += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&b) = self.s.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(&self.text[start..self.i]);
            match self.s.get(self.i) {
                None => return Err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let e = *self.s.get(self.i).ok_or("unterminated string")?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if !(self.eat(b'\\') && self.eat(b'u')) {
                                    return Err("unpaired surrogate in \\u escape");
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("unpaired surrogate in \\u escape");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(c).ok_or("invalid \\u escape")?);
                        }
                        _ => return Err("invalid escape"),
                    }
                }
                Some(_) => return Err("control character in string"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_serde_json_reads() {
        let text = r#" {"a": [1, -2, 3.5, -0.0, 1e-7, 2E+3, 18446744073709551615, -9223372036854775808],
            "b": {"c": null, "d": true, "e": false, "f": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"},
            "g": [], "h": {}} "#;
        let v = parse(text, "spec").unwrap();
        assert_eq!(v, serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(v["a"][6], json!(u64::MAX));
        assert_eq!(v["b"]["f"], "x\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}");
    }

    #[test]
    fn numbers_keep_every_bit() {
        // Shortest round-trip digits (what serde_json and JSON.stringify write) read back exactly.
        let mut s: u64 = 0x9E3779B97F4A7C15;
        for _ in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = f64::from_bits(s);
            if !x.is_finite() {
                continue;
            }
            let text = serde_json::to_string(&x).unwrap();
            let v = parse(&text, "x").unwrap();
            assert_eq!(v.as_f64().unwrap().to_bits(), x.to_bits(), "{text}");
            assert_eq!(v.to_string(), text);
        }
    }

    #[test]
    fn errors_say_where() {
        for (text, what) in [
            ("", "unexpected end of input at line 1 column 1"),
            ("{\"a\": 1,}", "expected a string key at line 1 column 9"),
            ("[1 2]", "expected ',' or ']' at line 1 column 4"),
            ("{\n \"a\": 01}", "invalid number at line 2 column 7"),
            ("[1.]", "invalid number"),
            ("[1e400]", "number out of range"),
            ("\"abc", "unterminated string"),
            ("nul", "expected a value"),
            ("1 2", "trailing characters at line 1 column 3"),
            ("\"\\ud800\"", "unpaired surrogate"),
        ] {
            let e = parse(text, "spec").unwrap_err();
            assert_eq!(e.field, "spec");
            assert!(e.message.contains(what), "{text:?}: {}", e.message);
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&deep, "spec")
            .unwrap_err()
            .message
            .contains("too deep"));
    }
}
