//! Fitting text into the console's 100 columns: visible width, truncation and word wrap.

/// The widest line the console summary prints.
pub const WIDTH: usize = 100;

/// The width `s` takes on a terminal: characters, not counting ANSI colour sequences.
pub fn visible_width(s: &str) -> usize {
    strip_ansi(s).chars().count()
}

/// `s` without its ANSI colour sequences (`ESC [ … m`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Skip up to and including the sequence's final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` cut to `n` characters, the last one `…` when anything was cut.
pub(super) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n.saturating_sub(1)).collect::<String>() + "…"
    }
}

/// `text` broken at spaces into lines of at most [`WIDTH`] columns: the first line starts
/// with `first`, the others with `rest` (a hanging indent). A word too long for a line is
/// cut where the line ends. Runs of spaces inside a line are kept.
pub(super) fn wrap(first: &str, rest: &str, text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut width = visible_width(first);
    let mut empty = true;
    let mut pending_spaces = 0usize;
    for word in text.split(' ') {
        if word.is_empty() {
            pending_spaces += 1;
            continue;
        }
        let gap = if empty { 0 } else { pending_spaces + 1 };
        pending_spaces = 0;
        let len = word.chars().count();
        if !empty && width + gap + len > WIDTH {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            width = visible_width(rest);
        } else {
            line.extend(std::iter::repeat_n(' ', gap));
            width += gap;
        }
        let mut word: Vec<char> = word.chars().collect();
        // A word wider than a whole line is cut at the line's end, as often as needed.
        while width + word.len() > WIDTH && WIDTH > width {
            let room = WIDTH - width;
            line.extend(word.drain(..room));
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            width = visible_width(rest);
        }
        width += word.len();
        line.extend(word);
        empty = false;
    }
    lines.push(line);
    lines
}

/// Appends `text` wrapped as [`wrap`] does, one line each.
pub(super) fn push_wrapped(out: &mut String, first: &str, rest: &str, text: &str) {
    for line in wrap(first, rest, text) {
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Items joined by ` · `, as many to a line as fit, each further line indented by `indent`
/// (an item wider than a line is wrapped).
pub(super) fn pack(items: &[String], indent: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for item in items {
        let prefix = if lines.is_empty() {
            0
        } else {
            visible_width(indent)
        };
        if line.is_empty() {
            line = item.clone();
        } else if prefix + visible_width(&line) + 3 + visible_width(item) <= WIDTH {
            line += " · ";
            line += item;
        } else {
            lines.push(std::mem::replace(&mut line, item.clone()));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
        .iter()
        .enumerate()
        .flat_map(|(i, l)| wrap(if i == 0 { "" } else { indent }, indent, l))
        .collect()
}

/// Milliseconds in a short form: `0.8ms`, `12.3ms`, `150ms`, `1.52s`.
pub(super) fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}ms")
    } else {
        format!("{v:.1}ms")
    }
}

/// A fraction as a percentage with `decimals` places.
pub(super) fn pct(v: f64, decimals: usize) -> String {
    format!("{:.*}%", decimals, v * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_line_within_the_width() {
        let text = "word ".repeat(60) + &"x".repeat(250);
        let lines = wrap("  first ", "        ", &text);
        assert!(lines.len() > 3, "{lines:?}");
        for l in &lines {
            assert!(
                visible_width(l) <= WIDTH,
                "{} > {WIDTH}: {l}",
                visible_width(l)
            );
        }
        assert!(lines[0].starts_with("  first word"));
        assert!(lines[1].starts_with("        word"));
        let rejoined: String = lines.concat().replace(' ', "");
        assert_eq!(
            rejoined,
            "first".to_string() + &"word".repeat(60) + &"x".repeat(250)
        );
    }

    #[test]
    fn short_text_stays_on_one_line_with_its_double_spaces() {
        assert_eq!(wrap("> ", "  ", "a  b c"), vec!["> a  b c".to_string()]);
    }

    #[test]
    fn colour_codes_take_no_width_and_truncation_marks_the_cut() {
        assert_eq!(visible_width("\x1b[1;32mPASS\x1b[0m"), 4);
        assert_eq!(strip_ansi("\x1b[2mnot run\x1b[0m"), "not run");
        assert_eq!(truncate("a_very_long_phase_name", 16), "a_very_long_pha…");
        assert_eq!(truncate("short", 16), "short");
        assert_eq!(truncate("a_very_long_phase_name", 16).chars().count(), 16);
    }

    #[test]
    fn packed_items_fit() {
        let items: Vec<String> = (0..30).map(|i| format!("item number {i}")).collect();
        let lines = pack(&items, "  ");
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| visible_width(l) <= WIDTH));
        assert!(lines[1].starts_with("  item"));
    }
}
