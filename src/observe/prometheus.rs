//! Parser for Prometheus text exposition (0.0.4) and OpenMetrics text pages, so a drill can
//! read a breaker's state from the SUT's `/metrics` scrape, plus the selectors users write
//! in config to pick one series out of a page.
//!
//! Grammar covered, one line at a time (lines split on `\n`, a trailing `\r` tolerated):
//!
//! ```text
//! line     = blank | "#" comment | sample          (# HELP / TYPE / UNIT / anything: skipped)
//! sample   = name [labels] value [timestamp] [exemplar]
//! name     = [a-zA-Z_:][a-zA-Z0-9_:]*
//! labels   = "{" [label ("," label)* [","]] "}"   (trailing comma allowed, as Micrometer emits)
//! label    = [a-zA-Z_][a-zA-Z0-9_]* "=" '"' escaped '"'    (\\ \" \n unescaped; other
//!                                                           escapes kept literally)
//! value    = float | int | NaN | +Inf | -Inf | Inf (anything Rust's f64 parser accepts)
//! timestamp= finite int or float, ignored
//! exemplar = "#" labels value [timestamp], validated then ignored
//! ```
//!
//! Spaces and tabs may surround every token. `# EOF` ends an OpenMetrics page; any non-blank
//! line after it is an error. One bad line fails the whole parse: a half-read page would hide
//! a wrong endpoint. Not covered: Prometheus 3 quoted UTF-8 metric names (`{"a.b"}`), and
//! no cross-line checks (TYPE vs. samples, histogram bucket order, duplicate series).

/// One sample line of a scrape: metric name, labels in page order, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name as written, e.g. `resilience4j_circuitbreaker_state`.
    pub name: String,
    /// Label pairs in the order the page lists them, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The sample value; NaN and infinities are kept as such.
    pub value: f64,
}

/// Why a page or selector could not be parsed, with the 1-based line it failed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number (always 1 for a selector).
    pub line: usize,
    /// Short description of what was expected or found.
    pub reason: String,
}

/// A metric name plus required labels, as written in drill config, to pick series from a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// Metric name the sample must have.
    pub metric: String,
    /// Labels the sample must carry with exactly these values; other labels are ignored.
    pub labels: Vec<(String, String)>,
}

impl Selector {
    /// True when the sample has this metric name and every selector label with an equal value.
    pub fn matches(&self, s: &Sample) -> bool {
        s.name == self.metric
            && self
                .labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
    }

    /// The samples this selector matches, in page order.
    pub fn select<'a>(&self, samples: &'a [Sample]) -> Vec<&'a Sample> {
        samples.iter().filter(|s| self.matches(s)).collect()
    }
}

/// Parses a whole text page into its samples; the first bad line fails the parse.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    let mut eof = false;
    for (i, raw) in text.split('\n').enumerate() {
        let err = |reason| ParseError {
            line: i + 1,
            reason,
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_matches([' ', '\t']);
        if trimmed.is_empty() {
            continue;
        }
        if eof {
            return Err(err("content after # EOF".into()));
        }
        if trimmed == "# EOF" {
            eof = true;
        } else if !trimmed.starts_with('#') {
            out.push(sample(line).map_err(err)?);
        }
    }
    Ok(out)
}

/// Parses a config selector: a bare metric name or `name{label="value",...}`, on one line.
pub fn parse_selector(text: &str) -> Result<Selector, ParseError> {
    let inner = || -> Result<Selector, String> {
        let mut c = Cur::new(text.trim());
        let (metric, labels) = head(&mut c)?;
        if c.peek().is_some() {
            return Err("unexpected characters after selector".into());
        }
        Ok(Selector { metric, labels })
    };
    inner().map_err(|reason| ParseError { line: 1, reason })
}

/// Byte cursor over one line; it only stops on ASCII bytes, so slices stay on char boundaries.
struct Cur<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cur<'a> {
    fn new(s: &'a str) -> Self {
        Cur { s, pos: 0 }
    }
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }
    /// Metric name (`colon` = true) or label name; None if none starts here.
    fn ident(&mut self, colon: bool) -> Option<&'a str> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            let first = b.is_ascii_alphabetic() || b == b'_' || (colon && b == b':');
            if !(first || (self.pos > start && b.is_ascii_digit())) {
                break;
            }
            self.pos += 1;
        }
        self.s.get(start..self.pos).filter(|n| !n.is_empty())
    }
    /// Run of non-blank bytes (possibly empty).
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b != b' ' && b != b'\t') {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or("")
    }
    /// Body of a quoted label value, after the opening quote, through the closing one.
    fn quoted(&mut self) -> Result<String, String> {
        let mut buf = Vec::new();
        loop {
            let b = self.peek().ok_or("unterminated label value")?;
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or("unterminated label value")?;
                    self.pos += 1;
                    match e {
                        b'n' => buf.push(b'\n'),
                        b'\\' | b'"' => buf.push(e),
                        _ => buf.extend([b'\\', e]),
                    }
                }
                _ => buf.push(b),
            }
        }
        String::from_utf8(buf).map_err(|_| "label value is not UTF-8".into())
    }
}

