//! Colour for the console summary: ANSI sequences only when asked for, so piped and
//! redirected output stays plain text.

use crate::verdict::{Outcome, Status};
use std::ffi::OsStr;

/// Whether the summary should be coloured: only on a terminal, and never when the
/// `NO_COLOR` environment variable is set to anything but the empty string
/// (<https://no-color.org>).
pub fn use_colour(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// Paints text with ANSI colours, or leaves it alone.
#[derive(Debug, Clone, Copy)]
pub(super) struct Paint {
    /// Whether to colour at all.
    pub on: bool,
}

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const DIM: &str = "2";
const BOLD: &str = "1";

impl Paint {
    fn paint(self, code: &str, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Dimmed: things that did not happen.
    pub fn dim(self, text: &str) -> String {
        self.paint(DIM, text)
    }

    /// Bold: section titles.
    pub fn bold(self, text: &str) -> String {
        self.paint(BOLD, text)
    }

    /// Red: failures.
    pub fn red(self, text: &str) -> String {
        self.paint(RED, text)
    }

    /// The verdict badge, padded to 7 columns before it is coloured.
    pub fn badge(self, status: Status) -> String {
        let (word, code) = match status {
            Status::Pass => ("PASS", GREEN),
            Status::Warn => ("WARN", YELLOW),
            Status::NotRun => ("NOT RUN", DIM),
            Status::Fail => ("FAIL", RED),
            Status::Invalid => ("INVALID", RED),
        };
        // Pad outside the colour so that a coloured badge keeps the table aligned.
        format!("{}{}", self.paint(code, word), " ".repeat(7 - word.len()))
    }

    /// The outcome word of the headline, coloured as its worst verdict would be.
    pub fn outcome(self, outcome: Outcome, word: &str) -> String {
        let code = match outcome {
            Outcome::Passed => GREEN,
            Outcome::Failed | Outcome::Invalid => RED,
            Outcome::Aborted | Outcome::Unjudged => YELLOW,
        };
        self.paint(&format!("{BOLD};{code}"), word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(!use_colour(false, None));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(
            use_colour(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
    }

    #[test]
    fn badges_keep_their_width_coloured_or_not() {
        let on = Paint { on: true };
        let off = Paint { on: false };
        assert_eq!(off.badge(Status::Pass), "PASS   ");
        assert_eq!(off.badge(Status::NotRun), "NOT RUN");
        assert_eq!(on.badge(Status::Fail), "\x1b[31mFAIL\x1b[0m   ");
        assert_eq!(
            super::super::layout::visible_width(&on.badge(Status::Warn)),
            7
        );
    }
}
