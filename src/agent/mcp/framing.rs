//! The MCP stdio framing and the little of JSON-RPC 2.0 the gate reads.
//!
//! MCP over stdio (spec, Transports › stdio): each message is one JSON-RPC 2.0 object on one
//! line of UTF-8, with no embedded newline. The gate reads only the fields it needs
//! (`method`, `id`, `params`, whether there is a `result`) from borrowed slices of the line,
//! and passes every message it does not hold on as the very bytes it received: a message is
//! never parsed into a model and printed again, so nothing a newer revision of the protocol
//! adds is lost or reordered on the way.
//!
//! What the client sends is untrusted: a line the gate cannot read is never passed on (the
//! server might read it as a `tools/call` the gate did not see), and the arguments of a
//! held call are read strictly (a key given twice is refused, since two parsers may keep
//! different copies, and the reviewer must approve the one the server will use).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value, json};
use tokio_util::codec::AnyDelimiterCodec;

/// The longest message taken, in bytes. A line that never ends must not take all memory;
/// 256 MiB is far above any real message (a file read as base64 included).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// JSON-RPC's "Parse error".
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's "Invalid Request".
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC's "Invalid params".
pub const INVALID_PARAMS: i64 = -32602;

/// Splits a byte stream into lines (without the `\n`) of at most [`MAX_MESSAGE_BYTES`]. After
/// a line that is too long, the codec skips to the next newline and goes on.
pub fn codec() -> AnyDelimiterCodec {
    AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\n".to_vec(), MAX_MESSAGE_BYTES)
}

/// A line without its `\r`, if it ended in `\r\n`, and `None` for a line of white space only
/// (which is no message: it is dropped, not passed on).
pub fn trim(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    (!line.iter().all(u8::is_ascii_whitespace)).then_some(line)
}

/// The fields of a JSON-RPC message the gate reads. Serde refuses a field given twice,
/// so `{"method":"ping","method":"tools/call"}` cannot slip through as a ping.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
}

/// One JSON-RPC message as the gate sees it.
#[derive(Debug)]
pub enum Message<'a> {
    /// A method and an id: a request that wants an answer.
    Request {
        id: &'a RawValue,
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    /// A method and no id (or a null one): nothing answers it.
    Notification {
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    /// No method: the answer (result or error) to request `id`; None for a null id.
    Response { id: Option<&'a RawValue> },
}

impl<'a> Message<'a> {
    /// Reads one message (an object; a batch is split first with [`batch`]).
    pub fn read(line: &'a [u8]) -> Result<Message<'a>, serde_json::Error> {
        let p: Peek<'a> = serde_json::from_slice(line)?;
        Ok(match (p.method, p.id) {
            (Some(method), Some(id)) => Message::Request {
                id,
                method,
                params: p.params,
            },
            (Some(method), None) => Message::Notification {
                method,
                params: p.params,
            },
            (None, id) => Message::Response { id },
        })
    }
}

/// The elements of a batch (a JSON array: JSON-RPC batches, which MCP allowed in its
/// 2025-03-26 revision only), or None when the line is not an array.
pub fn batch(line: &[u8]) -> Option<Result<Vec<&RawValue>, serde_json::Error>> {
    let first = line.iter().find(|b| !b.is_ascii_whitespace())?;
    (*first == b'[').then(|| serde_json::from_slice(line))
}

/// The key under which a request id is tracked, and the way it is written in a
/// `tool_call_id`: its JSON text, so that the number 7 and the string "7" stay apart.
/// None for an id JSON-RPC does not allow (anything but a string or a number).
pub fn id_key(id: &RawValue) -> Option<String> {
    match serde_json::from_str::<Value>(id.get()).ok()? {
        v @ (Value::Number(_) | Value::String(_)) => Some(v.to_string()),
        _ => None,
    }
}

/// `params` as `T`, or why not.
pub fn params<'a, T: Deserialize<'a>>(params: Option<&'a RawValue>) -> Result<T, String> {
    let text = params.map_or("{}", RawValue::get);
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// A JSON value read strictly: like `serde_json::Value`, but a key given twice in an
/// object is an error instead of the last copy silently winning.
#[derive(Debug, Clone, PartialEq)]
pub struct Strict(pub Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(de::Error::custom(format!(
                    "the key {} appears twice in one object",
                    Value::String(k)
                )));
            }
            let Strict(v) = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

#[derive(Serialize)]
struct Reply<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

fn encode(reply: &Reply<'_>) -> Vec<u8> {
    // A Reply holds only string keys, so serialising it cannot fail; the fallback keeps
    // the channel a valid stream of messages whatever happens.
    serde_json::to_vec(reply).unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"assent mcp: internal error"}}"#
            .to_vec()
    })
}

