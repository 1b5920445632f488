//! `/map`: the application map as an SVG graph: roles in columns by call depth (callers left),
//! the external targets they call (databases, HTTP hosts, LLM endpoints) in the last column,
//! edges labelled with calls, p95 and failure rate. An edge opens Performance filtered to that
//! dependency.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{RawQuery, State};
use maud::{Markup, html};
use serde_json::Value;

use super::format::{Query, duration, percent};
use super::{PageError, layout};
use crate::api::access::Access;
use crate::api::insights::{MAP_PARAMS, map_answer};
use crate::api::{ApiError, ApiState};

const COLUMN_WIDTH: f64 = 300.0;
const ROW_HEIGHT: f64 = 76.0;
const BOX_WIDTH: f64 = 190.0;
const BOX_HEIGHT: f64 = 44.0;
const MARGIN: f64 = 30.0;

/// Where each node goes: column by call depth, row by name within the column.
fn positions(nodes: &[Value], edges: &[Value]) -> HashMap<String, (f64, f64)> {
    let id = |v: &Value| v["id"].as_str().unwrap_or("").to_owned();
    let roles: Vec<String> = nodes
        .iter()
        .filter(|n| n["kind"] == "role")
        .map(id)
        .collect();
    let mut depth: HashMap<String, usize> = roles.iter().map(|r| (r.clone(), 0)).collect();
    // Longest path from a root, bounded by the number of roles so cycles end.
    // A pass that moves nothing ends it: a tree of calls settles in as many passes as it is
    // deep, not one per role.
    for _ in 0..roles.len() {
        let mut moved = false;
        for edge in edges {
            let (from, to) = (
                edge["from"].as_str().unwrap_or(""),
                edge["to"].as_str().unwrap_or(""),
            );
            let Some(&d) = depth.get(from) else { continue };
            if let Some(entry) = depth.get_mut(to)
                && *entry < d + 1
                && d + 1 < roles.len()
            {
                *entry = d + 1;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    // An external target sits in the column after its deepest caller, so calls do not cross
    // the roles between.
    let mut external_column: HashMap<String, usize> = HashMap::new();
    for edge in edges {
        let from = edge["from"].as_str().unwrap_or("");
        let to = edge["to"].as_str().unwrap_or("").to_owned();
        if let Some(&d) = depth.get(from)
            && !depth.contains_key(&to)
        {
            let column = external_column.entry(to).or_default();
            *column = (*column).max(d + 1);
        }
    }
    let mut columns: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
    for node in nodes {
        let column = depth
            .get(&id(node))
            .or_else(|| external_column.get(&id(node)))
            .copied()
            .unwrap_or(0);
        let name = node["name"].as_str().unwrap_or("").to_owned();
        columns.entry(column).or_default().push((name, id(node)));
    }
    let mut placed = HashMap::new();
    for (column, mut members) in columns {
        members.sort();
        for (row, (_, node)) in members.into_iter().enumerate() {
            placed.insert(
                node,
                (
                    MARGIN + column as f64 * COLUMN_WIDTH,
                    MARGIN + row as f64 * ROW_HEIGHT,
                ),
            );
        }
    }
    placed
}

/// The point at `t` of the edge's curve (a cubic Bézier with both control points halfway
/// across, at the start's and the end's height).
fn along(t: f64, (sx, sy): (f64, f64), (ex, ey): (f64, f64)) -> (f64, f64) {
    let mx = (sx + ex) / 2.0;
    let u = 1.0 - t;
    let x = u * u * u * sx + 3.0 * u * u * t * mx + 3.0 * u * t * t * mx + t * t * t * ex;
    let y = u * u * u * sy + 3.0 * u * u * t * sy + 3.0 * u * t * t * ey + t * t * t * ey;
    (x, y)
}

fn short(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(most.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// An edge placed on the drawing: from the caller's right side to the callee's left side.
struct Drawn {
    start: (f64, f64),
    end: (f64, f64),
    failing: bool,
    href: String,
    label: String,
}

fn drawn_edges(query: &Query, at: &HashMap<String, (f64, f64)>, edges: &[Value]) -> Vec<Drawn> {
    edges
        .iter()
        .filter_map(|edge| {
            let (x1, y1) = *at.get(edge["from"].as_str()?)?;
            let (x2, y2) = *at.get(edge["to"].as_str()?)?;
            let failure_rate = edge["failure_rate"].as_f64().unwrap_or(0.0);
            let target = edge["target"].as_str().unwrap_or("");
            let mut label = format!(
                "{} calls · p95 {}",
                edge["count"].as_u64().unwrap_or(0),
                duration(edge["p95_ms"].as_f64().unwrap_or(0.0))
            );
            if failure_rate > 0.0 {
                label.push_str(&format!(" · {} failed", percent(failure_rate)));
            }
            Some(Drawn {
                start: (x1 + BOX_WIDTH, y1 + BOX_HEIGHT / 2.0),
                end: (x2, y2 + BOX_HEIGHT / 2.0),
                failing: failure_rate > 0.0,
                href: query.link(
                    "/performance",
                    &[
                        ("table", Some("dependencies")),
                        ("filter.target", Some(target)),
                    ],
                ),
                label,
            })
        })
        .collect()
}

fn graph(query: &Query, nodes: &[Value], edges: &[Value]) -> Markup {
    let at = positions(nodes, edges);
    let drawn = drawn_edges(query, &at, edges);
    let width = at.values().map(|p| p.0).fold(0.0, f64::max) + BOX_WIDTH + 2.0 * MARGIN;
    let height = at.values().map(|p| p.1).fold(0.0, f64::max) + BOX_HEIGHT + 2.0 * MARGIN;
    html! {
        svg.map xmlns="http://www.w3.org/2000/svg" width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) {
            @for edge in &drawn {
                @let ((sx, sy), (ex, ey)) = (edge.start, edge.end);
                a href=(edge.href) {
                    path.edge.failing[edge.failing] d=(format!("M{sx},{sy} C{mx},{sy} {mx},{ey} {ex},{ey}", mx = (sx + ex) / 2.0)) {}
                }
            }
            @for node in nodes {
                @if let Some((x, y)) = at.get(node["id"].as_str().unwrap_or("")).copied() {
                    @let name = node["name"].as_str().unwrap_or("");
                    @let role = node["kind"] == "role";
                    g.node.role[role].external[!role] {
                        rect x=(x) y=(y) width=(BOX_WIDTH) height=(BOX_HEIGHT) rx="6" {}
                        text x=(x + 10.0) y=(y + 18.0) { title { (name) } (short(name, 26)) }
                        text.sub x=(x + 10.0) y=(y + 34.0) {
                            @if role { (node["count"].as_u64().unwrap_or(0)) " requests" }
                            @else { (node["type"].as_str().unwrap_or("")) }
                        }
                    }
                }
            }
            // Labels last, so no box covers them; near the target, where edges into it fan out.
            @for edge in &drawn {
                @let (lx, ly) = along(0.8, edge.start, edge.end);
                a href=(edge.href) {
                    text.label x=(lx) y=(ly - 6.0) text-anchor="end" { (edge.label) }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<ApiState>,
    access: Result<Access, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let (access, query) = super::open(access, raw.as_deref(), MAP_PARAMS)?;
    let map = map_answer(&state, &query.params, &access.scope).await?;
    let nodes = map["nodes"].as_array().cloned().unwrap_or_default();
    let edges = map["edges"].as_array().cloned().unwrap_or_default();
    let body = html! {
        h1 { "Application map" }
        @if nodes.is_empty() {
            p.empty { "Nothing in this time range." }
        } @else {
            div.mapbox { (graph(&query, &nodes, &edges)) }
            @if map["truncated"] == true { p.note { "Only the busiest roles and calls are drawn." } }
        }
    };
    Ok(layout("Application map", "/map", &query, body))
}
