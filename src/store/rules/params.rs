//! The checks of a filing's params that only the text the agent sent can answer: once
//! parsed, a repeated key is gone (the last one won) and a number is already rounded. One
//! linear, iterative pass over the body, after serde_json has found it valid JSON.

use std::borrow::Cow;
use std::collections::HashSet;

/// How deep params may nest, in objects and arrays (`{}` and `[1]` are 1 deep, a
/// scalar 0). A list row wraps params three levels deeper, and a client's JSON parser
/// gives up at 128: 64 leaves room for any wrapping and any reader.
pub const MAX_PARAMS_DEPTH: usize = 64;

/// Largest integer that args_hash (RFC 8785 hashes numbers as IEEE doubles) and every
/// JSON reader (I-JSON, RFC 7493) keep exactly.
const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Up to this many keys an object's keys are compared one by one; past it, hashed.
const FEW_KEYS: usize = 16;

/// What is wrong with the params of a filing; `path` names the place (`params.a.b[3]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A container opens at `path` more than [`MAX_PARAMS_DEPTH`] deep.
    TooDeep { path: String },
    /// The key that ends `path` appears twice in one object.
    DuplicateKey { path: String },
    /// The number `literal` at `path` would be shown to a reviewer, and hashed, as `shown`.
    InexactNumber {
        path: String,
        literal: String,
        shown: String,
        /// Written without a fraction or an exponent.
        integer: bool,
    },
}

impl Fault {
    /// The API's error code for it.
    pub fn code(&self) -> &'static str {
        match self {
            Fault::TooDeep { .. } => "params_too_deep",
            Fault::DuplicateKey { .. } => "duplicate_key",
            Fault::InexactNumber { .. } => "inexact_number",
        }
    }

    /// What the agent reads: where, why, and what to send instead.
    pub fn message(&self) -> String {
        match self {
            Fault::TooDeep { path } => format!(
                "{path}: params nest more than {MAX_PARAMS_DEPTH} objects and arrays deep, \
                 which a reviewer's client could not read; flatten them, or send the deep \
                 part as a string"
            ),
            Fault::DuplicateKey { path } => format!(
                "{path}: this key appears twice in one object; a reviewer would see one of \
                 the values and a runtime that keeps the other would run it; send each key \
                 once"
            ),
            Fault::InexactNumber {
                path,
                literal,
                shown,
                integer: true,
            } => format!(
                "{path} = {literal}: integers beyond ±2^53 are not kept exactly (args_hash, \
                 RFC 8785, hashes it as {shown}), so a reviewer would approve a value other \
                 than the one sent; send such numbers as strings"
            ),
            Fault::InexactNumber {
                path,
                literal,
                shown,
                integer: false,
            } => format!(
                "{path} = {literal}: this number would be shown to the reviewer, and hashed, \
                 as {shown}; send {shown} if that is what you mean, or the number as a string"
            ),
        }
    }
}

/// Checks the member `member` of the JSON object `body` (a filing body that serde_json
/// accepted): its depth, its keys and its numbers, and stops at the first fault.
///
/// Text that is not valid JSON ends the scan without a fault: serde_json's verdict on it
/// is the one to give. The exception is depth: a body that nests past serde_json's own
/// limit is refused by it, and this scan, which keeps its stack on the heap, still says
/// whether the params were too deep by then.
pub fn check_member(body: &[u8], member: &str) -> Result<(), Fault> {
    Scan {
        body,
        member,
        pos: 0,
        stack: Vec::new(),
        focus: false,
    }
    .run()
}

/// An open object or array.
struct Frame<'a> {
    /// The key whose value is being read (objects), or the index (arrays).
    at: At<'a>,
    /// Objects: the keys seen so far (kept only inside the member); arrays: unused.
    keys: Keys<'a>,
    /// Objects: the next string is a key.
    want_key: bool,
}

enum At<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

struct Scan<'a, 'm> {
    body: &'a [u8],
    member: &'m str,
    pos: usize,
    /// `stack[0]` is the body's own object; the member's value opens `stack[1]`.
    stack: Vec<Frame<'a>>,
    /// The value being read is the member's, or inside it.
    focus: bool,
}

