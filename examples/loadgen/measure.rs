//! The pure parts of the load generator: percentiles and what /proc says about a process.

use std::time::Duration;

/// Latency summary of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Nearest-rank percentile (`q` in 0..=100) of sorted samples.
fn rank(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let r = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[r.clamp(1, sorted.len()) - 1]
}

pub fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort_unstable();
    Summary {
        n: samples.len(),
        p50: rank(&samples, 50.0),
        p99: rank(&samples, 99.0),
        max: samples.last().copied().unwrap_or_default(),
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

impl Summary {
    /// `p50 …, p99 …, max …`, as a figure's row shows it.
    pub fn percentiles(&self) -> String {
        format!(
            "p50 {}, p99 {}, max {}",
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// User + system CPU time of a process, in clock ticks, from the text of /proc/PID/stat.
/// The command name (field 2) may hold spaces and parentheses, so fields are counted
/// after its closing parenthesis.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15), so index 11 and 12 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` line of /proc/PID/status (`VmRSS`, `VmHWM`), in bytes.
pub fn status_kb(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.split(':').next() == Some(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The soft limit of open files from the text of /proc/self/limits.
pub fn open_files_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Clock ticks per second of /proc's CPU times. Linux has reported 100 (USER_HZ) to user
/// space on every architecture for decades.
pub const TICKS_PER_SEC: f64 = 100.0;

/// CPU of `ticks` spent over `wall`, as a percentage of one core.
pub fn core_percent(ticks: u64, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    ticks as f64 / TICKS_PER_SEC / wall.as_secs_f64() * 100.0
}

pub fn read_cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    cpu_ticks(&s).ok_or_else(|| anyhow::anyhow!("cannot read CPU times from /proc/{pid}/stat"))
}

pub fn read_status_kb(pid: u32, key: &str) -> anyhow::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_kb(&s, key).ok_or_else(|| anyhow::anyhow!("no {key} in /proc/{pid}/status"))
}

pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = summarize((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(s.n, 100);
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        let one = summarize(vec![Duration::from_millis(7)]);
        assert_eq!(
            (one.p50, one.p99),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
        assert_eq!(summarize(Vec::new()).p99, Duration::ZERO);
    }

    #[test]
    fn cpu_ticks_survive_odd_process_names() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 \
                    250 37 0 0 20 0 3 0 5500 123456 789 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(287));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_and_limits_are_read_in_bytes_and_counts() {
        let status = "Name:\tassent\nVmHWM:\t  150000 kB\nVmRSS:\t  123456 kB\n";
        assert_eq!(status_kb(status, "VmRSS"), Some(123456 * 1024));
        assert_eq!(status_kb(status, "VmHWM"), Some(150000 * 1024));
        assert_eq!(status_kb(status, "VmSwap"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            20000                20000                files     \n";
        assert_eq!(open_files_limit(limits), Some(20000));
        assert!((core_percent(30, Duration::from_secs(60)) - 0.5).abs() < 1e-9);
    }
}
