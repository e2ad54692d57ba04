//! Hand-written SVG for the HTML report: the shared time axis, value axes, polylines and
//! the downsampling that keeps long runs small.

use std::fmt::{self, Write};
use std::ops::Range;

/// Most points a line keeps; longer series are reduced to this many groups.
pub const MAX_POINTS: usize = 1000;

/// Width of every chart, px.
pub const WIDTH: f64 = 1160.0;
/// Left margin (lane labels, value axis), px: the same on every chart so x lines up.
pub const LEFT: f64 = 130.0;
/// Right margin, px.
pub const RIGHT: f64 = 20.0;

/// The shared time axis: run seconds onto chart pixels, the same on every chart.
#[derive(Debug, Clone, Copy)]
pub struct TimeAxis {
    /// Seconds at the right edge (> 0).
    pub span_s: f64,
}

impl TimeAxis {
    /// An axis covering `0..span_s` (at least one second, so nothing divides by zero).
    pub fn new(span_s: f64) -> Self {
        let span_s = if span_s.is_finite() && span_s >= 1.0 {
            span_s
        } else {
            1.0
        };
        TimeAxis { span_s }
    }

    /// The x pixel of `s` seconds, clamped to the plot.
    pub fn x(&self, s: f64) -> f64 {
        let s = if s.is_finite() {
            s.clamp(0.0, self.span_s)
        } else if s > 0.0 {
            self.span_s
        } else {
            0.0
        };
        LEFT + s / self.span_s * (WIDTH - LEFT - RIGHT)
    }

    /// Tick positions, seconds: a round step giving at most a dozen ticks.
    pub fn ticks(&self) -> Vec<f64> {
        const STEPS: [f64; 15] = [
            1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
            7200.0, 21600.0,
        ];
        let step = STEPS
            .iter()
            .copied()
            .find(|s| self.span_s / s <= 12.0)
            .unwrap_or((self.span_s / 12.0).ceil());
        let count = (self.span_s / step).floor() as usize;
        (0..=count).map(|i| i as f64 * step).collect()
    }

    /// Vertical grid lines and tick labels under a plot spanning `top..bottom`.
    pub fn draw(&self, out: &mut String, top: f64, bottom: f64) -> fmt::Result {
        for t in self.ticks() {
            let x = self.x(t);
            writeln!(
                out,
                r#"<line class="grid" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                bottom + 14.0,
                time_label(t, self.span_s)
            )?;
        }
        Ok(())
    }
}

/// `s` as `12s`, or `m:ss` / `h:mm:ss` on runs longer than two minutes.
pub fn time_label(s: f64, span_s: f64) -> String {
    let whole = s.round() as u64;
    if span_s <= 120.0 {
        return format!("{whole}s");
    }
    let (h, m, sec) = (whole / 3600, whole / 60 % 60, whole % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else {
        format!("{m}:{sec:02}")
    }
}

/// A value axis from 0 to a round maximum at or above `max`.
#[derive(Debug, Clone, Copy)]
pub struct ValueAxis {
    /// The top of the axis (> 0).
    pub max: f64,
    /// Distance between ticks.
    pub step: f64,
    /// Plot top, px.
    pub top: f64,
    /// Plot bottom, px.
    pub bottom: f64,
}

impl ValueAxis {
    /// An axis over `0..max` rounded up to 1, 2 or 5 × 10ⁿ steps, drawn over `top..bottom`.
    pub fn new(max: f64, top: f64, bottom: f64) -> Self {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        let raw = max / 4.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * magnitude);
        ValueAxis {
            max: (max / step).ceil() * step,
            step,
            top,
            bottom,
        }
    }

    /// The y pixel of `v`, clamped to the plot.
    pub fn y(&self, v: f64) -> f64 {
        let v = if v.is_finite() {
            v.clamp(0.0, self.max)
        } else {
            0.0
        };
        self.bottom - v / self.max * (self.bottom - self.top)
    }

    /// Horizontal grid lines and labels left of the plot, `unit` after each number.
    pub fn draw(&self, out: &mut String, unit: &str) -> fmt::Result {
        let ticks = (self.max / self.step).round() as usize;
        for i in 0..=ticks {
            let v = i as f64 * self.step;
            let y = self.y(v);
            writeln!(
                out,
                r#"<line class="grid" x1="{LEFT:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}{unit}</text>"#,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                number(v)
            )?;
        }
        Ok(())
    }
}

