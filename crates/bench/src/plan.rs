//! How big each scenario is: the full run (the figures of record) or `--quick` (the CI smoke
//! test: everything small, nothing judged).

/// Sizes and durations of every scenario.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    /// Interleaved rounds of the echo scenario.
    pub rounds: u64,
    pub echo_clients: Vec<u64>,
    pub echo_secs: f64,
    pub lookup_clients: u64,
    pub lookup_ms: u64,
    pub idle_conns: u64,
    pub idle_secs: f64,
    pub slow_clients: u64,
    pub slow_secs: f64,
    /// Extra arguments to `wait-cost`.
    pub wait_args: Vec<String>,
    pub c100k: bool,
    /// Comet: browsers waiting on step 09's `/wait` when the one message is posted.
    pub comet_browsers: u64,
    /// Comet: how long a browser waits for the message at most (the run ends when all got it).
    pub comet_secs: f64,
}

impl Plan {
    /// The full run: about ten minutes on two cores.
    pub fn full(rounds: Option<u64>, c100k: bool) -> Self {
        Plan {
            quick: false,
            rounds: rounds.unwrap_or(3),
            echo_clients: vec![1, 100, 1000],
            echo_secs: 3.0,
            lookup_clients: 1000,
            lookup_ms: 1000,
            idle_conns: 19_000,
            idle_secs: 3.0,
            slow_clients: 100,
            slow_secs: 8.0,
            wait_args: vec![],
            c100k,
            comet_browsers: 10_000,
            comet_secs: 60.0,
        }
    }

    /// Everything small: under two minutes in a debug build.
    pub fn quick(rounds: Option<u64>) -> Self {
        Plan {
            quick: true,
            rounds: rounds.unwrap_or(1),
            echo_clients: vec![1, 10],
            echo_secs: 0.5,
            lookup_clients: 50,
            lookup_ms: 200,
            idle_conns: 200,
            idle_secs: 0.5,
            slow_clients: 12,
            slow_secs: 1.5,
            wait_args: vec!["--quick".into()],
            c100k: false,
            comet_browsers: 200,
            comet_secs: 20.0,
        }
    }

    /// The echo size the ratios are quoted at: 100 clients, or the nearest below it.
    pub fn ratio_size(&self) -> Option<u64> {
        self.echo_clients
            .iter()
            .copied()
            .filter(|n| *n <= 100)
            .max()
    }
}
