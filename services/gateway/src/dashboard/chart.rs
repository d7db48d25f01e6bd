//! Cost over the stages as an SVG drawn on the server: a bar per stage (its cost) and the
//! running total as a line, to scale, labelled; no script and nothing fetched.

use std::fmt::Write as _;

use ct_domain::StageStatus;

use crate::page::escape;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const MARGIN: f64 = 28.0;

pub(crate) fn cost_chart(stages: &[StageStatus]) -> String {
    if stages.is_empty() {
        return String::new();
    }
    let total: f64 = stages.iter().map(|s| s.cost_usd).sum();
    let top = if total > 0.0 { total } else { 1.0 };
    let slot = (WIDTH - 2.0 * MARGIN) / stages.len() as f64;
    let scale = |usd: f64| (HEIGHT - MARGIN) - usd / top * (HEIGHT - 2.0 * MARGIN);
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"cost per stage and in total\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"100%\" preserveAspectRatio=\"xMinYMin meet\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let mut running = 0.0;
    let mut line = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let x = MARGIN + i as f64 * slot;
        let y = scale(stage.cost_usd);
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#8fb4f0\"><title>{}: ${:.4}</title></rect>",
            x + slot * 0.15,
            slot * 0.7,
            (HEIGHT - MARGIN) - y,
            escape(&stage.name),
            stage.cost_usd
        );
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x + slot / 2.0,
            HEIGHT - 10.0,
            escape(&short(&stage.name))
        );
        running += stage.cost_usd;
        line.push(format!("{:.1},{:.1}", x + slot / 2.0, scale(running)));
    }
    let _ = write!(
        svg,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1d2330\" stroke-width=\"2\"/>\
         <text x=\"{MARGIN}\" y=\"16\">total ${total:.4}</text></svg>",
        line.join(" ")
    );
    svg
}

/// A stage name short enough to sit under its bar.
fn short(name: &str) -> String {
    let mut chars = name.chars();
    let head: String = chars.by_ref().take(14).collect();
    if chars.next().is_some() { format!("{head}…") } else { head }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_gets_a_bar_and_the_total_a_line_with_names_escaped() {
        let stages = vec![
            StageStatus { cost_usd: 0.25, ..StageStatus::pending("scaffold") },
            StageStatus { cost_usd: 0.75, ..StageStatus::pending("<b>core</b>") },
        ];
        let svg = cost_chart(&stages);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("total $1.0000"), "{svg}");
        assert!(svg.contains("&lt;b&gt;core&lt;/b&gt;") && !svg.contains("<b>core"), "{svg}");
        assert!(cost_chart(&[]).is_empty());
    }
}
