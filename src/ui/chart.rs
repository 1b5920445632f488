//! Charts as inline SVG drawn by `plotters` (axes, ticks and labels are the library's): a
//! duration histogram on a log-scaled time axis with percentiles marked and each bar a link to
//! its samples, and time series over the view's range.

use maud::{Markup, PreEscaped, html};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::format::duration;
use crate::reads::TimeRange;
use crate::reads::histogram::DurationHistogram;

/// A chart's size in pixels: small ones sit three in a row, wide ones alone.
#[derive(Debug, Clone, Copy)]
pub enum Size {
    Small,
    Wide,
}

impl Size {
    fn class(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Wide => "wide",
        }
    }

    fn pixels(self) -> (u32, u32) {
        match self {
            Size::Small => (400, 190),
            Size::Wide => (720, 200),
        }
    }
}

const LABEL_FONT: (&str, u32) = ("sans-serif", 12);

pub const BLUE: RGBColor = RGBColor(0x21, 0x8b, 0xff);
pub const GREEN: RGBColor = RGBColor(0x2d, 0xa4, 0x4e);
pub const ORANGE: RGBColor = RGBColor(0xbf, 0x87, 0x00);
pub const RED: RGBColor = RGBColor(0xcf, 0x22, 0x2e);
pub const PURPLE: RGBColor = RGBColor(0x82, 0x50, 0xdf);

/// Colours for series that have none of their own (one per model, say), in order.
pub const PALETTE: [RGBColor; 5] = [BLUE, PURPLE, GREEN, ORANGE, RED];

/// The colours of the percentile marks and lines: p50, p95, p99.
pub const PERCENTILE_COLORS: [RGBColor; 3] = [GREEN, ORANGE, RED];

/// `#rrggbb` of a palette colour, for legends drawn in HTML.
pub fn css_color(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}

/// A drawing failed: only on a formatting error writing into a string, which the page states
/// instead of the chart.
fn unavailable(error: impl std::fmt::Display) -> Markup {
    tracing::warn!(%error, "chart could not be drawn");
    html! { p.empty { "This chart could not be drawn." } }
}

/// Draws on an SVG canvas held in a string and returns the SVG text.
fn draw_svg(
    size: Size,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size.pixels()).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A clickable area over a chart: pixel rectangle, link and tooltip.
struct Hotspot {
    corners: ((i32, i32), (i32, i32)),
    href: String,
    title: String,
}

/// The histogram of `histogram` with vertical marks at `marks` (`("p95", ms, colour)`); each
/// bar links to `link(low_ms, high_ms)`.
pub fn duration_histogram(
    histogram: &DurationHistogram,
    marks: &[(&str, f64, RGBColor)],
    link: &dyn Fn(f64, Option<f64>) -> String,
) -> Markup {
    let bars: Vec<(f64, f64, u64, String)> = histogram
        .occupied()
        .map(|(bucket, count)| {
            let (low, high) = histogram.range_of(bucket);
            (low, high.unwrap_or(low * 1.26), count, link(low, high))
        })
        .collect();
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return html! { p.empty { "No durations in this time range." } };
    };
    // A bucket's width of room on either side; the first bucket starts at 0, which a log axis
    // cannot show.
    let step = 10f64.powf(0.1);
    let low_end = if first.0 > 0.0 {
        first.0 / step
    } else {
        first.1 / step / step
    };
    let high_end = last.1 * step;
    let tallest = bars.iter().map(|bar| bar.2).max().unwrap_or(1).max(1);
    let top = tallest + tallest / 8 + 1;
    let mut hotspots = Vec::new();
    let svg = draw_svg(Size::Small, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(26)
            .y_label_area_size(40)
            .build_cartesian_2d(
                (low_end..high_end)
                    .log_scale()
                    .with_key_points(readable_ticks(low_end, high_end)),
                0u64..top,
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(8)
            .y_labels(4)
            .x_label_formatter(&|ms| duration(*ms))
            .label_style(LABEL_FONT)
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(bars.iter().map(|&(low, high, count, _)| {
                Rectangle::new(
                    [(low.max(low_end), 0), (high, count)],
                    BLUE.mix(0.75).filled(),
                )
            }))
            .map_err(|e| e.to_string())?;
        for (index, &(name, at, color)) in marks.iter().enumerate() {
            if !(low_end..=high_end).contains(&at) {
                continue;
            }
            // Labels step down so close marks stay readable.
            let height = top - top * index as u64 / 7;
            chart
                .draw_series([PathElement::new(
                    vec![(at, 0), (at, height)],
                    color.stroke_width(2),
                )])
                .map_err(|e| e.to_string())?;
            chart
                .draw_series([Text::new(
                    format!(" {name} {}", duration(at)),
                    (at, height),
                    LABEL_FONT.into_font().color(&color),
                )])
                .map_err(|e| e.to_string())?;
        }
        hotspots = bars
            .iter()
            .map(|(low, high, count, href)| Hotspot {
                corners: (
                    chart.backend_coord(&(low.max(low_end), top)),
                    chart.backend_coord(&(*high, 0)),
                ),
                href: href.clone(),
                title: format!("{count} between {} and {}", duration(*low), duration(*high)),
            })
            .collect();
        Ok(())
    });
    match svg {
        Ok(svg) => with_hotspots(svg, &hotspots),
        Err(error) => unavailable(error),
    }
}