/// The answer to tools/call `id` when the tool was not called: a normal tool result with
/// `isError`, so that the model reads `text` and can adapt (the MCP spec: tool errors
/// are reported in the result, protocol errors as JSON-RPC errors).
pub fn tool_error(id: &RawValue, text: &str) -> Vec<u8> {
    encode(&Reply {
        jsonrpc: "2.0",
        id: Some(id),
        result: Some(json!({
            "content": [{ "type": "text", "text": text }],
            "isError": true,
        })),
        error: None,
    })
}

/// The `_meta` key under which the gateway hands a call's approval token to the server
/// (a prefixed name, as the MCP spec's `_meta` key rules allow).
pub const APPROVAL_TOKEN_META: &str = "assent/approval_token";

/// The request `line` with `params._meta[key] = value` added (a `_meta` already there
/// keeps its other keys). Every other value, `arguments` above all, is copied as it came,
/// byte for byte; only the order of the members around them may change. None when `line`
/// is not an object with object params (a tools/call the session read always is).
pub fn with_meta(line: &[u8], key: &str, value: &str) -> Option<Vec<u8>> {
    type Members = std::collections::BTreeMap<String, Box<RawValue>>;
    let mut msg: Members = serde_json::from_slice(line).ok()?;
    let mut params: Members = match msg.get("params") {
        Some(p) => serde_json::from_str(p.get()).ok()?,
        None => Members::new(),
    };
    let mut meta: Map<String, Value> = match params.get("_meta") {
        Some(m) => serde_json::from_str(m.get()).ok()?,
        None => Map::new(),
    };
    meta.insert(key.to_owned(), Value::String(value.to_owned()));
    params.insert(
        "_meta".to_owned(),
        serde_json::value::to_raw_value(&meta).ok()?,
    );
    msg.insert(
        "params".to_owned(),
        serde_json::value::to_raw_value(&params).ok()?,
    );
    serde_json::to_vec(&msg).ok()
}

/// The request `line` with `params.arguments` replaced by `arguments` (a reviewer's edit);
/// every other member copied as it came. None when `line` is not an object with object
/// params.
pub fn with_arguments(line: &[u8], arguments: &Value) -> Option<Vec<u8>> {
    type Members = std::collections::BTreeMap<String, Box<RawValue>>;
    let mut msg: Members = serde_json::from_slice(line).ok()?;
    let mut params: Members = serde_json::from_str(msg.get("params")?.get()).ok()?;
    params.insert(
        "arguments".to_owned(),
        serde_json::value::to_raw_value(arguments).ok()?,
    );
    msg.insert(
        "params".to_owned(),
        serde_json::value::to_raw_value(&params).ok()?,
    );
    serde_json::to_vec(&msg).ok()
}

