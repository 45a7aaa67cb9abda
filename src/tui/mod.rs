//! `artifactapi tui --endpoint URL [--token TOKEN]`: watch a running server in the terminal.
//!
//! A client of the management API like any other (it needs nothing but the URL and, when the
//! server guards reads or for evicting, a token). Tabs: overview (figures and a sparkline of
//! requests per second), remotes with breaker states, live events (filterable, pausable),
//! objects of a remote with evict (after a `y`), health. Keys are shown in the footer; `q`
//! quits; the screen follows resizes; a lost connection shows as a red banner while
//! [`client`] reconnects.
//!
//! Files: [`app`] (state and keys, pure), [`client`] (the network thread), [`view`] (drawing).

pub mod app;
pub mod client;
pub mod view;

use std::sync::mpsc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use crate::config::TuiArgs;
use app::App;

/// How often the screen is redrawn when nothing happens (figures age, the banner updates).
const TICK: Duration = Duration::from_millis(250);

/// The name [`App::key`] knows a key by.
fn key_name(code: KeyCode, modifiers: KeyModifiers) -> Option<String> {
    Some(match code {
        KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => "Ctrl-c".into(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::BackTab => "BackTab".into(),
        KeyCode::Up => "Up".into(),
        KeyCode::Down => "Down".into(),
        KeyCode::Left => "Left".into(),
        KeyCode::Right => "Right".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        KeyCode::Backspace => "Backspace".into(),
        _ => return None,
    })
}

/// Runs until `q`; the terminal is restored on every way out.
pub fn run(args: TuiArgs) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let requests = client::start(args.endpoint.as_str().to_string(), args.token, tx)?;
    let mut terminal = ratatui::try_init().map_err(|e| format!("terminal: {e}"))?;
    let mut app = App::default();
    let result = (|| -> std::io::Result<()> {
        while !app.quit {
            while let Ok(u) = rx.try_recv() {
                app.update(u);
            }
            terminal.draw(|f| view::draw(f, &app))?;
            if event::poll(TICK)? {
                match event::read()? {
                    Event::Key(k) if k.kind == KeyEventKind::Press => {
                        if let Some(name) = key_name(k.code, k.modifiers) {
                            if let Some(req) = app.key(&name) {
                                let _ = requests.send(req);
                            }
                        }
                    }
                    // The next draw takes the new size.
                    Event::Resize(..) => terminal.autoresize()?,
                    _ => {}
                }
            }
        }
        Ok(())
    })();
    ratatui::restore();
    result.map_err(|e| format!("terminal: {e}"))
}