/// `{a="x",b="y",}` with the cursor on `{`.
fn label_set(c: &mut Cur) -> Result<Vec<(String, String)>, String> {
    c.eat(b'{');
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        c.ws();
        if c.eat(b'}') {
            return Ok(out);
        }
        let name = c.ident(false).ok_or("expected label name or '}'")?;
        c.ws();
        if !c.eat(b'=') {
            return Err("expected '=' after label name".into());
        }
        c.ws();
        if !c.eat(b'"') {
            return Err("expected '\"' to open label value".into());
        }
        let value = c.quoted()?;
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate label {name:?}"));
        }
        out.push((name.to_string(), value));
        c.ws();
        if !c.eat(b',') && c.peek() != Some(b'}') {
            return Err("expected ',' or '}' after label value".into());
        }
    }
}

/// Metric name and optional label set, with the blanks after them.
fn head(c: &mut Cur) -> Result<(String, Vec<(String, String)>), String> {
    let name = c.ident(true).ok_or("expected metric name")?.to_string();
    c.ws();
    let labels = match c.peek() {
        Some(b'{') => label_set(c)?,
        _ => Vec::new(),
    };
    c.ws();
    Ok((name, labels))
}

fn number(tok: &str, what: &str) -> Result<f64, String> {
    if tok.is_empty() {
        return Err(format!("missing {what}"));
    }
    tok.parse().map_err(|_| format!("invalid {what} {tok:?}"))
}

/// `value [timestamp]` and the blanks after them; returns the value.
fn value_and_timestamp(c: &mut Cur, what: &str) -> Result<f64, String> {
    let value = number(c.token(), what)?;
    c.ws();
    if !matches!(c.peek(), None | Some(b'#')) && !number(c.token(), "timestamp")?.is_finite() {
        return Err("timestamp must be finite".into());
    }
    c.ws();
    Ok(value)
}

