//! The session's rules, one message at a time.

use serde_json::{Value, json};

use super::*;
use crate::agent::mcp::config::DEFAULT_REASON;

const SESSION: &str = "0190c0de-0000-7000-8000-000000000001";

fn setup() -> Setup {
    Setup {
        session: SESSION.into(),
        server: "fs".into(),
        agent: None,
        risk: None,
        reason: Template::parse(DEFAULT_REASON).unwrap(),
    }
}

fn line(v: Value) -> Bytes {
    Bytes::from(serde_json::to_vec(&v).unwrap())
}

fn initialized() -> Session {
    let mut s = Session::new(setup());
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},
        "clientInfo":{"name":"claude-code","version":"2.1.0"}}});
    let out = s.from_client(line(init.clone()));
    assert!(matches!(&out[..], [Effect::ToServer(l)] if *l == line(init)));
    s
}

fn listed(s: &mut Session) {
    let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
    assert!(matches!(
        &s.from_client(line(list))[..],
        [Effect::ToServer(_)]
    ));
    let answer = json!({"jsonrpc":"2.0","id":1,"result":{"tools":[
        {"name":"read_file","inputSchema":{},"annotations":{"readOnlyHint":true}},
        {"name":"write_file","title":"Write a file","description":"Create or overwrite.",
         "inputSchema":{},"annotations":{"readOnlyHint":false,"destructiveHint":true}},
        {"name":"create_directory","annotations":{"readOnlyHint":false,"destructiveHint":false}},
        {"name":"plain"},
        {"name": 7},
        {"name":"odd","annotations":"not an object"}
    ]}});
    let out = s.from_server(line(answer.clone()));
    assert!(
        matches!(&out[..], [Effect::ToClient(l)] if *l == line(answer)),
        "the answer passes on unchanged"
    );
}

fn call(id: Value, tool: &str, args: Value) -> Bytes {
    line(
        json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}}),
    )
}

fn held(out: Vec<Effect>) -> Hold {
    match <[Effect; 1]>::try_from(out) {
        Ok([Effect::Hold(h)]) => *h,
        Ok([e]) => panic!("not held: {e:?}"),
        Err(v) => panic!("not one effect: {v:?}"),
    }
}

fn to_client(out: &[Effect]) -> Value {
    match out {
        [Effect::ToClient(l)] => serde_json::from_slice(l).unwrap(),
        _ => panic!("not one message to the client: {out:?}"),
    }
}

#[test]
fn a_call_is_filed_as_the_issue_says() {
    let mut s = initialized();
    listed(&mut s);
    let h = held(s.from_client(call(
        json!(7),
        "write_file",
        json!({"path":"/tmp/a","content":"x"}),
    )));
    assert_eq!(h.key, "7");
    assert_eq!(h.tool, "write_file");
    let n = h.new;
    assert_eq!(n.tool, "mcp.fs.write_file");
    assert_eq!(n.params, json!({"path":"/tmp/a","content":"x"}));
    assert_eq!(n.agent, "claude-code", "the client's clientInfo.name");
    assert_eq!(n.conversation_id.as_deref(), Some(SESSION));
    assert_eq!(n.tool_call_id.as_deref(), Some(&*format!("{SESSION}:7")));
    assert_eq!(n.risk, Some(Risk::High), "destructiveHint");
    assert_eq!(
        n.reason.as_deref(),
        Some("claude-code calls write_file on the fs MCP server")
    );
    // A string id keeps its quotes, so that it never meets the number 7's request.
    let h = held(s.from_client(call(json!("7"), "read_file", json!({"path":"/tmp/a"}))));
    assert_eq!(
        h.new.tool_call_id.as_deref(),
        Some(&*format!("{SESSION}:\"7\""))
    );
    assert_eq!(h.new.risk, Some(Risk::Low), "readOnlyHint");
}

#[test]
fn risk_comes_from_the_flag_or_the_hints_and_nothing_else() {
    let mut s = initialized();
    listed(&mut s);
    let risk = |s: &mut Session, id: i64, tool: &str| {
        held(s.from_client(call(json!(id), tool, json!({}))))
            .new
            .risk
    };
    assert_eq!(risk(&mut s, 10, "create_directory"), Some(Risk::Medium));
    assert_eq!(risk(&mut s, 11, "plain"), None, "no hints, no risk");
    assert_eq!(
        risk(&mut s, 12, "odd"),
        None,
        "unreadable annotations give no hints"
    );
    assert_eq!(risk(&mut s, 13, "never_listed"), None);
    let mut flagged = Session::new(Setup {
        risk: Some(Risk::Critical),
        agent: Some("deployer".into()),
        ..setup()
    });
    listed(&mut flagged);
    let h = held(flagged.from_client(call(json!(1), "read_file", json!({}))));
    assert_eq!(
        h.new.risk,
        Some(Risk::Critical),
        "--risk wins over the hints"
    );
    assert_eq!(
        h.new.agent, "deployer",
        "--agent wins; no initialize needed"
    );
    // A client that never said who it is.
    let h = held(Session::new(setup()).from_client(call(json!(1), "x", json!({}))));
    assert_eq!(h.new.agent, FALLBACK_AGENT);
}

