//! The server's benchmarks, one program so that a release build links once:
//! `cargo bench -p server --bench server -- NAME…` (`scripts/bench NAME`
//! runs one and records it). Each prints its numbers; none asserts a time.

mod auth;
mod compute;
mod gateway;
mod live;
mod support;
mod work;

const ALL: [&str; 5] = ["auth", "gateway", "work", "live", "compute"];

fn main() {
    // `BENCH_LOG=warn` (a log filter): what the platform logs while a
    // benchmark runs, on standard error; nothing by default.
    let _telemetry = std::env::var("BENCH_LOG").ok().map(|filter| {
        let settings = server::configuration::LogSettings {
            filter,
            ..Default::default()
        };
        server::telemetry::init(&settings, true).expect("logging starts")
    });
    if let Some(sockets) = live::sockets_process() {
        return runtime().block_on(sockets);
    }
    // `cargo bench` adds `--bench`; names are the other arguments.
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    if let Some(unknown) = named.iter().find(|name| !ALL.contains(&name.as_str())) {
        eprintln!("unknown benchmark {unknown:?}: one of {}", ALL.join(", "));
        std::process::exit(2);
    }
    for name in ALL {
        if !named.is_empty() && !named.iter().any(|n| n == name) {
            continue;
        }
        // A runtime each: what one benchmark spawned (its server, its
        // nodes) ends with it instead of competing with the next.
        let runtime = runtime();
        match name {
            "auth" => runtime.block_on(auth::run()),
            "gateway" => runtime.block_on(gateway::run()),
            "work" => runtime.block_on(work::run()),
            "live" => runtime.block_on(live::run()),
            "compute" => runtime.block_on(compute::run()),
            _ => unreachable!("every name in ALL has a benchmark"),
        }
    }
}

/// What `#[tokio::main]` builds: one worker per core.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
