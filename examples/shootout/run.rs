//! What the command line asks for, the order of the workloads, and how
//! their measurements become rows of the report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{percentile, Series, Settings, Work};
use crate::latency::{Pace, PARK_FLOOR};
use crate::report::{Better, Row, Target};
use crate::resources::Overload;
use crate::{
    batch, burst, channel, common, forkjoin, latency, plot, report, resources, spawn, urgent,
};

/// Every workload, in the order they run.
const WORKLOADS: [&str; 9] = [
    "spawn", "forkjoin", "latency", "burst", "batch", "urgent", "channel", "idle", "overload",
];

/// What the command line asked for.
struct Options {
    quick: bool,
    pin: bool,
    only: Vec<String>,
    out: Option<PathBuf>,
    idle_spin: Option<Duration>,
    threads: Option<usize>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        pin: false,
        only: Vec::new(),
        out: None,
        idle_spin: None,
        threads: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--pin" => options.pin = true,
            "--only" => {
                let list = args.next().ok_or("--only needs a list of workloads")?;
                for w in list.split(',').map(str::trim) {
                    if !WORKLOADS.contains(&w) {
                        return Err(format!(
                            "unknown workload {w:?}; known: {}",
                            WORKLOADS.join(",")
                        ));
                    }
                    options.only.push(w.to_string());
                }
            }
            "--out" => options.out = Some(args.next().ok_or("--out needs a directory")?.into()),
            "--idle-spin-us" => {
                let us = args.next().ok_or("--idle-spin-us needs a number")?;
                let us: u64 = us
                    .parse()
                    .map_err(|e| format!("--idle-spin-us {us:?}: {e}"))?;
                options.idle_spin = Some(Duration::from_micros(us));
            }
            "--threads" => {
                let n = args.next().ok_or("--threads needs a number")?;
                let n: usize = n.parse().map_err(|e| format!("--threads {n:?}: {e}"))?;
                if n == 0 {
                    return Err("--threads must be at least 1".to_string());
                }
                options.threads = Some(n);
            }
            "--bench" => {} // passed by `cargo bench --all-targets`
            other => return Err(format!("unknown argument {other:?}; see the module docs")),
        }
    }
    Ok(options)
}

/// Where the figures go: the committed `docs/img/` only for a complete,
/// full-size run.
fn out_dir(options: &Options) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match &options.out {
        Some(dir) => dir.clone(),
        None if options.quick
            || options.pin
            || !options.only.is_empty()
            || options.idle_spin.is_some()
            || options.threads.is_some() =>
        {
            root.join("target").join("shootout")
        }
        None => root.join("docs").join("img"),
    }
}

/// The machine, for the record.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_string(), |k| k.trim().to_string());
    format!("{cpus} CPUs ({model}), Linux {kernel}")
}

