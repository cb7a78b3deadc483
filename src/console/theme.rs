//! Colours and emphasis. 16-colour defaults that read on dark and light backgrounds (no
//! white or black text, no yellow); with `NO_COLOR` set, emphasis only (bold, reverse).

use ratatui::style::{Color, Modifier, Style};

use crate::protocol::Risk;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    pub fn new(no_color: bool) -> Theme {
        Theme { color: !no_color }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub fn base(&self) -> Style {
        Style::default()
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn label(&self) -> Style {
        if self.color {
            self.fg(Color::Blue)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    pub fn dim(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }

    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn busy(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::ITALIC)
    }

    pub fn ended(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM | Modifier::CROSSED_OUT)
    }

    pub fn risk(&self, risk: Option<Risk>) -> Style {
        match risk {
            None => self.dim(),
            Some(Risk::Low) => self.fg(Color::Green),
            Some(Risk::Medium) => self.fg(Color::Magenta),
            Some(Risk::High) => self.fg(Color::Red),
            Some(Risk::Critical) => self.fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }

    /// Time left before expiry: warning colour in the last minute.
    pub fn expiry(&self, secs_left: Option<i64>) -> Style {
        match secs_left {
            Some(s) if s < 60 => self.error(),
            Some(_) => self.base(),
            None => self.dim(),
        }
    }

    pub fn json(&self) -> Style {
        self.base()
    }
}
