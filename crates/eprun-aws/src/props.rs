//! Props: a type's schema and typed props declared from one list, and readers of a plain props map.

use crate::invalid::Invalid;
use crate::resource::Props;
use serde_json::Value;

/// Declares a resource type's schema and its typed props from one list of fields, so that a
/// field's name is written once and the two cannot drift apart.
///
/// Each field is `name: RustType = required(Kind, "doc")` or `= optional(Kind, "doc")`, followed by
/// any `Field` builders (`.default("…")`, `.force_new()`, `.updatable()`); `Kind`'s variants are in
/// scope. Fields with no typed counterpart (`TAGS`) follow the struct after `+`. A field left out
/// of the props reads as its default, and an absent `Option` is left out when written.
macro_rules! schema {
    (
        $(#[$meta:meta])*
        $vis:vis struct $props:ident: $schema:ident {
            $($field:ident: $ty:ty = $ctor:ident($kind:expr, $doc:literal $(,)?)
                $(.$builder:ident($($arg:expr),*))*),* $(,)?
        } $(+ $extra:expr)*
    ) => {
        const $schema: &[$crate::schema::Field] = &[
            $($crate::schema::Field::$ctor(
                $crate::props::field_name(stringify!($field)),
                {
                    #[allow(unused_imports)]
                    use $crate::schema::Kind::*;
                    $kind
                },
                $doc,
            )$(.$builder($($arg),*))*,)*
            $($extra,)*
        ];

        $(#[$meta])*
        #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        $vis struct $props {
            $(
                #[serde(skip_serializing_if = "crate::props::Absent::absent")]
                $field: $ty,
            )*
        }
    };
}
pub(crate) use schema;

/// A field's schema name: its Rust name without the `r#` of a keyword (`r#type` is `type`).
pub const fn field_name(rust_name: &'static str) -> &'static str {
    match rust_name.as_bytes() {
        [b'r', b'#', ..] => rust_name.split_at(2).1,
        _ => rust_name,
    }
}

/// Whether a typed prop is absent, and so left out when props are written.
pub trait Absent {
    /// `true` for `None`; a value that is not an `Option` is always there.
    fn absent(&self) -> bool {
        false
    }
}

impl<T> Absent for Option<T> {
    fn absent(&self) -> bool {
        self.is_none()
    }
}

impl Absent for String {}
impl Absent for bool {}
impl Absent for i64 {}
impl Absent for Value {}
impl<T> Absent for Vec<T> {}

/// A string prop of a plain map, or the empty string.
pub fn str_prop<'a>(props: &'a Props, key: &str) -> &'a str {
    props.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A string-list prop of a plain map.
pub fn list_prop(props: &Props, key: &str) -> Vec<String> {
    let items = props.get(key).and_then(Value::as_array);
    let strings = items.into_iter().flatten().filter_map(Value::as_str);
    strings.map(String::from).collect()
}

/// An integer prop of a plain map, if set.
pub fn int_prop(props: &Props, key: &str) -> Option<i64> {
    props.get(key).and_then(Value::as_i64)
}

/// Checks that the integer prop `key`, when set, lies within `range` (counted in `unit`).
pub fn check_range(
    props: &Props,
    key: &str,
    range: std::ops::RangeInclusive<i64>,
    unit: &str,
) -> Result<(), Invalid> {
    match int_prop(props, key) {
        Some(v) if !range.contains(&v) => Err(Invalid::range(key, v, range, unit)),
        _ => Ok(()),
    }
}
