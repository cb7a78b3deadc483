//! Tests of the queue: its incremental order against a from-scratch one, and the set of
//! ended rows against a walk of the queue.

use super::*;
use crate::console::fixtures;

/// The order a from-scratch filter and sort gives, to check the incremental one.
fn expected(q: &Queue) -> Vec<String> {
    let f = q.filter.to_lowercase();
    let mut v: Vec<&Entry> = q
        .index
        .values()
        .map(|e| &**e)
        .filter(|e| e.haystack().contains(&f))
        .collect();
    v.sort_by(|a, b| Row::key_of(q.sort, a.req()).cmp(&Row::key_of(q.sort, b.req())));
    v.into_iter().map(|e| e.req().id.clone()).collect()
}

/// The list of ended ids is what a walk of the queue finds, each once.
fn ended_in_step(q: &Queue) -> bool {
    let walked: HashSet<String> = q
        .index
        .values()
        .filter(|e| e.local().is_ended())
        .map(|e| e.req().id.clone())
        .collect();
    let ended: HashSet<String> = q.ended.iter().map(|id| id.to_string()).collect();
    walked == ended && ended.len() == q.ended.len()
}

#[test]
fn incremental_order_matches_a_full_sort_and_filter() {
    let mut q = Queue::default();
    let tools = ["email.send", "db.delete", "shell.run"];
    let mut x: u64 = 7;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut live: Vec<String> = Vec::new();
    for step in 0..600u64 {
        match next() % 10 {
            0..=4 => {
                let id = format!("r{step:04}");
                let mut r = fixtures::req(
                    &id,
                    tools[(next() % 3) as usize],
                    "a",
                    (next() % 50) as i64,
                    serde_json::json!({"n": step}),
                );
                r.risk = [None, Some(Risk::Low), Some(Risk::High)][(next() % 3) as usize];
                r.expires_at = (next() % 2 == 0)
                    .then(|| fixtures::now() + chrono::Duration::seconds((next() % 90) as i64));
                q.insert(r);
                live.push(id);
            }
            5 | 6 if !live.is_empty() => {
                let id = live.swap_remove((next() % live.len() as u64) as usize);
                assert!(q.remove(&id).is_some());
            }
            7 if live.len() > 20 => {
                let gone: Vec<String> = live.drain(..17).collect();
                assert_eq!(q.remove_many(&gone).len(), 17);
            }
            8 => q.set_sort(q.sort().next()),
            _ => {
                q.set_filter(["", "email", "db.", "shell", "e"][(next() % 5) as usize]);
            }
        }
        q.follow(fixtures::now());
        let shown: Vec<String> = q.shown_ids().map(str::to_owned).collect();
        assert_eq!(shown, expected(&q), "step {step}");
        if let Some(i) = q.selected_index() {
            assert_eq!(q.order.get(i).map(|o| &**o), q.selected_id());
        }
    }
}

#[test]
fn the_ended_set_follows_every_change_of_a_row() {
    let now = fixtures::now();
    let secs = chrono::Duration::seconds;
    let mut q = Queue::default();
    q.take_page(fixtures::queue(), true, true, now);
    q.end("req-1", "expired".into(), now);
    let failed = Local::Failed {
        error: "x".into(),
        unknown: false,
    };
    q.set_local("req-2", failed);
    assert!(ended_in_step(&q) && q.ended_count() == 1);
    // A list that misses a row ends it; one that lists an ended row again revives it
    // (the backend says it is pending).
    let mut rest = fixtures::queue();
    let gone = rest.remove(1);
    q.take_page(rest.clone(), true, true, now);
    assert!(ended_in_step(&q) && q.ended_count() == 1);
    assert!(q.get("req-2").is_some_and(|e| e.local().is_ended()));
    rest.push(gone);
    q.take_page(rest, true, true, now);
    assert!(ended_in_step(&q) && q.ended_count() == 0);
    // A replaced row takes its mark with it; so does one swept out.
    q.end("req-1", "expired".into(), now);
    q.insert(fixtures::queue().remove(0));
    assert!(ended_in_step(&q) && q.ended_count() == 0);
    q.end("req-3", "expired".into(), now);
    let (gone, next) = q.sweep(now + secs(1), secs(5));
    assert!(gone.is_empty());
    assert_eq!(next, Some(now + secs(5)));
    let (gone, _) = q.sweep(now + secs(5), secs(5));
    assert_eq!(gone.len(), 1);
    assert!(ended_in_step(&q) && q.ended_count() == 0 && q.len() == 2);
}