/// A JSON-RPC error answer to request `id` (None: the id could not be read).
pub fn rpc_error(id: Option<&RawValue>, code: i64, message: &str) -> Vec<u8> {
    encode(&Reply {
        jsonrpc: "2.0",
        id,
        result: None,
        error: Some(json!({ "code": code, "message": message })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_in_meta_and_the_arguments_stay_as_sent() {
        let line = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"w","arguments":{"b":1.50,"a":"x"},"_meta":{"progressToken":3}}}"#;
        let out = with_meta(line, APPROVAL_TOKEN_META, "tok").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""arguments":{"b":1.50,"a":"x"}"#), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["params"]["_meta"]["assent/approval_token"], "tok");
        assert_eq!(v["params"]["_meta"]["progressToken"], 3);
        assert_eq!(
            (v["id"].clone(), v["method"].clone()),
            (json!(7), json!("tools/call"))
        );
        assert!(with_meta(b"[1]", APPROVAL_TOKEN_META, "tok").is_none());
    }
    use tokio_util::bytes::BytesMut;
    use tokio_util::codec::Decoder;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn lines_are_split_at_newlines_and_bounded() {
        let mut c = AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\n".to_vec(), 8);
        let mut buf = BytesMut::from(&b"{\"a\":1}\nthis line is too long\n{}\r\n{\"b\""[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"{\"a\":1}"[..]);
        assert!(
            c.decode(&mut buf).is_err(),
            "a line over the limit is an error"
        );
        // ...after which the codec skips to the next newline and goes on.
        let mut next = None;
        for _ in 0..3 {
            match c.decode(&mut buf) {
                Ok(Some(l)) => {
                    next = Some(l);
                    break;
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
        assert_eq!(next.unwrap(), &b"{}\r"[..]);
        assert_eq!(trim(b"{}\r"), Some(&b"{}"[..]));
        // A last line without its newline is still a message at the end of the stream.
        assert_eq!(c.decode_eof(&mut buf).unwrap().unwrap(), &b"{\"b\""[..]);
        assert_eq!(trim(b"  \t\r"), None);
    }

    #[test]
    fn messages_are_told_apart_by_method_and_id() {
        let m = Message::read(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#,
        )
        .unwrap();
        let Message::Request { id, method, params } = m else {
            panic!("{m:?}")
        };
        assert_eq!((id.get(), &*method), ("7", "tools/call"));
        assert_eq!(params.unwrap().get(), r#"{"name":"x"}"#);
        let m =
            Message::read(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(m, Message::Notification { .. }), "{m:?}");
        // A null id is no id: nothing can answer it.
        let m = Message::read(br#"{"jsonrpc":"2.0","id":null,"method":"tools/call"}"#).unwrap();
        assert!(matches!(m, Message::Notification { .. }), "{m:?}");
        let m = Message::read(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
        assert!(matches!(m, Message::Response { id: Some(_) }), "{m:?}");
        // Escapes in the method are read as any JSON reader reads them.
        let m = Message::read(br#"{"id":1,"method":"tools\/c\u0061ll"}"#).unwrap();
        assert!(matches!(m, Message::Request { method, .. } if method == "tools/call"));
    }

    #[test]
    fn what_cannot_be_read_for_certain_is_an_error() {
        for bad in [
            &br#"{"method":"ping","method":"tools/call","id":1}"#[..],
            br#"{"method":"tools/call","id":1,"id":2}"#,
            br#"{"method":7,"id":1}"#,
            br#"not json"#,
            br#"{"method":"tools/call","id":1"#,
            br#""a string""#,
            b"{\"method\":\"\xff\"}",
        ] {
            assert!(
                Message::read(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn batches_are_split_into_their_messages() {
        let items = batch(br#" [{"id":1,"method":"a"}, {"method":"b"}]"#)
            .unwrap()
            .unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].get(), r#"{"method":"b"}"#);
        assert!(batch(br#"{"id":1}"#).is_none());
        assert!(batch(b"[1,").unwrap().is_err());
    }

    #[test]
    fn ids_keep_their_type() {
        assert_eq!(id_key(&raw("7")).unwrap(), "7");
        assert_eq!(id_key(&raw(r#""7""#)).unwrap(), r#""7""#);
        // One id written two ways is one id.
        assert_eq!(id_key(&raw(r#""\u0041""#)), id_key(&raw(r#""A""#)));
        assert_eq!(id_key(&raw("{}")), None);
        assert_eq!(id_key(&raw("true")), None);
    }

    #[test]
    fn strict_values_refuse_a_key_given_twice() {
        let ok: Strict = serde_json::from_str(r#"{"a":[1,2.5,{"b":null}],"c":"d"}"#).unwrap();
        let plain: Value = serde_json::from_str(r#"{"a":[1,2.5,{"b":null}],"c":"d"}"#).unwrap();
        assert_eq!(ok.0, plain, "the same value serde_json reads");
        let e = serde_json::from_str::<Strict>(r#"{"a":{"path":"x","path":"y"}}"#).unwrap_err();
        assert!(
            e.to_string().contains(r#"the key "path" appears twice"#),
            "{e}"
        );
        let big: Strict =
            serde_json::from_str("[18446744073709551615, -9223372036854775808, 1e300]").unwrap();
        assert_eq!(
            big.0,
            serde_json::from_str::<Value>("[18446744073709551615, -9223372036854775808, 1e300]")
                .unwrap()
        );
    }

    #[test]
    fn answers_are_one_line_of_json_rpc() {
        let line = tool_error(&raw(r#""x-1""#), "rejected by a reviewer\nsecond line");
        assert!(!line.contains(&b'\n'), "one line");
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            json!({"jsonrpc":"2.0","id":"x-1","result":{
                "content":[{"type":"text","text":"rejected by a reviewer\nsecond line"}],
                "isError":true}})
        );
        let v: Value = serde_json::from_slice(&rpc_error(None, PARSE_ERROR, "bad")).unwrap();
        assert_eq!(
            v,
            json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}})
        );
    }
}