/// The 1-minute load average: how busy the machine was around the run.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Runs what the command line asked for and reports it.
pub fn main() {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("shootout: {e}");
            std::process::exit(2);
        }
    };
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut settings = if options.quick {
        Settings::quick(threads, options.pin)
    } else {
        Settings::full(threads, options.pin)
    };
    settings.idle_spin = options.idle_spin;
    let out = out_dir(&options);
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("shootout: cannot create {}: {e}", out.display());
        std::process::exit(1);
    }
    let wanted = |w: &str| options.only.is_empty() || options.only.iter().any(|o| o == w);
    let started = Instant::now();
    let progress = |what: &str| eprintln!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());

    let command: Vec<String> = std::env::args().skip(1).collect();
    let mut header = format!(
        "command: `cargo run --release --example shootout{}`\nmachine: {}\n",
        command.iter().map(|a| format!(" {a}")).collect::<String>(),
        machine()
    );
    let _ = writeln!(
        header,
        "mode: {}, {} threads per pool, weftpool {}, idle spin {}",
        if options.quick { "quick" } else { "full" },
        settings.threads,
        if settings.pin { "pinned" } else { "unpinned" },
        settings
            .idle_spin
            .map_or("default".to_string(), |d| format!("{d:?}"))
    );
    let _ = writeln!(header, "load average before: {}", load_average());
    println!("# weftpool shoot-out\n\n{header}");
    let work = Work::calibrate();
    let mut rows: Vec<Row> = Vec::new();
    let mut notes = String::new();
    let mut cdfs: Vec<(&str, &str, Vec<Series>)> = Vec::new();

    if wanted("spawn") {
        progress("spawn throughput");
        let (external, internal) = spawn::run(&settings);
        let n = count(settings.spawn_tasks);
        rows.push(
            time_row("external spawn", &format!("{n} tasks"), &external)
                .target(Target::ratio(0.5, &["rayon", "executors", "threadpool"])),
        );
        rows.push(
            time_row("internal spawn", &format!("{n} tasks"), &internal)
                .target(Target::ratio(0.3, &["rayon"])),
        );
    }

    if wanted("forkjoin") {
        progress("fork-join");
        let (fib, tree) = forkjoin::run(&settings);
        let name = format!("fork-join fib({})", settings.fib);
        rows.push(
            time_row(&name, "time", &fib)
                .target(Target::ratio(0.7, &["rayon"]))
                .target(Target::ratio(1.0, &[forkjoin::CHILI]).goal()),
        );
        rows.push(over_sequential(&name, &fib));
        let name = format!("fork-join tree sum (2^{} nodes)", settings.tree_depth);
        let (right_first, tree): (Vec<Series>, Vec<Series>) = tree
            .into_iter()
            .partition(|s| s.system == forkjoin::SEQUENTIAL_RIGHT_FIRST);
        rows.push(time_row(&name, "time", &tree));
        rows.push(over_sequential(&name, &tree));
        let median =
            |series: &[Series], system| find(series, system).map_or(f64::NAN, Series::median);
        let _ = writeln!(
            notes,
            "tree sum: one thread takes {:.2} ms visiting each left subtree first, as `join(left, right)` \
             does on the calling worker, and {:.2} ms visiting the right first (the tree is allocated \
             left subtree first): the order of visits moves the time as much as a second thread",
            median(&tree, forkjoin::SEQUENTIAL),
            median(&right_first, forkjoin::SEQUENTIAL_RIGHT_FIRST),
        );
    }

    if wanted("latency") {
        let peers = ["rayon", "executors", "threadpool", "std"];
        progress("dispatch latency, idle pool");
        let split = latency::Split::default();
        let idle = latency::run(&settings, Pace::Idle(settings.idle_gap), &split);
        rows.push(
            latency_row("idle dispatch latency", 50.0, &idle)
                .target(Target::ratio(0.9, &peers))
                .target(Target::ratio(1.5, &[PARK_FLOOR])),
        );
        rows.push(
            latency_row("idle dispatch latency", 99.0, &idle).target(Target::ratio(1.0, &peers)),
        );
        let parts: Vec<String> = split
            .medians()
            .iter()
            .map(|(system, call, rest, first)| {
                format!(
                    "{system} {:.2} + {:.2} µs ({:.0} %)",
                    call / 1e3,
                    rest / 1e3,
                    first * 100.0
                )
            })
            .collect();
        let _ = writeln!(
            notes,
            "idle dispatch, p50 of each sample's two parts, as \"submitting call + the rest\" (the \
             pool's spawn or the floor's unpark, which includes the wake-up system call; then from \
             its return to the task's first instruction; weftpool's twin counted with it), and in \
             parentheses the share of samples whose task started before that call returned: {}",
            parts.join(", ")
        );
        progress("dispatch latency, busy pool");
        let busy = latency::run(&settings, Pace::Busy, &split);
        rows.push(
            latency_row("busy dispatch latency", 50.0, &busy).target(Target::ratio(0.8, &peers)),
        );
        rows.push(latency_row("busy dispatch latency", 99.0, &busy));
        cdfs.push((
            "latency-idle",
            "Dispatch latency, idle pool",
            without_twins(idle),
        ));
        cdfs.push((
            "latency-busy",
            "Dispatch latency, busy pool",
            without_twins(busy),
        ));
    }

    if wanted("batch") {
        progress("batch efficiency");
        let (series, cpu) = batch::run(&settings, work);
        let n = count(settings.batch_tasks);
        let seq = find(&series, forkjoin::SEQUENTIAL).map_or(f64::NAN, Series::median);
        let ideal = seq / settings.threads as f64;
        let efficiency = |s: &Series| ideal / s.median() * 100.0;
        let peers: Vec<Series> = series
            .iter()
            .filter(|s| !s.system.starts_with("weftpool") && s.system != forkjoin::SEQUENTIAL)
            .cloned()
            .collect();
        let split = find(&series, batch::STATIC_SPLIT).map_or(f64::NAN, efficiency);
        let variants = [
            (batch::WEFT_BATCH, Some(batch::WEFT_BATCH_AGAIN), 90.0),
            (batch::WEFT_SINGLE, None, 80.0),
        ];
        for (variant, twin, target) in variants {
            let mut with: Vec<Series> = peers.clone();
            with.extend(find(&series, variant).cloned());
            with.extend(twin.and_then(|twin| find(&series, twin)).cloned());
            let metric = format!("{n} × 1 µs, {}", variant.trim_start_matches("weftpool "));
            rows.push(
                Row::from_series(
                    "batch efficiency",
                    &metric,
                    "%",
                    Better::Higher,
                    variant,
                    &with,
                    efficiency,
                )
                .target(Target::absolute(&format!("≥ {target}%"), target)),
            );
        }
        let _ = writeln!(
            notes,
            "batch: sequential {:.1} ms for {n} tasks, ideal on {} threads {:.1} ms; \
             the static split reaches {split:.1} % (no dispatch cost, but not a ceiling: see the \
             CPUs busy below)",
            seq, settings.threads, ideal
        );
        let spent: Vec<String> = cpu
            .iter()
            .map(|c| format!("{} {:.1} + {:.1} ms", c.system, c.others, c.submitter))
            .collect();
        let _ = writeln!(
            notes,
            "batch CPU time per run, medians, as \"other threads + submitting thread\" (the \
             static split's threads or the pool's workers, then the thread that submitted): {}",
            spent.join(", ")
        );
        let busy: Vec<String> = cpu
            .iter()
            .map(|c| format!("{} {:.1} %", c.system, c.busy))
            .collect();
        let _ = writeln!(
            notes,
            "batch CPUs busy, medians of all CPU time ÷ (wall time × {} threads): {}",
            settings.threads,
            busy.join(", ")
        );
    }

    if wanted("burst") {
        progress("burst after an idle spell");
        let series = burst::run(&settings, work);
        let name = "burst after idle";
        let metric = format!("{} × {} µs, submitter spins", burst::TASKS, burst::TASK_US);
        for p in [50.0, 99.0] {
            let mut row = latency_row(name, p, &series);
            row.metric = format!("{metric}, p{p}");
            rows.push(row);
        }
        let _ = writeln!(
            notes,
            "burst: {} tasks of {} µs each on {} workers take at least {:.0} µs",
            burst::TASKS,
            burst::TASK_US,
            settings.threads,
            burst::TASKS as f64 * burst::TASK_US / settings.threads as f64,
        );
    }

    if wanted("urgent") {
        progress("urgent task behind a backlog");
        let series = urgent::run(&settings, work);
        let metric = format!(
            "latency behind {} × {} µs",
            count(settings.backlog),
            urgent::BACKLOG_TASK_US
        );
        rows.push(
            Row::from_series(
                "urgent task",
                &metric,
                "µs",
                Better::Lower,
                "weftpool",
                &series,
                |s| s.median() / 1e3,
            )
            .target(Target::absolute("≤ 100 µs", 100.0)),
        );
    }

    if wanted("channel") {
        progress("channel throughput");
        let results = channel::run(&settings, work);
        let m = count(settings.messages);
        let peers = ["crossbeam-channel", "flume", "std"];
        let name = "channel bounded(1024)";
        rows.push(
            time_row(name, &format!("1p/1c, {m} msgs"), &results.one)
                .target(Target::ratio(1.0, &peers)),
        );
        rows.push(
            time_row(name, &format!("2p/2c, {m} msgs"), &results.two)
                .target(Target::ratio(1.0, &peers)),
        );
        let metric = format!(
            "1p/1c, {m} msgs, consumer works {} µs each",
            channel::CONSUMER_WORK_US
        );
        rows.push(time_row(name, &metric, &results.one_working));
        let _ = writeln!(
            notes,
            "channel: with a consumer working {} µs per message, `sequential` is that work alone on \
             one thread ({:.1} ms for {} messages); the consumer does it besides its receives while \
             the producer only sends, so the producer waits for room (backpressure)",
            channel::CONSUMER_WORK_US,
            find(&results.one_working, forkjoin::SEQUENTIAL).map_or(f64::NAN, Series::median),
            m,
        );
    }

    if wanted("idle") {
        progress("idle CPU");
        let rounds = if options.quick { 1 } else { 3 };
        let series = resources::run_idle(&settings, rounds);
        rows.push(
            Row::from_series(
                "idle CPU",
                &format!("{} ms windows", settings.idle_window.as_millis()),
                "% core",
                Better::Lower,
                "weftpool",
                &series,
                Series::median,
            )
            .target(Target::absolute("< 1% of one core", 1.0)),
        );
    }

    if wanted("overload") {
        progress("overload memory");
        let n = settings.overload_tasks;
        let single = resources::run_overload(&settings, work, n);
        let double = resources::run_overload(&settings, work, 2 * n);
        overload_rows(&mut rows, &single, &double, n);
        let _ = writeln!(notes, "{}", overload_details(&single, &double, n));
    }

    progress("done");
    let _ = writeln!(
        header,
        "load average after: {} ({:.0} s)",
        load_average(),
        started.elapsed().as_secs_f64()
    );
    println!("load average after: {}", load_average());
    let results = report::results_table(&rows);
    let targets = report::targets_table(&rows);
    println!();
    println!("{results}");
    println!("{targets}");
    if !notes.is_empty() {
        println!("{notes}");
    }
    let summary = format!("{header}\n{results}\n{targets}\n{notes}");
    write_outputs(&out, &rows, &cdfs, &summary);
}

