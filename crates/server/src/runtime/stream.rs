//! The body of a committed stream, shared by ConverseStream and
//! InvokeModelWithResponseStream: frames from an encoder, the quota reservation settled to
//! the real usage (or, if the client goes away, to what was observed when the body was
//! dropped), and metrics and the invocation log recorded when the stream ends. After the
//! first frame the status is 200 for good, so a failure becomes an exception frame.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::Value;
use spillway_wire::stream::{Collector, ConverseStreamEncoder, ModelEvent};
use spillway_wire::BedrockError;

use super::OwnedCall;
use crate::engine::{Admitted, Opened};
use crate::stream_body::{self, UsageTracker};

/// Turns model events into frames, keeping what the invocation log records.
pub trait FrameEncoder: Send + 'static {
    fn push(&mut self, event: ModelEvent, elapsed_ms: u64, out: &mut Vec<Bytes>);
    /// The log's `outputBodyJson`, when the call is logged.
    fn log_output(&mut self, elapsed_ms: u64) -> Option<Value>;
}

/// ConverseStream events; the log gets the aggregated Converse answer.
pub struct ConverseFrames {
    encoder: ConverseStreamEncoder,
    kept: Option<Collector>,
}

impl ConverseFrames {
    pub fn new(logged: bool) -> Self {
        Self { encoder: ConverseStreamEncoder::new(), kept: logged.then(Collector::default) }
    }
}

impl FrameEncoder for ConverseFrames {
    fn push(&mut self, event: ModelEvent, elapsed_ms: u64, out: &mut Vec<Bytes>) {
        if let Some(c) = self.kept.as_mut() {
            c.push(event.clone());
        }
        out.extend(self.encoder.push(event, elapsed_ms).iter().map(|e| e.frame()));
    }

    fn log_output(&mut self, elapsed_ms: u64) -> Option<Value> {
        self.kept.take().map(|c| serde_json::to_value(c.into_response(elapsed_ms)).unwrap_or_default())
    }
}

pub fn drive<E: FrameEncoder>(
    opened: Opened,
    admitted: Admitted,
    call: OwnedCall,
    mut encoder: E,
) -> impl Stream<Item = Bytes> + Send + 'static {
    async_stream::stream! {
        // Owned by the body: dropping it (client gone) settles the reservation to what
        // was observed, in the reservation's own Drop.
        let mut admitted = admitted;
        let mut usage = UsageTracker::default();
        let mut frames = Vec::with_capacity(4);
        let mut rest = stream_body::chain(opened.head, opened.rest);
        // Shutdown past its deadline ends the stream with an exception (crate::serve).
        let ended = call.state.lifecycle.streams_ended();
        tokio::pin!(ended);
        loop {
            let item = tokio::select! {
                biased;
                () = &mut ended => Err(crate::serve::shutting_down_error()),
                item = rest.next() => Ok(item),
            };
            let item = match item {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(error) => {
                    yield stream_body::error_frame(&error);
                    admitted.settle(usage.current()).await;
                    call.finish(&opened.region, usage.current(), Some(&error), None);
                    return;
                }
            };
            match item {
                Ok(event) => {
                    usage.see(&event);
                    admitted.observe(usage.current());
                    let finished = matches!(event, ModelEvent::Finish(_));
                    encoder.push(event, call.elapsed_ms(), &mut frames);
                    for frame in frames.drain(..) {
                        yield frame;
                    }
                    if finished {
                        admitted.settle(usage.current()).await;
                        let output = encoder.log_output(call.elapsed_ms());
                        call.finish(&opened.region, usage.current(), None, output);
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stream failed after it started");
                    opened.pool.report(&e);
                    let error = BedrockError::from(e);
                    yield stream_body::error_frame(&error);
                    admitted.settle(usage.current()).await;
                    call.finish(&opened.region, usage.current(), Some(&error), None);
                    return;
                }
            }
        }
    }
}
