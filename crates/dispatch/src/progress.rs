//! How far a call got: the usage it has produced so far and the region running it. A call
//! the client abandons (a dropped stream body, a unary handler cancelled by a client read
//! timeout) is recorded from this, so the tokens generated up to the disconnect are
//! billed, metered and logged like any other call's.

use std::sync::Mutex;

use spillway_backends::count_tokens;
use spillway_route::Attribution;
use spillway_wire::converse::TokenUsage;
use spillway_wire::stream::ModelEvent;

/// Usage of a generation as it goes: exact once the backend reports it in `Finish`,
/// counted from the deltas before that (what a client that disconnects has consumed).
#[derive(Debug, Default, Clone, Copy)]
pub struct UsageTracker {
    input: u32,
    output: u32,
    finished: Option<TokenUsage>,
}

impl UsageTracker {
    pub fn see(&mut self, event: &ModelEvent) {
        match event {
            ModelEvent::InputTokens(n) => self.input = *n,
            // Once the backend has reported the usage, counting is moot.
            ModelEvent::Reasoning(t) | ModelEvent::Text(t) | ModelEvent::ToolUseInput(t) => {
                if self.finished.is_none() {
                    self.output += count_tokens(t);
                }
            }
            ModelEvent::ToolUseStart { .. } => {}
            ModelEvent::Finish(f) => self.finished = Some(f.usage),
        }
    }

    /// [`Self::see`] for events that arrived together: deltas before a `Finish` in the
    /// same batch are not counted, since the backend's report replaces the count.
    pub fn see_all(&mut self, events: &[ModelEvent]) {
        let finish = events.iter().rposition(|e| matches!(e, ModelEvent::Finish(_)));
        for (i, event) in events.iter().enumerate() {
            let delta = matches!(event, ModelEvent::Reasoning(_) | ModelEvent::Text(_) | ModelEvent::ToolUseInput(_));
            let replaced = delta && finish.is_some_and(|f| f > i);
            if !replaced {
                self.see(event);
            }
        }
    }

    pub fn current(&self) -> TokenUsage {
        self.finished.unwrap_or_else(|| TokenUsage::new(self.input, self.output))
    }
}

/// The progress of one call, shared between the dispatcher (which writes it while the
/// candidate runs) and the caller's record (which reads it if the call is abandoned).
#[derive(Debug, Default)]
pub struct Progress {
    inner: Mutex<Seen>,
}

#[derive(Debug, Default, Clone)]
struct Seen {
    region: Option<String>,
    usage: UsageTracker,
    attribution: Option<Attribution>,
}

impl Progress {
    /// A new candidate starts: what an earlier one produced never reached the client and
    /// is not the caller's usage.
    pub fn start(&self, region: &str) {
        let mut seen = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.region = Some(region.to_owned());
        seen.usage = UsageTracker::default();
    }

    pub fn see(&self, event: &ModelEvent) {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).usage.see(event);
    }

    /// The usage so far, as a caller that already tracks it counted it (each delta's
    /// tokens counted once, not once here and once there).
    pub fn track(&self, usage: UsageTracker) {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).usage = usage;
    }

    /// The call was resolved: whose usage it is.
    pub fn attribute(&self, attribution: Attribution) {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).attribution = Some(attribution);
    }

    pub fn attribution(&self) -> Option<Attribution> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).attribution.clone()
    }

    /// The region running the call (if any did) and the usage so far.
    pub fn snapshot(&self) -> (Option<String>, TokenUsage) {
        let seen = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (seen.region.clone(), seen.usage.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillway_wire::converse::StopReason;
    use spillway_wire::stream::Finish;

    #[test]
    fn counts_deltas_until_the_backend_reports_usage() {
        let mut t = UsageTracker::default();
        t.see(&ModelEvent::InputTokens(7));
        t.see(&ModelEvent::Text("hello world".into()));
        assert_eq!(t.current().input_tokens, 7);
        assert!(t.current().output_tokens > 0);
        t.see(&ModelEvent::Finish(Finish::new(StopReason::EndTurn, TokenUsage::new(7, 40))));
        assert_eq!(t.current(), TokenUsage::new(7, 40));
    }

    #[test]
    fn a_batch_ending_in_the_report_takes_the_report() {
        let mut t = UsageTracker::default();
        let finish = ModelEvent::Finish(Finish::new(StopReason::EndTurn, TokenUsage::new(7, 40)));
        t.see_all(&[ModelEvent::InputTokens(7), ModelEvent::Text("hello world".into()), finish]);
        assert_eq!(t.current(), TokenUsage::new(7, 40));
        // Without the report, the deltas are counted as `see` counts them.
        let (mut batch, mut one) = (UsageTracker::default(), UsageTracker::default());
        let events = [ModelEvent::InputTokens(3), ModelEvent::Text("hello world".into())];
        batch.see_all(&events);
        events.iter().for_each(|e| one.see(e));
        assert_eq!(batch.current(), one.current());
        assert!(batch.current().output_tokens > 0);
    }

    #[test]
    fn a_new_candidate_starts_from_nothing() {
        let p = Progress::default();
        p.start("us-east-1");
        p.see(&ModelEvent::InputTokens(5));
        p.see(&ModelEvent::Text("partial".into()));
        p.start("us-west-2");
        let (region, usage) = p.snapshot();
        assert_eq!(region.as_deref(), Some("us-west-2"));
        assert_eq!(usage, TokenUsage::default());
    }
}
