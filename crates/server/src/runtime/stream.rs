//! The body of a committed stream, shared by ConverseStream and
//! InvokeModelWithResponseStream: frames from an encoder, the quota reservation settled to
//! the real usage (or, if the client goes away, to what was observed when the body was
//! dropped), and metrics and the invocation log recorded when the stream ends. After the
//! first frame the status is 200 for good, so a failure becomes an exception frame.

use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};
use spillway_backends::{BackendError, Pool};
use spillway_invocation_log::JsonBody;
use spillway_wire::converse::{ConverseRequest, ServedReport, TokenUsage};
use spillway_wire::invoke::BodyFormat;
use spillway_wire::response_fields;
use spillway_wire::stream::{Collector, ConverseStreamEncoder, ModelEvent, Payload};
use spillway_wire::BedrockError;

use super::Ending;
use super::OwnedCall;
use crate::dispatch::{Admitted, Opened, UsageTracker};
use crate::stream_body;

/// Turns model events into frames, keeping what the invocation log records.
pub trait FrameEncoder: Send + 'static {
    /// Appends the frames for `event` to `out`.
    fn push(&mut self, event: ModelEvent, elapsed_ms: u64, out: &mut Vec<u8>);
    /// The log's `outputBodyJson`, when the call is logged.
    fn log_output(&mut self, elapsed_ms: u64) -> Option<JsonBody>;
}

/// ConverseStream events; the log gets the aggregated Converse answer.
pub struct ConverseFrames {
    encoder: ConverseStreamEncoder,
    kept: Option<Collector>,
    /// Boxed: rarely asked for, and a request's worth of state in every open stream.
    fields: Option<Box<ResponseFields>>,
    /// How the stream is served (its metadata event and the logged answer report it).
    served: ServedReport,
}

/// `additionalModelResponseFieldPaths` of a stream: the answer is gathered so that
/// `messageStop` can carry the fields of the native answer.
struct ResponseFields {
    request: ConverseRequest,
    format: BodyFormat,
    model_id: String,
    out: Collector,
}

impl ConverseFrames {
    pub fn new(logged: bool, served: ServedReport) -> Self {
        let encoder = ConverseStreamEncoder::new().reporting(served.clone());
        Self { encoder, kept: logged.then(Collector::default), fields: None, served }
    }

    pub fn with_response_fields(mut self, paths: Vec<String>, format: BodyFormat, model_id: &str) -> Self {
        let request = ConverseRequest { additional_model_response_field_paths: Some(paths), ..Default::default() };
        let out = Collector::default();
        self.fields = Some(Box::new(ResponseFields { request, format, model_id: model_id.to_owned(), out }));
        self
    }
}

impl FrameEncoder for ConverseFrames {
    fn push(&mut self, event: ModelEvent, elapsed_ms: u64, out: &mut Vec<u8>) {
        // Framed from a borrow first, so the collector can take the event without a copy.
        match self.fields.as_mut() {
            None => self.encoder.write_frames(&event, elapsed_ms, out),
            Some(f) => {
                // additionalModelResponseFieldPaths: `messageStop` carries the fields of
                // the native answer gathered so far.
                f.out.push(event.clone());
                let f = &*f;
                self.encoder.each(&event, elapsed_ms, |mut e| {
                    if let Payload::MessageStop { additional_model_response_fields, .. } = &mut e.payload {
                        *additional_model_response_fields =
                            response_fields::fields(&f.request, f.format, &f.model_id, &f.out);
                    }
                    e.write_frame(out);
                });
            }
        }
        if let Some(c) = self.kept.as_mut() {
            c.push(event);
        }
    }

    fn log_output(&mut self, elapsed_ms: u64) -> Option<JsonBody> {
        let fields =
            self.fields.as_ref().and_then(|f| response_fields::fields(&f.request, f.format, &f.model_id, &f.out));
        let served = &self.served;
        self.kept.take().map(|c| {
            let mut response = c.into_response(elapsed_ms);
            response.additional_model_response_fields = fields;
            response.served = served.clone();
            JsonBody::from_serialised(serde_json::to_vec(&response).unwrap_or_default())
        })
    }
}

/// The record of a committed stream, written exactly once: when it ends, when it fails,
/// or, if the body is dropped first (the client went away), by `Drop` with the usage and
/// output so far.
struct StreamRecord<E: FrameEncoder> {
    call: OwnedCall,
    region: String,
    usage: UsageTracker,
    encoder: E,
    recorded: bool,
}

