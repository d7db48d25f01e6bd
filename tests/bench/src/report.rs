//! The results: a table for people, a JSON file for comparing runs.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub(crate) struct Figure {
    section: String,
    measure: String,
    value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<Baseline>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Baseline {
    name: String,
    value: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    date: String,
    machine: Machine,
    figures: Vec<Figure>,
    notes: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
struct Machine {
    cpus: usize,
    memory_gib: f64,
    kernel: String,
}

impl Machine {
    fn this() -> Machine {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned(),
        }
    }
}

impl Report {
    pub(crate) fn new() -> Report {
        Report {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            machine: Machine::this(),
            figures: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn figure(&mut self, section: &str, measure: &str, value: f64, baseline: Option<(&str, f64)>) {
        self.figures.push(Figure {
            section: section.to_owned(),
            measure: measure.to_owned(),
            value,
            baseline: baseline.map(|(name, value)| Baseline { name: name.to_owned(), value }),
        });
    }

    pub(crate) fn note(&mut self, section: &str, text: &str) {
        self.notes.push((section.to_owned(), text.to_owned()));
    }

    /// A Markdown table, as README shows it.
    pub(crate) fn table(&self) -> String {
        let mut out = format!(
            "claude-temporal benchmarks, {} ({} CPUs, {} GiB, Linux {})\n\n| section | measure | value | baseline | ratio |\n|---|---|---:|---|---:|\n",
            self.date, self.machine.cpus, self.machine.memory_gib, self.machine.kernel
        );
        for f in &self.figures {
            let (baseline, ratio) = match &f.baseline {
                Some(b) if b.value != 0.0 => {
                    (format!("{}: {:.1}", b.name, b.value), format!("{:.2}×", f.value / b.value))
                }
                Some(b) => (format!("{}: {:.1}", b.name, b.value), String::new()),
                None => (String::new(), String::new()),
            };
            let _ = writeln!(out, "| {} | {} | {:.1} | {baseline} | {ratio} |", f.section, f.measure, f.value);
        }
        for (section, note) in &self.notes {
            let _ = writeln!(out, "\n{section}: {note}");
        }
        out
    }

    pub(crate) fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let json = serde_json::to_vec_pretty(self)?;
        std::fs::write(path, json).with_context(|| format!("write {}", path.display()))
    }
}
