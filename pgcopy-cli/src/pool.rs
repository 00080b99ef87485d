//! Work spread over a few destination connections: index rebuilds and FK
//! validations after the load, which the server runs one per connection.

use crate::connect::Endpoint;
use crate::lock::Locked;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio_postgres::Client;

/// Runs `work` on every item over up to `parallel` connections to `dest`, each
/// opened for `purpose` and prepared with `setup` (SQL, may be empty). A
/// connection takes the next item when it is done with one; `work` hands the
/// connection back with its result. Results come in completion order. Once
/// a stop is asked (`crate::stop`), what runs is cancelled and no item is
/// taken: the results are those of the items done.
pub async fn on_connections<T, R, F, Fut>(
    dest: &Endpoint,
    parallel: usize,
    purpose: &str,
    setup: &str,
    items: Vec<T>,
    work: F,
) -> anyhow::Result<Vec<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Client, T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = (Client, R)> + Send,
{
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let n = parallel.clamp(1, items.len());
    let queue = Arc::new(Mutex::new(VecDeque::from(items)));
    let mut handles = Vec::new();
    for i in 0..n {
        let (queue, dest, work) = (queue.clone(), dest.clone(), work.clone());
        let (purpose, setup) = (format!("{purpose} {i}"), setup.to_string());
        handles.push(tokio::spawn(async move {
            let session = dest.connect_session(&purpose).await?;
            // What it runs (an index build, a validation) is cancelled when
            // a stop is asked, and it takes no new item.
            let _cancel_on_stop = crate::stop::on_stop(session.cancel.clone());
            let mut conn = session.client;
            if !setup.is_empty() {
                conn.batch_execute(&setup).await?;
            }
            let mut out = Vec::new();
            loop {
                if crate::stop::requested() {
                    break;
                }
                let Some(item) = queue.locked().pop_front() else {
                    break;
                };
                let (c, r) = work(conn, item).await;
                conn = c;
                out.push(r);
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut results = Vec::new();
    for h in handles {
        results.extend(
            h.await
                .map_err(|e| anyhow::anyhow!("a {purpose} task crashed: {e}"))??,
        );
    }
    Ok(results)
}
