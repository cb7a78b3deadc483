//! Colours and emphasis, as deep as the terminal says it can show (`Depth`, from TERM and
//! COLORTERM): the 16 colours of its own palette and no italics where it announces no
//! more (xterm, linux, screen), mid-tone 256-colour or 24-bit colours where it does, all
//! readable on dark and light backgrounds (no white or black text, no yellow, no blue).
//! With `NO_COLOR` set, emphasis only (bold, reverse, dim), whatever the depth.

use ratatui::style::{Color, Modifier, Style};

use crate::console::model::State;
use crate::protocol::Risk;

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// The 16 colours of the terminal's own palette (what crossterm writes as
    /// `38;5;0`-`15`), and no italics: a terminal that announces no more may show
    /// neither (the Linux console, screen).
    #[default]
    Ansi16,
    /// The 256-colour palette (`TERM=*-256color`).
    Ansi256,
    /// 24-bit colour (`COLORTERM=truecolor` or `24bit`, `TERM=*-direct`).
    TrueColor,
}

impl Depth {
    /// The depth TERM and COLORTERM announce. COLORTERM, set by the terminal itself,
    /// wins when it says 24-bit; TERM, which outlives a hop over SSH or into tmux, says
    /// the rest. Anything unknown is taken as 16 colours, which every colour terminal
    /// shows.
    pub fn detect(term: Option<&str>, colorterm: Option<&str>) -> Depth {
        let colorterm = colorterm.unwrap_or("").to_ascii_lowercase();
        let term = term.unwrap_or("").to_ascii_lowercase();
        if matches!(colorterm.as_str(), "truecolor" | "24bit") || term.ends_with("-direct") {
            Depth::TrueColor
        } else if term.contains("256color") {
            Depth::Ansi256
        } else {
            Depth::Ansi16
        }
    }

    /// The depth of the terminal this process runs in.
    pub fn from_env() -> Depth {
        let var = |k| std::env::var(k).ok();
        Depth::detect(var("TERM").as_deref(), var("COLORTERM").as_deref())
    }
}

/// A colour the theme uses, named by what it means.
#[derive(Debug, Clone, Copy)]
enum Hue {
    Accent,
    Ok,
    Warn,
    Error,
    Low,
    Medium,
    High,
    Critical,
}

