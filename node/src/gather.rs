//! When gathered work is due: work that arrives in a stream is put off to be done
//! together, for a while at most, and at once when the stream stops.

use std::time::{Duration, Instant};

/// Pause in arrivals after which gathered work is done at once: the stream has stopped,
/// and nothing more is coming to be gathered with it.
pub(crate) const IDLE: Duration = Duration::from_millis(150);

/// When a gathering began and when it last grew.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    first: Instant,
    last: Instant,
}

impl Window {
    /// A gathering beginning now.
    pub(crate) fn open() -> Window {
        let now = Instant::now();
        Window {
            first: now,
            last: now,
        }
    }

    /// More arrived.
    pub(crate) fn grew(&mut self) {
        self.last = Instant::now();
    }

    /// How long until the gathering is due: once it has lasted `longest`, or nothing more
    /// arrived for [`IDLE`]; zero when it is due.
    pub(crate) fn due_in(&self, longest: Duration) -> Duration {
        let lasted = longest.saturating_sub(self.first.elapsed());
        let idle = IDLE.saturating_sub(self.last.elapsed());
        lasted.min(idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_due_after_its_longest_or_a_pause() {
        // (Only bounds that no scheduling delay can break.)
        let mut window = Window::open();
        assert!(window.due_in(Duration::from_secs(60)) <= IDLE);
        assert_eq!(window.due_in(Duration::ZERO), Duration::ZERO);
        std::thread::sleep(IDLE + IDLE / 2);
        assert_eq!(window.due_in(Duration::from_secs(60)), Duration::ZERO);
        // An arrival keeps it open for a pause more, never beyond its longest.
        window.grew();
        assert!(window.due_in(Duration::from_secs(60)) <= IDLE);
        assert_eq!(window.due_in(IDLE), Duration::ZERO);
    }
}
