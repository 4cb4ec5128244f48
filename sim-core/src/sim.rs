//! The simulation loop. A [`World`] owns all state and handles one event at a time; the
//! loop owns the clock and the queue. Handlers schedule follow-up events through
//! [`Simulation::schedule`]-like context (`&mut EventQueue`), never by reading a clock.
//! Every run is bounded: a time limit and an event budget, so a runaway scenario stops
//! with a [`StopReason`] instead of hanging.

use crate::queue::EventQueue;
use crate::time::SimTime;

/// The state machine being simulated.
pub trait World {
    type Event;
    /// Handles `event` at `now`; may push new events (at `now` or later) into `queue`.
    fn handle(&mut self, now: SimTime, event: Self::Event, queue: &mut EventQueue<Self::Event>);
}

/// Bounds of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Events after this instant are left in the queue.
    pub until: SimTime,
    /// Maximum number of events handled in this run (default 5,000,000).
    pub max_events: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { until: SimTime::MAX, max_events: 5_000_000 }
    }
}

/// Why `run` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// No events left.
    Idle,
    /// The next event is after `Limits::until`.
    TimeLimit,
    /// `Limits::max_events` events were handled; the scenario is probably looping.
    EventBudget,
}

/// Drives a [`World`] over an [`EventQueue`].
pub struct Simulation<W: World> {
    pub world: W,
    pub queue: EventQueue<W::Event>,
    handled: u64,
}

impl<W: World> Simulation<W> {
    pub fn new(world: W) -> Self {
        Simulation { world, queue: EventQueue::new(), handled: 0 }
    }

    pub fn schedule(&mut self, at: SimTime, event: W::Event) {
        self.queue.push(at, event);
    }

    pub fn now(&self) -> SimTime {
        self.queue.now()
    }

    /// Total events handled so far.
    pub fn events_handled(&self) -> u64 {
        self.handled
    }

    /// Runs until idle, past `limits.until`, or out of budget.
    pub fn run(&mut self, limits: Limits) -> StopReason {
        let mut budget = limits.max_events;
        loop {
            match self.queue.peek_time() {
                None => return StopReason::Idle,
                Some(t) if t > limits.until => return StopReason::TimeLimit,
                Some(_) => {}
            }
            if budget == 0 {
                return StopReason::EventBudget;
            }
            budget -= 1;
            let (now, ev) = self.queue.pop().expect("peeked event vanished");
            self.handled += 1;
            self.world.handle(now, ev, &mut self.queue);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    struct Pinger {
        log: Vec<(SimTime, u32)>,
    }
    impl World for Pinger {
        type Event = u32;
        fn handle(&mut self, now: SimTime, ev: u32, q: &mut EventQueue<u32>) {
            self.log.push((now, ev));
            if ev < 3 {
                q.push(now + SimDuration::from_millis(10), ev + 1);
            }
        }
    }

    #[test]
    fn runs_until_idle() {
        let mut sim = Simulation::new(Pinger { log: vec![] });
        sim.schedule(SimTime::ZERO, 0);
        assert_eq!(sim.run(Limits::default()), StopReason::Idle);
        assert_eq!(sim.world.log.len(), 4);
        assert_eq!(sim.now(), SimTime::from_nanos(30_000_000));
    }

    #[test]
    fn stops_at_time_limit_and_resumes() {
        let mut sim = Simulation::new(Pinger { log: vec![] });
        sim.schedule(SimTime::ZERO, 0);
        let until = SimTime::from_nanos(15_000_000);
        assert_eq!(sim.run(Limits { until, ..Limits::default() }), StopReason::TimeLimit);
        assert_eq!(sim.world.log.len(), 2);
        assert_eq!(sim.run(Limits::default()), StopReason::Idle);
        assert_eq!(sim.world.log.len(), 4);
    }

    struct Forever;
    impl World for Forever {
        type Event = ();
        fn handle(&mut self, now: SimTime, _: (), q: &mut EventQueue<()>) {
            q.push(now, ());
        }
    }

    #[test]
    fn a_runaway_world_stops_on_the_event_budget() {
        let mut sim = Simulation::new(Forever);
        sim.schedule(SimTime::ZERO, ());
        let r = sim.run(Limits { max_events: 1000, ..Limits::default() });
        assert_eq!(r, StopReason::EventBudget);
        assert_eq!(sim.events_handled(), 1000);
    }
}