impl<'a> Scan<'a, '_> {
    fn run(mut self) -> Result<(), Fault> {
        while let Some(&b) = self.body.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b':' => self.pos += 1,
                b'{' | b'[' => {
                    // Inside the member, stack[0] (the body) is not counted.
                    if self.focus && self.stack.len() > MAX_PARAMS_DEPTH {
                        return Err(Fault::TooDeep { path: self.path() });
                    }
                    self.pos += 1;
                    self.stack.push(Frame {
                        at: if b == b'{' {
                            At::Key(Cow::Borrowed(""))
                        } else {
                            At::Index(0)
                        },
                        keys: Keys::default(),
                        want_key: b == b'{',
                    });
                }
                b'}' | b']' => {
                    self.pos += 1;
                    if self.stack.pop().is_none() {
                        return Ok(());
                    }
                    if self.stack.len() == 1 {
                        self.focus = false;
                    }
                }
                b',' => {
                    self.pos += 1;
                    match self.stack.last_mut() {
                        Some(Frame {
                            at: At::Index(i), ..
                        }) => *i += 1,
                        Some(f) => f.want_key = true,
                        None => return Ok(()),
                    }
                    if self.stack.len() == 1 {
                        self.focus = false;
                    }
                }
                b'"' => {
                    let Some(end) = self.string_end() else {
                        return Ok(());
                    };
                    let raw = &self.body[self.pos..end];
                    self.pos = end;
                    if self.stack.last().is_some_and(|f| f.want_key) {
                        let Some(key) = decode_key(raw) else {
                            return Ok(());
                        };
                        self.key(key)?;
                    }
                }
                b'-' | b'0'..=b'9' => {
                    let start = self.pos;
                    while self.body.get(self.pos).is_some_and(|c| {
                        matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    }) {
                        self.pos += 1;
                    }
                    if self.focus {
                        let Ok(literal) = std::str::from_utf8(&self.body[start..self.pos]) else {
                            return Ok(());
                        };
                        if let Some(shown) = inexact(literal) {
                            return Err(Fault::InexactNumber {
                                path: self.path(),
                                literal: shorten(literal),
                                shown: shorten(&shown),
                                integer: is_integer(literal),
                            });
                        }
                    }
                }
                b't' | b'f' | b'n' => {
                    while self.body.get(self.pos).is_some_and(u8::is_ascii_lowercase) {
                        self.pos += 1;
                    }
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// A key of the innermost object: the body's own keys say whether the member begins;
    /// inside the member, a key seen before in the same object is a fault.
    fn key(&mut self, key: Cow<'a, str>) -> Result<(), Fault> {
        let depth = self.stack.len();
        let Some(frame) = self.stack.last_mut() else {
            return Ok(());
        };
        frame.want_key = false;
        if depth == 1 {
            self.focus = key == self.member;
        }
        let repeated = self.focus && depth > 1 && !frame.keys.insert(key.clone());
        frame.at = At::Key(key);
        if repeated {
            return Err(Fault::DuplicateKey { path: self.path() });
        }
        Ok(())
    }

    /// Where the value being read is, from the member down.
    fn path(&self) -> String {
        let mut path = self.member.to_owned();
        for frame in self.stack.iter().skip(1) {
            match &frame.at {
                At::Index(i) => path.push_str(&format!("[{i}]")),
                At::Key(k) if is_plain(k) => {
                    path.push('.');
                    path.push_str(&shorten(k));
                }
                // Escaped, so a key cannot forge a path or reach a terminal as control text.
                At::Key(k) => path.push_str(&format!(
                    "[{}]",
                    serde_json::to_string(&shorten(k)).unwrap_or_default()
                )),
            }
        }
        path
    }

    /// Just past the closing quote of the string that opens at `pos`.
    fn string_end(&self) -> Option<usize> {
        let mut i = self.pos + 1;
        loop {
            i += self
                .body
                .get(i..)?
                .iter()
                .position(|&c| c == b'"' || c == b'\\')?;
            if self.body[i] == b'"' {
                return Some(i + 1);
            }
            i += 2;
        }
    }
}

/// A key as the parsed value has it: `"a"` and `"\u0061"` are the same key.
fn decode_key(raw: &[u8]) -> Option<Cow<'_, str>> {
    let inner = raw.get(1..raw.len().checked_sub(1)?)?;
    if inner.contains(&b'\\') {
        serde_json::from_slice::<String>(raw).ok().map(Cow::Owned)
    } else {
        std::str::from_utf8(inner).ok().map(Cow::Borrowed)
    }
}