/// Tick values for a log axis from `low` to `high`: 1-2-5 steps, thinned to every decade when
/// there are too many to read.
fn readable_ticks(low: f64, high: f64) -> Vec<f64> {
    let first_decade = low.log10().floor() as i32;
    let last_decade = high.log10().ceil() as i32;
    let ticks = |steps: &[f64]| -> Vec<f64> {
        (first_decade..=last_decade)
            .flat_map(|decade| steps.iter().map(move |step| step * 10f64.powi(decade)))
            .filter(|tick| (low..=high).contains(tick))
            .collect()
    };
    let fine = ticks(&[1.0, 2.0, 5.0]);
    if fine.len() <= 7 { fine } else { ticks(&[1.0]) }
}

/// The SVG with transparent links over the hotspots, so a bar opens its samples.
fn with_hotspots(mut svg: String, hotspots: &[Hotspot]) -> Markup {
    let links = html! {
        @for spot in hotspots {
            @let ((x0, y0), (x1, y1)) = spot.corners;
            a href=(spot.href) {
                title { (spot.title) }
                rect.hotspot x=(x0) y=(y0) width=((x1 - x0).max(1)) height=((y1 - y0).max(1)) {}
            }
        }
    };
    match svg.rfind("</svg>") {
        Some(end) => svg.insert_str(end, &links.into_string()),
        None => return unavailable("the drawing has no end tag"),
    }
    html! { div.chart.(Size::Small.class()) { (PreEscaped(svg)) } }
}

/// A named line over time: `(bucket start in ns, value)`.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: RGBColor,
    pub points: Vec<(i64, f64)>,
}

/// Named lines in the palette's colours, in order (the palette's length at most).
pub fn palette_series(lines: &[(String, Vec<(i64, f64)>)]) -> Vec<Series<'_>> {
    lines
        .iter()
        .zip(PALETTE)
        .map(|((name, points), color)| Series {
            name,
            color,
            points: points.clone(),
        })
        .collect()
}