#[test]
fn the_hints_follow_the_spec_defaults() {
    assert_eq!(risk_of(None, None), None);
    assert_eq!(risk_of(Some(true), None), Some(Risk::Low));
    assert_eq!(
        risk_of(Some(true), Some(true)),
        Some(Risk::Low),
        "destructive means nothing when read-only"
    );
    assert_eq!(
        risk_of(Some(false), None),
        Some(Risk::High),
        "destructiveHint defaults to true"
    );
    assert_eq!(risk_of(None, Some(true)), Some(Risk::High));
    assert_eq!(risk_of(None, Some(false)), Some(Risk::Medium));
}

#[test]
fn list_changed_forgets_the_hints() {
    let mut s = initialized();
    listed(&mut s);
    assert!(s.tool("write_file").is_some());
    let n = json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed"});
    assert!(matches!(&s.from_server(line(n))[..], [Effect::ToClient(_)]));
    assert_eq!(s.tool("write_file"), None);
    let h = held(s.from_client(call(json!(3), "write_file", json!({}))));
    assert_eq!(h.new.risk, None);
}

#[test]
fn an_edited_approval_goes_to_the_server_with_the_edited_arguments() {
    let mut s = initialized();
    let raw = Bytes::from_static(
        br#"{"params":{"arguments":{"path":"/etc/x"},"name":"write_file"},"method":"tools/call","id":4,"jsonrpc":"2.0"}"#,
    );
    held(s.from_client(raw));
    let out = s.hold_ended(
        "4",
        HoldEnd::ForwardEdited {
            arguments: json!({"path": "/tmp/x"}),
            token: Some("tok".into()),
        },
    );
    let [Effect::ToServer(l)] = &out[..] else {
        panic!("{out:?}");
    };
    let sent: Value = serde_json::from_slice(l).unwrap();
    assert_eq!(sent["params"]["arguments"], json!({"path": "/tmp/x"}));
    assert_eq!(sent["params"]["name"], "write_file");
    assert_eq!(sent["params"]["_meta"]["assent/approval_token"], "tok");
    assert_eq!(sent["id"], 4);
}

#[test]
fn an_approved_call_goes_to_the_server_as_it_came() {
    let mut s = initialized();
    // Key order, spacing and escapes as the client wrote them: nothing is re-serialised.
    let raw = Bytes::from_static(
        br#"{"params":{"arguments":{"z":1,"a":"\u00e9"},"name":"write_file"},"method":"tools/call","id":4,"jsonrpc":"2.0" }"#,
    );
    let h = held(s.from_client(raw.clone()));
    assert_eq!(h.new.params, json!({"z":1,"a":"é"}));
    let out = s.hold_ended("4", HoldEnd::Forward);
    assert!(
        matches!(&out[..], [Effect::ToServer(l)] if *l == raw),
        "{out:?}"
    );
    // Its answer passes back, once.
    let answer = line(json!({"jsonrpc":"2.0","id":4,"result":{"content":[]}}));
    assert!(matches!(&s.from_server(answer.clone())[..], [Effect::ToClient(l)] if *l == answer));
    assert!(
        s.hold_ended("4", HoldEnd::Forward).is_empty(),
        "a second end does nothing"
    );
}

