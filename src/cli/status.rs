use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use clem_image::cluster::config::{Cluster, Overrides};
use clem_image::cluster::status::{
    check, humanize, parse_endpoint, parse_wait, targets, ClientTls, Report, DEFAULT_TIMEOUT,
    MAX_WAIT,
};
use clem_image::node::parse_optional_nodes;

mod watch;

/// How often `--wait` asks again.
const POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Cluster config (TOML); see `clem-image init`
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the cluster CA and the operator's certificate live [default: the config's
    /// directory, else ./clem-cluster]
    #[arg(long, value_name = "DIR")]
    pub cluster_dir: Option<PathBuf>,
    /// Nodes to ask: `rpi1..rpi4`, `rpi1,rpi3`, or the flag repeated [default: the config's
    /// [[node]] list]
    #[arg(long = "node", value_name = "NODES")]
    pub nodes: Vec<String>,
    /// Print a JSON report instead of one line per node
    #[arg(long)]
    pub json: bool,
    /// Ask again every few seconds until the cluster is healthy or this time has passed
    /// (30s, 5m, 1h; at most 7d)
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub wait: Option<Duration>,
    /// Connect to HOST:PORT for NODE (an SSH tunnel, a port forward), still checking the
    /// certificate against the node's own name (repeatable)
    #[arg(long = "endpoint", value_name = "NODE=HOST:PORT")]
    pub endpoints: Vec<String>,
    /// Use cluster private keys that group or others may read (refused otherwise)
    #[arg(long)]
    pub allow_open_keys: bool,
}

pub fn run(args: &StatusArgs) -> anyhow::Result<i32> {
    let nodes = parse_optional_nodes(&args.nodes)?;
    let cluster = Cluster::load(
        args.config.as_deref(),
        Overrides {
            nodes,
            dir: args.cluster_dir.clone(),
            allow_open_keys: args.allow_open_keys,
            ..Overrides::default()
        },
    )?;
    for w in cluster
        .warnings
        .iter()
        .filter(|w| w.starts_with("--allow-open-keys"))
    {
        eprintln!("warning: {w}");
    }
    let endpoints = args
        .endpoints
        .iter()
        .map(|e| parse_endpoint(e))
        .collect::<Result<Vec<_>, _>>()?;
    let targets = targets(&cluster, &endpoints)?;
    let tls = ClientTls::load(&cluster.dir)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;

    let report = rt.block_on(async {
        let Some(wait) = args.wait else {
            return check(&cluster.swarm, &targets, &tls, DEFAULT_TIMEOUT).await;
        };
        let deadline = Instant::now()
            .checked_add(wait)
            .unwrap_or_else(|| Instant::now() + MAX_WAIT);
        let mut watch = watch::Watch::new(targets.len());
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // A probe never outlasts the wait by much.
            let t = DEFAULT_TIMEOUT.min(left.max(Duration::from_secs(1)));
            let report = check(&cluster.swarm, &targets, &tls, t).await;
            let left = deadline.saturating_duration_since(Instant::now());
            watch.update(&report, left);
            if report.healthy || left.is_zero() {
                watch.finish();
                if !report.healthy {
                    eprintln!("not healthy after {}: giving up", humanize(wait));
                }
                return report;
            }
            tokio::time::sleep(POLL.min(left)).await;
        }
    });
    // A node's name lookup may still be running on a blocking thread: do not wait for it.
    rt.shutdown_background();
    print(&report, args.json)?;
    Ok(if report.healthy { 0 } else { 1 })
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(())
}
