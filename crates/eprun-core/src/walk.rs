//! The walk of a dependency graph that apply and destroy share: what may start now, and what a
//! failure holds back.
//!
//! As in OpenTofu, a failed step stops only the steps that wait on it, directly or through
//! others; independent branches run to the end, so one apply reports every failure at once.

use std::collections::{BTreeMap, BTreeSet};

/// Where one step of a walk is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<K> {
    /// Waiting for what it depends on.
    Waiting,
    /// Handed out by `ready`, not finished yet.
    Running,
    /// Finished.
    Done,
    /// Failed.
    Failed,
    /// Never started, because the step named failed (directly or through another step).
    Skipped(K),
}

/// The scheduler of a walk: plain data, no I/O, so apply and destroy run the same rules.
#[derive(Debug, Clone)]
pub struct Walk<K> {
    waits: BTreeMap<K, Vec<K>>,
    after: BTreeMap<K, Vec<K>>,
    steps: BTreeMap<K, Step<K>>,
}

impl<K: Ord + Clone> Walk<K> {
    /// A walk where each key starts after the keys it waits for; keys not in the map are ignored.
    pub fn new(waits: BTreeMap<K, Vec<K>>) -> Self {
        let steps = waits.keys().map(|k| (k.clone(), Step::Waiting)).collect();
        Self {
            waits,
            after: BTreeMap::new(),
            steps,
        }
    }

    /// The same walk where each key also starts only once the keys in `after` have ended, well or
    /// not: an order, not a dependency, so their failure does not skip it.
    pub fn with_order(mut self, after: BTreeMap<K, Vec<K>>) -> Self {
        self.after = after;
        self
    }

    /// Whether a step has ended, one way or another (absent steps count as ended).
    fn ended(&self, key: &K) -> bool {
        !matches!(self.steps.get(key), Some(Step::Waiting | Step::Running))
    }

    /// The steps that may start now, in key order; they are marked running.
    pub fn ready(&mut self) -> Vec<K> {
        let ready: Vec<K> = self
            .steps
            .iter()
            .filter(|(k, s)| {
                **s == Step::Waiting
                    && self.waits[*k]
                        .iter()
                        .all(|d| matches!(self.steps.get(d), None | Some(Step::Done)))
                    && self
                        .after
                        .get(*k)
                        .is_none_or(|a| a.iter().all(|d| self.ended(d)))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &ready {
            self.steps.insert(k.clone(), Step::Running);
        }
        ready
    }

    /// Gives a step handed out by `ready` back, unstarted (no room to run it yet).
    pub fn defer(&mut self, key: &K) {
        self.set(key, Step::Waiting);
    }

    /// Records that a step finished.
    pub fn done(&mut self, key: &K) {
        self.set(key, Step::Done);
    }

    /// Records that a step failed, and skips every step that waits on it.
    pub fn failed(&mut self, key: &K) {
        self.set(key, Step::Failed);
        let mut blocked: BTreeSet<K> = BTreeSet::from([key.clone()]);
        loop {
            let next: Vec<K> = self
                .steps
                .iter()
                .filter(|(k, s)| {
                    **s == Step::Waiting && self.waits[*k].iter().any(|d| blocked.contains(d))
                })
                .map(|(k, _)| k.clone())
                .collect();
            if next.is_empty() {
                break;
            }
            for k in next {
                self.steps.insert(k.clone(), Step::Skipped(key.clone()));
                blocked.insert(k);
            }
        }
    }

    /// Whether any step is still running.
    pub fn running(&self) -> bool {
        self.steps.values().any(|s| *s == Step::Running)
    }

    /// Steps still waiting although nothing runs and none can start: they wait on each other.
    pub fn stuck(&self) -> Vec<K> {
        if self.running() {
            return Vec::new();
        }
        self.waiting()
    }

    /// Steps not started yet.
    pub fn waiting(&self) -> Vec<K> {
        self.keys_where(|s| *s == Step::Waiting)
    }

    /// Steps skipped, each with the failed step that held it back.
    pub fn skipped(&self) -> Vec<(K, K)> {
        self.steps
            .iter()
            .filter_map(|(k, s)| match s {
                Step::Skipped(cause) => Some((k.clone(), cause.clone())),
                _ => None,
            })
            .collect()
    }

    fn keys_where(&self, pick: impl Fn(&Step<K>) -> bool) -> Vec<K> {
        self.steps
            .iter()
            .filter(|(_, s)| pick(s))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn set(&mut self, key: &K, step: Step<K>) {
        if let Some(s) = self.steps.get_mut(key) {
            *s = step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(edges: &[(&'static str, &[&'static str])]) -> Walk<&'static str> {
        Walk::new(edges.iter().map(|(k, w)| (*k, w.to_vec())).collect())
    }

    #[test]
    fn steps_start_after_what_they_wait_for() {
        let mut w = walk(&[("vpc", &[]), ("subnet", &["vpc"]), ("nat", &["subnet"])]);
        assert_eq!(w.ready(), vec!["vpc"]);
        assert_eq!(
            w.ready(),
            Vec::<&str>::new(),
            "nothing new until the VPC is done"
        );
        w.done(&"vpc");
        assert_eq!(w.ready(), vec!["subnet"]);
        w.done(&"subnet");
        assert_eq!(w.ready(), vec!["nat"]);
        w.done(&"nat");
        assert!(w.waiting().is_empty() && !w.running());
    }

    #[test]
    fn a_failure_skips_only_what_depends_on_it() {
        let mut w = walk(&[
            ("vpc", &[]),
            ("subnet", &["vpc"]),
            ("nat", &["subnet"]),
            ("route", &["nat", "table"]),
            ("table", &["vpc"]),
            ("zone", &[]),
            ("record", &["zone"]),
        ]);
        assert_eq!(w.ready(), vec!["vpc", "zone"]);
        w.done(&"vpc");
        w.failed(&"zone");
        assert_eq!(w.ready(), vec!["subnet", "table"]);
        w.failed(&"subnet");
        w.done(&"table");
        assert_eq!(w.ready(), Vec::<&str>::new());
        assert_eq!(
            w.skipped(),
            vec![("nat", "subnet"), ("record", "zone"), ("route", "subnet")]
        );
        assert!(w.waiting().is_empty() && w.stuck().is_empty());
    }

    #[test]
    fn an_order_waits_for_the_end_but_survives_a_failure() {
        let mut w = walk(&[("delete", &[]), ("create", &[])])
            .with_order(BTreeMap::from([("create", vec!["delete"])]));
        assert_eq!(w.ready(), vec!["delete"]);
        w.failed(&"delete");
        assert_eq!(w.ready(), vec!["create"]);
        assert!(w.skipped().is_empty());
    }

    #[test]
    fn a_deferred_step_is_handed_out_again() {
        let mut w = walk(&[("a", &[]), ("b", &[])]);
        assert_eq!(w.ready(), vec!["a", "b"]);
        w.defer(&"b");
        assert_eq!(w.ready(), vec!["b"]);
    }

    #[test]
    fn steps_that_wait_on_each_other_are_reported_stuck() {
        let mut w = walk(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]);
        assert_eq!(w.ready(), vec!["c"]);
        assert!(w.stuck().is_empty(), "`c` still runs");
        w.done(&"c");
        assert_eq!(w.stuck(), vec!["a", "b"]);
    }

    #[test]
    fn waits_on_keys_outside_the_walk_are_ignored() {
        let mut w = walk(&[("subnet", &["vpc"])]);
        assert_eq!(w.ready(), vec!["subnet"]);
    }
}
