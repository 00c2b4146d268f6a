//! How log fields are written: exactly as tracing-subscriber's `DefaultFields` writes
//! them, with the cost of the common case taken out.
//!
//! Every request opens a span whose fields (request ID, method, path, operation, model)
//! the fmt layer formats when the span is created. `DefaultFields` writes each as
//! `write!("{}{}{:?}", italic.paint(name), dimmed.paint("="), value)`: the styling runs
//! even with colours off, and a `&str` value goes through `Debug`'s escaping one
//! character at a time. That was ≈ 8,000 instructions a request (issue 13). Here, with
//! colours off, a name is written as it is and a string that `Debug` would not change
//! inside its quotes (printable ASCII, no `"` or `\`) is copied whole; everything else
//! (messages, errors, other values, colours on) goes to `DefaultFields`' own visitor, so
//! the text of a line does not change.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::{FormatFields, FormattedFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The fmt layer's field formatter (see the module comment).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogFields;

impl<'a> MakeVisitor<Writer<'a>> for LogFields {
    type Visitor = FieldVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> Self::Visitor {
        FieldVisitor { writer: target, is_empty: true, result: Ok(()) }
    }
}

pub struct FieldVisitor<'a> {
    writer: Writer<'a>,
    /// Nothing written yet: the next field gets no separating space.
    is_empty: bool,
    result: fmt::Result,
}

impl FieldVisitor<'_> {
    /// Whether `name = value` can be written here rather than by `DefaultVisitor`.
    fn plain(&self, name: &str) -> bool {
        self.result.is_ok()
            && !self.writer.has_ansi_escapes()
            && name != "message"
            && !name.starts_with("r#")
            && !name.starts_with("log.")
    }

    /// `DefaultVisitor`'s handling of one field, continuing this line.
    fn delegate(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        // `DefaultVisitor` writes nothing for the `log` crate's metadata fields; they must
        // not turn off the padding of the next field either.
        if field.name().starts_with("log.") {
            return;
        }
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut visitor);
        self.result = visitor.finish();
        self.is_empty = false;
    }

    fn name(&mut self, name: &str) -> fmt::Result {
        if self.is_empty {
            self.is_empty = false;
        } else {
            self.writer.write_char(' ')?;
        }
        self.writer.write_str(name)?;
        self.writer.write_char('=')
    }
}

/// `value` as `{:?}` writes it, when that is the value in quotes.
fn quoted_as_is(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.plain(field.name()) && quoted_as_is(value) {
            self.result = self.name(field.name()).and_then(|()| {
                self.writer.write_char('"')?;
                self.writer.write_str(value)?;
                self.writer.write_char('"')
            });
            return;
        }
        self.delegate(field, |v| v.record_str(field, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.delegate(field, |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.plain(field.name()) {
            self.result = self.name(field.name()).and_then(|()| write!(self.writer, "{value:?}"));
            return;
        }
        self.delegate(field, |v| v.record_debug(field, value));
    }
}

impl VisitOutput<fmt::Result> for FieldVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for FieldVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// Room for a request span's fields (ID, method, path, operation, model: about 200 bytes).
const SPAN_FIELDS: usize = 256;

/// Formats a new span's fields (with [`LogFields`], as the fmt layer would) into a buffer
/// sized for a request span's. The fmt layer keeps the fields it finds already formatted;
/// left to itself it writes them into an empty `String` grown a doubling at a time, a
/// dozen reallocations on every request (issue 13). For lines without colours only: the
/// fmt layer marks the fields it formats with its colour setting.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanFields;

impl<S> Layer<S> for SpanFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if extensions.get_mut::<FormattedFields<LogFields>>().is_some() {
            return;
        }
        let mut fields = FormattedFields::<LogFields>::new(String::with_capacity(SPAN_FIELDS));
        if LogFields.format_fields(fields.as_writer(), attrs).is_ok() {
            extensions.insert(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// What the lines of `emit` look like with `LogFields` and spans' fields formatted
    /// ahead by `SpanFields`, as `init_tracing` assembles them.
    fn presized(emit: fn()) -> String {
        use tracing_subscriber::layer::SubscriberExt;
        let buffer = Buffer::default();
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(buffer.clone())
            .with_ansi(false)
            .without_time()
            .fmt_fields(LogFields);
        let subscriber = tracing_subscriber::registry().with(SpanFields).with(fmt);
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// What the lines of `emit` look like with `DefaultFields` and with `LogFields`.
    fn both(emit: fn()) -> (String, String) {
        let run = |fast: bool| {
            let buffer = Buffer::default();
            let builder = tracing_subscriber::fmt().with_writer(buffer.clone()).with_ansi(false).without_time();
            if fast {
                tracing::subscriber::with_default(builder.fmt_fields(LogFields).finish(), emit);
            } else {
                tracing::subscriber::with_default(builder.finish(), emit);
            }
            let bytes = buffer.0.lock().unwrap().clone();
            String::from_utf8(bytes).unwrap()
        };
        (run(false), run(true))
    }

    #[test]
    fn lines_are_written_as_default_fields_writes_them() {
        let (default, fast) = both(emit_lines);
        assert_eq!(default, fast);
        assert!(fast.contains(r#"operation="Converse" model="a:b""#), "{fast}");
        assert_eq!(presized(emit_lines), fast);
    }

    fn emit_lines() {
        let span = tracing::error_span!(
            "request",
            request_id = %"5f1c",
            method = %"POST",
            path = %"/model/a%3Ab/converse",
            operation = "Converse",
            model = "a:b",
            quoted = "say \"hi\"\n",
            unicode = "é",
            empty = tracing::field::Empty,
        );
        let _entered = span.enter();
        let error = std::io::Error::other("broken");
        tracing::info!(count = 3, ok = true, error = &error as &dyn std::error::Error, "a \"message\" {}", 1);
        tracing::warn!(r#type = "x", "plain");
        // What tracing-log makes of a `log` record: its metadata fields are not written.
        tracing::info!(log.target = "t", log.line = 3, other = "o", "from log");
        // A field recorded later is appended to the fields formatted ahead.
        span.record("empty", "filled");
        tracing::info!("after record");
    }
}
