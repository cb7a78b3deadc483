//! Colours and emphasis. 16-colour defaults that read on dark and light backgrounds (no
//! white or black text, no yellow, no blue); with `NO_COLOR` set, emphasis only (bold,
//! reverse).

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

    /// Table headers and field names: bold in the terminal's own colour, which reads on
    /// any palette (blue, ANSI 4, is near-invisible on many dark 16-colour themes).
    pub fn label(&self) -> Style {
        if self.color {
            Style::default().add_modifier(Modifier::BOLD)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every style the theme gives that can carry a colour.
    fn styles(t: &Theme) -> [Style; 13] {
        [
            t.title(),
            t.label(),
            t.key(),
            t.ok(),
            t.warn(),
            t.error(),
            t.busy(),
            t.risk(Some(Risk::Low)),
            t.risk(Some(Risk::Medium)),
            t.risk(Some(Risk::High)),
            t.risk(Some(Risk::Critical)),
            t.expiry(Some(5)),
            t.json(),
        ]
    }

    #[test]
    fn no_color_means_no_colour_at_all() {
        let t = Theme::new(true);
        for s in styles(&t) {
            assert_eq!(s.fg, None, "{s:?}");
            assert_eq!(s.bg, None, "{s:?}");
        }
        // Warnings still stand out without colour.
        assert!(t.error().add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn defaults_avoid_colours_unreadable_on_dark_or_light() {
        let t = Theme::new(false);
        for s in styles(&t) {
            assert!(
                !matches!(
                    s.fg,
                    Some(
                        Color::White
                            | Color::Black
                            | Color::Yellow
                            | Color::Gray
                            | Color::DarkGray
                            | Color::Blue
                            | Color::LightBlue
                            | Color::LightYellow
                    )
                ),
                "{s:?}"
            );
            assert_eq!(s.bg, None);
        }
    }
}
