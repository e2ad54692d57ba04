//! A [`Diagnostic`] rendered the way rustc shows an error: the `FILE:LINE:COL: message`
//! headline (what editors, CI logs and scripts grep for), then the offending source line
//! with a caret under the span, drawn by `annotate-snippets`.

use super::Diagnostic;
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// Most source lines a snippet shows (a span over a whole table shows its first lines).
const MAX_LINES: usize = 3;

/// The headline, and below it a snippet of `source` (the diagnostic's file) with the span
/// marked; just the headline when the diagnostic has no place in the file or `source` does
/// not match it (the file changed since, or the problem is in another file). `color` adds
/// ANSI colours: for a terminal only.
pub fn render(diagnostic: &Diagnostic, source: Option<&str>, color: bool) -> String {
    let headline = diagnostic.to_string();
    match source.and_then(|s| snippet(diagnostic, s, color)) {
        Some(snippet) => format!("{headline}\n{snippet}"),
        None => headline,
    }
}

fn snippet(d: &Diagnostic, source: &str, color: bool) -> Option<String> {
    let span = d.span.clone();
    if d.line == 0 || span.start > source.len() || !source.is_char_boundary(span.start) {
        return None;
    }
    // The lines around the span only: a 4 MiB file is not handed to the renderer whole.
    let first = source[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let line_number = source[..first].matches('\n').count() + 1;
    let column = source[first..span.start].chars().count() + 1;
    if (line_number, column) != (d.line, d.column) {
        return None;
    }
    let mut last = first;
    for _ in 0..MAX_LINES {
        match source[last..].find('\n') {
            Some(i) if last + i < span.end.max(span.start + 1) => last += i + 1,
            Some(i) => {
                last += i;
                break;
            }
            None => {
                last = source.len();
                break;
            }
        }
    }
    let last = source[..last]
        .trim_end_matches(['\n', '\r'])
        .len()
        .max(span.start);
    let excerpt = &source[first..last];
    let mut end = span.end.clamp(span.start, last);
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let local = (span.start - first)..(end - first);
    let report = &[Group::with_level(Level::ERROR).element(
        Snippet::source(excerpt)
            .line_start(line_number)
            .fold(false)
            .annotation(AnnotationKind::Primary.span(local)),
    )];
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    Some(renderer.render(report).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caret_column(rendered: &str) -> usize {
        let marks = rendered
            .lines()
            .find(|l| l.contains('^'))
            .expect("a caret line");
        let gutter = marks.find('|').expect("a gutter") + 2;
        marks.find('^').expect("caret") - gutter + 1
    }

    #[test]
    fn the_caret_sits_under_the_span() {
        let source = "name = \"d\"\n[[phases]]\nrate = \"fast\"\nduration = \"1s\"\n";
        let start = source.find("\"fast\"").unwrap();
        let d = Diagnostic::at("d.toml", source, start..start + 6, "expected a number");
        let text = render(&d, Some(source), false);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("d.toml:3:8: expected a number"));
        assert!(text.contains("3 | rate = \"fast\""), "{text}");
        assert!(
            !text.contains("duration"),
            "only the offending line: {text}"
        );
        assert_eq!(caret_column(&text), 8, "{text}");
        assert!(text.contains("^^^^^^"), "the whole span: {text}");
        assert!(!text.contains('\x1b'), "no colour unless asked");
        assert!(render(&d, Some(source), true).contains('\x1b'));
    }

    #[test]
    fn columns_count_characters() {
        let source = "# é\nnäme = 1\n";
        let start = source.find('1').unwrap();
        let d = Diagnostic::at("d.toml", source, start..start + 1, "bad");
        let text = render(&d, Some(source), false);
        assert!(text.starts_with("d.toml:2:8: bad\n"), "{text}");
        assert_eq!(caret_column(&text), 8, "{text}");
    }

    #[test]
    fn no_snippet_without_a_place_or_a_matching_source() {
        let d = Diagnostic::whole_file("d.toml", "empty");
        assert_eq!(render(&d, Some("x"), false), "d.toml: empty");
        let d = Diagnostic::at("d.toml", "a = 1\nb = 2\n", 6..7, "bad");
        assert_eq!(render(&d, None, false), "d.toml:2:1: bad");
        assert_eq!(render(&d, Some("changed"), false), "d.toml:2:1: bad");
        let empty_span = Diagnostic::at("d.toml", "a = 1\nb = 2\n", 6..6, "bad");
        assert!(render(&empty_span, Some("a = 1\nb = 2\n"), false).contains("2 | b = 2"));
    }
}