#[test]
fn an_approval_token_goes_to_the_server_in_meta_with_the_arguments_as_sent() {
    let mut s = initialized();
    let raw = Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"write_file","arguments":{"z":1,"a":"\u00e9"}}}"#,
    );
    held(s.from_client(raw));
    let out = s.hold_ended("9", HoldEnd::ForwardWithToken("tok.en.x".into()));
    let [Effect::ToServer(l)] = &out[..] else {
        panic!("not forwarded: {out:?}")
    };
    let text = std::str::from_utf8(l).unwrap();
    assert!(
        text.contains(r#""arguments":{"z":1,"a":"\u00e9"}"#),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["params"]["_meta"]["assent/approval_token"], "tok.en.x");
    assert_eq!(v["id"], 9);
}

#[test]
fn a_refused_call_is_answered_as_a_tool_error() {
    let mut s = initialized();
    held(s.from_client(call(json!("abc"), "write_file", json!({}))));
    let out = s.hold_ended("\"abc\"", HoldEnd::Answer("Rejected by a reviewer.".into()));
    assert_eq!(
        to_client(&out),
        json!({"jsonrpc":"2.0","id":"abc","result":{
            "content":[{"type":"text","text":"Rejected by a reviewer."}],"isError":true}})
    );
}

#[test]
fn a_cancel_of_a_held_call_releases_it_and_stays_with_the_gate() {
    let mut s = initialized();
    held(s.from_client(call(json!(5), "write_file", json!({}))));
    let cancel = line(json!({"jsonrpc":"2.0","method":"notifications/cancelled",
        "params":{"requestId":5,"reason":"user pressed Esc"}}));
    let out = s.from_client(cancel);
    assert!(
        matches!(&out[..], [Effect::Release(k)] if k == "5"),
        "{out:?}"
    );
    assert!(s.held().is_empty());
    // Approved as it was cancelled: the client stopped waiting, so nothing is called.
    assert!(s.hold_ended("5", HoldEnd::Forward).is_empty());
    assert!(s.hold_ended("5", HoldEnd::Withdrawn).is_empty());
}

#[test]
fn a_cancel_of_a_forwarded_call_goes_to_the_server() {
    let mut s = initialized();
    held(s.from_client(call(json!(6), "write_file", json!({}))));
    s.hold_ended("6", HoldEnd::Forward);
    let cancel =
        line(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":6}}));
    assert!(matches!(&s.from_client(cancel.clone())[..], [Effect::ToServer(l)] if *l == cancel));
    // So does one for a request the gate never held.
    let other =
        line(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}));
    assert!(matches!(&s.from_client(other)[..], [Effect::ToServer(_)]));
}

#[test]
fn several_calls_wait_each_on_its_own() {
    let mut s = initialized();
    for id in 1..=3 {
        held(s.from_client(call(json!(id), "write_file", json!({"n": id}))));
    }
    assert_eq!(s.held().len(), 3);
    // Decided in any order, each is answered or forwarded for itself.
    assert!(matches!(
        &s.hold_ended("3", HoldEnd::Forward)[..],
        [Effect::ToServer(_)]
    ));
    assert_eq!(
        to_client(&s.hold_ended("1", HoldEnd::Answer("no".into())))["id"],
        json!(1)
    );
    assert_eq!(s.held(), vec!["2".to_owned()]);
}

#[test]
fn a_reused_id_is_refused_as_a_protocol_error() {
    let mut s = initialized();
    held(s.from_client(call(json!(8), "write_file", json!({}))));
    s.hold_ended("8", HoldEnd::Answer("no".into()));
    let again = to_client(&s.from_client(call(json!(8), "write_file", json!({}))));
    assert_eq!(again["id"], json!(8));
    assert_eq!(again["error"]["code"], json!(INVALID_REQUEST));
}

#[test]
fn calls_the_gate_cannot_read_for_certain_never_pass() {
    let mut s = initialized();
    // Two copies of a key: which one the server would use is the server's parser's choice.
    let twice = Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/tmp/ok","path":"/etc/passwd"}}}"#,
    );
    let out = to_client(&s.from_client(twice));
    assert_eq!(out["error"]["code"], json!(INVALID_PARAMS));
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("appears twice")
    );
    let two_names = Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"read_file","name":"write_file"}}"#,
    );
    assert_eq!(
        to_client(&s.from_client(two_names))["error"]["code"],
        json!(INVALID_PARAMS)
    );
    let no_name = line(json!({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{}}));
    assert_eq!(
        to_client(&s.from_client(no_name))["error"]["code"],
        json!(INVALID_PARAMS)
    );
    let odd_id =
        line(json!({"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"x"}}));
    assert_eq!(
        to_client(&s.from_client(odd_id))["error"]["code"],
        json!(INVALID_REQUEST)
    );
    // Not JSON at all, or two methods: answered with a parse error, never passed on.
    let garbage = Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/call\",");
    assert_eq!(
        to_client(&s.from_client(garbage))["error"]["code"],
        json!(PARSE_ERROR)
    );
    let two_methods = Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":13,"method":"ping","method":"tools/call","params":{"name":"x"}}"#,
    );
    assert_eq!(
        to_client(&s.from_client(two_methods))["error"]["code"],
        json!(PARSE_ERROR)
    );
    // A call without an id cannot be answered, so it is dropped.
    let note = line(json!({"jsonrpc":"2.0","method":"tools/call","params":{"name":"write_file"}}));
    assert!(s.from_client(note).is_empty());
    assert!(s.held().is_empty());
}