fn write_outputs(out: &Path, rows: &[Row], cdfs: &[(&str, &str, Vec<Series>)], summary: &str) {
    let report = |what: &str, r: Result<(), Box<dyn std::error::Error>>| match r {
        Ok(()) => println!("wrote {what}"),
        Err(e) => eprintln!("shootout: could not write {what}: {e}"),
    };
    let path = out.join("shootout.csv");
    report(
        &path.display().to_string(),
        report::write_results_csv(rows, &path).map_err(Into::into),
    );
    let path = out.join("shootout.md");
    report(
        &path.display().to_string(),
        std::fs::write(&path, summary).map_err(Into::into),
    );
    let plotted: Vec<Row> = rows.iter().filter(|r| r.unit != "tasks").cloned().collect();
    if !plotted.is_empty() {
        let path = out.join("shootout-bars.svg");
        report(&path.display().to_string(), plot::bars(&plotted, &path));
    }
    for (stem, title, series) in cdfs {
        let path = out.join(format!("{stem}.csv"));
        report(
            &path.display().to_string(),
            report::write_cdf_csv(series, &path).map_err(Into::into),
        );
        let path = out.join(format!("{stem}-cdf.svg"));
        report(&path.display().to_string(), plot::cdf(series, title, &path));
    }
}

/// `1000000` as `1M`, `20000` as `20k`.
fn count(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// The series but the A/A twins, which the CDF figures leave out (the
/// targets table gives their ratio).
fn without_twins(series: Vec<Series>) -> Vec<Series> {
    series
        .into_iter()
        .filter(|s| !s.system.ends_with(common::TWIN_SUFFIX))
        .collect()
}

fn find<'a>(series: &'a [Series], system: &str) -> Option<&'a Series> {
    series.iter().find(|s| s.system == system)
}

