//! The PNG chart: followers/s per contender, one bar per starting state.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::error::BenchError;
use crate::report::{thousands, Report};

/// Fonts looked for, in order (Debian's fonts-dejavu-core provides the first).
const FONTS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

const COLORS: [RGBColor; 2] = [RGBColor(70, 130, 180), RGBColor(230, 145, 56)];

fn failed(e: impl std::fmt::Display) -> BenchError {
    BenchError::Chart(e.to_string())
}

fn load_font() -> Result<(), BenchError> {
    let bytes = FONTS
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or_else(|| {
            failed(format!(
                "no font found ({}); install fonts-dejavu-core",
                FONTS.join(", ")
            ))
        })?;
    // plotters keeps fonts for the life of the process.
    register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(bytes.into_boxed_slice()),
    )
    .map_err(|_| failed("the font could not be read"))
}

pub fn draw(report: &Report, path: &Path) -> Result<(), BenchError> {
    load_font()?;
    let mut names: Vec<&str> = Vec::new();
    let mut states = Vec::new();
    for t in &report.results {
        if !names.contains(&t.contender.as_str()) {
            names.push(&t.contender);
        }
        if !states.contains(&t.start) {
            states.push(t.start);
        }
    }
    let fastest = report
        .results
        .iter()
        .map(|t| t.followers_per_s)
        .fold(1.0, f64::max);
    let rows = names.len().max(1);
    let height = 140 + rows * (states.len() * 30 + 16);
    let root = BitMapBackend::new(path, (1200, height as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(failed)?;
    let caption = format!(
        "followers/s, higher is better: {} followers ({} for Celery), {} feeds capped at {}",
        thousands(report.followers as f64),
        thousands(report.peer_followers as f64),
        report.layout.as_str(),
        report.cap
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(40)
        .build_cartesian_2d(0f64..fastest * 1.6, 0f64..rows as f64)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_labels(8)
        .x_label_formatter(&|x| thousands(*x))
        .x_desc("followers/s")
        .draw()
        .map_err(failed)?;
    let slot = 0.8 / states.len().max(1) as f64;
    for (j, start) in states.iter().enumerate() {
        let color = COLORS[j % COLORS.len()];
        let bars = names.iter().enumerate().filter_map(|(i, name)| {
            let t = report
                .results
                .iter()
                .find(|t| t.start == *start && t.contender == *name)?;
            let top = (rows - i) as f64 - 0.1 - j as f64 * slot;
            Some((t, top))
        });
        let bars: Vec<_> = bars.collect();
        chart
            .draw_series(bars.iter().map(|(t, top)| {
                Rectangle::new(
                    [(0.0, top - slot * 0.9), (t.followers_per_s, *top)],
                    color.filled(),
                )
            }))
            .map_err(failed)?
            .label(start.describe())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()));
        chart
            .draw_series(bars.iter().map(|(t, top)| {
                Text::new(
                    format!("{}  {}/s", t.contender, thousands(t.followers_per_s)),
                    (t.followers_per_s + fastest * 0.01, top - slot * 0.15),
                    ("sans-serif", 15),
                )
            }))
            .map_err(failed)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE)
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(failed)?;
    root.present().map_err(failed)?;
    Ok(())
}