#[test]
fn everything_else_passes_byte_for_byte() {
    let mut s = initialized();
    for msg in [
        &br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#[..],
        br#"{"jsonrpc":"2.0","id":20,"method":"resources/read","params":{"uri":"file:///a"}}"#,
        br#"{"jsonrpc":"2.0","id":21,"method":"prompts/get","params":{"name":"p","_meta":{"progressToken":"t"}}}"#,
        br#"{"jsonrpc":"2.0","id":"srv-1","result":{"roots":[]}}"#,
        br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}"#,
        br#"{ "method" : "some/future/method" , "id" : 22 , "jsonrpc" : "2.0" , "new" : [1,2] }"#,
    ] {
        let out = s.from_client(Bytes::from_static(msg));
        assert!(matches!(&out[..], [Effect::ToServer(l)] if l[..] == msg[..]), "{}", String::from_utf8_lossy(msg));
    }
    for msg in [
        &br#"{"jsonrpc":"2.0","id":"srv-2","method":"sampling/createMessage","params":{}}"#[..],
        br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":2}}"#,
        br#"{"jsonrpc":"2.0","id":20,"result":{"contents":[]}}"#,
        b"not even json: the client's problem, not the gate's",
    ] {
        let out = s.from_server(Bytes::from_static(msg));
        assert!(matches!(&out[..], [Effect::ToClient(l)] if l[..] == msg[..]), "{}", String::from_utf8_lossy(msg));
    }
    // A CRLF line ending is dropped, and a blank line is no message.
    let out = s.from_client(Bytes::from_static(
        b"{\"jsonrpc\":\"2.0\",\"method\":\"x\"}\r",
    ));
    assert!(
        matches!(&out[..], [Effect::ToServer(l)] if l[..] == b"{\"jsonrpc\":\"2.0\",\"method\":\"x\"}"[..])
    );
    assert!(s.from_client(Bytes::from_static(b"  \r")).is_empty());
}

#[test]
fn a_batch_is_taken_apart_and_its_calls_held() {
    let mut s = initialized();
    let batch = Bytes::from_static(
        br#"[{"jsonrpc":"2.0","id":30,"method":"ping"},{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"write_file","arguments":{}}}]"#,
    );
    let out = s.from_client(batch);
    assert!(
        matches!(&out[0], Effect::ToServer(l) if l[..] == br#"{"jsonrpc":"2.0","id":30,"method":"ping"}"#[..])
    );
    assert!(matches!(&out[1], Effect::Hold(h) if h.key == "31"));
    assert_eq!(out.len(), 2);
}

#[test]
fn the_server_cannot_answer_a_call_it_was_never_sent() {
    let mut s = initialized();
    held(s.from_client(call(json!(40), "write_file", json!({}))));
    let forged =
        line(json!({"jsonrpc":"2.0","id":40,"result":{"content":[{"type":"text","text":"done"}]}}));
    assert!(s.from_server(forged).is_empty());
    assert_eq!(s.held(), vec!["40".to_owned()]);
}

#[test]
fn a_server_batch_passes_whole_unless_part_of_it_must_not() {
    let mut s = initialized();
    held(s.from_client(call(json!(50), "write_file", json!({}))));
    let list = json!({"jsonrpc":"2.0","id":51,"method":"tools/list"});
    s.from_client(line(list));
    let fine = Bytes::from_static(
        br#"[{"jsonrpc":"2.0","method":"notifications/progress","params":{}}, {"jsonrpc":"2.0","id":51,"result":{"tools":[{"name":"t","annotations":{"readOnlyHint":true}}]}}]"#,
    );
    assert!(matches!(&s.from_server(fine.clone())[..], [Effect::ToClient(l)] if *l == fine));
    assert_eq!(
        s.tool("t").unwrap().risk,
        Some(Risk::Low),
        "learnt from inside the batch"
    );
    let forged = Bytes::from_static(
        br#"[{"jsonrpc":"2.0","method":"notifications/progress","params":{}},{"jsonrpc":"2.0","id":50,"result":{}}]"#,
    );
    let out = s.from_server(forged);
    assert!(
        matches!(&out[..], [Effect::ToClient(l)] if l[..] == br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#[..]),
        "{out:?}"
    );
}