/// A row of median times in milliseconds.
fn time_row(workload: &str, metric: &str, series: &[Series]) -> Row {
    Row::from_series(
        workload,
        metric,
        "ms",
        Better::Lower,
        "weftpool",
        series,
        Series::median,
    )
}

/// Each system's median time ÷ the sequential median.
fn over_sequential(workload: &str, series: &[Series]) -> Row {
    let seq = find(series, forkjoin::SEQUENTIAL).map_or(f64::NAN, Series::median);
    let parallel: Vec<Series> = series
        .iter()
        .filter(|s| s.system != forkjoin::SEQUENTIAL)
        .cloned()
        .collect();
    Row::from_series(
        workload,
        "time ÷ sequential",
        "×",
        Better::Lower,
        "weftpool",
        &parallel,
        |s| s.median() / seq,
    )
}

/// The `p`th percentile of every system's latency samples, in µs.
fn latency_row(workload: &str, p: f64, series: &[Series]) -> Row {
    Row::from_series(
        workload,
        &format!("p{p}"),
        "µs",
        Better::Lower,
        "weftpool",
        series,
        |s| percentile(&s.values, p) / 1e3,
    )
}

/// Peak memory under overload at `n` and `2n` submissions, what doubling
/// added, and what was lost, for each weftpool policy against the
/// unbounded peers.
fn overload_rows(
    rows: &mut Vec<Row>,
    single: &[(&'static str, Overload)],
    double: &[(&'static str, Overload)],
    n: usize,
) {
    let make = |subject: &'static str,
                metric: String,
                unit: &'static str,
                f: &dyn Fn(&Overload, &Overload) -> f64| {
        let others = single
            .iter()
            .zip(double)
            .filter(|((name, _), _)| !name.starts_with("weftpool"))
            .map(|((name, a), (_, b))| (*name, f(a, b)))
            .collect();
        let value = single
            .iter()
            .zip(double)
            .find(|((name, _), _)| *name == subject)
            .map_or(f64::NAN, |((_, a), (_, b))| f(a, b));
        Row {
            workload: format!("overload, {}", subject.trim_start_matches("weftpool ")),
            metric,
            unit,
            better: Better::Lower,
            subject: (subject, value),
            others,
            twin: None,
            targets: Vec::new(),
        }
    };
    for subject in [resources::WEFT_BLOCK, resources::WEFT_REJECT] {
        rows.push(make(
            subject,
            format!("peak RSS growth, {} tasks", count(n)),
            "MB",
            &|a, _| a.peak_growth_mb,
        ));
        rows.push(make(
            subject,
            format!("peak RSS growth, {} tasks", count(2 * n)),
            "MB",
            &|_, b| b.peak_growth_mb,
        ));
        rows.push(
            make(
                subject,
                "growth added by doubling".to_string(),
                "MB",
                &|a, b| b.peak_growth_mb - a.peak_growth_mb,
            )
            .target(Target::absolute("flat: ≤ 2 MB", 2.0)),
        );
        rows.push(
            make(subject, "tasks lost".to_string(), "tasks", &|a, b| {
                (a.lost + b.lost) as f64
            })
            .target(Target::absolute("none lost", 0.0)),
        );
    }
}

/// The overload runs in full, as a Markdown table.
fn overload_details(
    single: &[(&'static str, Overload)],
    double: &[(&'static str, Overload)],
    n: usize,
) -> String {
    let mut out = format!(
        "overload: each task holds {} B and runs {} µs; weftpool's injector holds {} tasks\n\n",
        resources::PAYLOAD,
        resources::OVERLOAD_TASK_US,
        resources::OVERLOAD_QUEUE
    );
    out.push_str(
        "| system | submitted | ran | handed back | lost | submit ms | total ms | submit rate ÷ run rate | peak RSS growth MB |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (k, runs) in [(n, single), (2 * n, double)] {
        for (name, o) in runs {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                k,
                o.executed,
                o.rejected,
                o.lost,
                common::ms(o.submit),
                common::ms(o.total),
                o.total.as_secs_f64() / o.submit.as_secs_f64().max(1e-9) * k as f64
                    / o.executed.max(1) as f64,
                o.peak_growth_mb
            );
        }
    }
    out
}
