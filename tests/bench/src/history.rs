//! Where a workflow's time went, from its own history: wall time, time inside activities,
//! time waiting for people or timers, and what is left, the orchestration overhead; and each
//! workflow task's schedule→start and start→complete.

use std::collections::HashMap;

use temporalio_common::protos::temporal::api::history::v1::HistoryEvent;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

/// What a history says, reduced to what the figures need. Times in seconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub(crate) id: i64,
    pub(crate) at: f64,
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Started,
    Closed,
    TaskScheduled,
    TaskStarted {
        scheduled: i64,
    },
    TaskCompleted {
        started: i64,
    },
    ActivityScheduled {
        name: String,
    },
    ActivityStarted {
        scheduled: i64,
    },
    ActivityClosed {
        scheduled: i64,
        started: i64,
    },
    TimerStarted,
    TimerFired {
        started: i64,
    },
    /// A signal or an accepted update: someone decided something.
    Decided,
    Other,
}

/// One workflow run's figures, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RunFigures {
    pub(crate) wall_ms: f64,
    pub(crate) activities_ms: f64,
    pub(crate) waiting_ms: f64,
    /// Wall time outside activities and waits.
    pub(crate) overhead_ms: f64,
    pub(crate) task_schedule_to_start_ms: Vec<f64>,
    pub(crate) task_start_to_complete_ms: Vec<f64>,
    /// Each activity attempt's time in its queue, from scheduled to started.
    pub(crate) activity_schedule_to_start_ms: Vec<f64>,
    /// Each activity's type and time from start to close.
    pub(crate) activity_ms: Vec<(String, f64)>,
}

impl RunFigures {
    /// Time inside activities of type `name`.
    pub(crate) fn time_in(&self, name: &str) -> f64 {
        self.activity_ms.iter().filter(|(n, _)| n == name).map(|(_, ms)| ms).sum()
    }
}

pub(crate) fn events(history: &[HistoryEvent]) -> Vec<Event> {
    history
        .iter()
        .map(|event| {
            let at = event.event_time.as_ref().map_or(0.0, |t| t.seconds as f64 + f64::from(t.nanos) / 1e9);
            let kind = match &event.attributes {
                Some(Attributes::WorkflowExecutionStartedEventAttributes(_)) => Kind::Started,
                Some(
                    Attributes::WorkflowExecutionCompletedEventAttributes(_)
                    | Attributes::WorkflowExecutionFailedEventAttributes(_)
                    | Attributes::WorkflowExecutionCanceledEventAttributes(_)
                    | Attributes::WorkflowExecutionTerminatedEventAttributes(_)
                    | Attributes::WorkflowExecutionTimedOutEventAttributes(_),
                ) => Kind::Closed,
                Some(Attributes::WorkflowTaskScheduledEventAttributes(_)) => Kind::TaskScheduled,
                Some(Attributes::WorkflowTaskStartedEventAttributes(a)) => {
                    Kind::TaskStarted { scheduled: a.scheduled_event_id }
                }
                Some(Attributes::WorkflowTaskCompletedEventAttributes(a)) => {
                    Kind::TaskCompleted { started: a.started_event_id }
                }
                Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => Kind::ActivityScheduled {
                    name: a.activity_type.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
                },
                Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
                    Kind::ActivityStarted { scheduled: a.scheduled_event_id }
                }
                Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => {
                    Kind::ActivityClosed { scheduled: a.scheduled_event_id, started: a.started_event_id }
                }
                Some(Attributes::ActivityTaskFailedEventAttributes(a)) => {
                    Kind::ActivityClosed { scheduled: a.scheduled_event_id, started: a.started_event_id }
                }
                Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => {
                    Kind::ActivityClosed { scheduled: a.scheduled_event_id, started: a.started_event_id }
                }
                Some(Attributes::ActivityTaskCanceledEventAttributes(a)) => {
                    Kind::ActivityClosed { scheduled: a.scheduled_event_id, started: a.started_event_id }
                }
                Some(Attributes::TimerStartedEventAttributes(_)) => Kind::TimerStarted,
                Some(Attributes::TimerFiredEventAttributes(a)) => Kind::TimerFired { started: a.started_event_id },
                Some(
                    Attributes::WorkflowExecutionSignaledEventAttributes(_)
                    | Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(_),
                ) => Kind::Decided,
                _ => Kind::Other,
            };
            Event { id: event.event_id, at, kind }
        })
        .collect()
}