fn sample(line: &str) -> Result<Sample, String> {
    let mut c = Cur::new(line);
    c.ws();
    let (name, labels) = head(&mut c)?;
    let value = value_and_timestamp(&mut c, "value")?;
    if c.eat(b'#') {
        c.ws();
        if c.peek() != Some(b'{') {
            return Err("expected '{' after exemplar '#'".into());
        }
        label_set(&mut c)?;
        c.ws();
        value_and_timestamp(&mut c, "exemplar value")?;
    }
    if c.peek().is_some() {
        return Err("unexpected characters after value".into());
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const R4J: &str = "# HELP resilience4j_circuitbreaker_state The states of the circuit breaker\n\
# TYPE resilience4j_circuitbreaker_state gauge\n\
resilience4j_circuitbreaker_state{name=\"backendA\",state=\"closed\",} 0.0\n\
resilience4j_circuitbreaker_state{name=\"backendA\",state=\"open\",} 1.0\n\
resilience4j_circuitbreaker_state{name=\"backendA\",state=\"half_open\",} 0.0\n\
resilience4j_circuitbreaker_state{name=\"backendA\",state=\"disabled\",} 0.0\n\
resilience4j_circuitbreaker_state{name=\"backendA\",state=\"forced_open\",} 0.0\n\
resilience4j_circuitbreaker_state{name=\"backendA\",state=\"metrics_only\",} 0.0\n\
resilience4j_circuitbreaker_state{name=\"backendB\",state=\"closed\",} 1.0\n\
\n\
# HELP resilience4j_circuitbreaker_calls_seconds_count Total number of calls\n\
# TYPE resilience4j_circuitbreaker_calls_seconds_count counter\n\
resilience4j_circuitbreaker_calls_seconds_count{kind=\"failed\",name=\"backendA\",} 42.0\n\
resilience4j_circuitbreaker_calls_seconds_count{kind=\"successful\",name=\"backendA\",} 1.2E3\n\
resilience4j_circuitbreaker_not_permitted_calls_total{kind=\"not_permitted\",name=\"backendA\",} 7.0\n";

    #[test]
    fn resilience4j_page() {
        let s = parse(R4J).unwrap();
        assert_eq!(s.len(), 10);
        assert_eq!(s[1].name, "resilience4j_circuitbreaker_state");
        let want = [("name", "backendA"), ("state", "open")].map(|(k, v)| (k.into(), v.into()));
        assert_eq!((s[1].labels.as_slice(), s[1].value), (&want[..], 1.0));
        assert_eq!((s[8].value, s[9].value), (1200.0, 7.0));
        assert_eq!(parse(&R4J.replace('\n', "\r\n")).unwrap(), s);
    }

    #[test]
    fn openmetrics_page() {
        let page = "# TYPE x counter\n# UNIT x seconds\n# HELP x Help.\nx_total 3\n\
                    x_created 1.7e9\n\
                    y_total{a=\"b\"} 5 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 1.0 123\n\
                    z 2 # {} 0.5\n# EOF\n";
        let s = parse(page).unwrap();
        let got: Vec<_> = s.iter().map(|s| (s.name.as_str(), s.value)).collect();
        let want = [
            ("x_total", 3.0),
            ("x_created", 1.7e9),
            ("y_total", 5.0),
            ("z", 2.0),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn escapes_spaces_timestamps_and_specials() {
        let page = "m { a = \"q\\\"b\\\\s\\nn\\t\" , b=\"\" , } 1 \t\nm\t+Inf 1600000000000\n\
                    m -Inf\nm Inf\nm NaN 12\nm -1.5e-3\n:m:x_1 7";
        let s = parse(page).unwrap();
        assert_eq!(s[0].labels[0].1, "q\"b\\s\nn\\t");
        assert_eq!(s[0].labels[1], ("b".into(), String::new()));
        assert_eq!(s[1].value, f64::INFINITY);
        assert_eq!((s[2].value, s[3].value), (f64::NEG_INFINITY, f64::INFINITY));
        assert!(s[4].value.is_nan());
        assert_eq!((s[5].value, s[6].name.as_str()), (-0.0015, ":m:x_1"));
    }

    #[test]
    fn selector_picks_one_hot_state() {
        let page = parse(R4J).unwrap();
        let sel = " resilience4j_circuitbreaker_state{name=\"backendA\",state=\"open\"} ";
        let hit = parse_selector(sel).unwrap().select(&page);
        assert_eq!((hit.len(), hit[0].value), (1, 1.0));
        let all = parse_selector("resilience4j_circuitbreaker_state{name=\"backendA\"}").unwrap();
        assert_eq!(all.select(&page).len(), 6);
        let bare = parse_selector("resilience4j_circuitbreaker_state").unwrap();
        assert_eq!((bare.labels.len(), bare.select(&page).len()), (0, 7));
        let other = parse_selector("resilience4j_circuitbreaker_state{name=\"C\"}").unwrap();
        assert!(other.select(&page).is_empty());
    }

    #[test]
    fn errors_name_line_and_reason() {
        let page = [
            (1, "<html>\n<body>oops</body>\n", "expected metric name"),
            (
                3,
                "# HELP a\na 1\nb{x=\"y} 2\nc 3\n",
                "unterminated label value",
            ),
            (3, "a 1\n\nb{x=\"y\"}\n", "missing value"),
            (1, "a\n", "missing value"),
            (1, "a one\n", "invalid value \"one\""),
            (1, "a 1 2 3\n", "unexpected characters after value"),
            (1, "a 1 soon\n", "invalid timestamp \"soon\""),
            (1, "a 1 +Inf\n", "timestamp must be finite"),
            (1, "a 1 # trace\n", "expected '{' after exemplar '#'"),
            (1, "a{,} 1", "expected label name or '}'"),
            (3, "x 1\n# EOF\nx 2\n", "content after # EOF"),
        ];
        for (line, text, want) in page {
            let got = parse(text).map_err(|e| e.to_string());
            assert_eq!(got, Err(format!("line {line}: {want}")), "{text:?}");
        }
        let selector = [
            ("", "expected metric name"),
            ("9x", "expected metric name"),
            ("m{name}", "expected '=' after label name"),
            ("m{name=open}", "expected '\"' to open label value"),
            ("m{a=\"x", "unterminated label value"),
            ("m{a=\"x\"", "expected ',' or '}' after label value"),
            ("m{a=\"x\",a=\"y\"}", "duplicate label \"a\""),
            ("m{a=\"x\"} 1", "unexpected characters after selector"),
        ];
        for (text, want) in selector {
            let got = parse_selector(text).map_err(|e| e.to_string());
            assert_eq!(got, Err(format!("line 1: {want}")), "{text:?}");
        }
    }

    #[test]
    fn never_panics() {
        let doc = format!("{R4J}a{{b=\"é\\\"\"}} 1 2 # {{t=\"x\"}} 1 2\n# EOF\n");
        assert_eq!(parse(&doc).map(|s| s.len()), Ok(11));
        for (i, _) in doc.char_indices() {
            let _ = parse(&doc[..i]);
            let _ = parse_selector(&doc[..i]);
        }
        let alphabet = b"ab_:{}=\",\\ \t\r\n#0123456789.eE+-InfNa\xc3\xa9\xff";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..500 {
            let mut bytes = Vec::new();
            for _ in 0..(x % 64) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let r = (x >> 32) as usize;
                bytes.push(alphabet.get(r % 48).copied().unwrap_or(r as u8));
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(&text);
            let _ = parse_selector(&text);
        }
    }
}
