//! What the benchmarks share: percentiles and one printed line per measurement.

use std::time::Duration;

pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

#[allow(dead_code)] // Each bench is its own crate; not every one reports samples.
pub fn report(name: &str, samples: &mut [Duration]) {
    let p50 = percentile(samples, 0.50);
    let p99 = percentile(samples, 0.99);
    println!(
        "{name:<48} n={:<7} p50={p50:>10.2?} p99={p99:>10.2?}",
        samples.len()
    );
}

/// The access token a sign-in (or registration) answer set as a cookie.
#[allow(dead_code)]
pub fn access_token(signed_in: &reqwest::Response) -> String {
    signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| v.to_str().ok()?.strip_prefix("mt_access="))
        .and_then(|v| v.split(';').next())
        .expect("an mt_access cookie")
        .to_owned()
}

/// Resident memory of this process, from /proc (Linux).
#[allow(dead_code)]
pub fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
