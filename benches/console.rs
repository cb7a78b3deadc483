//! The console's in-process figures (issue 6), on its own pure `update` and `view`:
//!
//! - one full frame (header, queue, detail, footer) at 200x50 into ratatui's TestBackend,
//!   with 10,000 and 100,000 pending: < 2 ms, and flat (only visible rows are laid out);
//! - applying 10,000 stream events (5,000 filings, 5,000 decisions) to a console holding
//!   10,000 pending: < 10 ms (issue 10; see BENCHMARKS.md), each from the text of its SSE `data:` field, as
//!   the console's stream task reads it (`stream::read_event`), through `update`;
//! - re-filtering 100,000 pending requests on one keystroke: < 30 ms;
//! - a decision key, then the frame that shows it sent: less than one frame.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use assent::console::action::Msg;
use assent::console::stream;
use assent::console::update::update;
use assent::console::view;
use assent::protocol::Event;

#[path = "support/console_state.rs"]
mod console_state;
#[path = "support/workload.rs"]
mod workload;

use console_state::{console, now};

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_200x50");
    for n in [10_000u64, 100_000] {
        let mut s = console(n);
        // The cursor in the middle of the queue: the rows above it must not cost anything.
        s.select_index((n / 2) as usize);
        let mut term = match Terminal::new(TestBackend::new(200, 50)) {
            Ok(t) => t,
            Err(e) => panic!("test backend: {e}"),
        };
        let mut sec = 0;
        g.bench_function(format!("{n}_pending"), |b| {
            b.iter(|| {
                // A new second each frame, as the driver's tick: ages change on screen.
                sec += 1;
                update(
                    &mut s,
                    Msg::Tick(now() + chrono::Duration::seconds(sec % 30)),
                );
                let done = term.draw(|f| {
                    view::draw(&s, f);
                });
                black_box(done.is_ok())
            })
        });
    }
    g.finish();
}

/// 10,000 events as the stream delivers them (`console_state::stream_texts`); the time
/// includes reading each as the console's stream task does, then `update`.
fn events(c: &mut Criterion) {
    let base = console(10_000);
    let data = console_state::stream_texts();
    let mut g = c.benchmark_group("stream");
    g.sample_size(10);
    g.bench_function("apply_10000_events_to_10000_pending", |b| {
        b.iter_batched(
            || base.clone(),
            |mut s| {
                for text in &data {
                    match stream::read_event(text) {
                        Ok(ev) => black_box(update(&mut s, Msg::Event(Box::new(ev)))),
                        Err(e) => panic!("an event the console cannot read: {e}"),
                    };
                }
                s
            },
            BatchSize::PerIteration,
        )
    });
    // ... and applying events already read (the bench's figure before reading was timed).
    let read: Vec<_> = data
        .iter()
        .filter_map(|text| stream::read_event(text).ok())
        .collect();
    g.bench_function("apply_10000_read_events_to_10000_pending", |b| {
        b.iter_batched(
            || (base.clone(), read.clone()),
            |(mut s, read)| {
                for ev in read {
                    black_box(update(&mut s, Msg::Event(Box::new(ev))));
                }
                s
            },
            BatchSize::PerIteration,
        )
    });
    // The same split in two: reading the texts alone, as the console's stream task does.
    g.bench_function("read_10000_events_as_the_console_does", |b| {
        b.iter(|| {
            for text in &data {
                black_box(stream::read_event(text).is_ok());
            }
        })
    });
    // For comparison only (BENCHMARKS.md, before → after): reading the same texts as the
    // protocol's `Event`, parameters parsed into a tree, as the console's stream did.
    g.bench_function("read_10000_events_as_protocol_events", |b| {
        b.iter(|| {
            for text in &data {
                black_box(serde_json::from_str::<Event>(text).is_ok());
            }
        })
    });
    g.finish();
}

/// One keystroke in the filter box over 100,000 pending requests. Timed: the key that
/// turns an empty filter into "e" (nearly every request matches, the worst case for the
/// rebuild) and the key that narrows "refun" to "refund". Untimed: the Backspace that
/// undoes it, so every timed key starts from the same state.
fn filter(c: &mut Criterion) {
    let mut s = console(100_000);
    let mut g = c.benchmark_group("filter_100000_pending");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    update(&mut s, key(KeyCode::Char('/')));
    g.bench_function("first_key", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                black_box(update(&mut s, key(KeyCode::Char('e'))));
                spent += t.elapsed();
                update(&mut s, key(KeyCode::Backspace));
            }
            spent
        })
    });
    for ch in "refun".chars() {
        update(&mut s, key(KeyCode::Char(ch)));
    }
    g.bench_function("narrowing_key", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                black_box(update(&mut s, key(KeyCode::Char('d'))));
                spent += t.elapsed();
                update(&mut s, key(KeyCode::Backspace));
            }
            spent
        })
    });
    g.finish();
}

/// A decision key until the frame that shows it sent: `a` on the selected request of
/// 10,000 pending, through `update` (which marks the row "approving…" and returns the
/// effect that sends it), then the frame the driver draws next. Issue 10: less than one
/// frame (16.7 ms at 60 Hz).
fn decision_key(c: &mut Criterion) {
    let mut base = console(10_000);
    base.select_index(5_000);
    let mut term = match Terminal::new(TestBackend::new(200, 50)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    };
    // A decision acts only on a row that was drawn: draw once, as the driver does before
    // it reads a key.
    let mut drawn = Default::default();
    if let Err(e) = term.draw(|f| drawn = view::draw(&base, f)) {
        panic!("draw: {e}");
    }
    update(&mut base, Msg::Drawn(drawn));
    // Checked once, outside the timing: the key sends, and the frame says so.
    {
        let mut s = base.clone();
        let fx = update(&mut s, key(KeyCode::Char('a')));
        assert!(!fx.is_empty(), "the key sent nothing");
        if let Err(e) = term.draw(|f| {
            view::draw(&s, f);
        }) {
            panic!("draw: {e}");
        }
        let shown = term.backend().to_string();
        assert!(
            shown.contains("approving"),
            "no sending mark on screen:\n{shown}"
        );
    }
    let mut g = c.benchmark_group("decision_key");
    g.bench_function("approve_to_frame_10000_pending", |b| {
        b.iter_batched(
            || base.clone(),
            |mut s| {
                let fx = update(&mut s, key(KeyCode::Char('a')));
                let done = term.draw(|f| {
                    view::draw(&s, f);
                });
                black_box((fx, done.is_ok(), s))
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, frame, events, filter, decision_key);
criterion_main!(benches);