/// A number without trailing zeros: `0.25`, `12`, `1500`.
pub fn number(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Consecutive groups of `0..len`, at most `max` of them (one per index when `len <= max`).
pub fn groups(len: usize, max: usize) -> Vec<Range<usize>> {
    let max = max.max(1);
    if len <= max {
        return (0..len).map(|i| i..i + 1).collect();
    }
    let size = len.div_ceil(max);
    (0..len)
        .step_by(size)
        .map(|start| start..(start + size).min(len))
        .collect()
}

/// How a group of points becomes one.
#[derive(Debug, Clone, Copy)]
pub enum Reduce {
    /// The mean of the values present (counts, rates).
    Mean,
    /// The largest value present (latency quantiles: a spike stays visible).
    Max,
}

/// `values` (one per x, `None` where there is nothing) reduced to at most [`MAX_POINTS`]
/// points `(x, value)`; `x` is the group's middle, from `x_of(index)`.
pub fn downsample(
    values: &[Option<f64>],
    x_of: impl Fn(f64) -> f64,
    reduce: Reduce,
) -> Vec<(f64, Option<f64>)> {
    groups(values.len(), MAX_POINTS)
        .into_iter()
        .map(|g| {
            let present: Vec<f64> = values[g.clone()].iter().flatten().copied().collect();
            let v = if present.is_empty() {
                None
            } else {
                Some(match reduce {
                    Reduce::Mean => present.iter().sum::<f64>() / present.len() as f64,
                    Reduce::Max => present.iter().copied().fold(f64::MIN, f64::max),
                })
            };
            let mid = (g.start + g.end) as f64 / 2.0 - 0.5;
            (x_of(mid), v)
        })
        .collect()
}

/// A `<path>` through `points`, broken where a value is missing.
pub fn line(
    out: &mut String,
    points: &[(f64, Option<f64>)],
    time: &TimeAxis,
    axis: &ValueAxis,
    class: &str,
) -> fmt::Result {
    let mut d = String::new();
    let mut pen_down = false;
    for &(t, v) in points {
        match v {
            Some(v) => {
                let cmd = if pen_down { 'L' } else { 'M' };
                write!(d, "{cmd}{:.1},{:.1}", time.x(t), axis.y(v))?;
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !d.is_empty() {
        writeln!(out, r#"<path class="{class}" d="{d}"/>"#)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_everything_once_and_never_exceed_the_cap() {
        for len in [0, 1, 999, 1000, 1001, 7200, 72_000] {
            let g = groups(len, MAX_POINTS);
            assert!(g.len() <= MAX_POINTS, "{len}: {}", g.len());
            assert_eq!(g.iter().map(|r| r.len()).sum::<usize>(), len);
            assert!(g.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn downsampling_keeps_spikes_for_max_and_averages_for_mean() {
        let mut values = vec![Some(1.0); 7200];
        values[3000] = Some(900.0);
        values[10] = None;
        let max = downsample(&values, |i| i, Reduce::Max);
        assert!(max.len() <= MAX_POINTS);
        assert!(max.iter().any(|&(_, v)| v == Some(900.0)), "spike kept");
        let mean = downsample(&values, |i| i, Reduce::Mean);
        let biggest = mean.iter().filter_map(|p| p.1).fold(0.0, f64::max);
        assert!(biggest > 1.0 && biggest < 900.0, "{biggest}");
        let x_last = mean.last().map(|p| p.0).unwrap_or_default();
        assert!((7190.0..7200.0).contains(&x_last), "{x_last}");
        let none = downsample(&[None, None], |i| i, Reduce::Mean);
        assert_eq!(none, vec![(0.0, None), (1.0, None)]);
    }

    #[test]
    fn axes_survive_zero_and_odd_spans() {
        let t = TimeAxis::new(0.0);
        assert_eq!(t.span_s, 1.0);
        assert!(t.x(f64::NAN).is_finite());
        assert!(TimeAxis::new(7200.0).ticks().len() <= 13);
        assert!(TimeAxis::new(31.7).ticks().len() <= 13);
        let v = ValueAxis::new(0.0, 0.0, 100.0);
        assert_eq!(v.max, 1.0);
        assert!(v.y(f64::INFINITY).is_finite());
        assert_eq!(ValueAxis::new(87.0, 0.0, 100.0).max, 100.0);
        assert_eq!(time_label(3725.0, 7200.0), "1:02:05");
        assert_eq!(time_label(12.0, 30.0), "12s");
    }
}
