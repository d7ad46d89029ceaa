//! Plain-text tables and number formatting for the terminal.

/// `native` quote units (6 decimals) as dollars with thousands separators, no cents.
pub fn usd(native: i64) -> String {
    let whole = (native as i128).abs() / 1_000_000;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if native < 0 && whole > 0 {
        format!("-${grouped}")
    } else {
        format!("${grouped}")
    }
}

/// Basis points as a percentage with one decimal.
pub fn percent(bps: i64) -> String {
    format!(
        "{}{}.{}%",
        if bps < 0 { "-" } else { "" },
        bps.abs() / 100,
        bps.abs() % 100 / 10
    )
}

/// A table with a header row; columns after the first are right-aligned.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::from(" ");
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 0 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad + 2));
                out.push_str(cell);
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    out.push(' ');
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (columns - 1)));
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dollars_and_percentages() {
        assert_eq!(usd(1_234_567_890_000), "$1,234,567");
        assert_eq!(usd(-5_000_000), "-$5");
        assert_eq!(usd(999_999), "$0");
        assert_eq!(percent(1234), "12.3%");
        assert_eq!(percent(-50), "-0.5%");
    }

    #[test]
    fn aligns_columns() {
        let t = render(&["a", "bb"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, " a    bb\n -------\n xyz   1");
    }
}
