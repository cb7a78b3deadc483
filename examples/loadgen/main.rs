//! The load generator of the end-to-end figures (issue 6, BENCHMARKS.md): the real
//! `assent serve` as a child process on 127.0.0.1 with a temporary database file, and
//! the console's own code or the real console binary in a pseudo-terminal.
//!
//! ```sh
//! cargo build --release --bins --examples
//! target/release/examples/loadgen all          # every figure, about three minutes
//! target/release/examples/loadgen waiters      # one of: latency throughput fanout waiters console
//! target/release/examples/loadgen webhooks     # not in `all`; nor is `postgres --postgres URL`
//! ```
//!
//! Every loop is bounded in count and time, only loopback is used, and it stops by
//! itself. Each figure prints as a Markdown table row: figure, target, measured, verdict.

mod console_pty;
mod fanout;
mod latency;
mod measure;
mod server;
mod throughput;
mod waiters;
mod webhooks;
#[path = "../../benches/support/workload.rs"]
mod workload;

// The integration tests' spawner of `assent serve`, and what it is started with: the same
// identities, config writer and API client. Each is a part of the harness that uses no
// other, so it compiles here; the load generator uses only some of each.
#[allow(dead_code)]
#[path = "../../tests/common/client.rs"]
mod client;
#[allow(dead_code)]
#[path = "../../tests/common/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../../tests/common/identities.rs"]
mod identities;
#[allow(dead_code)]
#[path = "../../tests/common/server.rs"]
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use measure::ms;
use server::Server;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    All,
    Latency,
    Throughput,
    Fanout,
    Waiters,
    Console,
    /// Two instances on the PostgreSQL database of --postgres (not part of `all`).
    Postgres,
    /// Webhooks: filing → delivery latency, filings with a receiver that hangs (not part
    /// of `all`).
    Webhooks,
}

/// End-to-end benchmarks of assent on loopback.
#[derive(Debug, Parser)]
struct Args {
    #[arg(value_enum, default_value_t = Which::All)]
    which: Which,
    /// The assent binary [default: target/release/assent beside this program].
    #[arg(long)]
    assent: Option<PathBuf>,
    /// Shorter runs (smaller counts, 15 s idle instead of 60 s): a smoke test, not figures.
    #[arg(long)]
    quick: bool,
    /// `console`: pad each request's params with this many bytes (issue 11: 400 requests
    /// of about 1 MiB, `--large-params 1048576`), and measure the console's memory holding
    /// them and after reading some of them one by one (no idle figure).
    #[arg(long, value_name = "BYTES")]
    large_params: Option<usize>,
    /// `console` with `--large-params`: how many requests [default: 400].
    #[arg(long, value_name = "N")]
    pending: Option<usize>,
    /// `console`: the console's `[console] params_max_bytes` [default: the console's own].
    /// A value above the params' size has it list them whole: the figure without the fix.
    #[arg(long, value_name = "BYTES")]
    params_max_bytes: Option<usize>,
    /// For `postgres`: an empty PostgreSQL database (postgres://USER@HOST:PORT/DB), the
    /// password in PGPASSWORD.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
}

struct Row {
    figure: String,
    target: &'static str,
    measured: String,
    met: bool,
}

impl Row {
    fn print(&self) {
        println!(
            "| {} | {} | {} | {} |",
            self.figure,
            self.target,
            self.measured,
            if self.met { "met" } else { "**missed**" }
        );
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match assent::runtime::multi_thread(Some(2)) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_owned(), |s| s.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| measure::status_kb(&m, "MemTotal"))
        .map_or("?".to_owned(), |b| {
            format!("{:.0} GiB", b as f64 / 1024f64.powi(3))
        });
    format!("{cores} cores, {mem}, {model}")
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let bin = server::assent_binary(args.assent.as_deref())?;
    let q = args.quick;
    let all = args.which == Which::All;
    let want = |w: Which| all || args.which == w;
    eprintln!("loadgen: {} on {}", bin.display(), machine());
    let mut rows = Vec::new();

    if want(Which::Latency) {
        let (filings, already) = if q { (200, 1_000) } else { (1_000, 1_000) };
        eprintln!("latency: {filings} filings → console, {already} already pending");
        let s = Server::start(&bin, already).await?;
        let r = latency::run(&s, filings, already).await?;
        rows.push(Row {
            figure: format!(
                "filed → visible in a running console (stream), {filings} filings, {already} pending"
            ),
            target: "p99 < 20 ms",
            measured: r.visible.percentiles(),
            met: r.visible.p99 < Duration::from_millis(20),
        });
    }