impl<E: FrameEncoder> StreamRecord<E> {
    fn end(&mut self, ending: Ending<'_>) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let output = match ending {
            Ending::Failed(_) => None,
            Ending::Answered | Ending::Abandoned => self.encoder.log_output(self.call.elapsed_ms()),
        };
        if matches!(ending, Ending::Abandoned) {
            tracing::info!(usage = ?self.usage.current(), "the client went away before the stream ended");
        }
        self.call.finish(&self.region, self.usage.current(), ending, output);
    }
}

impl<E: FrameEncoder> Drop for StreamRecord<E> {
    fn drop(&mut self) {
        self.end(Ending::Abandoned);
    }
}

/// Events already at hand go out in one body chunk up to this size: hyper handles a chunk,
/// and the client reads it, at a cost per chunk, not per byte (issue 13).
const BATCH_BYTES: usize = 16 * 1024;

/// What one item of the model's stream did to the stream.
enum Step {
    Go,
    Finished,
    Failed(BedrockError),
}

/// Writes the frames of one item of the model's stream into `buf`.
fn step<E: FrameEncoder>(
    record: &mut StreamRecord<E>,
    admitted: &mut Admitted,
    pool: &Pool,
    item: Option<Result<ModelEvent, BackendError>>,
    buf: &mut Vec<u8>,
) -> Step {
    match item {
        Some(Ok(event)) => {
            record.usage.see(&event);
            admitted.observe(record.usage.current());
            let finished = matches!(event, ModelEvent::Finish(_));
            let elapsed = record.call.elapsed_ms();
            record.encoder.push(event, elapsed, buf);
            if finished {
                Step::Finished
            } else {
                Step::Go
            }
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "stream failed after it started");
            pool.report(&e);
            Step::Failed(BedrockError::from(e))
        }
        // The backend closed the stream without a stop reason: that is a failure, not a
        // client that went away.
        None => {
            let e = BackendError::Stream("the backend ended the stream without a stop reason".into());
            pool.report(&e);
            Step::Failed(BedrockError::from(e))
        }
    }
}

/// Settles the reservation. Boxed: the settle future (the quota store's, Redis in cluster
/// mode) would otherwise be part of the stream's state for as long as the stream is
/// open, though it only runs at its end (issue 13: memory per open stream).
async fn settle(admitted: Admitted, usage: TokenUsage) {
    Box::pin(admitted.settle(usage)).await;
}

pub fn drive<E: FrameEncoder>(
    opened: Opened,
    admitted: Admitted,
    call: OwnedCall,
    encoder: E,
) -> impl Stream<Item = Bytes> + Send + 'static {
    async_stream::stream! {
        // Owned by the body: dropping it (client gone) settles the reservation to what
        // was observed, in the reservation's own Drop, and records the call in the record's.
        let mut admitted = admitted;
        // Shutdown past its deadline ends the stream with an exception (crate::serve).
        let lifecycle = call.lifecycle();
        let ended = lifecycle.streams_ended();
        let mut record = StreamRecord { call, region: opened.region, usage: UsageTracker::default(), encoder, recorded: false };
        let pool = opened.pool;
        let mut flushed = false;
        let mut rest = stream_body::chain(opened.head, opened.rest);
        tokio::pin!(ended);
        loop {
            let item = tokio::select! {
                biased;
                () = &mut ended => Err(crate::serve::shutting_down_error()),
                item = rest.next() => Ok(item),
            };
            let mut buf = Vec::with_capacity(512);
            let mut now = match item {
                Ok(item) => step(&mut record, &mut admitted, &pool, item, &mut buf),
                Err(error) => Step::Failed(error),
            };
            // The events that are ready already (a backend's read often holds several)
            // join this chunk; the first one goes alone (below).
            while flushed && matches!(now, Step::Go) && buf.len() < BATCH_BYTES {
                match rest.next().now_or_never() {
                    Some(item) => now = step(&mut record, &mut admitted, &pool, item, &mut buf),
                    None => break,
                }
            }
            match now {
                Step::Go => {
                    if !buf.is_empty() {
                        yield Bytes::from(buf);
                    }
                    // hyper writes a body's chunks only when the body is not ready or
                    // 16 are queued: with the rest of the answer already read from the
                    // backend, the first byte waited for 15 more frames (bench/README.md,
                    // "first byte"). A pause after the first content sends it now.
                    if !flushed {
                        flushed = true;
                        tokio::task::yield_now().await;
                    }
                }
                Step::Finished => {
                    yield Bytes::from(buf);
                    settle(admitted, record.usage.current()).await;
                    record.end(Ending::Answered);
                    return;
                }
                Step::Failed(error) => {
                    buf.extend_from_slice(&stream_body::error_frame(&error));
                    yield Bytes::from(buf);
                    settle(admitted, record.usage.current()).await;
                    record.end(Ending::Failed(&error));
                    return;
                }
            }
        }
    }
}
