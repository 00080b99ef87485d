//! `pgcopy-cluster start DIR [NAME]` prints the port of a cluster kept running in
//! DIR; `pgcopy-cluster stop DIR` stops it and removes DIR. For `make demo` and
//! the benchmarks.

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
        _ => {
            eprintln!("usage: pgcopy-cluster start|stop DIR [NAME]");
            std::process::exit(2);
        }
    }
}