/// Lines over the range with a legend; `value` labels the vertical axis.
pub fn time_series(
    size: Size,
    range: TimeRange,
    series: &[Series<'_>],
    value: fn(f64) -> String,
) -> Markup {
    let highest = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    if series.iter().all(|s| s.points.is_empty()) {
        return html! { p.empty { "Nothing to chart in this time range." } };
    }
    let top = if highest > 0.0 { highest * 1.12 } else { 1.0 };
    let long = range.to_ns - range.from_ns > 86_400 * 1_000_000_000;
    let time_label = move |ns: &i64| {
        let text = crate::time::format_instant(*ns);
        if long {
            format!("{} {}", &text[5..10], &text[11..16])
        } else {
            text[11..16].to_owned()
        }
    };
    let svg = draw_svg(size, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(26)
            .y_label_area_size(52)
            .build_cartesian_2d(range.from_ns..range.to_ns, 0.0..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(6)
            .y_labels(4)
            .x_label_formatter(&time_label)
            .y_label_formatter(&|v| value(*v))
            .label_style(LABEL_FONT)
            .draw()
            .map_err(|e| e.to_string())?;
        for line in series {
            chart
                .draw_series(
                    LineSeries::new(line.points.iter().copied(), line.color.stroke_width(2))
                        .point_size(2),
                )
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    match svg {
        Ok(svg) => html! {
            div.chart.(size.class()) {
                (PreEscaped(svg))
                p.legend {
                    @for line in series {
                        span style=(format!("border-color: {}", css_color(line.color))) { (line.name) }
                    }
                }
            }
        },
        Err(error) => unavailable(error),
    }
}

/// The bucket width for a chart over `range`: about 60 points, in steps people read.
pub fn interval_s(range: TimeRange) -> u32 {
    const STEPS: [u32; 14] = [
        10, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400,
    ];
    let span_s = (range.to_ns.saturating_sub(range.from_ns) / 1_000_000_000).max(1);
    STEPS
        .into_iter()
        .find(|step| span_s / i64::from(*step) <= 60)
        .unwrap_or(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(seconds: i64) -> TimeRange {
        TimeRange {
            from_ns: 0,
            to_ns: seconds * 1_000_000_000,
        }
    }

    #[test]
    fn intervals_give_about_sixty_points() {
        assert_eq!(interval_s(range(900)), 30);
        assert_eq!(interval_s(range(3_600)), 60);
        assert_eq!(interval_s(range(86_400)), 1_800);
        assert_eq!(interval_s(range(7 * 86_400)), 10_800);
        assert_eq!(interval_s(range(0)), 10);
    }

    #[test]
    fn log_ticks_step_one_two_five_until_they_crowd() {
        assert_eq!(readable_ticks(0.8, 12.0), vec![1.0, 2.0, 5.0, 10.0]);
        assert_eq!(
            readable_ticks(0.05, 2e4),
            vec![0.1, 1.0, 10.0, 100.0, 1e3, 1e4]
        );
    }

    #[test]
    fn each_histogram_bar_links_to_its_samples() {
        let histogram = DurationHistogram::from_buckets([(40, 40), (44, 3)]);
        let chart = duration_histogram(&histogram, &[("p95", 2_000.0, ORANGE)], &|low, high| {
            format!(
                "/samples?min_ms={low}&max_ms={}",
                high.unwrap_or(f64::INFINITY)
            )
        })
        .into_string();
        assert!(
            chart.starts_with("<div class=\"chart small\"><svg"),
            "{chart}"
        );
        assert_eq!(chart.matches("<a href=\"/samples?min_ms=").count(), 5);
        assert!(chart.contains("p95 2.00 s"), "{chart}");
        let empty = duration_histogram(&DurationHistogram::from_buckets([]), &[], &|_, _| {
            String::new()
        });
        assert!(empty.into_string().contains("No durations"));
    }

    #[test]
    fn series_draw_with_a_legend() {
        let series = [Series {
            name: "<calls>",
            color: BLUE,
            points: vec![(0, 1.0), (60_000_000_000, 4.0)],
        }];
        let chart =
            time_series(Size::Wide, range(3_600), &series, |v| format!("{v:.0}")).into_string();
        assert!(chart.contains("<svg"), "{chart}");
        assert!(chart.contains("&lt;calls&gt;"), "{chart}");
        assert!(chart.contains("00:00"), "{chart}");
    }
}