    if want(Which::Throughput) {
        let s = Server::start(&bin, 0).await?;
        let secs = if q { 2 } else { 5 };
        for clients in [4, 32, 128] {
            eprintln!("throughput: {clients} clients for {secs} s");
            let r = throughput::run(&s, clients, Duration::from_secs(secs)).await?;
            rows.push(Row {
                figure: format!(
                    "filings + decisions per second, SQLite (synchronous = full), {} clients",
                    r.clients
                ),
                target: if clients == 32 {
                    "≥ 2,000/s"
                } else {
                    "(reported)"
                },
                measured: format!(
                    "{:.0}/s ({} calls; call p50 {}, p99 {})",
                    r.per_sec,
                    r.ops,
                    ms(r.call.p50),
                    ms(r.call.p99)
                ),
                met: clients != 32 || r.per_sec >= 2000.0,
            });
        }
    }

    if args.which == Which::Postgres {
        let url = args
            .postgres
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("loadgen postgres needs --postgres URL"))?;
        let a = Server::on_postgres(&bin, url).await?;
        let b = Server::on_postgres(&bin, url).await?;
        let secs = if q { 2 } else { 5 };
        for clients in [4, 32] {
            eprintln!("postgres throughput: {clients} clients over two instances for {secs} s");
            let r = throughput::run_over(&[&a, &b], clients, Duration::from_secs(secs)).await?;
            rows.push(Row {
                figure: format!(
                    "filings + decisions per second, PostgreSQL, two instances, {} clients",
                    r.clients
                ),
                target: if clients == 32 {
                    "≥ 3,000/s"
                } else {
                    "(reported)"
                },
                measured: format!(
                    "{:.0}/s ({} calls; call p50 {}, p99 {})",
                    r.per_sec,
                    r.ops,
                    ms(r.call.p50),
                    ms(r.call.p99)
                ),
                met: clients != 32 || r.per_sec >= 3000.0,
            });
        }
        let (subs, events) = if q { (20, 50) } else { (20, 200) };
        eprintln!("postgres: {subs} subscribers on A, {events} events filed on B");
        let r = fanout::run_between(&a, &b, subs, events, Duration::from_millis(20)).await?;
        rows.push(Row {
            figure: format!(
                "cross-instance event delivery (filed on B, streamed on A), {subs} subscribers, {events} events"
            ),
            target: "p99 < 50 ms",
            measured: format!("p50 {}, p99 {}", ms(r.latency.p50), ms(r.latency.p99)),
            met: r.latency.p99 < Duration::from_millis(50),
        });
    }

    if args.which == Which::Webhooks {
        let n = if q { 100 } else { 500 };
        eprintln!("webhooks: {n} filings, each delivered to a receiver on loopback");
        let lat = webhooks::latency(&bin, n, Duration::from_millis(5)).await?;
        rows.push(Row {
            figure: format!(
                "filing sent → webhook received (standard, signed), healthy receiver, {n} filings"
            ),
            target: "p99 < 500 ms",
            measured: lat.percentiles(),
            met: lat.p99 < Duration::from_millis(500),
        });
        let secs = if q { 2 } else { 5 };
        let rounds = if q { 1 } else { 3 };
        eprintln!(
            "webhooks: 32 clients for {secs} s, without a webhook, then with one that hangs, \
             {rounds} times"
        );
        let (without, with) =
            webhooks::hanging(&bin, 32, Duration::from_secs(secs), rounds).await?;
        rows.push(Row {
            figure: format!(
                "filings + decisions per second, 32 clients, one webhook whose receiver hangs \
                 (against none; median of {rounds} runs each, in turn)"
            ),
            target: "within 10 %",
            measured: format!("{with:.0}/s against {without:.0}/s"),
            met: with >= without * 0.9,
        });
    }

    if want(Which::Fanout) {
        let (subs, events) = if q { (200, 50) } else { (200, 200) };
        eprintln!("fanout: {subs} subscribers, {events} events");
        let s = Server::start(&bin, 0).await?;
        let r = fanout::run(&s, subs, events, Duration::from_millis(20)).await?;
        rows.push(Row {
            figure: format!(
                "SSE fan-out to {} subscribers, {} events ({} deliveries)",
                r.subscribers, r.events, r.delivered
            ),
            target: "p99 < 50 ms",
            measured: r.latency.percentiles(),
            met: r.latency.p99 < Duration::from_millis(50)
                && r.delivered == r.subscribers * r.events as usize,
        });
    }

    if want(Which::Waiters) {
        let n = if q { 2_000 } else { 10_000 };
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let nofile = measure::open_files_limit(&limits).unwrap_or(0);
        if nofile < n + 1_000 {
            anyhow::bail!(
                "{n} long polls need about {} open files in this process and in the server, \
                 but the limit is {nofile}: run `ulimit -n {}` first",
                n + 1_000,
                n + 2_000
            );
        }
        eprintln!("waiters: {n} agents long-polling");
        let s = Server::start(&bin, n).await?;
        let window = Duration::from_secs(if q { 2 } else { 5 });
        let r = waiters::run(&s, window).await?;
        rows.push(Row {
            figure: format!(
                "{} agents long-polling /wait at once: server CPU",
                r.waiters
            ),
            target: "flat while they wait",
            measured: format!(
                "{:.2} % of a core with nobody waiting, {:.2} % while {} wait",
                r.idle_cpu, r.waiting_cpu, r.waiters
            ),
            met: r.waiting_cpu < r.idle_cpu + 1.0,
        });
        rows.push(Row {
            figure: format!(
                "{} agents long-polling /wait: answered on decision",
                r.waiters
            ),
            target: "all answered",
            measured: format!(
                "{}/{} answered; {} decisions in {:.1} s; decision → answer p50 {}, p99 {}",
                r.answered,
                r.waiters,
                r.waiters,
                r.decide_all.as_secs_f64(),
                ms(r.answer.p50),
                ms(r.answer.p99)
            ),
            met: r.answered == r.waiters,
        });
    }

    if want(Which::Console)
        && let Some(pad) = args.large_params
    {
        let n = args.pending.unwrap_or(400);
        let cfg = args
            .params_max_bytes
            .map(|max| format!("[console]\nparams_max_bytes = {max}\n"))
            .unwrap_or_default();
        eprintln!("console: the real binary in a 200x50 pty, {n} pending of {pad} bytes of params");
        let s = Server::start_padded(&bin, n as u64, Some(pad)).await?;
        let mut c = console_pty::Console::spawn_with(&bin, &s, &cfg)?;
        let load = c.loaded(n, Duration::from_secs(300)).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let m = c.memory(n, load)?;
        let size = if pad >= 1 << 20 {
            format!("{:.0} MiB", pad as f64 / f64::from(1 << 20))
        } else {
            format!("{pad} B")
        };
        rows.push(Row {
            figure: format!("console resident memory holding {n} pending of {size} params"),
            target: "< 300 MB",
            measured: format!(
                "{:.0} MB resident (peak {:.0} MB); loaded in {:.1} s",
                m.rss as f64 / 1e6,
                m.peak as f64 / 1e6,
                m.load_time.as_secs_f64()
            ),
            met: m.rss < 300_000_000,
        });
        let rows_read = if q { 5 } else { 20 };
        let loaded = c.walk(rows_read, Duration::from_secs(10)).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let w = c.memory(n, load)?;
        rows.push(Row {
            figure: format!(
                "the same after reading {rows_read} of them one by one (each fetched in full)"
            ),
            target: "< 300 MB",
            measured: format!(
                "{:.0} MB resident (peak {:.0} MB); {loaded}/{rows_read} shown in full within 10 s",
                w.rss as f64 / 1e6,
                w.peak as f64 / 1e6,
            ),
            met: w.rss < 300_000_000 && loaded == rows_read,
        });
    } else if want(Which::Console) {
        let n = if q { 20_000 } else { 100_000 };
        let idle = if q { 15 } else { 60 };
        eprintln!("console: the real binary in a 200x50 pty, {n} pending, {idle} s idle");
        let s = Server::start(&bin, n as u64).await?;
        let c = console_pty::Console::spawn(&bin, &s)?;
        let load = c.loaded(n, Duration::from_secs(120)).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let m = c.memory(n, load)?;
        rows.push(Row {
            figure: format!("console resident memory holding {} pending", m.pending),
            target: "< 200 MB",
            measured: format!(
                "{:.0} MB resident (peak {:.0} MB); loaded in {:.1} s",
                m.rss as f64 / 1e6,
                m.peak as f64 / 1e6,
                m.load_time.as_secs_f64()
            ),
            met: m.rss < 200_000_000,
        });
        // Let the loading burst pass before the idle window starts.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let i = c.idle(idle).await?;
        rows.push(Row {
            figure: format!("idle console over {:.0} s, {n} pending, 200x50", i.secs),
            target: "< 0.5 % of a core; only the changed age cells",
            measured: format!(
                "{:.2} % of a core; {:.0} bytes/s to the terminal for {:.1} changed cells/s",
                i.cpu, i.bytes_per_sec, i.cells_per_sec
            ),
            met: i.cpu < 0.5,
        });
    }

    println!("\nMachine: {}", machine());
    println!("| figure | target | measured | |\n|---|---|---|---|");
    for r in &rows {
        r.print();
    }
    Ok(rows.iter().all(|r| r.met))
}
