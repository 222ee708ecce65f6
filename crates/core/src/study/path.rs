//! Spec paths (`model.layers[1].width`): parsed into segments and set in a JSON spec. Shared by
//! the study kinds that vary a run spec (`hessianGrid`'s axis, `sweep`'s axes and seeds).

use serde_json::Value;

use crate::error::{Error, Result};

/// One segment of a spec path: `name` or `[index]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Parse `model.layers[1].width` into segments.
pub fn parse_path(path: &str, field: &str) -> Result<Vec<Seg>> {
    let bad = |why: &str| {
        Error::spec(
            field,
            format!("{why} in {path:?}: expected a spec path such as model.balanceWeight or model.layers[0].width"),
        )
    };
    let mut segs = Vec::new();
    let mut rest = path;
    let mut first = true;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("an unclosed ["))?;
            let i: usize = r[..end]
                .parse()
                .map_err(|_| bad("an index that is not a non-negative integer"))?;
            segs.push(Seg::Index(i));
            rest = &r[end + 1..];
        } else {
            let r = if first {
                rest
            } else {
                rest.strip_prefix('.')
                    .ok_or_else(|| bad("a missing . between names"))?
            };
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad("an empty or invalid name"));
            }
            segs.push(Seg::Key(name.to_string()));
            rest = &r[end..];
        }
        first = false;
    }
    if segs.is_empty() {
        return Err(bad("an empty path"));
    }
    Ok(segs)
}

/// Set `value` at `segs` in `spec`: every container on the way must exist; the last object key
/// may be absent (an optional field), the last array index must exist.
pub fn set_path(
    spec: &mut Value,
    segs: &[Seg],
    value: Value,
    field: &str,
    root: &str,
) -> Result<()> {
    let mut at = spec;
    let mut where_ = String::from(root);
    for (n, seg) in segs.iter().enumerate() {
        let last = n + 1 == segs.len();
        at = match (seg, at) {
            (Seg::Key(k), Value::Object(m)) => {
                if last {
                    m.insert(k.clone(), value);
                    return Ok(());
                }
                let next = m
                    .get_mut(k)
                    .ok_or_else(|| Error::spec(field, format!("{where_} has no field {k:?}")))?;
                where_ = format!("{where_}.{k}");
                next
            }
            (Seg::Index(i), Value::Array(a)) => {
                let len = a.len();
                let slot = a.get_mut(*i).ok_or_else(|| {
                    Error::spec(field, format!("{where_} has {len} entries, no index {i}"))
                })?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                where_ = format!("{where_}[{i}]");
                slot
            }
            (Seg::Key(k), _) => {
                return Err(Error::spec(
                    field,
                    format!("{where_} is not an object (looking for field {k:?})"),
                ))
            }
            (Seg::Index(i), _) => {
                return Err(Error::spec(
                    field,
                    format!("{where_} is not an array (looking for index {i})"),
                ))
            }
        };
    }
    unreachable!("a path has at least one segment")
}
