//! The part of Go's `text/tabwriter` buildx's printers use: every cell but
//! a row's last is padded to its column's widest cell (in characters)
//! plus `padding` spaces; the last cell is written as it is.

/// `rows` as one aligned block, each row ending in a newline.
pub fn aligned(rows: &[Vec<String>], padding: usize) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let width = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let width = widths.get(i).copied().unwrap_or(0) + padding;
                let fill = width.saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', fill));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn cells_are_padded_to_the_widest_and_the_last_is_left_alone() {
        let rows = [
            row(&["TARGET", "DESCRIPTION"]),
            row(&["build (default)", ""]),
        ];
        assert_eq!(
            aligned(&rows, 1),
            "TARGET          DESCRIPTION\nbuild (default) \n"
        );
        let rows = [row(&["SECRET", "REQUIRED"]), row(&["é", "true"])];
        assert_eq!(aligned(&rows, 3), "SECRET   REQUIRED\né        true\n");
    }
}
