//! `[mcp]` in the config file: the reason a held call is filed with, as a template.

use serde::Deserialize;

/// The reason template used when `[mcp] reason` is not set.
pub const DEFAULT_REASON: &str = "{agent} calls {tool} on the {server} MCP server";

/// The placeholders a reason template may use, with what each stands for (for messages).
pub const PLACEHOLDERS: [(&str, &str); 6] = [
    (
        "server",
        "the server's name (--name, or the command's file name)",
    ),
    ("tool", "the MCP tool's name"),
    ("agent", "the agent the request is filed for"),
    (
        "client",
        "the client's clientInfo name and version, from initialize",
    ),
    ("title", "the tool's title, from tools/list"),
    ("description", "the tool's description, from tools/list"),
];

/// The longest a placeholder's value may make the reason: a server's tool description can
/// run to pages, and the reviewer reads the reason at a glance.
const MAX_FIELD_CHARS: usize = 300;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Template of the reason a held `tools/call` is filed with (see [`PLACEHOLDERS`]).
    pub reason: String,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            reason: DEFAULT_REASON.to_owned(),
        }
    }
}

/// What a template's placeholders are filled with; empty when unknown.
#[derive(Debug, Clone, Default)]
pub struct Fields<'a> {
    pub server: &'a str,
    pub tool: &'a str,
    pub agent: &'a str,
    pub client: &'a str,
    pub title: &'a str,
    pub description: &'a str,
}

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> &'a str {
        match name {
            "server" => self.server,
            "tool" => self.tool,
            "agent" => self.agent,
            "client" => self.client,
            "title" => self.title,
            "description" => self.description,
            _ => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(&'static str),
}

/// A checked reason template: text with `{placeholder}`s; `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

impl Template {
    /// Checks `text`, naming the first unknown placeholder or unmatched brace.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            lit.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(t) = tail.strip_prefix("{{") {
                lit.push('{');
                rest = t;
            } else if let Some(t) = tail.strip_prefix("}}") {
                lit.push('}');
                rest = t;
            } else if let Some(t) = tail.strip_prefix('{') {
                let Some(end) = t.find('}') else {
                    return Err(format!(
                        "an unclosed `{{` in {text:?}; write `{{{{` for a brace"
                    ));
                };
                let name = &t[..end];
                let Some((known, _)) = PLACEHOLDERS.iter().find(|(n, _)| *n == name) else {
                    let names: Vec<String> = PLACEHOLDERS
                        .iter()
                        .map(|(n, _)| format!("{{{n}}}"))
                        .collect();
                    return Err(format!(
                        "unknown placeholder {{{name}}} in {text:?}; known: {}",
                        names.join(", ")
                    ));
                };
                if !lit.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut lit)));
                }
                parts.push(Part::Field(known));
                rest = &t[end + 1..];
            } else {
                return Err(format!("a lone `}}` in {text:?}; write `}}}}` for a brace"));
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Template(parts))
    }

    /// The reason for one call; None when it comes out blank (no reason beats an empty one).
    pub fn render(&self, f: &Fields<'_>) -> Option<String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(name) => {
                    let v = f.get(name);
                    match v.char_indices().nth(MAX_FIELD_CHARS) {
                        Some((cut, _)) => {
                            out.push_str(v[..cut].trim_end());
                            out.push('…');
                        }
                        None => out.push_str(v),
                    }
                }
            }
        }
        let out = out.trim();
        (!out.is_empty()).then(|| out.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields<'static> {
        Fields {
            server: "fs",
            tool: "write_file",
            agent: "claude-code",
            client: "claude-code 2.1.0",
            title: "Write file",
            description: "Create or overwrite a file.",
        }
    }

    #[test]
    fn the_default_names_agent_tool_and_server() {
        let t = Template::parse(DEFAULT_REASON).unwrap();
        assert_eq!(
            t.render(&fields()).unwrap(),
            "claude-code calls write_file on the fs MCP server"
        );
        assert!(Template::parse(&McpConfig::default().reason).is_ok());
    }

    #[test]
    fn every_placeholder_and_literal_braces() {
        let t =
            Template::parse("{{{server}}} {tool} {agent} {client} {title}: {description}").unwrap();
        assert_eq!(
            t.render(&fields()).unwrap(),
            "{fs} write_file claude-code claude-code 2.1.0 Write file: Create or overwrite a file."
        );
    }

    #[test]
    fn mistakes_are_named() {
        let e = Template::parse("{tool} on {host}").unwrap_err();
        assert!(
            e.contains("unknown placeholder {host}") && e.contains("{server}"),
            "{e}"
        );
        assert!(Template::parse("{tool").unwrap_err().contains("unclosed"));
        assert!(Template::parse("a } b").unwrap_err().contains("lone"));
    }

    #[test]
    fn long_values_are_cut_and_blank_reasons_dropped() {
        let long = "x".repeat(1000);
        let f = Fields {
            description: &long,
            ..fields()
        };
        let r = Template::parse("{description}")
            .unwrap()
            .render(&f)
            .unwrap();
        assert_eq!(r.chars().count(), MAX_FIELD_CHARS + 1);
        assert!(r.ends_with('…'));
        let empty = Template::parse(" {title} ").unwrap();
        assert_eq!(empty.render(&Fields::default()), None);
    }
}
