//! Drawing the TUI: the tab bar, the banner while the server cannot be reached, the current
//! tab, and a footer with the keys (or the question of a confirmation, or what an action did).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table, TableState, Tabs};
use ratatui::Frame;
use serde_json::Value;

use super::app::{App, Tab};
use crate::ui::fmt;

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn ratio(v: &Value) -> String {
    fmt::ratio(v.as_f64())
}

fn bytes(v: &Value) -> String {
    fmt::bytes(v.as_u64().unwrap_or(0))
}

fn breaker_style(state: &str) -> Style {
    match state {
        "open" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        "half_open" => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::Green),
    }
}

pub fn draw(f: &mut Frame, app: &App) {
    let banner = u16::from(app.banner.is_some());
    let [tabs, banner_area, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let titles: Vec<String> = Tab::ALL.iter().enumerate().map(|(i, t)| format!("{} {}", i + 1, t.title())).collect();
    f.render_widget(
        Tabs::new(titles).select(app.tab).highlight_style(Style::new().add_modifier(Modifier::REVERSED)).divider("│"),
        tabs,
    );
    if let Some(b) = &app.banner {
        let text = format!(" ✖ connection lost: {b}");
        f.render_widget(Paragraph::new(text).style(Style::new().bg(Color::Red).fg(Color::White)), banner_area);
    }
    match app.current() {
        Tab::Overview => overview(f, app, body),
        Tab::Remotes => remotes(f, app, body),
        Tab::Events => events(f, app, body),
        Tab::Objects => objects(f, app, body),
        Tab::Health => health(f, app, body),
    }
    let text = if let Some((remote, path)) = &app.confirm {
        Line::from(vec![
            Span::styled(format!(" Evict {path} from {remote}? "), Style::new().fg(Color::Black).bg(Color::Yellow)),
            Span::raw(" y: yes · any other key: no"),
        ])
    } else if app.typing_filter {
        Line::from(format!(" filter: {}▏ (Enter: done)", app.filter))
    } else if let Some(n) = &app.notice {
        Line::from(format!(" {n}"))
    } else {
        let mut keys = String::from(" q quit · Tab/1-5 tabs · r refresh");
        match app.current() {
            Tab::Remotes => keys.push_str(" · ↑↓ select · Enter objects"),
            Tab::Events => keys.push_str(" · / filter · p pause · c clear"),
            Tab::Objects => keys.push_str(" · ↑↓ select · d evict"),
            _ => {}
        }
        Line::from(keys)
    };
    f.render_widget(Paragraph::new(text).style(Style::new().add_modifier(Modifier::DIM)), footer);
}

fn overview(f: &mut Frame, app: &App, area: Rect) {
    let [figures, spark] = Layout::vertical([Constraint::Length(7), Constraint::Min(3)]).areas(area);
    let lines = match &app.stats {
        Some(st) => {
            let t = &st["total"];
            let saved =
                t["bytes_served"].as_u64().unwrap_or(0).saturating_sub(t["bytes_fetched"].as_u64().unwrap_or(0));
            vec![
                Line::from(format!(
                    "Requests  {}   hits {}   misses {}   stale {}",
                    s(&t["requests"]),
                    s(&t["hits"]),
                    s(&t["misses"]),
                    s(&t["stale"])
                )),
                Line::from(format!("Hit ratio {}", ratio(&t["hit_ratio"]))),
                Line::from(format!(
                    "Served    {}   not fetched again {}",
                    bytes(&t["bytes_served"]),
                    fmt::bytes(saved)
                )),
                Line::from(format!(
                    "Storage   {} in {} blobs   dedup saves {}",
                    bytes(&st["storage"]["bytes"]),
                    s(&st["storage"]["blobs"]),
                    fmt::signed_bytes(st["storage"]["dedup_saving_bytes"].as_i64().unwrap_or(0))
                )),
            ]
        }
        None => vec![Line::from("waiting for /api/v2/stats…")],
    };
    f.render_widget(Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" Figures ")), figures);
    let data: Vec<u64> = app.rates.iter().copied().collect();
    let now = data.last().copied().unwrap_or(0);
    f.render_widget(
        Sparkline::default()
            .block(Block::new().borders(Borders::ALL).title(format!(" Requests/s (now {now}) ")))
            .data(&data)
            .style(Style::new().fg(Color::Cyan)),
        spark,
    );
}

