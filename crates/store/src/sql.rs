//! Pieces of SQL text both backends accept, for statements whose size
//! depends on their input.

/// `rows` parenthesised tuples of `columns` placeholders each, numbered
/// from `$first`: `rows(2, 2, 1)` is `($1, $2), ($3, $4)`. For multi-row
/// `VALUES` lists.
pub(crate) fn rows(rows: usize, columns: usize, first: usize) -> String {
    (0..rows)
        .map(|r| {
            let tuple = (0..columns)
                .map(|c| format!("${}", first + r * columns + c))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({tuple})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `n` placeholders numbered from `$first`, comma-separated: for `IN` lists.
pub(crate) fn list(n: usize, first: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_placeholders_row_by_row() {
        assert_eq!(super::rows(2, 2, 1), "($1, $2), ($3, $4)");
        assert_eq!(super::rows(1, 3, 2), "($2, $3, $4)");
        assert_eq!(super::list(3, 2), "$2, $3, $4");
    }
}
