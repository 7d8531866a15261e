//! Column-aligned text tables for the CLI's listings. Each column is as
//! wide as its widest cell, so a long name never runs into the next
//! column; numbers align right.

/// How a column's cells line up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A listing: a header and rows of cells, printed with fitted widths.
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it has one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(cells);
    }

    /// The table as text, one line per row after the header, columns two
    /// spaces apart, no trailing spaces.
    pub fn render(&self) -> String {
        let header: Vec<String> = self.columns.iter().map(|(h, _)| h.to_string()).collect();
        let lines: Vec<&Vec<String>> = std::iter::once(&header).chain(&self.rows).collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|c| {
                lines
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in lines {
            let mut text = String::new();
            for (c, cell) in line.iter().enumerate() {
                if c > 0 {
                    text.push_str("  ");
                }
                let pad = " ".repeat(widths[c] - cell.chars().count());
                match self.columns[c].1 {
                    Align::Left => {
                        text.push_str(cell);
                        text.push_str(&pad);
                    }
                    Align::Right => {
                        text.push_str(&pad);
                        text.push_str(cell);
                    }
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_widest_cell() {
        let mut t = Table::new(&[
            ("RUN", Align::Left),
            ("FUNCTION", Align::Left),
            ("BILLED", Align::Right),
            ("ERROR", Align::Left),
        ]);
        t.row(vec![
            "r1".into(),
            "thumbnailer/on-thumbnail".into(),
            "1ms".into(),
            "".into(),
        ]);
        t.row(vec![
            "r2".into(),
            "a/f".into(),
            "2535ms".into(),
            "exited 1".into(),
        ]);
        assert_eq!(
            t.render(),
            "RUN  FUNCTION                  BILLED  ERROR\n\
             r1   thumbnailer/on-thumbnail     1ms\n\
             r2   a/f                       2535ms  exited 1\n"
        );
    }
}