fn remotes(f: &mut Frame, app: &App, area: Rect) {
    let figures = |name: &str| -> Option<&Value> {
        app.stats.as_ref()?["repositories"].as_array()?.iter().find(|r| r["name"] == name)
    };
    let rows = app.remotes.iter().map(|r| {
        let name = s(&r["name"]);
        let fig = figures(&name);
        let breaker = fig.map(|f| s(&f["breaker"])).unwrap_or_default();
        Row::new(vec![
            Cell::from(name.clone()),
            Cell::from(s(&r["package_type"])),
            Cell::from(breaker.clone()).style(breaker_style(&breaker)),
            Cell::from(fig.map(|f| s(&f["requests"])).unwrap_or_default()),
            Cell::from(fig.map(|f| ratio(&f["hit_ratio"])).unwrap_or_default()),
            Cell::from(fig.map(|f| bytes(&f["bytes_served"])).unwrap_or_default()),
            Cell::from(s(&r["base_url"])),
        ])
    });
    let widths = [
        Constraint::Percentage(16),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Min(10),
    ];
    let header = Row::new(["Name", "Type", "Breaker", "Requests", "Hit", "Served", "Upstream"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::new().borders(Borders::ALL).title(" Remotes "))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(app.remote_sel));
    f.render_stateful_widget(table, area, &mut state);
}

fn events(f: &mut Frame, app: &App, area: Rect) {
    let rows = app.visible_events().take(area.height as usize).map(|e| {
        let time = e["time"].as_str().and_then(|t| t.get(11..19)).unwrap_or("").to_string();
        Row::new(vec![time, s(&e["type"]), s(&e["repository"]), s(&e["path"]), s(&e["status"]), s(&e["size"])])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(17),
        Constraint::Length(14),
        Constraint::Min(10),
        Constraint::Length(6),
        Constraint::Length(10),
    ];
    let mut title = format!(" Events ({}) ", app.events.len());
    if app.paused {
        title.push_str("[paused] ");
    }
    if !app.filter.is_empty() {
        title.push_str(&format!("[filter: {}] ", app.filter));
    }
    let header = Row::new(["Time", "Type", "Repository", "Path", "Status", "Size"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    f.render_widget(
        Table::new(rows, widths).header(header).block(Block::new().borders(Borders::ALL).title(title)),
        area,
    );
}

fn objects(f: &mut Frame, app: &App, area: Rect) {
    let Some(remote) = &app.objects_of else {
        let hint = "Choose a remote on the Remotes tab (2) and press Enter.";
        f.render_widget(Paragraph::new(hint).block(Block::new().borders(Borders::ALL).title(" Objects ")), area);
        return;
    };
    let rows = app.objects.iter().map(|o| {
        Row::new(vec![s(&o["path"]), bytes(&o["size"]), s(&o["hits"]), s(&o["last_access"]).chars().take(19).collect()])
    });
    let widths = [Constraint::Min(20), Constraint::Length(11), Constraint::Length(6), Constraint::Length(20)];
    let title = format!(" Objects of {remote} ({} of {}, latest access first) ", app.objects.len(), app.objects_total);
    let header = Row::new(["Path", "Size", "Hits", "Last access"]).style(Style::new().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::new().borders(Borders::ALL).title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(app.object_sel));
    f.render_stateful_widget(table, area, &mut state);
}

fn health(f: &mut Frame, app: &App, area: Rect) {
    let Some(h) = &app.health else {
        f.render_widget(Paragraph::new("waiting for /api/v2/health…"), area);
        return;
    };
    let mut lines = vec![Line::from(format!("Replica {}   status {}", s(&h["replica"]), s(&h["status"])))];
    for (label, key) in [("Catalog", "database"), ("Coordinator", "coordinator"), ("Storage", "storage")] {
        let c = &h["checks"][key];
        let ok = c["status"] == "ok";
        let style = if ok { Style::new().fg(Color::Green) } else { Style::new().fg(Color::Red) };
        lines.push(Line::from(vec![
            Span::raw(format!("{label:<12} {:<10} ", s(&c["backend"]))),
            Span::styled(format!("{:<6}", s(&c["status"])), style),
            Span::raw(format!(" {:>7.1} ms  {}", c["latency_ms"].as_f64().unwrap_or(0.0), s(&c["error"]))),
        ]));
    }
    for w in h["warnings"].as_array().into_iter().flatten() {
        lines.push(Line::styled(s(&w["message"]), Style::new().fg(Color::Yellow)));
    }
    f.render_widget(Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" Health ")), area);
}
