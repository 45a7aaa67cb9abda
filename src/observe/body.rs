//! [`RecordedBody`]: a response body that counts the bytes it hands to the connection and makes
//! the request's record exactly once, when the body ends, fails, or is dropped unfinished (the
//! client went away, or a HEAD response whose body is never read).

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use bytes::Bytes;

use super::tap::Pending;

pub struct RecordedBody {
    inner: BoxBody,
    sent: u64,
    pending: Option<Pending>,
}

impl RecordedBody {
    pub fn new(inner: BoxBody, pending: Option<Pending>) -> RecordedBody {
        RecordedBody { inner, sent: 0, pending }
    }

    fn finish(&mut self) {
        if let Some(p) = self.pending.take() {
            p.finish(self.sent);
        }
    }
}

impl MessageBody for RecordedBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let next = Pin::new(&mut this.inner).poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => this.sent += chunk.len() as u64,
            Poll::Ready(Some(Err(_)) | None) => this.finish(),
            Poll::Pending => {}
        }
        next
    }
}

impl Drop for RecordedBody {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use actix_web::body::to_bytes;
    use actix_web::http::Method;

    use super::*;
    use crate::observe::record::Record;
    use crate::observe::tap::RecordSink;

    #[derive(Default)]
    struct Collect(Mutex<Vec<Record>>);

    impl RecordSink for Collect {
        fn record(&self, record: Record) {
            self.0.lock().unwrap().push(record);
        }
    }

    impl Collect {
        fn records(&self) -> Vec<Record> {
            self.0.lock().unwrap().clone()
        }
    }

    fn recorded(inner: BoxBody) -> (RecordedBody, Arc<Collect>) {
        let sink = Arc::new(Collect::default());
        let pending = Pending::new(sink.clone(), Method::GET, None);
        (RecordedBody::new(inner, Some(pending)), sink)
    }

    fn chunks(n: usize, each: usize) -> BoxBody {
        let stream =
            futures_util::stream::iter((0..n).map(move |_| Ok::<_, std::io::Error>(Bytes::from(vec![7u8; each]))));
        BoxBody::new(actix_web::body::BodyStream::new(stream))
    }

    #[actix_rt::test]
    async fn counts_every_byte_and_records_once() {
        let (body, sink) = recorded(chunks(5, 1000));
        let bytes = to_bytes(body).await.unwrap();
        assert_eq!(bytes.len(), 5000);
        let records = sink.records();
        assert_eq!(records.len(), 1, "one record after the end and the drop");
        assert_eq!(records[0].bytes, 5000);
    }

    #[actix_rt::test]
    async fn records_at_the_end_of_the_body_before_the_drop() {
        let (mut body, sink) = recorded(BoxBody::new(Bytes::from_static(b"hello")));
        assert_eq!(body.size(), BodySize::Sized(5));
        let mut body = Pin::new(&mut body);
        let first = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await;
        assert_eq!(first.unwrap().unwrap(), Bytes::from_static(b"hello"));
        assert!(sink.records().is_empty(), "not done yet");
        assert!(std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await.is_none());
        assert_eq!(sink.records().len(), 1, "recorded when the body ended");
        assert_eq!(sink.records()[0].bytes, 5);
    }

    #[actix_rt::test]
    async fn an_early_drop_records_what_was_sent() {
        let (body, sink) = recorded(chunks(10, 100));
        let mut body = Box::pin(body);
        for _ in 0..3 {
            std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await.unwrap().unwrap();
        }
        assert!(sink.records().is_empty());
        drop(body);
        let records = sink.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].bytes, 300);
    }

    #[actix_rt::test]
    async fn a_body_never_polled_records_zero_bytes() {
        let (body, sink) = recorded(chunks(2, 10));
        drop(body);
        assert_eq!(sink.records().len(), 1);
        assert_eq!(sink.records()[0].bytes, 0);
    }

    #[actix_rt::test]
    async fn a_failing_body_records_once_at_the_error() {
        let stream = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("upstream reset")),
        ]);
        let (body, sink) = recorded(BoxBody::new(actix_web::body::BodyStream::new(stream)));
        assert!(to_bytes(body).await.is_err());
        let records = sink.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].bytes, 3);
    }
}
