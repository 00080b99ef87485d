//! `pgcopy-cluster start DIR [NAME]` prints the port of a cluster kept running in
//! DIR; `pgcopy-cluster stop DIR` stops it and removes DIR. For `make demo` and
//! the benchmarks. `pgcopy-cluster proxy PORT MS` forwards a new port (printed)
//! to PORT, each direction delayed by MS milliseconds, until killed: a WAN
//! between two regions, to try pgcopy over.

use pgcopy_tests::{stop_dir, Cluster};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(cmd), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: pgcopy-cluster start|stop DIR [NAME]");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    match cmd.as_str() {
        "start" => {
            let name = args.get(2).map(String::as_str).unwrap_or("cluster");
            println!("{}", Cluster::start_in(name, &dir, true).port());
        }
        "stop" => stop_dir(&dir),
        "proxy" => {
            let (Ok(port), Some(Ok(ms))) = (
                dir.to_string_lossy().parse::<u16>(),
                args.get(2).map(|m| m.parse::<u64>()),
            ) else {
                eprintln!("usage: pgcopy-cluster proxy PORT MS");
                std::process::exit(2);
            };
            let proxy = pgcopy_tests::latency::LatencyProxy::start(
                port,
                std::time::Duration::from_millis(ms),
            );
            println!("{}", proxy.port());
            loop {
                std::thread::park();
            }
        }
        _ => {
            eprintln!("usage: pgcopy-cluster start|stop DIR [NAME] | proxy PORT MS");
            std::process::exit(2);
        }
    }
}
