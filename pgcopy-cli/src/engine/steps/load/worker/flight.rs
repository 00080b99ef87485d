//! Several statements in one simple-query message, each named for the error
//! it may cause. PostgreSQL answers and flushes each message on its own, and
//! each answer that finds the client idle wakes it: statements sent together
//! cost one wake-up. The statements completed before an error tell which
//! one failed.

use futures_util::StreamExt;
use tokio_postgres::{Client, SimpleQueryMessage};

/// Statements to send as one message, in order.
#[derive(Debug, Default)]
pub(super) struct Flight {
    steps: Vec<(&'static str, String)>,
}

/// The statement of a [`Flight`] that failed, and why.
#[derive(Debug)]
pub(super) struct FlightError {
    /// What the statement was for, as the error's first words.
    pub what: &'static str,
    /// The server's (or the connection's) error.
    pub error: tokio_postgres::Error,
}

impl Flight {
    /// Adds a statement; `what` names it in an error ("TRUNCATE failed").
    pub fn push(&mut self, what: &'static str, sql: String) {
        self.steps.push((what, sql));
    }

    /// Adds the statements of `other` after these.
    pub fn extend(&mut self, other: Flight) {
        self.steps.extend(other.steps);
    }

    /// Whether it has no statement.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the statements; returns the server's replies. On an error the
    /// server skips the statements after it (an open transaction is left
    /// aborted, so a COMMIT among them never runs).
    pub async fn run(&self, client: &Client) -> Result<Vec<SimpleQueryMessage>, FlightError> {
        let failed = |done: usize, error| FlightError {
            what: self.steps.get(done).map_or("the last statement", |s| s.0),
            error,
        };
        let text: Vec<&str> = self.steps.iter().map(|(_, sql)| sql.as_str()).collect();
        let replies = client
            .simple_query_raw(&text.join("; "))
            .await
            .map_err(|e| failed(0, e))?;
        futures_util::pin_mut!(replies);
        let (mut done, mut all) = (0, Vec::new());
        while let Some(reply) = replies.next().await {
            match reply {
                Ok(m) => {
                    done += usize::from(matches!(m, SimpleQueryMessage::CommandComplete(_)));
                    all.push(m);
                }
                Err(e) => return Err(failed(done, e)),
            }
        }
        Ok(all)
    }
}