/// The figures of one run. An activity's time runs from its (last attempt's) start to its
/// close; its time in the queue is orchestration. A wait for a decision runs from the workflow
/// task before it to the decision, when no activity or timer was pending meanwhile.
pub(crate) fn figures(events: &[Event]) -> RunFigures {
    let at: HashMap<i64, f64> = events.iter().map(|e| (e.id, e.at)).collect();
    let time = |id: i64| at.get(&id).copied();
    let names: HashMap<i64, &str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            Kind::ActivityScheduled { name } => Some((e.id, name.as_str())),
            _ => None,
        })
        .collect();
    let mut busy: Vec<(f64, f64)> = Vec::new();
    let mut figures = RunFigures::default();
    let mut pending = 0_usize;
    let mut last_task_done: Option<f64> = None;
    let (mut first, mut last) = (f64::MAX, f64::MIN);
    for event in events {
        match &event.kind {
            &Kind::Started => first = first.min(event.at),
            &Kind::Closed => last = last.max(event.at),
            &Kind::TaskStarted { scheduled } => {
                if let Some(scheduled) = time(scheduled) {
                    figures.task_schedule_to_start_ms.push((event.at - scheduled) * 1000.0);
                }
            }
            &Kind::TaskCompleted { started } => {
                if let Some(started) = time(started) {
                    figures.task_start_to_complete_ms.push((event.at - started) * 1000.0);
                }
                last_task_done = Some(event.at);
            }
            Kind::ActivityScheduled { .. } | Kind::TimerStarted => pending += 1,
            &Kind::ActivityStarted { scheduled } => {
                if let Some(scheduled) = time(scheduled) {
                    figures.activity_schedule_to_start_ms.push((event.at - scheduled) * 1000.0);
                }
            }
            &Kind::ActivityClosed { scheduled, started } => {
                pending = pending.saturating_sub(1);
                // Started events of retried activities are written at the close; a missing
                // one (closed before it started, e.g. a cancel) spent no time inside.
                let began = time(started).or_else(|| time(scheduled)).unwrap_or(event.at);
                if started != 0 {
                    busy.push((began, event.at));
                    let name = names.get(&scheduled).copied().unwrap_or_default().to_owned();
                    figures.activity_ms.push((name, (event.at - began) * 1000.0));
                }
            }
            &Kind::TimerFired { started } => {
                pending = pending.saturating_sub(1);
                if let Some(began) = time(started) {
                    busy.push((began, event.at));
                }
            }
            Kind::Decided => {
                if pending == 0
                    && let Some(since) = last_task_done
                {
                    busy.push((since, event.at));
                    figures.waiting_ms += (event.at - since) * 1000.0;
                }
            }
            Kind::TaskScheduled | Kind::Other => {}
        }
    }
    figures.wall_ms = ((last - first) * 1000.0).max(0.0);
    figures.activities_ms = figures.activity_ms.iter().map(|(_, ms)| ms).sum();
    figures.overhead_ms = figures.wall_ms - union_ms(&mut busy);
    figures
}

/// The length of the union of the intervals, in milliseconds.
fn union_ms(intervals: &mut [(f64, f64)]) -> f64 {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for &(start, end) in intervals.iter() {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, at_ms: f64, kind: Kind) -> Event {
        Event { id, at: at_ms / 1000.0, kind }
    }

    #[test]
    fn overhead_is_what_activities_and_decisions_leave_of_the_wall_time() {
        let history = [
            event(1, 0.0, Kind::Started),
            event(2, 0.0, Kind::TaskScheduled),
            event(3, 5.0, Kind::TaskStarted { scheduled: 2 }),
            event(4, 15.0, Kind::TaskCompleted { started: 3 }),
            event(5, 15.0, Kind::ActivityScheduled { name: "run".to_owned() }),
            // 5 ms in the queue, 100 ms inside.
            event(6, 20.0, Kind::ActivityStarted { scheduled: 5 }),
            event(7, 120.0, Kind::ActivityClosed { scheduled: 5, started: 6 }),
            event(8, 120.0, Kind::TaskScheduled),
            event(9, 125.0, Kind::TaskStarted { scheduled: 8 }),
            event(10, 135.0, Kind::TaskCompleted { started: 9 }),
            // Someone took 500 ms to approve.
            event(11, 635.0, Kind::Decided),
            event(12, 635.0, Kind::TaskScheduled),
            event(13, 640.0, Kind::TaskStarted { scheduled: 12 }),
            event(14, 650.0, Kind::TaskCompleted { started: 13 }),
            event(15, 650.0, Kind::Closed),
        ];
        let figures = figures(&history);
        assert!((figures.wall_ms - 650.0).abs() < 1e-6, "{figures:?}");
        assert!((figures.activities_ms - 100.0).abs() < 1e-6);
        assert_eq!(figures.activity_ms[0].0, "run");
        assert!((figures.waiting_ms - 500.0).abs() < 1e-6);
        assert!((figures.overhead_ms - 50.0).abs() < 1e-6, "{figures:?}");
        assert_eq!(figures.task_schedule_to_start_ms.len(), 3);
        assert!(figures.task_start_to_complete_ms.iter().all(|ms| (ms - 10.0).abs() < 1e-6));
        assert_eq!(figures.activity_schedule_to_start_ms.len(), 1);
        assert!((figures.activity_schedule_to_start_ms[0] - 5.0).abs() < 1e-6);
    }

    #[test]
    fn a_decision_while_an_activity_runs_is_not_a_wait() {
        let history = [
            event(1, 0.0, Kind::Started),
            event(2, 0.0, Kind::TaskCompleted { started: 0 }),
            event(3, 0.0, Kind::ActivityScheduled { name: "run".to_owned() }),
            event(4, 10.0, Kind::ActivityStarted { scheduled: 3 }),
            event(5, 50.0, Kind::Decided),
            event(6, 110.0, Kind::ActivityClosed { scheduled: 3, started: 4 }),
            event(7, 120.0, Kind::Closed),
        ];
        let figures = figures(&history);
        assert_eq!(figures.waiting_ms, 0.0);
        assert!((figures.overhead_ms - 20.0).abs() < 1e-6, "{figures:?}");
    }

    #[test]
    fn overlapping_intervals_count_once() {
        assert!((union_ms(&mut [(0.0, 1.0), (0.5, 2.0), (3.0, 4.0)]) - 3000.0).abs() < 1e-6);
    }
}
