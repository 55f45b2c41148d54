//! Batches bound as one JSON parameter, for statements over many rows.
//!
//! A placeholder per value made each batch size its own statement text
//! (prepared again, evicting others from the statement cache), and SQLite
//! finds a numbered parameter's name by a linear search, so binding a batch
//! was quadratic in its size: a 10,000-entry payout spent most of its time
//! binding. One JSON array keeps the text fixed and the binding constant.

use crate::{Backend, StoreError};

/// A `FROM` item over the JSON array of objects bound at `$param`, one row
/// per object, named `j`: read a field with `j.value ->> 'name'` (text on
/// PostgreSQL: `CAST` numbers).
pub(crate) fn json_rows(backend: Backend, param: usize) -> String {
    match backend {
        Backend::Sqlite => format!("json_each(${param}) AS j"),
        Backend::Postgres => format!("json_array_elements(${param}::json) AS j(value)"),
    }
}

/// A `WITH` clause naming [`json_rows`] at `$param` as the table `j`, each
/// object taken out of the array once: SQLite's `json_each` makes `value`
/// anew (its binary JSON back into text) each time a statement names it,
/// once per field read. For statements that read many fields of each row;
/// the statement reads `FROM j`.
pub(crate) fn json_rows_once(backend: Backend, param: usize) -> String {
    format!(
        "WITH j AS MATERIALIZED (SELECT j.value FROM {}) ",
        json_rows(backend, param)
    )
}

/// A subquery over the JSON array of strings bound at `$param`, for
/// `column IN (…)`.
pub(crate) fn json_list(backend: Backend, param: usize) -> String {
    match backend {
        Backend::Sqlite => format!("SELECT value FROM json_each(${param})"),
        Backend::Postgres => {
            format!("SELECT value FROM json_array_elements_text(${param}::json)")
        }
    }
}

/// A statement that returns the rows of `inner` (its `columns`) as one row
/// holding a JSON array of arrays; read it with [`decode`]. SQLite's rows
/// cross from its connection thread one at a time, each waking the caller
/// on the way: a batch's rows come back in one crossing instead.
pub(crate) fn json_agg(backend: Backend, columns: &str, inner: &str) -> String {
    match backend {
        Backend::Sqlite => {
            format!("SELECT json_group_array(json_array({columns})) FROM ({inner}) AS r")
        }
        Backend::Postgres => format!(
            "SELECT COALESCE(json_agg(json_build_array({columns})), '[]')::text FROM ({inner}) AS r"
        ),
    }
}

/// The rows a [`json_agg`] statement returned.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(rows: &str) -> Result<Vec<T>, StoreError> {
    serde_json::from_str(rows).map_err(|err| {
        StoreError::Query(sqlx::Error::Decode(
            format!("aggregated rows: {err}").into(),
        ))
    })
}

/// `items` as one JSON array, for [`json_rows`].
pub(crate) fn json(items: impl IntoIterator<Item = serde_json::Value>) -> String {
    serde_json::Value::Array(items.into_iter().collect()).to_string()
}

/// `items` as a JSON array of strings, for [`json_list`].
pub(crate) fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    json(items.into_iter().map(serde_json::Value::from))
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_are_escaped_into_one_json_array() {
        assert_eq!(super::strings(["a", "b\"c"]), r#"["a","b\"c"]"#);
    }
}
