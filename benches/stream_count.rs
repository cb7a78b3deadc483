//! The stream bench's work (`console.rs`, group `stream`) run once, for an instruction
//! count that holds under load, unlike wall time on a shared machine (BENCHMARKS.md,
//! issue 10):
//!
//! ```sh
//! cargo bench --bench stream_count --no-run
//! valgrind --tool=callgrind --dump-instr=no --toggle-collect='*stream_count::measured*' \
//!     target/release/deps/stream_count-HASH whole   # or: update, read
//! ```
//!
//! Only `measured` is counted: building the console and the texts, and dropping the
//! state after, are not (nor are they in the criterion bench).
//!
//! `memory` instead builds a console holding 100,000 pending and prints the process's
//! resident memory: what the allocator adds to or takes from `loadgen console`'s figure.

use std::hint::black_box;

use assent::console::action::Msg;
use assent::console::model::State;
use assent::console::stream;
use assent::console::streamed::Streamed;
use assent::console::update::update;

#[path = "support/console_state.rs"]
mod console_state;
#[path = "support/workload.rs"]
mod workload;

enum Work<'a> {
    /// Read each text, then `update`: `apply_10000_events_to_10000_pending`.
    Whole(&'a [String]),
    /// `update` on events already read: `apply_10000_read_events_to_10000_pending`.
    Update(Vec<Streamed>),
    /// Reading alone: `read_10000_events_as_the_console_does`.
    Read(&'a [String]),
}

#[inline(never)]
fn measured(mut s: State, work: Work<'_>) -> State {
    match work {
        Work::Whole(data) => {
            for text in data {
                match stream::read_event(text) {
                    Ok(ev) => black_box(update(&mut s, Msg::Event(Box::new(ev)))),
                    Err(e) => panic!("an event the console cannot read: {e}"),
                };
            }
        }
        Work::Update(read) => {
            for ev in read {
                black_box(update(&mut s, Msg::Event(Box::new(ev))));
            }
        }
        Work::Read(data) => {
            for text in data {
                black_box(stream::read_event(text).is_ok());
            }
        }
    }
    s
}

/// The process's resident memory now and at its peak, as `/proc/self/status` says.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let which = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "whole".to_owned());
    if which == "memory" {
        let s = console_state::console(100_000);
        println!("holding {} pending: {}", s.pending_count(), memory());
        return;
    }
    let base = console_state::console(10_000);
    let data = console_state::stream_texts();
    let work = match which.as_str() {
        "whole" => Work::Whole(&data),
        "update" => Work::Update(
            data.iter()
                .filter_map(|t| stream::read_event(t).ok())
                .collect(),
        ),
        "read" => Work::Read(&data),
        other => panic!("unknown work {other:?}: whole, update, read or memory"),
    };
    let s = measured(base, work);
    black_box(s.pending_count());
}
