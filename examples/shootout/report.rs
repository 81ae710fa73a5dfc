//! The results as rows: weftpool's value beside every peer's, the targets
//! it is held to, and the same data as a Markdown table and as CSV.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::common::{percentile, Series, TWIN_SUFFIX};

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Smaller is better (times, latencies, memory).
    Lower,
    /// Larger is better (efficiency).
    Higher,
}

/// What a target compares weftpool's value with.
#[derive(Debug, Clone)]
pub enum Check {
    /// weftpool ≤ `factor` × the best of these systems (lower is better).
    Ratio {
        /// The systems whose best is the yardstick.
        of: Vec<&'static str>,
        /// The largest ratio that meets the target.
        factor: f64,
    },
    /// weftpool at most (lower is better) or at least (higher is better)
    /// this value.
    Absolute(f64),
}

/// A target for one row.
#[derive(Debug, Clone)]
pub struct Target {
    /// How the target reads in the table.
    pub text: String,
    /// How it is checked.
    pub check: Check,
    /// A goal rather than a requirement.
    pub goal: bool,
}

impl Target {
    /// weftpool ≤ `factor` × the best of `of`.
    pub fn ratio(factor: f64, of: &[&'static str]) -> Self {
        Self {
            text: format!("≤ {factor} × best of {}", of.join("/")),
            check: Check::Ratio {
                of: of.to_vec(),
                factor,
            },
            goal: false,
        }
    }

    /// weftpool at most / at least `value` (by the row's direction).
    pub fn absolute(text: &str, value: f64) -> Self {
        Self {
            text: text.to_string(),
            check: Check::Absolute(value),
            goal: false,
        }
    }

    /// Marks the target as a goal.
    pub fn goal(mut self) -> Self {
        self.goal = true;
        self
    }
}

/// One measured metric of one workload.
#[derive(Debug, Clone)]
pub struct Row {
    /// The workload.
    pub workload: String,
    /// What was measured.
    pub metric: String,
    /// The unit of every value.
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// weftpool's variant in this row and its value.
    pub subject: (&'static str, f64),
    /// Every other system's value; references (floors, sequential) are not
    /// peers.
    pub others: Vec<(&'static str, f64)>,
    /// weftpool's A/A twin, when the workload measured one: the same
    /// variant measured a second time in the same rounds.
    pub twin: Option<(&'static str, f64)>,
    /// Targets weftpool is held to.
    pub targets: Vec<Target>,
}

/// Systems that frame a workload but do not compete in it.
pub const REFERENCES: [&str; 4] = [
    crate::forkjoin::SEQUENTIAL,
    crate::latency::PARK_FLOOR,
    crate::latency::SPIN_FLOOR,
    crate::batch::STATIC_SPLIT,
];

/// Columns of the results table after weftpool, in order.
pub const COLUMNS: [&str; 11] = [
    "rayon",
    "chili",
    "executors",
    "threadpool",
    "std",
    "crossbeam-channel",
    "flume",
    crate::forkjoin::SEQUENTIAL,
    crate::latency::PARK_FLOOR,
    crate::latency::SPIN_FLOOR,
    crate::batch::STATIC_SPLIT,
];

impl Row {
    /// A row from per-system series, summarised by `stat`; `subject` names
    /// weftpool's series.
    pub fn from_series(
        workload: &str,
        metric: &str,
        unit: &'static str,
        better: Better,
        subject: &'static str,
        series: &[Series],
        stat: impl Fn(&Series) -> f64,
    ) -> Self {
        let value = |s: &Series| stat(s);
        let subject_value = series
            .iter()
            .find(|s| s.system == subject)
            .map_or(f64::NAN, value);
        Self {
            workload: workload.to_string(),
            metric: metric.to_string(),
            unit,
            better,
            subject: (subject, subject_value),
            others: series
                .iter()
                .filter(|s| !s.system.starts_with("weftpool"))
                .map(|s| (s.system, value(s)))
                .collect(),
            twin: series
                .iter()
                .find(|s| s.system.strip_suffix(TWIN_SUFFIX) == Some(subject))
                .map(|s| (s.system, value(s))),
            targets: Vec::new(),
        }
    }

    /// Adds a target.
    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// The value of `system` in this row.
    pub fn value(&self, system: &str) -> Option<f64> {
        if system == self.subject.0 {
            return Some(self.subject.1);
        }
        self.others
            .iter()
            .find(|(s, _)| *s == system)
            .map(|&(_, v)| v)
    }

    /// The best competing peer (not a reference) and its value.
    pub fn best_peer(&self) -> Option<(&'static str, f64)> {
        let peers = self
            .others
            .iter()
            .filter(|(s, v)| !REFERENCES.contains(s) && v.is_finite());
        match self.better {
            Better::Lower => peers.min_by(|a, b| a.1.total_cmp(&b.1)).copied(),
            Better::Higher => peers.max_by(|a, b| a.1.total_cmp(&b.1)).copied(),
        }
    }

    /// weftpool ÷ the best peer.
    pub fn ratio_to_best(&self) -> Option<f64> {
        self.best_peer().map(|(_, v)| self.subject.1 / v)
    }

    /// The A/A ratio: weftpool's twin ÷ weftpool, two measurements of the
    /// same thing in the same rounds.
    pub fn twin_ratio(&self) -> Option<f64> {
        self.twin.map(|(_, v)| v / self.subject.1)
    }

    /// How each target came out: the measured figure and the verdict.
    pub fn verdicts(&self) -> Vec<(String, String, String)> {
        self.targets
            .iter()
            .map(|t| {
                // `change`: how much weftpool's value has to move to meet it.
                let (measured, met, change) = match &t.check {
                    Check::Ratio { of, factor } => {
                        let best = of
                            .iter()
                            .filter_map(|s| self.value(s))
                            .filter(|v| v.is_finite())
                            .min_by(f64::total_cmp);
                        match best {
                            Some(best) => {
                                let r = self.subject.1 / best;
                                (format!("{r:.2}×"), r <= *factor, factor / r - 1.0)
                            }
                            None => ("n/a".to_string(), false, f64::NAN),
                        }
                    }
                    Check::Absolute(limit) => {
                        let v = self.subject.1;
                        let measured = format!("{} {}", fmt_value(v), self.unit);
                        let met = match self.better {
                            Better::Lower => v <= *limit,
                            Better::Higher => v >= *limit,
                        };
                        (measured, met, limit / v - 1.0)
                    }
                };
                let kind = if t.goal { "goal" } else { "target" };
                let verdict = if met {
                    format!("{kind} met")
                } else if change.is_finite() {
                    format!("{kind} missed: needs {:+.0}%", change * 100.0)
                } else {
                    format!("{kind} missed")
                };
                (t.text.clone(), measured, verdict)
            })
            .collect()
    }
}

/// A value with as many digits as it deserves.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The results as a Markdown table: one row per metric, one column per
/// system, then the best peer and weftpool's ratio to it.
pub fn results_table(rows: &[Row]) -> String {
    let used: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .filter(|c| rows.iter().any(|r| r.others.iter().any(|(s, _)| s == c)))
        .collect();
    let mut out = String::new();
    let _ = write!(out, "| workload | metric | unit | weftpool |");
    for c in &used {
        let _ = write!(out, " {c} |");
    }
    let _ = writeln!(out, " best peer | weftpool ÷ best |");
    let _ = write!(out, "|---|---|---|---:|");
    for _ in &used {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "---|---:|");
    for r in rows {
        let dir = match r.better {
            Better::Lower => "↓",
            Better::Higher => "↑",
        };
        let _ = write!(
            out,
            "| {} | {} | {} {} | **{}** |",
            r.workload,
            r.metric,
            r.unit,
            dir,
            fmt_value(r.subject.1)
        );
        for c in &used {
            let cell = r
                .others
                .iter()
                .find(|(s, _)| s == c)
                .map_or(String::new(), |&(_, v)| fmt_value(v));
            let _ = write!(out, " {cell} |");
        }
        let ratio = r
            .ratio_to_best()
            .filter(|x| x.is_finite() && *x > 0.0)
            .map_or("–".to_string(), |x| format!("{x:.2}"));
        let best = r.best_peer().map_or("–", |(name, _)| name);
        let _ = writeln!(out, " {best} | {ratio} |");
    }
    out
}

/// Every target and how it came out, as a Markdown table, with the row's
/// A/A ratio where the workload measured weftpool twice.
pub fn targets_table(rows: &[Row]) -> String {
    let mut out = String::from("| workload | metric | target | measured | verdict | A/A |\n");
    out.push_str("|---|---|---|---:|---|---:|\n");
    for r in rows {
        let twin = r
            .twin_ratio()
            .filter(|x| x.is_finite())
            .map_or("–".to_string(), |x| format!("{x:.2}"));
        for (target, measured, verdict) in r.verdicts() {
            let _ = writeln!(
                out,
                "| {} | {} | {target} | {measured} | {verdict} | {twin} |",
                r.workload, r.metric
            );
        }
    }
    out
}

/// Every value as CSV: workload, metric, unit, better, system, value.
pub fn write_results_csv(rows: &[Row], path: &Path) -> io::Result<()> {
    let mut out = String::from("workload,metric,unit,better,system,value\n");
    for r in rows {
        let better = match r.better {
            Better::Lower => "lower",
            Better::Higher => "higher",
        };
        for (system, value) in std::iter::once(&r.subject).chain(&r.others).chain(&r.twin) {
            let _ = writeln!(
                out,
                "{},{},{},{better},{system},{value}",
                csv_field(&r.workload),
                csv_field(&r.metric),
                r.unit
            );
        }
    }
    std::fs::write(path, out)
}

/// The latency distribution of each system as CSV: system, percentile,
/// latency in µs.
pub fn write_cdf_csv(series: &[Series], path: &Path) -> io::Result<()> {
    let mut out = String::from("system,percentile,latency_us\n");
    for s in series {
        for p in cdf_percentiles() {
            let _ = writeln!(
                out,
                "{},{p},{}",
                csv_field(s.system),
                percentile(&s.values, p) / 1e3
            );
        }
    }
    std::fs::write(path, out)
}

/// The percentiles a latency distribution is summarised by.
pub fn cdf_percentiles() -> impl Iterator<Item = f64> {
    (0..200)
        .map(|i| f64::from(i) * 0.5)
        .chain([99.9, 99.99, 100.0])
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