/// The keys of one object. Most objects have a few, and comparing those beats hashing.
#[derive(Default)]
struct Keys<'a> {
    few: Vec<Cow<'a, str>>,
    many: HashSet<Cow<'a, str>>,
}

impl<'a> Keys<'a> {
    /// False when `key` was already there.
    fn insert(&mut self, key: Cow<'a, str>) -> bool {
        if !self.many.is_empty() {
            return self.many.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        self.few.push(key);
        if self.few.len() > FEW_KEYS {
            self.many.extend(self.few.drain(..));
        }
        true
    }
}

/// A key that reads unambiguously after a dot.
fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// At most 40 characters of `s`, for a message.
fn shorten(s: &str) -> String {
    const KEEP: usize = 40;
    match s.char_indices().nth(KEEP) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

fn is_integer(literal: &str) -> bool {
    !literal.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// None when the number `literal` is, to the last digit, the value a reviewer is shown
/// and args_hash hashes; else that value. An integer is kept as an integer, so it is
/// exact up to ±2^53 (past that, the hash's double rounds it). Any other literal is
/// parsed as the server parses it (the nearest double) and printed as the server prints
/// it; the two must be the same decimal number (`1.50` is `1.5`, `1E2` is `100.0`).
/// `-0` and `-0.0` are zero, kept as `-0.0` and hashed as `0` (RFC 8785).
fn inexact(literal: &str) -> Option<String> {
    if is_integer(literal) {
        let digits = literal.strip_prefix('-').unwrap_or(literal);
        let exact =
            digits.len() <= 16 && digits.parse::<u64>().is_ok_and(|n| n <= MAX_SAFE_INTEGER);
        return (!exact).then(|| {
            serde_json::from_str::<f64>(literal)
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| literal.to_owned(), |n| n.to_string())
        });
    }
    let sent = Decimal::of(literal)?;
    // Up to 15 significant digits, a decimal in the range of normal doubles is the
    // shortest spelling of its nearest double (two such decimals are further apart than
    // a double's rounding interval): the common case needs no parse.
    if sent.len <= SURE_DIGITS && (-300..=300).contains(&sent.exponent) {
        return None;
    }
    let shown =
        serde_json::Number::from_f64(serde_json::from_str::<f64>(literal).ok()?)?.to_string();
    (sent != Decimal::of(&shown)?).then_some(shown)
}

/// Significant digits every double keeps (DBL_DIG).
const SURE_DIGITS: usize = 15;

/// A decimal number as `±0.DIGITS × 10^exponent`, DIGITS without leading or trailing
/// zeros, borrowed from the literal: two spellings of one number are equal. Zero has no
/// digits, no sign and exponent 0.
#[derive(Debug)]
struct Decimal<'a> {
    negative: bool,
    /// The literal's digits before and after its point; DIGITS are `len` of them from
    /// `start`.
    int: &'a str,
    frac: &'a str,
    start: usize,
    len: usize,
    exponent: i64,
}

impl PartialEq for Decimal<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.negative == other.negative
            && self.exponent == other.exponent
            && self.len == other.len
            && self.digits().eq(other.digits())
    }
}

impl<'a> Decimal<'a> {
    /// Of a JSON number literal; None if it is not one.
    fn of(literal: &'a str) -> Option<Decimal<'a>> {
        let (negative, rest) = match literal.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, literal),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], parse_exponent(&rest[at + 1..])?),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all = || int.bytes().chain(frac.bytes());
        if !all().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let leading = all().take_while(|&b| b == b'0').count();
        let total = int.len() + frac.len();
        if leading == total {
            return Some(Decimal {
                negative: false,
                int: "",
                frac: "",
                start: 0,
                len: 0,
                exponent: 0,
            });
        }
        let trailing = all().rev().take_while(|&b| b == b'0').count();
        let exponent = i64::try_from(int.len())
            .ok()?
            .saturating_sub(i64::try_from(leading).ok()?)
            .saturating_add(exp);
        Some(Decimal {
            negative,
            int,
            frac,
            start: leading,
            len: total - leading - trailing,
            exponent,
        })
    }

    fn digits(&self) -> impl Iterator<Item = u8> + '_ {
        self.int
            .bytes()
            .chain(self.frac.bytes())
            .skip(self.start)
            .take(self.len)
    }
}

/// An exponent's digits with their sign, saturating: serde_json has already refused any
/// number too large for a double, and a vanishing one is inexact at any exponent.
fn parse_exponent(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    Some(if negative { -n } else { n })
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
