//! Time, injected: the real clock in the binary, a manual one in tests of
//! the state machine (soaks of hours pass in microseconds).

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
    async fn sleep(&self, d: Duration);
}

pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A clock that moves only when told to, or when slept on.
pub struct ManualClock {
    now: Mutex<SystemTime>,
    /// Real time each sleep also takes, so that other tasks (another run
    /// in the same test) get a turn while one waits.
    real_pause: Duration,
}

impl ManualClock {
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Mutex::new(start),
            real_pause: Duration::ZERO,
        }
    }

    /// A clock whose every sleep also takes `real_pause` of real time.
    pub fn with_real_pause(start: SystemTime, real_pause: Duration) -> Self {
        Self {
            now: Mutex::new(start),
            real_pause,
        }
    }

    pub fn advance(&self, d: Duration) {
        if let Ok(mut n) = self.now.lock() {
            *n += d;
        }
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.now
            .lock()
            .map(|n| *n)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    async fn sleep(&self, d: Duration) {
        self.advance(d);
        if self.real_pause.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(self.real_pause).await;
        }
    }
}