impl Hue {
    /// The colour at each depth: (16-colour, 256-colour index, 24-bit). The 256 and 24-bit
    /// choices are mid-tones (contrast of about 4 or more on both black and white); the
    /// 16-colour ones are the palette's own, so the terminal's theme decides how they look.
    fn colors(self) -> (Color, u8, (u8, u8, u8)) {
        match self {
            Hue::Accent => (Color::Cyan, 31, (0, 135, 175)),
            Hue::Ok | Hue::Low => (Color::Green, 28, (0, 135, 0)),
            Hue::Warn => (Color::Magenta, 127, (175, 0, 175)),
            // Medium gets its own orange where the terminal has one: with 16 colours it
            // shares magenta with the warnings.
            Hue::Medium => (Color::Magenta, 166, (215, 95, 0)),
            Hue::Error | Hue::High => (Color::Red, 160, (215, 0, 0)),
            Hue::Critical => (Color::Red, 196, (230, 0, 0)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
    depth: Depth,
}

impl Theme {
    /// The 16-colour theme, or emphasis only with `no_color`.
    pub fn new(no_color: bool) -> Theme {
        Theme {
            color: !no_color,
            depth: Depth::Ansi16,
        }
    }

    /// The theme the console was started with: its terminal's depth, `NO_COLOR`.
    pub fn of(state: &State) -> Theme {
        Theme {
            color: !state.no_color,
            depth: state.depth,
        }
    }

    fn fg(&self, hue: Hue) -> Style {
        if !self.color {
            return Style::default();
        }
        let (c16, c256, (r, g, b)) = hue.colors();
        Style::default().fg(match self.depth {
            Depth::Ansi16 => c16,
            Depth::Ansi256 => Color::Indexed(c256),
            Depth::TrueColor => Color::Rgb(r, g, b),
        })
    }

    /// Italics where the terminal can show them (and without colour, as before: they
    /// are then one of the few cues left); elsewhere nothing, which never garbles.
    fn italic(&self) -> Modifier {
        if self.color && self.depth == Depth::Ansi16 {
            Modifier::empty()
        } else {
            Modifier::ITALIC
        }
    }

    pub fn base(&self) -> Style {
        Style::default()
    }

    pub fn title(&self) -> Style {
        self.fg(Hue::Accent).add_modifier(Modifier::BOLD)
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
        self.fg(Hue::Accent).add_modifier(Modifier::BOLD)
    }

    pub fn ok(&self) -> Style {
        self.fg(Hue::Ok)
    }

    pub fn warn(&self) -> Style {
        self.fg(Hue::Warn).add_modifier(Modifier::BOLD)
    }

    pub fn error(&self) -> Style {
        self.fg(Hue::Error).add_modifier(Modifier::BOLD)
    }

    pub fn busy(&self) -> Style {
        self.fg(Hue::Accent).add_modifier(self.italic())
    }

    pub fn ended(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM | Modifier::CROSSED_OUT)
    }

    pub fn risk(&self, risk: Option<Risk>) -> Style {
        match risk {
            None => self.dim(),
            Some(Risk::Low) => self.fg(Hue::Low),
            Some(Risk::Medium) => self.fg(Hue::Medium),
            Some(Risk::High) => self.fg(Hue::High),
            Some(Risk::Critical) => self.fg(Hue::Critical).add_modifier(Modifier::BOLD),
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

    fn at(depth: Depth) -> Theme {
        Theme { color: true, depth }
    }

    #[test]
    fn no_color_means_no_colour_at_all() {
        for depth in [Depth::Ansi16, Depth::Ansi256, Depth::TrueColor] {
            let t = Theme {
                color: false,
                depth,
            };
            for s in styles(&t) {
                assert_eq!(s.fg, None, "{s:?}");
                assert_eq!(s.bg, None, "{s:?}");
            }
            // Warnings still stand out without colour, and italics stay what they were.
            assert!(t.error().add_modifier.contains(Modifier::BOLD));
            assert!(t.busy().add_modifier.contains(Modifier::ITALIC));
        }
    }

    #[test]
    fn each_depth_uses_only_the_colours_it_has() {
        for s in styles(&at(Depth::Ansi16)) {
            assert!(
                !matches!(s.fg, Some(Color::Indexed(_) | Color::Rgb(..))),
                "{s:?}"
            );
            assert!(!s.add_modifier.contains(Modifier::ITALIC), "{s:?}");
        }
        for s in styles(&at(Depth::Ansi256)) {
            assert!(!matches!(s.fg, Some(Color::Rgb(..))), "{s:?}");
        }
        assert!(matches!(at(Depth::TrueColor).ok().fg, Some(Color::Rgb(..))));
        assert!(matches!(
            at(Depth::Ansi256).ok().fg,
            Some(Color::Indexed(28))
        ));
        // Medium risk has a colour of its own once the terminal has more than 16.
        for d in [Depth::Ansi256, Depth::TrueColor] {
            assert_ne!(at(d).risk(Some(Risk::Medium)).fg, at(d).warn().fg);
        }
    }

    #[test]
    fn the_depth_follows_term_and_colorterm() {
        let d = |t: Option<&str>, c: Option<&str>| Depth::detect(t, c);
        for t in ["xterm", "linux", "screen", "vt100", "tmux", "xterm-color"] {
            assert_eq!(d(Some(t), None), Depth::Ansi16, "{t}");
        }
        assert_eq!(d(None, None), Depth::Ansi16);
        for t in ["xterm-256color", "screen-256color", "tmux-256color"] {
            assert_eq!(d(Some(t), None), Depth::Ansi256, "{t}");
        }
        assert_eq!(d(Some("xterm"), Some("truecolor")), Depth::TrueColor);
        assert_eq!(d(Some("xterm-256color"), Some("24bit")), Depth::TrueColor);
        assert_eq!(d(Some("xterm-direct"), None), Depth::TrueColor);
        // A COLORTERM that says nothing of depth leaves TERM to say it.
        assert_eq!(d(Some("xterm"), Some("yes")), Depth::Ansi16);
    }

    #[test]
    fn defaults_avoid_colours_unreadable_on_dark_or_light() {
        for depth in [Depth::Ansi16, Depth::Ansi256, Depth::TrueColor] {
            for s in styles(&at(depth)) {
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
                // Mid-tones only: neither near-black nor near-white.
                if let Some(Color::Rgb(r, g, b)) = s.fg {
                    let luma = 299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b);
                    assert!((40_000..=180_000).contains(&luma), "{s:?}: {luma}");
                }
            }
        }
    }
}
