//! The body type of requests and responses between the HTTP surfaces, the
//! engine and the executors: one boxed body with Strato's own error, so no
//! listener depends on an executor's HTTP types.

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

/// A request or response body.
pub type Body = UnsyncBoxBody<Bytes, BodyError>;

/// Why a body could not be read to its end (the peer went away, a guest
/// failed while writing it, a limit was hit).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(Box<dyn std::error::Error + Send + Sync>);

impl BodyError {
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> BodyError {
        BodyError(e.into())
    }

    /// The underlying error, to recover a type the caller knows.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync> {
        self.0
    }
}

impl From<hyper::Error> for BodyError {
    fn from(e: hyper::Error) -> BodyError {
        BodyError(Box::new(e))
    }
}

impl From<std::io::Error> for BodyError {
    fn from(e: std::io::Error) -> BodyError {
        BodyError(Box::new(e))
    }
}

impl From<std::convert::Infallible> for BodyError {
    fn from(never: std::convert::Infallible) -> BodyError {
        match never {}
    }
}

/// Boxes any body whose error converts into [`BodyError`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BodyError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// A complete body from bytes.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    boxed(http_body_util::Full::new(bytes.into()))
}

/// A plain-text response (`message` plus a newline).
pub fn text_response(status: u16, message: &str) -> http::Response<Body> {
    http::Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(full_body(format!("{message}\n")))
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_carry_bytes_and_errors() {
        let bytes = full_body("hi").collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "hi");
        let response = text_response(404, "nothing here");
        assert_eq!(response.status(), 404);
        let text = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(text, "nothing here\n");
        let failing = http_body_util::StreamBody::new(futures::stream::iter([Err::<
            http_body::Frame<Bytes>,
            _,
        >(
            std::io::Error::other("peer went away"),
        )]));
        let err = boxed(failing).collect().await.unwrap_err();
        assert_eq!(err.to_string(), "peer went away");
    }
}
